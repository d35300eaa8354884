//! The upsert-nodes messages the publishers post: one node, padded to a target size, with the
//! publish time (unix microseconds) in `meta.publishedAt`.

use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::scanner::PUBLISHED_AT_KEY;

/// Unix time in microseconds (0 if the clock is before 1970).
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Builds message bodies of roughly `size` bytes.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    pad: String,
}

/// Bytes of a body without padding, for flow and node ids of typical length.
const BASE_LEN: usize = 130;

impl Payload {
    /// A builder for bodies of about `size` bytes (never below the unpadded size).
    pub(crate) fn new(size: usize) -> Self {
        Self {
            pad: "x".repeat(size.saturating_sub(BASE_LEN)),
        }
    }

    /// The JSON body of one `upsert-nodes` message for `flow`, node `node`, published at
    /// `published_at` (unix microseconds).
    pub(crate) fn body(&self, flow: &str, node: usize, published_at: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pad.len() + BASE_LEN + flow.len());
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            r#"{{"type":"upsert-nodes","nodes":[{{"id":"n{node}","flowId":"{flow}","label":"node {node}","status":"running","meta":{{"pad":"{pad}","{PUBLISHED_AT_KEY}":{published_at}}}}}]}}"#,
            pad = self.pad,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use memchr::memmem;

    use super::*;
    use crate::scanner::published_at;

    #[test]
    fn body_is_valid_json_of_about_the_size_and_carries_the_time() {
        for size in [0, 256, 1024, 4096] {
            let body = Payload::new(size).body("load-0", 17, 1_700_000_000_123_456);
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(value["type"], "upsert-nodes");
            assert_eq!(value["nodes"][0]["flowId"], "load-0");
            assert_eq!(
                value["nodes"][0]["meta"]["publishedAt"],
                1_700_000_000_123_456_u64
            );
            if size >= 256 {
                assert!(body.len().abs_diff(size) < 32, "{} vs {size}", body.len());
            }
            let finder = memmem::Finder::new(b"\"publishedAt\":");
            assert_eq!(published_at(&finder, &body), Some(1_700_000_000_123_456));
        }
    }

    #[test]
    fn clock_is_after_2020() {
        assert!(unix_micros() > 1_577_836_800_000_000);
    }
}
