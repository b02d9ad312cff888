//! What a request carries besides its arguments, when its `CONTEXT` flag is set: the
//! caller's remaining time, the expiration quantum of the call, and the caller's
//! metadata (`docs/PROTOCOL.md` §4.6).
//!
//! Times travel as durations, not instants: the two machines' clocks need not agree, and
//! a duration measured from when the request left errs only by its time on the wire,
//! which makes the server's deadline a little later than the client's, never earlier.

use serde::{Deserialize, Serialize};

use super::limited::{Limited, Limits};
use super::payload::DecodeError;

/// The most metadata entries a request may carry.
pub const MAX_METADATA_ENTRIES: usize = 64;

/// The most bytes of metadata (keys and values) a request may carry.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// The context of a request, as received.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RequestContext {
    /// Microseconds the caller will still wait for the reply when the request leaves;
    /// 0: no deadline.
    pub deadline_micros: u64,
    /// The call's expiration quantum in microseconds: the server stops the call when it
    /// has heard nothing from the session (a request, a renewal) for this long; 0: none.
    pub quantum_micros: u64,
    /// The caller's metadata: key and value pairs, keys unique, in the caller's order.
    pub metadata: Vec<(String, String)>,
}

/// The context of a request, as sent: the same bytes as [`RequestContext`], borrowing
/// the caller's metadata.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ContextOut<'a> {
    /// See [`RequestContext::deadline_micros`].
    pub deadline_micros: u64,
    /// See [`RequestContext::quantum_micros`].
    pub quantum_micros: u64,
    /// See [`RequestContext::metadata`].
    pub metadata: &'a [(String, String)],
}

impl RequestContext {
    /// Splits a request payload into its context and its arguments, refusing metadata
    /// beyond [`MAX_METADATA_ENTRIES`] or [`MAX_METADATA_BYTES`].
    pub fn split(payload: &[u8]) -> Result<(RequestContext, &[u8]), DecodeError> {
        let what = "call context";
        let malformed = |message: String| DecodeError::Malformed { what, message };
        let limits = Limits::for_payload(payload.len());
        let mut deserializer = postcard::Deserializer::from_bytes(payload);
        let context = RequestContext::deserialize(Limited::new(&mut deserializer, &limits))
            .map_err(|e| {
                malformed(match limits.exceeded() {
                    Some(exceeded) => exceeded.to_string(),
                    None => e.to_string(),
                })
            })?;
        let rest = deserializer
            .finalize()
            .map_err(|e| malformed(e.to_string()))?;
        context.check().map_err(malformed)?;
        Ok((context, rest))
    }

    /// Whether the metadata stays within the bounds.
    fn check(&self) -> Result<(), String> {
        check_metadata(&self.metadata)
    }
}

/// Whether `metadata` stays within [`MAX_METADATA_ENTRIES`] and [`MAX_METADATA_BYTES`]
/// with unique keys; the reason when not.
pub fn check_metadata(metadata: &[(String, String)]) -> Result<(), String> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(format!(
            "{} metadata entries, over the limit of {MAX_METADATA_ENTRIES}",
            metadata.len()
        ));
    }
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_METADATA_BYTES {
        return Err(format!(
            "{bytes} bytes of metadata, over the limit of {MAX_METADATA_BYTES}"
        ));
    }
    for (i, (key, _)) in metadata.iter().enumerate() {
        if metadata[..i].iter().any(|(k, _)| k == key) {
            return Err(format!("metadata key {key:?} given twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_and_its_arguments_split_apart() {
        let metadata = vec![("token".to_string(), "s3cret".to_string())];
        let out = ContextOut {
            deadline_micros: 50_000,
            quantum_micros: 0,
            metadata: &metadata,
        };
        let bytes = postcard::to_allocvec(&(out, (7u8, "x"))).unwrap();
        let (context, rest) = RequestContext::split(&bytes).unwrap();
        assert_eq!(
            context,
            RequestContext {
                deadline_micros: 50_000,
                quantum_micros: 0,
                metadata
            }
        );
        assert_eq!(rest, &[7, 1, b'x']);
    }

    #[test]
    fn metadata_over_its_bounds_or_with_a_key_twice_is_refused() {
        let many: Vec<_> = (0..=MAX_METADATA_ENTRIES)
            .map(|i| (i.to_string(), String::new()))
            .collect();
        let big = vec![("k".to_string(), "v".repeat(MAX_METADATA_BYTES))];
        let twice = vec![("k".to_string(), "1".into()), ("k".to_string(), "2".into())];
        for metadata in [many, big, twice] {
            let out = ContextOut {
                deadline_micros: 0,
                quantum_micros: 0,
                metadata: &metadata,
            };
            let bytes = postcard::to_allocvec(&out).unwrap();
            assert!(RequestContext::split(&bytes).is_err());
        }
        // A count of a billion entries with no bytes behind it fails without reserving.
        assert!(RequestContext::split(&[0, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03]).is_err());
    }
}
