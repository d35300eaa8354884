//! The wire types of schema version 1.
//!
//! Field names are camel case on the wire; absent optionals are omitted on output, so a
//! canonical input (fields in declaration order, `meta` keys sorted) re-serialises to the same
//! bytes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Arbitrary JSON object attached to a flow, node or relationship.
pub type Meta = Map<String, Value>;

/// One message of the FlowMessage contract, tagged by its `type` field.
///
/// Every variant is a struct variant: with an internally tagged enum and
/// `deny_unknown_fields`, a unit variant would silently accept unknown fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FlowMessage {
    /// The whole state of a flow; replaces whatever the receiver held.
    Snapshot {
        /// The flow instance.
        flow: FlowInstance,
        /// Every node of the flow (may be empty).
        nodes: Vec<FlowNode>,
        /// Every relationship of the flow (may be empty).
        relationships: Vec<Relationship>,
    },
    /// Create or replace the flow instance.
    UpsertFlow {
        /// The flow instance.
        flow: FlowInstance,
    },
    /// Create or replace nodes, keyed by `(flowId, id)`.
    UpsertNodes {
        /// The nodes (at least one).
        nodes: Vec<FlowNode>,
    },
    /// Create or replace relationships, keyed by `(fromId, toId, type)`.
    UpsertRels {
        /// The relationships (at least one).
        relationships: Vec<Relationship>,
    },
    /// Remove nodes by id, and every relationship that touches them.
    DeleteNodes {
        /// Node ids (at least one).
        ids: Vec<String>,
    },
    /// Remove relationships by natural key.
    DeleteRels {
        /// Relationship keys (at least one).
        pairs: Vec<RelPair>,
    },
}

/// The `type` tag of a [`FlowMessage`], a closed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// `snapshot`
    Snapshot,
    /// `upsert-flow`
    UpsertFlow,
    /// `upsert-nodes`
    UpsertNodes,
    /// `upsert-rels`
    UpsertRels,
    /// `delete-nodes`
    DeleteNodes,
    /// `delete-rels`
    DeleteRels,
}

impl MessageType {
    /// Every message type, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Snapshot,
        Self::UpsertFlow,
        Self::UpsertNodes,
        Self::UpsertRels,
        Self::DeleteNodes,
        Self::DeleteRels,
    ];

    /// The tag as written on the wire (also the SSE `event:` name).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::UpsertFlow => "upsert-flow",
            Self::UpsertNodes => "upsert-nodes",
            Self::UpsertRels => "upsert-rels",
            Self::DeleteNodes => "delete-nodes",
            Self::DeleteRels => "delete-rels",
        }
    }

    /// Parses a wire tag; `None` for anything else.
    #[must_use]
    pub fn from_wire(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == tag)
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FlowMessage {
    /// The variant's tag.
    #[must_use]
    pub const fn message_type(&self) -> MessageType {
        match self {
            Self::Snapshot { .. } => MessageType::Snapshot,
            Self::UpsertFlow { .. } => MessageType::UpsertFlow,
            Self::UpsertNodes { .. } => MessageType::UpsertNodes,
            Self::UpsertRels { .. } => MessageType::UpsertRels,
            Self::DeleteNodes { .. } => MessageType::DeleteNodes,
            Self::DeleteRels { .. } => MessageType::DeleteRels,
        }
    }

    /// Encodes the message as compact JSON (the canonical wire form).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_json(&mut out);
        out
    }

    /// Appends the message as compact JSON to `out`.
    ///
    /// # Panics
    /// Never: serialising these types cannot fail (see the comment inside).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serialising these types cannot fail: every map key is a string and writing to a
        // Vec<u8> has no I/O error.
        serde_json::to_writer(out, self).expect("FlowMessage serialisation is infallible");
    }
}

/// One run of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowInstance {
    /// The flow id; equals the flow the message is posted to.
    pub id: String,
    /// The definition this run instantiates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_id: Option<String>,
    /// The flow that started this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_flow_id: Option<String>,
    /// The flows whose outcome triggered this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<Vec<Triggerer>>,
    /// Open vocabulary; the canvas knows `pending`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// Unix milliseconds.
    pub started_at: u64,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    /// Arbitrary JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A flow whose outcome triggers another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Triggerer {
    /// The triggering flow.
    pub flow_id: String,
    /// On which outcome it triggers.
    pub when: TriggerWhen,
}

/// When a [`Triggerer`] fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum TriggerWhen {
    /// The triggering flow succeeded.
    Success,
    /// The triggering flow failed.
    Failure,
    /// Either outcome.
    Always,
}

/// One node of a flow's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlowNode {
    /// Node id, unique within the flow.
    pub id: String,
    /// The flow the node belongs to; equals the flow the message is posted to.
    pub flow_id: String,
    /// Human-readable label.
    pub label: String,
    /// Open vocabulary; the canvas knows `pending`, `running`, `succeeded`, `failed`.
    pub status: String,
    /// Open vocabulary grouping nodes of the same kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Open vocabulary: the region (cluster) the node runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<u64>,
    /// Arbitrary JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A directed edge between two nodes. Natural key: `(fromId, toId, type)`.
///
/// For [`RelType::Contains`], `toId` is the parent and `fromId` the child.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Relationship {
    /// Source node id.
    pub from_id: String,
    /// Target node id.
    pub to_id: String,
    /// The source node's flow, when it lives in another flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_flow_id: Option<String>,
    /// The target node's flow, when it lives in another flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_flow_id: Option<String>,
    /// The kind of edge.
    #[serde(rename = "type")]
    pub rel_type: RelType,
    /// When the edge lets the target proceed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// Non-negative delay in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<i64>,
}

impl FlowInstance {
    /// An instance with only the required fields; set the optional ones on the result.
    ///
    /// ```
    /// let flow = flow_contract::FlowInstance::new("acme", "running", 1_767_225_600_000);
    /// assert_eq!((flow.status.as_str(), flow.ended_at), ("running", None));
    /// ```
    #[must_use]
    pub fn new(id: impl Into<String>, status: impl Into<String>, started_at: u64) -> Self {
        Self {
            id: id.into(),
            definition_id: None,
            parent_flow_id: None,
            triggered_by: None,
            status: status.into(),
            started_at,
            ended_at: None,
            meta: None,
        }
    }
}

impl Relationship {
    /// The natural key of this relationship.
    #[must_use]
    pub fn key(&self) -> RelPair {
        RelPair {
            from_id: self.from_id.clone(),
            to_id: self.to_id.clone(),
            rel_type: self.rel_type,
        }
    }
}

/// The natural key of a [`Relationship`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelPair {
    /// Source node id.
    pub from_id: String,
    /// Target node id.
    pub to_id: String,
    /// The kind of edge.
    #[serde(rename = "type")]
    pub rel_type: RelType,
}

/// The kind of a [`Relationship`], a closed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RelType {
    /// `fromId` (child) is contained in `toId` (parent).
    Contains,
    /// `toId` starts when `fromId` finishes.
    FinishToStart,
    /// `toId` starts when `fromId` starts.
    StartToStart,
    /// `toId` finishes when `fromId` finishes.
    FinishToFinish,
    /// `toId` finishes when `fromId` starts.
    StartToFinish,
    /// `fromId` triggers `toId`.
    Triggers,
}

impl RelType {
    /// The tag as written on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Contains => "contains",
            Self::FinishToStart => "finish-to-start",
            Self::StartToStart => "start-to-start",
            Self::FinishToFinish => "finish-to-finish",
            Self::StartToFinish => "start-to-finish",
            Self::Triggers => "triggers",
        }
    }
}

/// When a [`Relationship`] lets its target proceed, a closed vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(any(test, feature = "schema"), derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// Only when the source succeeded.
    OnSuccess,
    /// Only when the source failed.
    OnFailure,
    /// Whatever the outcome.
    Always,
}
