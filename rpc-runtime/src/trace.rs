//! Tracing: a span per call on both sides, and the trace context carried in the call's
//! metadata, so that one trace covers a chain of servers.
//!
//! The client's span is `rpc.call`, the server's `rpc.serve`; both have the fields
//! `rpc.interface`, `rpc.method`, `rpc.semantics`, `rpc.invocation` and `rpc.outcome`
//! (the client's also `rpc.attempts`), and `trace_id`. The trace context travels as a
//! [W3C `traceparent`](https://www.w3.org/TR/trace-context/) metadata entry, written by
//! the client (a new trace, or the trace of the call its code runs in, inside a handler)
//! and read by the server. No exporter is needed: the ids are fields of the spans.
//!
//! To join traces kept elsewhere (OpenTelemetry through `tracing-opentelemetry`),
//! install a [`Propagator`] that injects and extracts with that system's propagator; the
//! default is [`W3cTraceContext`].
//!
//! A call pays for none of this unless a subscriber records its span or its caller sent
//! a trace context: spans nobody records are disabled, and then no trace context is made.

use std::sync::OnceLock;

use tracing::Span;

use crate::id::random_u64;
use crate::metadata::Metadata;

/// The metadata key of the W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Moves trace context between a call's span and its metadata.
pub trait Propagator: Send + Sync + 'static {
    /// Client side: writes the trace context of the call's `span` into `metadata`.
    /// `parent` is the metadata of the call this code runs in, inside a handler (its
    /// trace goes on), or None at a trace's root.
    fn inject(&self, span: &Span, parent: Option<&Metadata>, metadata: &mut Metadata);

    /// Server side: reads the caller's trace context from `metadata` into the call's
    /// `span`.
    fn extract(&self, metadata: &Metadata, span: &Span);
}

/// The default [`Propagator`]: W3C `traceparent` entries with ids made here. A call's
/// span records the trace id in its `trace_id` field.
#[derive(Debug, Clone, Copy, Default)]
pub struct W3cTraceContext;

impl Propagator for W3cTraceContext {
    fn inject(&self, span: &Span, parent: Option<&Metadata>, metadata: &mut Metadata) {
        let trace = parent
            .and_then(|m| m.get(TRACEPARENT))
            .and_then(parse_traceparent)
            .map(|(trace, _)| trace)
            .unwrap_or_else(|| (u128::from(random_u64()) << 64) | u128::from(random_u64()));
        let id = random_u64().max(1);
        span.record(
            "trace_id",
            tracing::field::display(format_args!("{trace:032x}")),
        );
        metadata.insert(TRACEPARENT, format!("00-{trace:032x}-{id:016x}-01"));
    }

    fn extract(&self, metadata: &Metadata, span: &Span) {
        if let Some((trace, parent)) = metadata.get(TRACEPARENT).and_then(parse_traceparent) {
            span.record(
                "trace_id",
                tracing::field::display(format_args!("{trace:032x}")),
            );
            span.record(
                "parent_id",
                tracing::field::display(format_args!("{parent:016x}")),
            );
        }
    }
}

static PROPAGATOR: OnceLock<Box<dyn Propagator>> = OnceLock::new();

/// Installs the propagator every call of this process uses, once, before the first call;
/// false if one was installed already (the first stays).
pub fn set_propagator(propagator: impl Propagator) -> bool {
    PROPAGATOR.set(Box::new(propagator)).is_ok()
}

fn propagator() -> &'static dyn Propagator {
    PROPAGATOR
        .get_or_init(|| Box::new(W3cTraceContext))
        .as_ref()
}

/// Parses `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; None for anything
/// else, an all-zero id among it.
pub fn parse_traceparent(value: &str) -> Option<(u128, u64)> {
    let mut parts = value.split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || version != "00"
        || trace.len() != 32
        || parent.len() != 16
        || flags.len() != 2
    {
        return None;
    }
    let hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(trace) || !hex(parent) || !hex(flags) {
        return None;
    }
    let trace = u128::from_str_radix(trace, 16).ok()?;
    let parent = u64::from_str_radix(parent, 16).ok()?;
    (trace != 0 && parent != 0).then_some((trace, parent))
}

/// The metadata a call sends: the client's own, plus a trace context when the call's
/// span is recorded or the caller is inside a traced call. None when there is nothing to
/// send; borrowed when nothing was added.
pub(crate) fn outgoing<'m>(
    span: &Span,
    own: Option<&'m Metadata>,
    parent: Option<&Metadata>,
) -> std::borrow::Cow<'m, [(String, String)]> {
    use std::borrow::Cow;
    let own_slice = own.map_or(&[][..], Metadata::as_slice);
    let traced_parent = parent.is_some_and(|m| m.get(TRACEPARENT).is_some());
    let own_trace = own.is_some_and(|m| m.get(TRACEPARENT).is_some());
    if own_trace || (span.is_disabled() && !traced_parent) {
        return Cow::Borrowed(own_slice);
    }
    let mut metadata = own.cloned().unwrap_or_default();
    propagator().inject(span, parent, &mut metadata);
    Cow::Owned(metadata.as_slice().to_vec())
}

/// Reads a call's trace context into its server span.
pub(crate) fn incoming(metadata: &Metadata, span: &Span) {
    if !span.is_disabled() {
        propagator().extract(metadata, span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parses_only_the_w3c_form() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            parse_traceparent(good),
            Some((0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7))
        );
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_unrecorded_call_outside_a_trace_sends_its_own_metadata_untouched() {
        let own: Metadata = [("token", "t")].into_iter().collect();
        let sent = outgoing(&Span::none(), Some(&own), None);
        assert!(matches!(sent, std::borrow::Cow::Borrowed(_)));
        // Inside a traced call, the trace goes on even when this span is not recorded.
        let parent: Metadata = [(
            TRACEPARENT,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]
        .into_iter()
        .collect();
        let sent = outgoing(&Span::none(), Some(&own), Some(&parent));
        let value = &sent.iter().find(|(k, _)| k == TRACEPARENT).unwrap().1;
        assert!(
            value.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{value}"
        );
        assert!(
            !value.contains("00f067aa0ba902b7"),
            "a new parent id: {value}"
        );
        assert_eq!(sent.iter().find(|(k, _)| k == "token").unwrap().1, "t");
    }
}
