//! Fuzz target: arbitrary bytes decoded by `rpc_runtime::wire::decode` as generated types.
//!
//! The first byte picks the type, the rest is the payload. The types are those generated
//! from the IDL files of the `tests` crate, among them recursive ones (`types::Tree`
//! through `option` and `list`, `kw::type` and `kw::enum`). Decoding may fail but never
//! panic, and whatever decodes must encode again and decode back; for types without
//! floats or maps (whose equality or byte order is not exact) it must decode back equal.
//! The bytes themselves need not come back: postcard accepts over-long varints.

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use rpc_runtime::serde::Serialize;
use rpc_runtime::serde::de::DeserializeOwned;
use rpc_runtime::wire::{Payload, decode};
use tests::{kw, types};

/// Decodes `bytes` as a `T`; when that works, checks that the value survives a round trip.
fn check<T>(bytes: &[u8], exact: bool)
where
    T: DeserializeOwned + Serialize + PartialEq + Debug,
{
    let Ok(value) = decode::<T>(bytes, "fuzz") else {
        return;
    };
    let encoded = Payload::encode(&value).expect("a decoded value encodes");
    let again = decode::<T>(encoded.bytes(), "fuzz").expect("an encoded value decodes");
    if exact {
        assert_eq!(value, again, "the value changed in a round trip");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => check::<types::Tree>(payload, true),
        1 => check::<kw::r#type>(payload, true),
        2 => check::<kw::r#enum>(payload, true),
        3 => check::<kw::r#yield>(payload, true),
        4 => check::<types::Shape>(payload, false),
        5 => check::<types::Oops>(payload, true),
        6 => check::<types::Everything>(payload, false),
        _ => check::<Vec<types::Tree>>(payload, true),
    }
});
