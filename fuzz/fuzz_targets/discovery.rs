//! Fuzz target: arbitrary bytes as a discovery datagram of the multicast binder
//! (`rpc_binder::multicast::decode_datagram`, what the binder's receiving task calls on
//! every datagram it reads from the group).
//!
//! Must hold: no panic and no huge allocation, whatever the bytes; what is accepted is
//! within the documented bounds (at most 1,472 bytes, magic and version 1, a name of at
//! most 255 bytes, a known transport code and a non-empty address for an announcement);
//! and it encodes again to bytes that decode to the same datagram (not necessarily the
//! input's bytes: postcard accepts an overlong varint), and are no longer than the input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_binder::multicast::{self, Datagram};

fuzz_target!(|data: &[u8]| {
    let Ok(datagram) = multicast::decode_datagram(data) else {
        return;
    };
    assert!(data.len() <= multicast::MAX_DATAGRAM);
    assert!(data.starts_with(&multicast::MAGIC));
    assert_eq!(data[4], multicast::VERSION);
    match &datagram {
        Datagram::Announce(a) => {
            assert!(a.name.len() <= multicast::MAX_NAME);
            assert!(a.transport <= 2);
            assert!(!a.address.is_empty());
        }
        Datagram::Query { name } => assert!(name.len() <= multicast::MAX_NAME),
    }
    let again = multicast::encode_datagram(&datagram).expect("an accepted datagram fits");
    assert!(again.len() <= data.len(), "the canonical encoding is the shortest");
    assert_eq!(multicast::decode_datagram(&again).as_ref(), Ok(&datagram));
});
