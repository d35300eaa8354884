//! The undelivered changes, latest-wins per node and per relationship.
//!
//! The healer's messages go in; the delivery loop takes batches out. A change is keyed by the
//! node id or the relationship's natural key, so a newer change to the same key replaces an older
//! one that was not delivered yet: during a long outage the outbox holds at most one entry per
//! node and per relationship of the region (bounded memory) and sends the current state, not the
//! history. A batch that could not be delivered is put back under its keys, except where a newer
//! change arrived meanwhile, so nothing older is ever sent after something newer.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use flow_contract::{FlowMessage, FlowNode, Limits, RelPair, Relationship};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;

/// Largest encoded body the outbox puts into one message (the server's default body limit is
/// larger; staying well below it keeps a `413` out of normal operation).
const MAX_MESSAGE_BYTES: usize = 512 * 1024;

/// What a change is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Node(String),
    Rel(RelPair),
}

/// The latest undelivered change of one key.
#[derive(Debug, Clone, PartialEq)]
enum Change {
    UpsertNode(FlowNode),
    DeleteNode,
    UpsertRel(Relationship),
    DeleteRel,
}

/// Undelivered changes, keyed.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pending: BTreeMap<Key, Change>,
}

impl Outbox {
    /// Records the changes of `message`, replacing older undelivered changes of the same keys.
    /// A `snapshot` or `upsert-flow` is not something the adapter sends; it is ignored.
    pub(crate) fn push(&mut self, message: FlowMessage) {
        for (key, change) in changes(message) {
            self.pending.insert(key, change);
        }
    }

    /// Puts back the changes of a message that could not be delivered, except for keys that
    /// got a newer change meanwhile.
    pub(crate) fn requeue(&mut self, message: FlowMessage) {
        for (key, change) in changes(message) {
            self.pending.entry(key).or_insert(change);
        }
    }

    /// Number of undelivered keys.
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Takes everything waiting as messages, in the order the server must apply them:
    /// `upsert-nodes`, `upsert-rels`, `delete-rels`, `delete-nodes`. Each message stays within
    /// the contract's item limit and a body size well below the server's limit.
    pub(crate) fn take_batch(&mut self) -> Vec<FlowMessage> {
        let mut upsert_nodes = Vec::new();
        let mut upsert_rels = Vec::new();
        let mut delete_rels = Vec::new();
        let mut delete_nodes = Vec::new();
        for (key, change) in std::mem::take(&mut self.pending) {
            match (key, change) {
                (_, Change::UpsertNode(node)) => upsert_nodes.push(node),
                (_, Change::UpsertRel(rel)) => upsert_rels.push(rel),
                (Key::Rel(pair), Change::DeleteRel) => delete_rels.push(pair),
                (Key::Node(id), Change::DeleteNode) => delete_nodes.push(id),
                // `changes` pairs deletes with their own key kind only.
                (Key::Node(_), Change::DeleteRel) | (Key::Rel(_), Change::DeleteNode) => {}
            }
        }
        let mut out = chunk(upsert_nodes, |nodes| FlowMessage::UpsertNodes { nodes });
        out.extend(chunk(upsert_rels, |relationships| {
            FlowMessage::UpsertRels { relationships }
        }));
        out.extend(chunk(delete_rels, |pairs| FlowMessage::DeleteRels {
            pairs,
        }));
        out.extend(chunk(delete_nodes, |ids| FlowMessage::DeleteNodes { ids }));
        out
    }
}

/// The outbox shared by the healer's loop (which fills it) and the delivery task (which
/// empties it). The lock is never held across an `.await`.
#[derive(Debug)]
pub(crate) struct Shared {
    outbox: Mutex<Outbox>,
    /// Woken when the outbox gets something.
    pub(crate) filled: Notify,
    /// Woken when a delivery waiting out its backoff should retry now.
    pub(crate) retry_now: Notify,
    depth: Gauge,
}

impl Shared {
    /// An empty outbox whose size is published on `depth`.
    pub(crate) fn new(depth: Gauge) -> Self {
        Self {
            outbox: Mutex::new(Outbox::default()),
            filled: Notify::new(),
            retry_now: Notify::new(),
            depth,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues messages and wakes the delivery task.
    pub(crate) fn push(&self, messages: Vec<FlowMessage>) {
        if messages.is_empty() {
            return;
        }
        {
            let mut outbox = self.lock();
            for message in messages {
                outbox.push(message);
            }
        }
        self.publish_depth();
        self.filled.notify_one();
    }

    /// Puts back an undelivered message (newer changes win).
    pub(crate) fn requeue(&self, message: FlowMessage) {
        self.lock().requeue(message);
        self.publish_depth();
    }

    /// Takes everything waiting, as messages in apply order.
    pub(crate) fn take_batch(&self) -> Vec<FlowMessage> {
        let batch = self.lock().take_batch();
        self.publish_depth();
        batch
    }

    /// Whether nothing waits for delivery.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Number of undelivered keys.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn publish_depth(&self) {
        self.depth
            .set(i64::try_from(self.len()).unwrap_or(i64::MAX));
    }
}

fn changes(message: FlowMessage) -> Vec<(Key, Change)> {
    match message {
        FlowMessage::UpsertNodes { nodes } => nodes
            .into_iter()
            .map(|node| (Key::Node(node.id.clone()), Change::UpsertNode(node)))
            .collect(),
        FlowMessage::UpsertRels { relationships } => relationships
            .into_iter()
            .map(|rel| (Key::Rel(rel.key()), Change::UpsertRel(rel)))
            .collect(),
        FlowMessage::DeleteRels { pairs } => pairs
            .into_iter()
            .map(|pair| (Key::Rel(pair), Change::DeleteRel))
            .collect(),
        FlowMessage::DeleteNodes { ids } => ids
            .into_iter()
            .map(|id| (Key::Node(id), Change::DeleteNode))
            .collect(),
        FlowMessage::Snapshot { .. } | FlowMessage::UpsertFlow { .. } => Vec::new(),
    }
}

/// Splits `items` into messages of at most the contract's item limit and about
/// [`MAX_MESSAGE_BYTES`] of encoded items; none for no items.
fn chunk<T: serde::Serialize>(
    items: Vec<T>,
    make: impl Fn(Vec<T>) -> FlowMessage,
) -> Vec<FlowMessage> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for item in items {
        // Serialising contract types cannot fail (string keys, no I/O); 0 only under-counts.
        let size = serde_json::to_vec(&item).map_or(0, |v| v.len());
        if !current.is_empty()
            && (current.len() >= Limits::DEFAULT.max_items || bytes + size > MAX_MESSAGE_BYTES)
        {
            out.push(make(std::mem::take(&mut current)));
            bytes = 0;
        }
        bytes += size;
        current.push(item);
    }
    if !current.is_empty() {
        out.push(make(current));
    }
    out
}

#[cfg(test)]
mod tests {
    use flow_contract::RelType;

    use super::*;

    fn node(id: &str, status: &str) -> FlowNode {
        FlowNode {
            id: id.to_owned(),
            flow_id: "f".to_owned(),
            label: id.to_owned(),
            status: status.to_owned(),
            family: None,
            region: None,
            started_at: None,
            ended_at: None,
            meta: None,
        }
    }

    fn rel(from: &str, to: &str) -> Relationship {
        Relationship {
            from_id: from.to_owned(),
            to_id: to.to_owned(),
            from_flow_id: None,
            to_flow_id: None,
            rel_type: RelType::Contains,
            condition: None,
            lag: None,
        }
    }

    fn upsert(nodes: &[(&str, &str)]) -> FlowMessage {
        FlowMessage::UpsertNodes {
            nodes: nodes.iter().map(|(id, s)| node(id, s)).collect(),
        }
    }

    #[test]
    fn latest_change_of_a_node_wins() {
        let mut outbox = Outbox::default();
        outbox.push(upsert(&[("r/a", "pending"), ("r/b", "pending")]));
        outbox.push(upsert(&[("r/a", "running")]));
        outbox.push(upsert(&[("r/a", "succeeded")]));
        assert_eq!(outbox.len(), 2);
        assert_eq!(
            outbox.take_batch(),
            vec![upsert(&[("r/a", "succeeded"), ("r/b", "pending")])]
        );
        assert!(outbox.is_empty());
    }

    #[test]
    fn delete_replaces_pending_upsert_and_upsert_replaces_pending_delete() {
        let mut outbox = Outbox::default();
        outbox.push(upsert(&[("r/a", "running"), ("r/b", "running")]));
        outbox.push(FlowMessage::DeleteNodes {
            ids: vec!["r/a".to_owned()],
        });
        outbox.push(FlowMessage::DeleteNodes {
            ids: vec!["r/b".to_owned()],
        });
        outbox.push(upsert(&[("r/b", "pending")]));
        assert_eq!(
            outbox.take_batch(),
            vec![
                upsert(&[("r/b", "pending")]),
                FlowMessage::DeleteNodes {
                    ids: vec!["r/a".to_owned()]
                },
            ]
        );
    }

    #[test]
    fn batch_order_is_upserts_then_deletes() {
        let mut outbox = Outbox::default();
        outbox.push(FlowMessage::DeleteNodes {
            ids: vec!["r/gone".to_owned()],
        });
        outbox.push(FlowMessage::DeleteRels {
            pairs: vec![rel("r/x", "r").key()],
        });
        outbox.push(FlowMessage::UpsertRels {
            relationships: vec![rel("r/a", "r")],
        });
        outbox.push(upsert(&[("r/a", "running")]));
        let types: Vec<_> = outbox
            .take_batch()
            .iter()
            .map(|m| m.message_type().as_str())
            .collect();
        assert_eq!(
            types,
            ["upsert-nodes", "upsert-rels", "delete-rels", "delete-nodes"]
        );
    }

    #[test]
    fn requeue_never_overwrites_a_newer_change() {
        let mut outbox = Outbox::default();
        outbox.push(upsert(&[("r/a", "running"), ("r/b", "running")]));
        let batch = outbox.take_batch();
        // While the batch was in flight, a newer status for r/a arrived.
        outbox.push(upsert(&[("r/a", "failed")]));
        for message in batch {
            outbox.requeue(message);
        }
        assert_eq!(
            outbox.take_batch(),
            vec![upsert(&[("r/a", "failed"), ("r/b", "running")])]
        );
    }

    #[test]
    fn snapshot_and_flow_messages_are_not_queued() {
        let mut outbox = Outbox::default();
        outbox.push(FlowMessage::Snapshot {
            flow: flow_contract::FlowInstance::new("f", "running".to_owned(), 0),
            nodes: vec![node("r/a", "running")],
            relationships: vec![],
        });
        assert!(outbox.is_empty());
    }

    #[test]
    fn batches_respect_the_item_limit() {
        let mut outbox = Outbox::default();
        let ids: Vec<String> = (0..Limits::DEFAULT.max_items + 3)
            .map(|i| format!("r/n{i}"))
            .collect();
        outbox.push(FlowMessage::DeleteNodes { ids });
        let batch = outbox.take_batch();
        let sizes: Vec<usize> = batch
            .iter()
            .map(|m| match m {
                FlowMessage::DeleteNodes { ids } => ids.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [Limits::DEFAULT.max_items, 3]);
    }
}
