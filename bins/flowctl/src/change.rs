//! Status changes between two states of a flow: what `flowctl tail` prints.

use std::collections::BTreeMap;

use flow_contract::FlowNode;
use serde_json::Value;

use crate::state::FlowState;

/// One node whose status changed, appeared or disappeared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusChange {
    /// The node id.
    pub(crate) node: String,
    /// The status before; `None` when the node is new.
    pub(crate) old: Option<String>,
    /// The status after; `None` when the node is gone.
    pub(crate) new: Option<String>,
    /// `meta.reason` of the node after the change.
    pub(crate) reason: Option<String>,
    /// `meta.message` of the node after the change.
    pub(crate) message: Option<String>,
}

/// Changes from `before` (statuses by node id) to `after`, sorted by node id.
pub(crate) fn diff(before: &BTreeMap<String, String>, after: &FlowState) -> Vec<StatusChange> {
    let mut changes = Vec::new();
    for (id, node) in after.nodes() {
        let old = before.get(id);
        if old != Some(&node.status) {
            changes.push(StatusChange {
                node: id.clone(),
                old: old.cloned(),
                new: Some(node.status.clone()),
                reason: meta_text(node, "reason"),
                message: meta_text(node, "message"),
            });
        }
    }
    for (id, status) in before {
        if !after.nodes().contains_key(id) {
            changes.push(StatusChange {
                node: id.clone(),
                old: Some(status.clone()),
                new: None,
                reason: None,
                message: None,
            });
        }
    }
    changes.sort_by(|a, b| a.node.cmp(&b.node));
    changes
}

/// A string-valued `meta` key of a node.
pub(crate) fn meta_text(node: &FlowNode, key: &str) -> Option<String> {
    node.meta
        .as_ref()
        .and_then(|meta| meta.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;

    #[test]
    fn reports_new_changed_and_deleted_nodes_only() {
        let mut state = FlowState::default();
        state.apply(
            "f",
            decode(
                br#"{"type":"upsert-nodes","nodes":[
            {"id":"a","flowId":"f","label":"a","status":"pending"},
            {"id":"b","flowId":"f","label":"b","status":"running"}]}"#,
                "f",
            )
            .unwrap(),
        );
        let before = state.statuses();
        state.apply("f", decode(br#"{"type":"upsert-nodes","nodes":[
            {"id":"b","flowId":"f","label":"b","status":"running","meta":{"reason":"Same"}},
            {"id":"c","flowId":"f","label":"c","status":"failed","meta":{"reason":"InstallFailed","message":"boom"}}]}"#, "f").unwrap());
        state.apply(
            "f",
            decode(br#"{"type":"delete-nodes","ids":["a"]}"#, "f").unwrap(),
        );
        assert_eq!(
            diff(&before, &state),
            vec![
                StatusChange {
                    node: "a".into(),
                    old: Some("pending".into()),
                    new: None,
                    reason: None,
                    message: None
                },
                StatusChange {
                    node: "c".into(),
                    old: None,
                    new: Some("failed".into()),
                    reason: Some("InstallFailed".into()),
                    message: Some("boom".into())
                },
            ]
        );
    }
}
