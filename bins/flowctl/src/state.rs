//! The client-side state of a flow: the server's own fold ([`flow_router::Fold`], so both
//! sides apply messages with the same code), plus the views `flowctl` prints. Regions are the
//! parents of `contains` relationships (`toId` is the parent).

use std::collections::{BTreeMap, BTreeSet};

use flow_contract::{FlowInstance, FlowMessage, FlowNode, RelPair, RelType, Relationship};
use flow_router::Fold;

/// A flow as folded from its messages, in deterministic (sorted) order.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct FlowState {
    fold: Fold,
}

/// Nodes grouped under the region (parent) that `contains` them.
#[derive(Debug, PartialEq)]
pub(crate) struct Group<'a> {
    /// The parent node; `None` for nodes contained in nothing.
    pub(crate) parent: Option<&'a FlowNode>,
    /// The parent's id as written in the relationship (the parent may be absent).
    pub(crate) id: Option<&'a str>,
    /// The contained nodes, by id.
    pub(crate) members: Vec<&'a FlowNode>,
}

impl FlowState {
    /// Folds one message in. `flow_id` is the flow the state belongs to.
    pub(crate) fn apply(&mut self, flow_id: &str, message: FlowMessage) {
        self.fold.apply(flow_id, message);
    }

    /// The flow instance, once one was received.
    pub(crate) fn flow(&self) -> Option<&FlowInstance> {
        self.fold.flow()
    }

    /// Nodes by id.
    pub(crate) fn nodes(&self) -> &BTreeMap<String, FlowNode> {
        self.fold.node_map()
    }

    /// Relationships by natural key.
    pub(crate) fn rels(&self) -> &BTreeMap<RelPair, Relationship> {
        self.fold.relationship_map()
    }

    /// Every node's status, by id.
    pub(crate) fn statuses(&self) -> BTreeMap<String, String> {
        self.nodes()
            .iter()
            .map(|(id, node)| (id.clone(), node.status.clone()))
            .collect()
    }

    /// The `contains` parent of `id`: the smallest parent id, when several claim it.
    fn parent_of(&self, id: &str) -> Option<&str> {
        self.rels()
            .values()
            .filter(|r| r.rel_type == RelType::Contains && r.from_id == id && r.to_id != id)
            .map(|r| r.to_id.as_str())
            .min()
    }

    /// Nodes grouped by region: one group per `contains` parent (sorted by id), then the nodes
    /// that are neither contained nor a parent. Parents are not listed as members.
    pub(crate) fn groups(&self) -> Vec<Group<'_>> {
        let parents: BTreeSet<&str> = self
            .rels()
            .values()
            .filter(|r| r.rel_type == RelType::Contains && r.from_id != r.to_id)
            .map(|r| r.to_id.as_str())
            .collect();
        let mut by_parent: BTreeMap<Option<&str>, Vec<&FlowNode>> = BTreeMap::new();
        for node in self.nodes().values() {
            match self.parent_of(&node.id) {
                Some(parent) => by_parent.entry(Some(parent)).or_default().push(node),
                None if parents.contains(node.id.as_str()) => {}
                None => by_parent.entry(None).or_default().push(node),
            }
        }
        let mut groups: Vec<Group<'_>> = parents
            .iter()
            .map(|&id| Group {
                parent: self.nodes().get(id),
                id: Some(id),
                members: by_parent.remove(&Some(id)).unwrap_or_default(),
            })
            .collect();
        if let Some(members) = by_parent.remove(&None) {
            groups.push(Group {
                parent: None,
                id: None,
                members,
            });
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;

    pub(crate) fn fold(messages: &[&str]) -> FlowState {
        let mut state = FlowState::default();
        for message in messages {
            state.apply("f", decode(message.as_bytes(), "f").unwrap());
        }
        state
    }

    const SNAPSHOT: &str = r#"{"type":"snapshot","flow":{"id":"f","status":"running","startedAt":1},
        "nodes":[{"id":"r1","flowId":"f","label":"r1","status":"running"},
                 {"id":"r1/a","flowId":"f","label":"a","status":"succeeded"},
                 {"id":"r1/b","flowId":"f","label":"b","status":"failed"},
                 {"id":"loose","flowId":"f","label":"loose","status":"pending"}],
        "relationships":[{"fromId":"r1/a","toId":"r1","type":"contains"},
                         {"fromId":"r1/b","toId":"r1","type":"contains"},
                         {"fromId":"r1/a","toId":"r1/b","type":"finish-to-start"},
                         {"fromId":"r1/a","toId":"r1/b","type":"start-to-start","toFlowId":"other"}]}"#;

    #[test]
    fn delete_nodes_prunes_touching_relationships_of_this_flow_only() {
        let state = fold(&[SNAPSHOT, r#"{"type":"delete-nodes","ids":["r1/b","nope"]}"#]);
        let keys: Vec<String> = state
            .rels()
            .keys()
            .map(|k| format!("{}>{}:{}", k.from_id, k.to_id, k.rel_type.as_str()))
            .collect();
        assert_eq!(keys, ["r1/a>r1:contains", "r1/a>r1/b:start-to-start"]);
        assert!(!state.nodes().contains_key("r1/b"));
    }

    #[test]
    fn snapshot_resets_and_upserts_replace() {
        let state = fold(&[
            SNAPSHOT,
            r#"{"type":"upsert-nodes","nodes":[{"id":"r1/a","flowId":"f","label":"a","status":"running"}]}"#,
            r#"{"type":"delete-rels","pairs":[{"fromId":"r1/a","toId":"r1/b","type":"finish-to-start"}]}"#,
        ]);
        assert_eq!(state.nodes()["r1/a"].status, "running");
        assert_eq!(state.rels().len(), 3);
        let reset = fold(&[
            SNAPSHOT,
            r#"{"type":"snapshot","flow":{"id":"f","status":"pending","startedAt":2},"nodes":[],"relationships":[]}"#,
        ]);
        assert!(reset.nodes().is_empty() && reset.rels().is_empty());
        assert_eq!(reset.flow().unwrap().status, "pending");
    }

    #[test]
    fn groups_follow_contains_parents() {
        let state = fold(&[SNAPSHOT]);
        let groups: Vec<(Option<&str>, Vec<&str>)> = state
            .groups()
            .iter()
            .map(|g| (g.id, g.members.iter().map(|n| n.id.as_str()).collect()))
            .collect();
        assert_eq!(
            groups,
            vec![(Some("r1"), vec!["r1/a", "r1/b"]), (None, vec!["loose"])]
        );
    }
}
