//! Cheap SSE frame scanning: classifies each `\n\n`-terminated block by its `event:` and `id:`
//! lines without parsing JSON. Sampling scanners also pull `publishedAt` out of the `data:` line.
//!
//! Input may be split anywhere (inside a line, between the two newlines of a terminator); only a
//! line that crosses a chunk boundary is copied, and of a long `data:` line only a short prefix
//! unless the scanner samples.

use memchr::{memchr, memmem};

/// The key whose number (unix microseconds) the publishers put into each node's `meta`.
pub(crate) const PUBLISHED_AT_KEY: &str = "publishedAt";

/// Bytes of a partial line kept by a non-sampling scanner (enough for `event:` and `id:`).
const PREFIX_KEEP: usize = 96;
/// Upper bound of a partial line kept by a sampling scanner (a snapshot can be large).
const SAMPLE_KEEP: usize = 8 << 20;

/// What kind of block a frame was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// `event: snapshot`: the whole state (first frame, or a resync).
    Snapshot,
    /// `event: heartbeat`.
    Heartbeat,
    /// Any other named event with an id: one accepted message.
    Event,
    /// A block without an event name (for example the leading `retry:` block).
    Other,
}

/// One scanned frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The block's kind.
    pub(crate) kind: FrameKind,
    /// The seq after the last `-` of the `id:` line, if any.
    pub(crate) seq: Option<u64>,
    /// The first `publishedAt` number of the `data:` line (sampling scanners only).
    pub(crate) published_at: Option<u64>,
}

/// Streaming SSE block scanner.
#[derive(Debug)]
pub(crate) struct FrameScanner {
    sample: bool,
    partial: Vec<u8>,
    partial_len: usize,
    in_block: bool,
    kind: FrameKind,
    seq: Option<u64>,
    published_at: Option<u64>,
    last_id: Vec<u8>,
    finder: memmem::Finder<'static>,
}

impl FrameScanner {
    /// A scanner; `sample` makes it extract `publishedAt` from data lines.
    pub(crate) fn new(sample: bool) -> Self {
        Self {
            sample,
            partial: Vec::new(),
            partial_len: 0,
            in_block: false,
            kind: FrameKind::Other,
            seq: None,
            published_at: None,
            last_id: Vec::new(),
            finder: memmem::Finder::new(b"\"publishedAt\":"),
        }
    }

    /// The last complete `id:` value seen (for `Last-Event-ID` on reconnect).
    pub(crate) fn last_id(&self) -> &[u8] {
        &self.last_id
    }

    /// Feeds body bytes; calls `sink` for every complete block.
    pub(crate) fn feed(&mut self, mut input: &[u8], sink: &mut impl FnMut(Frame)) {
        while !input.is_empty() {
            if let Some(at) = memchr(b'\n', input) {
                let (line, rest) = (&input[..at], &input[at + 1..]);
                input = rest;
                if self.partial_len == 0 {
                    self.line(line, sink);
                } else {
                    self.keep(line);
                    let taken = std::mem::take(&mut self.partial);
                    self.partial_len = 0;
                    self.line(&taken, sink);
                    self.partial = taken;
                    self.partial.clear();
                }
            } else {
                self.keep(input);
                break;
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let cap = if self.sample {
            SAMPLE_KEEP
        } else {
            PREFIX_KEEP
        };
        let room = cap.saturating_sub(self.partial.len());
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.partial_len += bytes.len();
    }

    fn line(&mut self, line: &[u8], sink: &mut impl FnMut(Frame)) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.in_block {
                sink(Frame {
                    kind: self.kind,
                    seq: self.seq,
                    published_at: self.published_at,
                });
            }
            self.in_block = false;
            self.kind = FrameKind::Other;
            self.seq = None;
            self.published_at = None;
            return;
        }
        self.in_block = true;
        if let Some(value) = field(line, b"event:") {
            self.kind = match value {
                b"snapshot" => FrameKind::Snapshot,
                b"heartbeat" => FrameKind::Heartbeat,
                _ => FrameKind::Event,
            };
        } else if let Some(value) = field(line, b"id:") {
            let digits = value
                .iter()
                .rposition(|b| *b == b'-')
                .map_or(value, |dash| &value[dash + 1..]);
            self.seq = parse_u64(digits);
            self.last_id.clear();
            self.last_id.extend_from_slice(value);
        } else if self.sample
            && self.published_at.is_none()
            && let Some(value) = field(line, b"data:")
        {
            self.published_at = published_at(&self.finder, value);
        }
    }
}

/// The value of `name` (which includes the colon) on `line`, one leading space removed.
fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let value = line.strip_prefix(name)?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

/// Parses a decimal `u64` (no sign, at least one digit, nothing after it).
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0_u64, |acc, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// The number after the first `"publishedAt":` in a JSON text, without parsing the JSON.
pub(crate) fn published_at(finder: &memmem::Finder<'_>, json: &[u8]) -> Option<u64> {
    let at = finder.find(json)? + finder.needle().len();
    let rest = &json[at..];
    let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_u64(&rest[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"retry: 2000\n\n\
event: snapshot\nid: 1a-5\ndata: {\"type\":\"snapshot\",\"nodes\":[]}\n\n\
event: upsert-nodes\nid: 1a-6\ndata: {\"nodes\":[{\"meta\":{\"pad\":\"xx\",\"publishedAt\":1700000000000123}}]}\n\n\
event: heartbeat\ndata: {}\n\n\
event: upsert-nodes\nid: 1a-7\ndata: {\"nodes\":[{\"meta\":{\"publishedAt\": 42}}]}\n\n";

    fn scan_in_pieces(sample: bool, piece: usize) -> (Vec<Frame>, Vec<u8>) {
        let mut scanner = FrameScanner::new(sample);
        let mut frames = Vec::new();
        for chunk in STREAM.chunks(piece) {
            scanner.feed(chunk, &mut |f| frames.push(f));
        }
        (frames, scanner.last_id().to_vec())
    }

    fn expected(sample: bool) -> Vec<Frame> {
        let p = |v| if sample { Some(v) } else { None };
        vec![
            Frame {
                kind: FrameKind::Other,
                seq: None,
                published_at: None,
            },
            Frame {
                kind: FrameKind::Snapshot,
                seq: Some(5),
                published_at: None,
            },
            Frame {
                kind: FrameKind::Event,
                seq: Some(6),
                published_at: p(1_700_000_000_000_123),
            },
            Frame {
                kind: FrameKind::Heartbeat,
                seq: None,
                published_at: None,
            },
            Frame {
                kind: FrameKind::Event,
                seq: Some(7),
                published_at: p(42),
            },
        ]
    }

    #[test]
    fn every_split_point_yields_the_same_frames() {
        for sample in [false, true] {
            for piece in 1..=STREAM.len() {
                let (frames, last_id) = scan_in_pieces(sample, piece);
                assert_eq!(frames, expected(sample), "piece {piece} sample {sample}");
                assert_eq!(last_id, b"1a-7");
            }
        }
    }

    #[test]
    fn long_data_lines_split_across_chunks_keep_only_a_prefix() {
        let mut scanner = FrameScanner::new(false);
        let mut frames = Vec::new();
        let data = vec![b'x'; 10_000];
        scanner.feed(b"event: upsert-nodes\nid: 0-1\ndata: ", &mut |f| {
            frames.push(f)
        });
        for chunk in data.chunks(333) {
            scanner.feed(chunk, &mut |f| frames.push(f));
            assert!(scanner.partial.len() <= PREFIX_KEEP);
        }
        scanner.feed(b"\n\n", &mut |f| frames.push(f));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, Some(1));
    }

    #[test]
    fn crlf_lines_are_accepted() {
        let mut scanner = FrameScanner::new(false);
        let mut frames = Vec::new();
        scanner.feed(b"event: x\r\nid: 3\r\n\r\n", &mut |f| frames.push(f));
        assert_eq!(
            frames,
            vec![Frame {
                kind: FrameKind::Event,
                seq: Some(3),
                published_at: None
            }]
        );
    }

    #[test]
    fn published_at_extraction() {
        let finder = memmem::Finder::new(b"\"publishedAt\":");
        assert_eq!(published_at(&finder, br#"{"publishedAt":17}"#), Some(17));
        assert_eq!(
            published_at(&finder, br#"{"a":{"publishedAt":  9,"b":1}}"#),
            Some(9)
        );
        assert_eq!(published_at(&finder, br#"{"publishedAt":"17"}"#), None);
        assert_eq!(published_at(&finder, br#"{"published":17}"#), None);
        assert_eq!(PUBLISHED_AT_KEY.len() + 3, finder.needle().len());
    }

    #[test]
    fn parse_u64_rejects_garbage_and_overflow() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1x"), None);
    }
}
