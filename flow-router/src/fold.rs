//! The materialized state of one flow, kept apart from the ring.
//!
//! The fold is never derived from the ring, so ring eviction never loses state.

use std::collections::BTreeMap;

use flow_contract::{FlowInstance, FlowMessage, FlowNode, RelPair, Relationship};

use crate::footprint;

/// The folded state of one flow, in deterministic (sorted) order: what every receiver of a
/// flow's messages should hold. The router keeps one per flow; clients (`flowctl`, your own
/// tools) can fold a stream with the same semantics:
///
/// ```
/// use flow_contract::decode;
/// use flow_router::Fold;
///
/// let mut fold = Fold::default();
/// for body in [
///     r#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a","status":"running"},
///                                        {"id":"b","flowId":"f","label":"b","status":"pending"}]}"#,
///     r#"{"type":"upsert-rels","relationships":[{"fromId":"a","toId":"b","type":"finish-to-start"}]}"#,
///     r#"{"type":"delete-nodes","ids":["b"]}"#,
/// ] {
///     fold.apply("f", decode(body.as_bytes(), "f")?);
/// }
/// assert_eq!(fold.node_map().keys().collect::<Vec<_>>(), ["a"]);
/// assert!(fold.relationship_map().is_empty(), "the edge touching b went with it");
/// assert_eq!(fold.instance("f").status, "running", "synthetic instance, rolled up");
/// # Ok::<(), flow_contract::ContractError>(())
/// ```
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fold {
    flow: Option<FlowInstance>,
    nodes: BTreeMap<String, FlowNode>,
    rels: BTreeMap<RelPair, Relationship>,
    /// The estimated memory of the state ([`Fold::bytes`]), kept up to date item by item.
    bytes: usize,
    /// Nodes by status, kept up to date node by node (listings read it on every write).
    statuses: BTreeMap<String, usize>,
}

/// How exactly [`Fold::bytes_after`] and [`Fold::items_after`] preview a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Preview {
    /// An upper bound, without lookups: cheap enough for every message.
    AtMost,
    /// The exact figure: replaced items are looked up, and the last of several items with one
    /// key wins.
    Exact,
}

impl Preview {
    /// Folds `f` over what upserting `items` does: each item that lands with the held item it
    /// replaces (`held` looks one up by key). [`AtMost`](Self::AtMost) neither looks up nor
    /// allocates: every item lands and replaces nothing.
    fn fold_upsert<'a, 'h, T: 'h, K: Ord>(
        self,
        items: &'a [T],
        key: impl Fn(&'a T) -> K,
        held: impl Fn(&K) -> Option<&'h T>,
        init: usize,
        f: impl Fn(usize, &'a T, Option<&'h T>) -> usize,
    ) -> usize {
        match self {
            Self::AtMost => items.iter().fold(init, |sum, item| f(sum, item, None)),
            Self::Exact => {
                let last: BTreeMap<K, &T> = items.iter().map(|item| (key(item), item)).collect();
                last.into_iter()
                    .fold(init, |sum, (key, item)| f(sum, item, held(&key)))
            }
        }
    }
}

/// What [`Fold::after`] measures: the measure of each kind of item, and of the state now.
/// Generic over the functions so that each preview is compiled with its own inlined.
struct Measure<I, N, R> {
    held: usize,
    instance: I,
    node: N,
    relationship: R,
}

/// The roll-up of node statuses used for a synthetic flow instance.
///
/// `failed` if any node failed, else `running` if any runs, else `pending` if any is pending
/// or there are no nodes, else `succeeded` if any succeeded, else (only statuses outside the
/// four known ones) `pending`.
pub(crate) fn roll_up<'a>(statuses: impl IntoIterator<Item = &'a str>) -> &'static str {
    let (mut failed, mut running, mut pending, mut succeeded) = (false, false, false, false);
    let mut any = false;
    for status in statuses {
        any = true;
        match status {
            "failed" => failed = true,
            "running" => running = true,
            "pending" => pending = true,
            "succeeded" => succeeded = true,
            _ => {}
        }
    }
    if failed {
        "failed"
    } else if running {
        "running"
    } else if pending || !any || !succeeded {
        "pending"
    } else {
        "succeeded"
    }
}

impl Fold {
    /// A fold holding exactly this state (`flow: None` keeps the synthetic instance).
    pub(crate) fn from_state(
        flow: Option<FlowInstance>,
        nodes: Vec<FlowNode>,
        relationships: Vec<Relationship>,
    ) -> Self {
        let mut fold = Self::default();
        fold.set_flow(flow);
        fold.upsert_nodes(nodes);
        fold.upsert_rels(relationships);
        fold
    }

    /// The estimated memory the state takes, in bytes: what the router charges against a
    /// flow's byte budget. Kept up to date by [`apply`](Self::apply) item by item (never
    /// recomputed); see `footprint.rs` for what an item costs.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// [`bytes`](Self::bytes) after `message` would be applied: exact or an upper bound, as
    /// `preview` says (for deletes always an upper bound: the bytes held now).
    pub(crate) fn bytes_after(&self, message: &FlowMessage, preview: Preview) -> usize {
        let bytes = Measure {
            held: self.bytes,
            instance: footprint::instance,
            node: footprint::node,
            relationship: footprint::relationship,
        };
        self.after(message, preview, &bytes)
    }

    fn set_flow(&mut self, flow: Option<FlowInstance>) {
        self.bytes += flow.as_ref().map_or(0, footprint::instance);
        if let Some(old) = std::mem::replace(&mut self.flow, flow) {
            self.bytes -= footprint::instance(&old);
        }
    }

    fn upsert_nodes(&mut self, nodes: Vec<FlowNode>) {
        for node in nodes {
            self.bytes += footprint::node(&node);
            // A status already counted costs no allocation.
            match self.statuses.get_mut(&node.status) {
                Some(count) => *count += 1,
                None => {
                    self.statuses.insert(node.status.clone(), 1);
                }
            }
            if let Some(old) = self.nodes.insert(node.id.clone(), node) {
                self.forget(&old);
            }
        }
    }

    /// Takes a node that left the state off the running figures.
    fn forget(&mut self, old: &FlowNode) {
        self.bytes -= footprint::node(old);
        if let Some(count) = self.statuses.get_mut(&old.status) {
            *count -= 1;
            if *count == 0 {
                self.statuses.remove(&old.status);
            }
        }
    }

    /// Node count by status (an open vocabulary), without walking the nodes.
    #[must_use]
    pub fn nodes_by_status(&self) -> &BTreeMap<String, usize> {
        &self.statuses
    }

    fn upsert_rels(&mut self, relationships: Vec<Relationship>) {
        for rel in relationships {
            self.bytes += footprint::relationship(&rel);
            if let Some(old) = self.rels.insert(rel.key(), rel) {
                self.bytes -= footprint::relationship(&old);
            }
        }
    }

    /// Nodes plus relationships held.
    pub(crate) fn items(&self) -> usize {
        self.nodes.len() + self.rels.len()
    }

    /// The items held after `message` would be applied: exact or an upper bound, as `preview`
    /// says (for deletes always an upper bound: the items held now).
    pub(crate) fn items_after(&self, message: &FlowMessage, preview: Preview) -> usize {
        let items = Measure {
            held: self.items(),
            instance: |_: &FlowInstance| 0,
            node: |_: &FlowNode| 1,
            relationship: |_: &Relationship| 1,
        };
        self.after(message, preview, &items)
    }

    /// The `measure` of the state after `message` would be applied. Upserts add the measure
    /// of each item and take back that of the item it replaces; with [`Preview::AtMost`]
    /// nothing is looked up, so nothing is taken back and an id repeated in `message` counts
    /// once per item. Deletes are not looked up either way.
    fn after<I, N, R>(
        &self,
        message: &FlowMessage,
        preview: Preview,
        measure: &Measure<I, N, R>,
    ) -> usize
    where
        I: Fn(&FlowInstance) -> usize,
        N: Fn(&FlowNode) -> usize,
        R: Fn(&Relationship) -> usize,
    {
        match message {
            FlowMessage::Snapshot {
                flow,
                nodes,
                relationships,
            } => {
                let nodes = preview.fold_upsert(
                    nodes,
                    |node| node.id.as_str(),
                    |_| None,
                    0,
                    |sum, node, _| sum + (measure.node)(node),
                );
                let rels = preview.fold_upsert(
                    relationships,
                    Relationship::key,
                    |_| None,
                    0,
                    |sum, rel, _| sum + (measure.relationship)(rel),
                );
                (measure.instance)(flow) + nodes + rels
            }
            FlowMessage::UpsertFlow { flow } => {
                measure.held - self.flow.as_ref().map_or(0, &measure.instance)
                    + (measure.instance)(flow)
            }
            FlowMessage::UpsertNodes { nodes } => preview.fold_upsert(
                nodes,
                |node| node.id.as_str(),
                |id| self.nodes.get(*id),
                measure.held,
                |sum, node, old| sum + (measure.node)(node) - old.map_or(0, &measure.node),
            ),
            FlowMessage::UpsertRels { relationships } => preview.fold_upsert(
                relationships,
                Relationship::key,
                |key| self.rels.get(key),
                measure.held,
                |sum, rel, old| {
                    sum + (measure.relationship)(rel) - old.map_or(0, &measure.relationship)
                },
            ),
            FlowMessage::DeleteNodes { .. } | FlowMessage::DeleteRels { .. } => measure.held,
        }
    }

    /// Folds one message in: `snapshot` replaces everything; upserts replace by key;
    /// `delete-nodes` removes the nodes and every relationship touching one of those ids in
    /// this flow (even an id never upserted); `delete-rels` removes by natural key. `flow_id`
    /// is the flow the fold belongs to.
    pub fn apply(&mut self, flow_id: &str, message: FlowMessage) {
        match message {
            FlowMessage::Snapshot {
                flow,
                nodes,
                relationships,
            } => *self = Self::from_state(Some(flow), nodes, relationships),
            FlowMessage::UpsertFlow { flow } => self.set_flow(Some(flow)),
            FlowMessage::UpsertNodes { nodes } => self.upsert_nodes(nodes),
            FlowMessage::UpsertRels { relationships } => self.upsert_rels(relationships),
            FlowMessage::DeleteNodes { mut ids } => {
                for id in &ids {
                    if let Some(old) = self.nodes.remove(id) {
                        self.forget(&old);
                    }
                }
                // Relationships touching a deleted id of this flow go too, even when the
                // node itself was never upserted: no relationship may dangle on it.
                ids.sort_unstable();
                let gone = |node: &str, node_flow: Option<&String>| {
                    node_flow.is_none_or(|f| f == flow_id)
                        && ids.binary_search_by(|id| id.as_str().cmp(node)).is_ok()
                };
                let bytes = &mut self.bytes;
                self.rels.retain(|_, rel| {
                    let keep = !gone(&rel.from_id, rel.from_flow_id.as_ref())
                        && !gone(&rel.to_id, rel.to_flow_id.as_ref());
                    if !keep {
                        *bytes -= footprint::relationship(rel);
                    }
                    keep
                });
            }
            FlowMessage::DeleteRels { pairs } => {
                for pair in pairs {
                    if let Some(old) = self.rels.remove(&pair) {
                        self.bytes -= footprint::relationship(&old);
                    }
                }
            }
        }
    }

    /// The flow instance as posted, if one was.
    #[must_use]
    pub fn flow(&self) -> Option<&FlowInstance> {
        self.flow.as_ref()
    }

    /// Nodes by id.
    #[must_use]
    pub fn node_map(&self) -> &BTreeMap<String, FlowNode> {
        &self.nodes
    }

    /// Relationships by natural key.
    #[must_use]
    pub fn relationship_map(&self) -> &BTreeMap<RelPair, Relationship> {
        &self.rels
    }

    /// The flow instance: the posted one, or a synthetic one (see the crate docs).
    #[must_use]
    pub fn instance(&self, flow_id: &str) -> FlowInstance {
        self.flow.clone().unwrap_or_else(|| {
            FlowInstance::new(
                flow_id,
                roll_up(self.nodes.values().map(|n| n.status.as_str())),
                self.nodes
                    .values()
                    .filter_map(|n| n.started_at)
                    .min()
                    .unwrap_or(0),
            )
        })
    }

    /// The state as a `snapshot` message (clones everything; for reads, not the hot path).
    #[must_use]
    pub fn to_message(&self, flow_id: &str) -> FlowMessage {
        FlowMessage::Snapshot {
            flow: self.instance(flow_id),
            nodes: self.nodes.values().cloned().collect(),
            relationships: self.rels.values().cloned().collect(),
        }
    }

    /// [`to_message`](Self::to_message), consuming the state instead of cloning it.
    pub(crate) fn into_message(self, flow_id: &str) -> FlowMessage {
        FlowMessage::Snapshot {
            flow: self.instance(flow_id),
            nodes: self.nodes.into_values().collect(),
            relationships: self.rels.into_values().collect(),
        }
    }

    /// Writes the state as the compact JSON of a `snapshot` message, byte-identical to
    /// `to_message(flow_id).write_json(..)` but without cloning the state.
    pub(crate) fn write_snapshot_json(&self, flow_id: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"type":"snapshot","flow":"#);
        write_json(out, &self.instance(flow_id));
        out.extend_from_slice(br#","nodes":["#);
        for (i, node) in self.nodes.values().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(out, node);
        }
        out.extend_from_slice(br#"],"relationships":["#);
        for (i, rel) in self.rels.values().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json(out, rel);
        }
        out.extend_from_slice(b"]}");
    }
}

/// Appends `value` as compact JSON.
fn write_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    // The wire types have string keys only and a Vec<u8> has no I/O error.
    serde_json::to_writer(out, value).expect("wire types serialise infallibly to a Vec");
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;

    fn fold(messages: &[&str]) -> Fold {
        let mut fold = Fold::default();
        for m in messages {
            fold.apply("f", decode(m.as_bytes(), "f").unwrap());
        }
        fold
    }

    #[test]
    fn roll_up_precedence() {
        assert_eq!(roll_up([]), "pending");
        assert_eq!(roll_up(["succeeded", "failed", "running"]), "failed");
        assert_eq!(roll_up(["succeeded", "pending", "running"]), "running");
        assert_eq!(roll_up(["succeeded", "pending"]), "pending");
        assert_eq!(roll_up(["succeeded", "skipped"]), "succeeded");
        assert_eq!(roll_up(["skipped"]), "pending");
    }

    #[test]
    fn delete_nodes_prunes_touching_relationships_of_this_flow_only() {
        let f = fold(&[
            r#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a","status":"running","startedAt":5},{"id":"b","flowId":"f","label":"b","status":"failed","startedAt":3}]}"#,
            r#"{"type":"upsert-rels","relationships":[{"fromId":"a","toId":"b","type":"contains"},{"fromId":"b","toId":"c","type":"triggers"},{"fromId":"a","toId":"x","toFlowId":"g","type":"triggers"},{"fromId":"y","fromFlowId":"g","toId":"c","type":"triggers"}]}"#,
            r#"{"type":"delete-nodes","ids":["b","y"]}"#,
        ]);
        let keys: Vec<String> = f
            .relationship_map()
            .values()
            .map(|r| format!("{}>{}", r.from_id, r.to_id))
            .collect();
        assert_eq!(keys, ["a>x", "y>c"]);
        assert_eq!(f.instance("f").status, "running");
        assert_eq!(f.instance("f").started_at, 5);
    }

    /// The bytes and statuses kept item by item equal those of the same state built from
    /// scratch, and
    /// the predictions (bytes and items) made before a message match what applying it gives.
    #[test]
    fn bytes_are_maintained_and_predicted_exactly() {
        let mut f = Fold::default();
        for m in [
            r#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a","status":"running"},{"id":"b","flowId":"f","label":"b","status":"x","meta":{"why":["a","b"]}}]}"#,
            r#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a longer label","status":"failed"},{"id":"a","flowId":"f","label":"a","status":"ok"}]}"#,
            r#"{"type":"upsert-rels","relationships":[{"fromId":"a","toId":"b","type":"contains"},{"fromId":"b","toId":"c","type":"triggers","toFlowId":"g"},{"fromId":"a","toId":"b","type":"contains","lag":4}]}"#,
            r#"{"type":"upsert-flow","flow":{"id":"f","status":"running","startedAt":1,"meta":{"k":"v"}}}"#,
            r#"{"type":"upsert-flow","flow":{"id":"f","status":"succeeded","startedAt":1}}"#,
            r#"{"type":"delete-rels","pairs":[{"fromId":"b","toId":"c","type":"triggers"},{"fromId":"z","toId":"c","type":"triggers"}]}"#,
            r#"{"type":"delete-nodes","ids":["b","q"]}"#,
            r#"{"type":"snapshot","flow":{"id":"f","status":"running","startedAt":1},"nodes":[{"id":"a","flowId":"f","label":"a","status":"ok"},{"id":"a","flowId":"f","label":"aa","status":"ok"}],"relationships":[]}"#,
            r#"{"type":"delete-nodes","ids":["a"]}"#,
        ] {
            let message = decode(m.as_bytes(), "f").unwrap();
            let at_most = f.bytes_after(&message, Preview::AtMost);
            let predicted = f.bytes_after(&message, Preview::Exact);
            let items_at_most = f.items_after(&message, Preview::AtMost);
            let items_predicted = f.items_after(&message, Preview::Exact);
            let deletes = matches!(
                message,
                FlowMessage::DeleteNodes { .. } | FlowMessage::DeleteRels { .. }
            );
            f.apply("f", message);
            let rebuilt = Fold::from_state(
                f.flow.clone(),
                f.nodes.values().cloned().collect(),
                f.rels.values().cloned().collect(),
            );
            assert_eq!(f.bytes(), rebuilt.bytes(), "{m}");
            let mut counted = BTreeMap::new();
            for node in f.nodes.values() {
                *counted.entry(node.status.clone()).or_insert(0) += 1;
            }
            assert_eq!(
                f.nodes_by_status(),
                &counted,
                "statuses kept node by node: {m}"
            );
            assert!(at_most >= predicted, "{m}");
            assert!(items_at_most >= items_predicted, "{m}");
            if deletes {
                assert!(predicted >= f.bytes(), "{m}");
                assert!(items_predicted >= f.items(), "{m}");
            } else {
                assert_eq!(predicted, f.bytes(), "{m}");
                assert_eq!(items_predicted, f.items(), "{m}");
            }
        }
        assert_eq!(f.bytes(), footprint::instance(f.flow().unwrap()));
        f.apply("f", decode(br#"{"type":"upsert-nodes","nodes":[{"id":"a","flowId":"f","label":"a","status":"ok"}]}"#, "f").unwrap());
        let one = f.bytes();
        f.apply(
            "f",
            decode(br#"{"type":"delete-nodes","ids":["a"]}"#, "f").unwrap(),
        );
        assert!(one > f.bytes(), "a delete gives its bytes back");
    }

    #[test]
    fn streamed_snapshot_equals_serialised_message() {
        let f = fold(&[
            r#"{"type":"upsert-nodes","nodes":[{"id":"z","flowId":"f","label":"z","status":"ok","meta":{"k":[1,"\n"]}},{"id":"a","flowId":"f","label":"a","status":"failed"}]}"#,
            r#"{"type":"upsert-rels","relationships":[{"fromId":"z","toId":"a","type":"finish-to-start","condition":"on-success","lag":3}]}"#,
        ]);
        let mut streamed = Vec::new();
        f.write_snapshot_json("f", &mut streamed);
        assert_eq!(streamed, f.to_message("f").to_json());
        let mut empty = Vec::new();
        Fold::default().write_snapshot_json("f", &mut empty);
        assert_eq!(
            String::from_utf8(empty).unwrap(),
            r#"{"type":"snapshot","flow":{"id":"f","status":"pending","startedAt":0},"nodes":[],"relationships":[]}"#
        );
    }
}
