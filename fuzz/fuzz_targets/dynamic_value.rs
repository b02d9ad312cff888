//! Fuzz target: arbitrary bytes as a value of an IDL type, decoded by the model
//! (`rpc_dynamic::codec`), as a dynamic server or `cargo rpcgen call` reads what a peer
//! sent.
//!
//! The first byte picks a type of the example bank and of the recursive types of the
//! IDL corpus; the rest is decoded as that type. Decoding must never panic (nor overflow
//! the stack on deep nesting), and what it accepts must encode and decode back to the
//! same bytes, and convert to JSON and back.

#![no_main]

use std::sync::OnceLock;

use idl::{Model, QualifiedName, Type};
use libfuzzer_sys::fuzz_target;
use rpc_dynamic::{codec, json};

const FILES: [(&str, &str); 3] = [
    ("bank/common.idl", include_str!("../../idl/tests/corpus/valid/bank/common.idl")),
    ("bank/bank.idl", include_str!("../../idl/tests/corpus/valid/bank/bank.idl")),
    ("recursion.idl", include_str!("../../idl/tests/corpus/valid/recursion.idl")),
];

/// The models and every named type they define.
fn types() -> &'static Vec<(Model, Type)> {
    static TYPES: OnceLock<Vec<(Model, Type)>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let mut fs = idl::MemoryFileSystem::new();
        for (path, text) in FILES {
            fs.insert(path, text);
        }
        let mut all = Vec::new();
        for root in ["bank/bank.idl", "recursion.idl"] {
            let model = idl::load_from(&fs, &[root]).expect("the corpus is valid");
            for package in &model.packages {
                for def in &package.types {
                    let ty = Type::Named {
                        name: QualifiedName {
                            package: package.name.clone(),
                            name: def.name.clone(),
                        },
                        boxed: false,
                    };
                    all.push((model.clone(), ty));
                }
            }
        }
        all
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let types = types();
    let (model, ty) = &types[usize::from(pick) % types.len()];
    let Ok(value) = codec::decode(model, ty, bytes) else {
        return;
    };
    let encoded = codec::encode(model, ty, &value).expect("a decoded value encodes");
    let again = codec::decode(model, ty, &encoded).expect("an encoded value decodes");
    // NaN is not equal to itself: compare the encodings instead of the values.
    assert_eq!(codec::encode(model, ty, &again).expect("encodes"), encoded);
    let text = json::to_json(model, ty, &value).expect("a decoded value has a JSON form");
    let back = json::from_json(model, ty, &text).expect("its JSON form reads back");
    // JSON puts map entries in key order: compare JSON forms, which ignore entry order.
    assert_eq!(json::to_json(model, ty, &back).expect("a JSON form"), text);
});
