//! The server's answers, typed: an accepted post, a flow's head and snapshot, the list of flows.

use std::collections::BTreeMap;

use flow_contract::FlowMessage;
use flow_router::{Epoch, EventId};
use serde::Deserialize;

/// The server's answer to an accepted message: where it stands in the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Posted {
    /// The flow's epoch.
    pub epoch: Epoch,
    /// The seq the message was given.
    pub seq: u64,
}

impl Posted {
    /// The SSE id of the message (`<epoch>-<seq>`), as a follower receives it.
    #[must_use]
    pub fn id(&self) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// Reads `{"epoch": "<hex>", "id": "<epoch>-<seq>", "seq": N}`.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Wire {
            epoch: String,
            seq: u64,
        }
        let wire: Wire = serde_json::from_slice(body)
            .map_err(|e| format!("expected {{\"epoch\":\"...\",\"seq\":N}}: {e}"))?;
        let id = position(&wire.epoch, &wire.seq.to_string())?;
        Ok(Self {
            epoch: id.epoch,
            seq: id.seq,
        })
    }
}

/// A flow's position on the server: its epoch and the seq of the last message folded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head {
    /// The flow's epoch: new whenever its state was created anew (restart, DELETE, eviction).
    pub epoch: Epoch,
    /// The seq of the last message in the state.
    pub seq: u64,
}

impl Head {
    /// The position as an SSE id: following from it resumes after the last message.
    #[must_use]
    pub fn id(&self) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// Reads the `Flow-Epoch` and `Flow-Seq` headers.
    pub(crate) fn from_headers(epoch: Option<&str>, seq: Option<&str>) -> Result<Self, String> {
        let (Some(epoch), Some(seq)) = (epoch, seq) else {
            return Err("the Flow-Epoch and Flow-Seq headers are missing".to_owned());
        };
        let id = position(epoch, seq)?;
        Ok(Self {
            epoch: id.epoch,
            seq: id.seq,
        })
    }
}

/// An epoch and a seq in the server's canonical form (lower-case hex, decimal, no padding).
fn position(epoch: &str, seq: &str) -> Result<EventId, String> {
    EventId::parse(&format!("{epoch}-{seq}"))
        .ok_or_else(|| format!("epoch {epoch:?} and seq {seq:?} are not a position"))
}

/// A flow's folded state, as the server holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Where the state stands.
    pub head: Head,
    /// A `snapshot` message: the flow instance, every node and every relationship.
    pub message: FlowMessage,
}

/// One flow held by the server, as `GET /v1/flows` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FlowSummary {
    /// The flow id.
    pub id: String,
    /// The epoch.
    #[serde(deserialize_with = "epoch")]
    pub epoch: Epoch,
    /// The seq of the last message.
    pub seq: u64,
    /// Nodes held.
    pub nodes: usize,
    /// Nodes by status.
    #[serde(default)]
    pub nodes_by_status: BTreeMap<String, usize>,
    /// Relationships held.
    pub relationships: usize,
    /// Open streams.
    pub subscribers: usize,
    /// When the last message arrived (unix ms), if any did.
    #[serde(default)]
    pub last_event_at: Option<u64>,
}

/// An epoch in the server's form (lower-case hex).
fn epoch<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Epoch, D::Error> {
    let text = String::deserialize(deserializer)?;
    position(&text, "0")
        .map(|id| id.epoch)
        .map_err(serde::de::Error::custom)
}

/// The body of `GET /v1/flows`.
#[derive(Deserialize)]
pub(crate) struct FlowList {
    pub(crate) flows: Vec<FlowSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posted_reads_the_ingest_answer() {
        let posted = Posted::parse(br#"{"epoch":"1f","id":"1f-7","seq":7}"#).unwrap();
        assert_eq!(posted.id().to_string(), "1f-7");
        assert!(Posted::parse(br#"{"seq":7}"#).is_err());
        assert!(Posted::parse(br#"{"epoch":"XY","seq":7}"#).is_err());
    }

    #[test]
    fn head_needs_both_headers_in_canonical_form() {
        let head = Head::from_headers(Some("abc"), Some("12")).unwrap();
        assert_eq!(head.id().to_string(), "abc-12");
        assert!(Head::from_headers(Some("abc"), None).is_err());
        assert!(Head::from_headers(Some("abc"), Some("-1")).is_err());
        assert!(Head::from_headers(Some("ABC"), Some("1")).is_err());
    }

    #[test]
    fn flow_summaries_read_the_listing() {
        let list: FlowList = serde_json::from_str(
            r#"{"flows":[{"id":"f","epoch":"e0","seq":3,"nodes":2,"nodesByStatus":{"running":2},"relationships":1,"subscribers":0,"lastEventAt":null}]}"#,
        )
        .unwrap();
        assert_eq!(list.flows[0].id, "f");
        assert_eq!(list.flows[0].nodes_by_status["running"], 2);
        assert_eq!(list.flows[0].last_event_at, None);
        assert_eq!(list.flows[0].epoch, Epoch(0xe0));
        let bad = r#"{"flows":[{"id":"f","epoch":"E0","seq":3,"nodes":0,"relationships":0,"subscribers":0}]}"#;
        assert!(serde_json::from_str::<FlowList>(bad).is_err());
    }
}
