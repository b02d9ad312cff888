//! Every IDL type survives a trip to the server and back (property test over real TCP).

mod support;

use std::collections::HashMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use rpc_runtime::Bytes;
use tests::types::{EchoClient, Everything, Shape, Tree};

/// One server and client for all cases, on a runtime of their own.
fn client() -> &'static (tokio::runtime::Runtime, EchoClient) {
    static CLIENT: OnceLock<(tokio::runtime::Runtime, EchoClient)> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = runtime.block_on(async {
            let running = support::echo().await;
            let client = running.client().await;
            // Keep the server for the life of the test binary.
            std::mem::forget(running);
            client
        });
        (runtime, client)
    })
}

fn finite_f32() -> impl Strategy<Value = f32> {
    prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Empty),
        finite_f64().prop_map(Shape::Circle),
        (any::<i32>(), ".{0,8}").prop_map(|(n, s)| Shape::Pair(n, s)),
        (finite_f32(), finite_f32()).prop_map(|(w, h)| Shape::Rect { w, h }),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = any::<i64>().prop_map(|value| Tree {
        value,
        left: None,
        right: None,
        kids: Vec::new(),
    });
    leaf.prop_recursive(3, 12, 3, |inner| {
        (
            any::<i64>(),
            prop::option::of(inner.clone()),
            prop::option::of(inner.clone()),
            prop::collection::vec(inner, 0..3),
        )
            .prop_map(|(value, left, right, kids)| Tree {
                value,
                left: left.map(Box::new),
                right: right.map(Box::new),
                kids,
            })
    })
}

prop_compose! {
    fn everything()(
        flag in any::<bool>(),
        (a, b, c, d) in (any::<u8>(), any::<u16>(), any::<u32>(), any::<u64>()),
        (e, f, g, h) in (any::<i8>(), any::<i16>(), any::<i32>(), any::<i64>()),
        (x, y) in (finite_f32(), finite_f64()),
        text in ".{0,40}",
        blob in prop::collection::vec(any::<u8>(), 0..300),
        numbers in prop::collection::vec(any::<i32>(), 0..20),
        maybe in prop::option::of(".{0,10}"),
        maybe_blob in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
        index in prop::collection::hash_map(".{0,6}", any::<u64>(), 0..6),
        nested in prop::collection::vec(
            prop::option::of(prop::collection::hash_map(any::<u32>(), prop::collection::vec(any::<u8>(), 0..5), 0..3)),
            0..4,
        ),
        keyed in prop::collection::hash_map(prop::collection::vec(any::<u8>(), 0..4), prop::collection::vec(any::<bool>(), 0..3), 0..3),
        shape in shape(),
        shapes in prop::collection::vec(shape(), 0..4),
        tree in tree(),
    ) -> Everything {
        Everything {
            flag, a, b, c, d, e, f, g, h, x, y, text,
            blob: blob.into(),
            numbers,
            maybe,
            maybe_blob: maybe_blob.map(Bytes::from),
            index: index.into_iter().collect::<HashMap<_, _>>(),
            nested: nested
                .into_iter()
                .map(|m| m.map(|m| m.into_iter().map(|(k, v)| (k, Bytes::from(v))).collect()))
                .collect(),
            keyed: keyed.into_iter().map(|(k, v)| (Bytes::from(k), v)).collect(),
            shape, shapes, tree,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_type_round_trips(value in everything()) {
        let (runtime, echo) = client();
        let back = runtime.block_on(echo.everything(&value)).unwrap();
        prop_assert_eq!(back, value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn bytes_of_any_size_round_trip(data in prop::collection::vec(any::<u8>(), 0..200_000)) {
        let (runtime, echo) = client();
        let back = runtime.block_on(echo.echo_bytes(&data)).unwrap();
        prop_assert_eq!(back, data);
    }
}
