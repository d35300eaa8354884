//! SSE event ids: `<epoch>-<seq>`, the epoch in lower-case hex, the seq in decimal.
//!
//! Only the canonical form this module writes is accepted back (no leading zeros, no sign, no
//! upper case), so an id round-trips exactly and anything else is "malformed".

use std::fmt;

/// The identity of one incarnation of a flow's state.
///
/// A new epoch is taken whenever a flow's state is created anew (first ingest or subscribe,
/// after a delete or an idle eviction, or when the process restarts with a new seed), so a
/// `Last-Event-ID` from an earlier incarnation is never mistaken for a position in this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// A position in a flow: the epoch and the seq of the last message folded in.
///
/// ```
/// use flow_router::{Epoch, EventId};
///
/// let id = EventId { epoch: Epoch(0x1f), seq: 42 };
/// assert_eq!(id.to_string(), "1f-42");
/// assert_eq!(EventId::parse("1f-42"), Some(id));
/// assert_eq!(EventId::parse("42"), None); // a bare number is not ours
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId {
    /// The flow's epoch.
    pub epoch: Epoch,
    /// The seq within the epoch.
    pub seq: u64,
}

impl EventId {
    /// Longest canonical id: 16 hex digits, a dash, 20 decimal digits.
    pub const MAX_LEN: usize = 16 + 1 + 20;

    /// Parses a canonical id; `None` for anything else (including a bare number, an empty
    /// string, whitespace, or non-canonical digits).
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > Self::MAX_LEN {
            return None;
        }
        let (epoch, seq) = text.split_once('-')?;
        let epoch = canonical(epoch, |b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            .and_then(|digits| u64::from_str_radix(digits, 16).ok())?;
        let seq = canonical(seq, |b| b.is_ascii_digit()).and_then(|digits| digits.parse().ok())?;
        Some(Self {
            epoch: Epoch(epoch),
            seq,
        })
    }
}

/// `digits` when it is non-empty, made only of `allowed` bytes, and has no leading zero.
fn canonical(digits: &str, allowed: impl Fn(u8) -> bool) -> Option<&str> {
    let bytes = digits.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.iter().all(|&b| allowed(b))
        && !(bytes.len() > 1 && bytes[0] == b'0');
    ok.then_some(digits)
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(epoch: u64, seq: u64) -> EventId {
        EventId {
            epoch: Epoch(epoch),
            seq,
        }
    }

    #[test]
    fn round_trips_extremes() {
        for (epoch, seq) in [(0, 0), (0, 1), (0xabc, 7), (u64::MAX, u64::MAX)] {
            let text = id(epoch, seq).to_string();
            assert!(text.len() <= EventId::MAX_LEN);
            assert_eq!(EventId::parse(&text), Some(id(epoch, seq)), "{text}");
        }
        assert_eq!(id(u64::MAX, u64::MAX).to_string().len(), EventId::MAX_LEN);
    }

    #[test]
    fn parses_canonical_form() {
        assert_eq!(EventId::parse("0-0"), Some(id(0, 0)));
        assert_eq!(EventId::parse("ff-10"), Some(id(255, 10)));
    }

    #[test]
    fn rejects_everything_else() {
        for text in [
            "",
            "-",
            "5",
            "12",
            "a-",
            "-3",
            "a-b",
            "A-1",
            "0a-1",
            "a-01",
            "a--1",
            "a-1-2",
            "a-+1",
            " a-1",
            "a-1 ",
            "g-1",
            "a-1\n",
            "0x1-1",
            // 17 hex digits overflows the epoch; 21 decimal digits overflows the seq.
            "10000000000000000-1",
            "1-99999999999999999999",
            "1-18446744073709551616",
        ] {
            assert_eq!(EventId::parse(text), None, "{text:?}");
        }
    }
}
