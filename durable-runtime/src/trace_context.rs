//! [`TraceContext`]: a W3C trace context as recorded in history.
//!
//! Pure data (no OpenTelemetry dependency), so every build reads and writes it, whatever its
//! features: a history written by a worker with feature `otel` reads the same in one without.
//!
//! Error policy: parsing never panics; a value that breaks the W3C format is an
//! [`InvalidTraceContext`] saying which rule it broke. Values read back from a store are not
//! checked again: one that does not parse is simply not used as a parent.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest `tracestate` accepted, in bytes (W3C Trace Context: 512 characters at most
/// are required to be propagated).
pub const MAX_TRACESTATE_LEN: usize = 512;

/// A W3C trace context: the `traceparent` and `tracestate` of a span
/// (<https://www.w3.org/TR/trace-context/>).
///
/// The runtime records the caller's trace context in the instance's history
/// (`ExecutionStarted`), on each activity work item, in the child's `ExecutionStarted` of a
/// sub-orchestration and on each entity request, so that one trace follows an orchestration
/// across processes, worker machines and restarts, as Durable Functions' distributed tracing
/// (V2) records `ParentTraceContext`. Spans are emitted only with feature `otel`; the context
/// is recorded by every build.
///
/// Serialized as `{"traceparent": "00-…-…-01", "tracestate": "…"}` (`tracestate` left out
/// when absent).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceContext {
    traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tracestate: Option<String>,
}

/// The parts of a `traceparent`: trace id, parent (span) id and trace flags.
pub(crate) type TraceParts = ([u8; 16], [u8; 8], u8);

impl TraceContext {
    /// Checks and keeps a `traceparent` header value and an optional `tracestate`.
    ///
    /// `traceparent` is `{version}-{trace-id}-{parent-id}-{trace-flags}` in lower-case hex:
    /// version `00` has exactly these four fields (55 characters); a later version (not `ff`)
    /// may add fields after them, which are kept. The trace id (32 digits) and parent id
    /// (16 digits) may not be all zeros. An empty `tracestate` counts as none.
    ///
    /// # Errors
    /// [`InvalidTraceContext`] naming the rule broken: the length, a field's hex digits, the
    /// version `ff`, an all-zero id, or a `tracestate` longer than [`MAX_TRACESTATE_LEN`] or
    /// holding characters outside printable ASCII.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<Self, InvalidTraceContext> {
        let traceparent = traceparent.trim();
        parts_of(traceparent).map_err(|reason| InvalidTraceContext {
            value: traceparent.chars().take(80).collect(),
            reason,
        })?;
        let tracestate = tracestate.map(str::trim).filter(|s| !s.is_empty());
        if let Some(state) = tracestate {
            let reason = if state.len() > MAX_TRACESTATE_LEN {
                Some("the tracestate is longer than 512 characters")
            } else if !state.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                Some("the tracestate holds characters outside printable ASCII")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(InvalidTraceContext {
                    value: state.chars().take(80).collect(),
                    reason,
                });
            }
        }
        Ok(Self {
            traceparent: traceparent.to_owned(),
            tracestate: tracestate.map(str::to_owned),
        })
    }

    /// Makes a version-`00` context from its parts (for spans the runtime emits itself).
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn from_parts(
        trace_id: [u8; 16],
        span_id: [u8; 8],
        flags: u8,
        tracestate: Option<String>,
    ) -> Self {
        let mut text = [0u8; 55];
        text[..3].copy_from_slice(b"00-");
        hex_to(&trace_id, &mut text[3..35]);
        text[35] = b'-';
        hex_to(&span_id, &mut text[36..52]);
        text[52] = b'-';
        hex_to(&[flags], &mut text[53..55]);
        // Hex digits and dashes: ASCII, so the conversion cannot fail.
        let traceparent = std::str::from_utf8(&text)
            .map(str::to_owned)
            .unwrap_or_default();
        Self {
            traceparent,
            tracestate,
        }
    }

    /// The `traceparent` value.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id (32 lower-case hex digits), or `None` for a value read from a store that
    /// does not parse.
    pub fn trace_id(&self) -> Option<&str> {
        parts_of(&self.traceparent).ok()?;
        self.traceparent.get(3..35)
    }

    /// The parent (span) id (16 lower-case hex digits), or `None` as for
    /// [`trace_id`](Self::trace_id).
    pub fn parent_id(&self) -> Option<&str> {
        parts_of(&self.traceparent).ok()?;
        self.traceparent.get(36..52)
    }

    /// The trace id, parent id and flags, or `None` for a value that does not parse.
    #[cfg_attr(not(feature = "otel"), allow(dead_code))]
    pub(crate) fn parts(&self) -> Option<TraceParts> {
        parts_of(&self.traceparent).ok()
    }

    /// Whether the trace flags say "not sampled": their two digits are read first, so a
    /// sampled context (the usual case) costs no full parse; an unsampled one is parsed to
    /// be sure it is valid. `false` for a value that does not parse, which traces as no
    /// context at all.
    #[cfg(feature = "otel")]
    pub(crate) fn is_unsampled(&self) -> bool {
        let mut flags = [0u8; 1];
        let bytes = self.traceparent.as_bytes();
        bytes.len() >= 55
            && bytes[52] == b'-'
            && hex_into(&bytes[53..55], &mut flags)
            && flags[0] & 1 == 0
            && self.parts().is_some()
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tracestate {
            Some(state) => write!(f, "TraceContext({}; {state})", self.traceparent),
            None => write!(f, "TraceContext({})", self.traceparent),
        }
    }
}

/// Writes `bytes` as lower-case hex digits into `out` (twice as long).
#[cfg_attr(not(feature = "otel"), allow(dead_code))]
fn hex_to(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

fn hex_into(text: &[u8], out: &mut [u8]) -> bool {
    /// Each byte's value as a lower-case hex digit, `0xff` for any other byte.
    const VALUES: [u8; 256] = {
        let mut values = [0xff; 256];
        let mut c = 0;
        while c < 10 {
            values[b'0' as usize + c] = c as u8;
            c += 1;
        }
        let mut c = 0;
        while c < 6 {
            values[b'a' as usize + c] = 10 + c as u8;
            c += 1;
        }
        values
    };
    if text.len() != out.len() * 2 {
        return false;
    }
    let mut invalid = 0;
    for (slot, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (VALUES[usize::from(pair[0])], VALUES[usize::from(pair[1])]);
        invalid |= high | low;
        *slot = high << 4 | low;
    }
    // Every valid digit is below 16; a single 0xff anywhere sets the high bits.
    invalid < 16
}

fn parts_of(traceparent: &str) -> Result<TraceParts, &'static str> {
    let bytes = traceparent.as_bytes();
    if bytes.len() < 55 {
        return Err("a traceparent has at least 55 characters");
    }
    let mut version = [0u8; 1];
    if !hex_into(&bytes[0..2], &mut version) {
        return Err("the version is not two lower-case hex digits");
    }
    if version[0] == 0xff {
        return Err("the version `ff` is forbidden");
    }
    if (version[0] == 0 && bytes.len() != 55) || (bytes.len() > 55 && bytes[55] != b'-') {
        return Err("a version-00 traceparent has exactly 55 characters");
    }
    if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
        return Err("the fields are not separated by `-`");
    }
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    let mut flags = [0u8; 1];
    if !hex_into(&bytes[3..35], &mut trace_id) {
        return Err("the trace id is not 32 lower-case hex digits");
    }
    if !hex_into(&bytes[36..52], &mut span_id) {
        return Err("the parent id is not 16 lower-case hex digits");
    }
    if !hex_into(&bytes[53..55], &mut flags) {
        return Err("the trace flags are not two lower-case hex digits");
    }
    if trace_id == [0; 16] {
        return Err("the trace id is all zeros");
    }
    if span_id == [0; 8] {
        return Err("the parent id is all zeros");
    }
    Ok((trace_id, span_id, flags[0]))
}

/// A `traceparent` or `tracestate` that breaks the W3C Trace Context format; see
/// [`TraceContext::parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid W3C trace context `{value}`: {reason}")]
pub struct InvalidTraceContext {
    /// The value given (its first 80 characters).
    pub value: String,
    /// The rule it broke.
    pub reason: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_keeps_its_parts() {
        let context = TraceContext::parse(GOOD, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(context.traceparent(), GOOD);
        assert_eq!(context.tracestate(), Some("congo=t61rcWkgMzE"));
        assert_eq!(context.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(context.parent_id(), Some("00f067aa0ba902b7"));
        let (trace, span, flags) = context.parts().unwrap();
        assert_eq!(
            TraceContext::from_parts(trace, span, flags, None).traceparent(),
            GOOD
        );
        assert_eq!(
            TraceContext::parse(GOOD, Some("  ")).unwrap().tracestate(),
            None
        );
        // A later version may carry more fields.
        let later = format!("cc{}-extra", &GOOD[2..]);
        assert!(TraceContext::parse(&later, None).is_ok());
    }

    #[test]
    fn each_broken_rule_is_named() {
        let cases = [
            ("", "at least 55"),
            (&GOOD[..54], "at least 55"),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "`ff`",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "trace id",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "all zeros",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "all zeros",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                "flags",
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "separated",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                "exactly 55",
            ),
        ];
        for (value, rule) in cases {
            let error = TraceContext::parse(value, None).unwrap_err();
            assert!(
                error.reason.contains(rule),
                "{value:?}: {} (wanted {rule})",
                error.reason
            );
        }
        let long = "a=".to_owned() + &"b".repeat(600);
        assert!(TraceContext::parse(GOOD, Some(&long)).is_err());
        assert!(TraceContext::parse(GOOD, Some("a=\u{7}")).is_err());
    }

    #[test]
    fn serializes_without_an_absent_tracestate() {
        let context = TraceContext::parse(GOOD, None).unwrap();
        let json = serde_json::to_string(&context).unwrap();
        assert_eq!(json, format!(r#"{{"traceparent":"{GOOD}"}}"#));
        let back: TraceContext = serde_json::from_str(&json).unwrap();
        assert_eq!(back, context);
        // A stored value that does not parse reads back, and is simply not used.
        let junk: TraceContext = serde_json::from_str(r#"{"traceparent":"junk"}"#).unwrap();
        assert_eq!(junk.trace_id(), None);
    }

    #[cfg(feature = "otel")]
    #[test]
    fn only_a_valid_unsampled_context_reads_as_unsampled() {
        let sampled = TraceContext::parse(GOOD, None).unwrap();
        assert!(!sampled.is_unsampled());
        let unsampled = format!("{}00", &GOOD[..53]);
        assert!(
            TraceContext::parse(&unsampled, None)
                .unwrap()
                .is_unsampled()
        );
        // Other flags beside `sampled` do not matter.
        let other = format!("{}02", &GOOD[..53]);
        assert!(TraceContext::parse(&other, None).unwrap().is_unsampled());
        let later = format!("cc{}-extra", &unsampled[2..]);
        assert!(TraceContext::parse(&later, None).unwrap().is_unsampled());
        // A stored value that does not parse is no context, not an unsampled one.
        let zero_trace = format!("00-{}-00f067aa0ba902b7-00", "0".repeat(32));
        let junk: TraceContext =
            serde_json::from_str(&format!(r#"{{"traceparent":"{zero_trace}"}}"#)).unwrap();
        assert!(!junk.is_unsampled());
    }
}
