//! Fuzz target: arbitrary bytes as the payload of a request with a call context.
//!
//! `RequestContext::split` must never panic, and what it accepts must keep the bounds on
//! metadata and split again the same way once encoded in its canonical form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_runtime::wire::context::{
    ContextOut, MAX_METADATA_BYTES, MAX_METADATA_ENTRIES, RequestContext,
};

fuzz_target!(|data: &[u8]| {
    let Ok((context, rest)) = RequestContext::split(data) else {
        return;
    };
    assert!(context.metadata.len() <= MAX_METADATA_ENTRIES);
    let bytes: usize = context.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    assert!(bytes <= MAX_METADATA_BYTES);
    assert!(rest.len() <= data.len());
    let out = ContextOut {
        deadline_micros: context.deadline_micros,
        quantum_micros: context.quantum_micros,
        metadata: &context.metadata,
    };
    let mut canonical = postcard::to_allocvec(&out).expect("encodes");
    canonical.extend_from_slice(rest);
    let (again, rest_again) = RequestContext::split(&canonical).expect("splits again");
    assert_eq!(again, context);
    assert_eq!(rest_again, rest);
});
