//! The lease calls of distributed garbage collection, `dirty` and `clean`: an interface
//! every server (and every callback table) serves at a well-known object id, called
//! like any other through the standard call path.
//!
//! Both are idempotent (at-least-once): they carry the holder's lease message number,
//! and the table applies a message only if it is newer than the last one it applied for
//! that holder and object, so a duplicate, a delayed copy or a retransmission changes
//! nothing. The holder is the caller's session, which only its client can use: a peer
//! cannot renew or release another's leases.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::table::ObjectTable;
use crate::__codegen::{Handler, decode_args};
use crate::server::{Reply, Service};
use crate::spec::{InterfaceSpec, MethodSpec, Semantics};
use crate::wire::DecodeError;

/// The most objects one lease message names; a holder sends larger batches in parts.
pub const MAX_LEASE_BATCH: usize = 4096;

// The ids and fingerprints of `rpcgen.Dgc` are computed as `idl::ids` computes an IDL
// interface's (FNV-1a), here again because the runtime does not depend on `idl`, and as
// `const fn`s so that the specs are statics like generated ones.

/// FNV-1a, 64 bits (as the IDL's object ids and fingerprints).
const fn fnv64(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// FNV-1a, 32 bits (as the IDL's method ids).
const fn fnv32(text: &str) -> u32 {
    let bytes = text.as_bytes();
    let mut hash = 0x811c_9dc5u32;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

/// `dirty(seq: u64, objects: list<(u64, u64)>) -> {lease_micros: u64, refused: list<u64>}`.
pub(crate) static DIRTY: MethodSpec = MethodSpec {
    name: "dirty",
    id: fnv32("dirty"),
    fingerprint: fnv64("dirty(in u64,in list<(u64,u64)>)->(u64,list<u64>) [idempotent];"),
    semantics: Semantics::AtLeastOnce,
    cancellable: true,
};

/// `clean(seq: u64, objects: list<u64>)`.
pub(crate) static CLEAN: MethodSpec = MethodSpec {
    name: "clean",
    id: fnv32("clean"),
    fingerprint: fnv64("clean(in u64,in list<u64>) [idempotent];"),
    semantics: Semantics::AtLeastOnce,
    cancellable: true,
};

/// The lease interface, `rpcgen.Dgc`.
pub(crate) static SPEC: InterfaceSpec = InterfaceSpec {
    name: "rpcgen.Dgc",
    fingerprint: fnv64("interface rpcgen.Dgc{dirty;clean}"),
    object: fnv64("rpcgen.Dgc"),
    methods: &[DIRTY, CLEAN],
};

/// The arguments of `dirty`: the holder's lease message number, and each object with
/// the token of the copy that brought it (0 when renewing).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Dirty {
    pub seq: u64,
    pub objects: Vec<(u64, u64)>,
}

/// The answer to `dirty`: how long the leases last, and the objects not leased (not
/// there any more, or over their bound on holders).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Leased {
    pub lease_micros: u64,
    pub refused: Vec<u64>,
}

/// The arguments of `clean`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Clean {
    pub seq: u64,
    pub objects: Vec<u64>,
}

/// Serves `dirty` and `clean` on a table.
pub(crate) struct Dgc(pub Arc<ObjectTable>);

fn too_many(count: usize) -> DecodeError {
    DecodeError::Malformed {
        what: "lease message",
        message: format!("{count} objects, over the limit of {MAX_LEASE_BATCH}"),
    }
}

/// The holder of the call being served: its session (0 when it has none, and then it
/// may lease nothing).
fn holder() -> u64 {
    crate::server::invocation().map_or(0, |i| i.session)
}

impl Service for Dgc {
    fn spec(&self) -> &'static InterfaceSpec {
        &SPEC
    }

    fn call(&self, method: u32, payload: &[u8]) -> Result<Handler, DecodeError> {
        let table = self.0.clone();
        if method == DIRTY.id {
            let request: Dirty = decode_args(payload)?;
            if request.objects.len() > MAX_LEASE_BATCH {
                return Err(too_many(request.objects.len()));
            }
            Ok(Box::pin(async move {
                let holder = holder();
                let refused = if holder == 0 {
                    request.objects.iter().map(|&(id, _)| id).collect()
                } else {
                    table.dirty(holder, request.seq, &request.objects)
                };
                let lease_micros = u64::try_from(table.lease().as_micros()).unwrap_or(u64::MAX);
                Reply::ok(&Leased {
                    lease_micros,
                    refused,
                })
            }))
        } else if method == CLEAN.id {
            let request: Clean = decode_args(payload)?;
            if request.objects.len() > MAX_LEASE_BATCH {
                return Err(too_many(request.objects.len()));
            }
            Ok(Box::pin(async move {
                let holder = holder();
                if holder != 0 {
                    table.clean(holder, request.seq, &request.objects);
                }
                Reply::ok(&())
            }))
        } else {
            crate::__codegen::unknown_method(method)
        }
    }
}
