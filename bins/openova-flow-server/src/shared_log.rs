//! The Redis side of the `redis` backend: per-flow keys, the three server-side scripts, and
//! the messages replicas receive by pub/sub.
//!
//! Per flow, every key carries the `{flowId}` hash tag (one cluster slot):
//! `openova-flow:{f}:meta` (hash `epoch`, `seq`, `at`; also the listing's index), `:log`
//! (stream, entry ids `<seq>-0`, field `m` = the message's canonical JSON, capped at the ring
//! capacity), `:inst` (the posted flow instance), `:nodes` (hash id -> node JSON), `:rels`
//! (hash natural key -> relationship JSON), `:sizes` (hash `i`, `n:<id>`, `r:<key>` -> what
//! the engine charges for the item; meta `state` holds their sum).
//! Channel `openova-flow:{f}:events` carries `m <epoch> <seq> <json>` per message and `d` on
//! delete. See `docs/OPERATIONS.md`, section "Redis backend".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flow_contract::{FlowInstance, FlowMessage, FlowNode, Limits, Relationship};
use flow_router::{Epoch, EventId, FlowState, Fold};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, RedisError, Script, Value};

use crate::config::RedisConfig;

const PREFIX: &str = "openova-flow:";
/// Overhead of a frame around its JSON with the longest id: `event: ` + type + `\nid: ` + id
/// + `\ndata: ` + `\n\n`.
const FRAME_OVERHEAD: usize = 7 + 12 + 5 + EventId::MAX_LEN + 7 + 2;
/// At most this many flows are listed (`GET /v1/flows`), the first by id.
pub(crate) const LIST_LIMIT: usize = 10_000;
/// Keys a `SCAN` step looks at.
const SCAN_COUNT: usize = 1_000;

/// Why the shared log refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LogError {
    /// Redis could not be reached or failed the command.
    #[error("redis is unavailable")]
    Unavailable(#[source] RedisError),
    /// Redis did not answer within `FLOW_SERVER_REDIS_TIMEOUT`; the command may or may not
    /// have been carried out.
    #[error("redis did not answer within {} ms (FLOW_SERVER_REDIS_TIMEOUT)", .after.as_millis())]
    TimedOut {
        /// The configured timeout.
        after: Duration,
        /// The client's error.
        #[source]
        source: RedisError,
    },
    /// The message would grow the flow beyond the state bound.
    #[error("flow state would hold {items} nodes and relationships (limit {limit})")]
    StateFull {
        /// Items the state would hold.
        items: usize,
        /// The bound.
        limit: usize,
    },
    /// The flow's state would take more bytes (as the engine charges them) than its share of
    /// the per-flow budget.
    #[error("flow state would take {bytes} bytes (limit {limit})")]
    FlowMemoryFull {
        /// Bytes the state would take.
        bytes: usize,
        /// The state's share of the budget.
        limit: usize,
    },
    /// The message's frame would exceed the per-flow byte budget.
    #[error("message frame is {len} bytes; the per-flow budget is {budget} bytes")]
    TooLarge {
        /// Frame size (with the longest id).
        len: usize,
        /// The budget.
        budget: usize,
    },
    /// Redis answered something the scripts never return.
    #[error("unexpected reply from redis: {0}")]
    Reply(String),
}

impl From<RedisError> for LogError {
    fn from(err: RedisError) -> Self {
        Self::Unavailable(err)
    }
}

/// A message the log accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) epoch: Epoch,
    pub(crate) seq: u64,
}

/// What [`SharedLog::load`] read.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// The flow has no meta and was not created.
    Missing,
    /// The replica's epoch is current: the entries after its seq (possibly none).
    Tail {
        at: EventId,
        entries: Vec<(u64, FlowMessage)>,
    },
    /// The whole stored state and the stream's entries.
    Full {
        at: EventId,
        state: Box<FlowState>,
        entries: Vec<(u64, FlowMessage)>,
    },
}

/// One flow's listing entry as Redis stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) flow_id: String,
    pub(crate) at: EventId,
    pub(crate) nodes_by_status: BTreeMap<String, usize>,
    pub(crate) relationships: usize,
    /// The last append, in Unix milliseconds.
    pub(crate) last_event_ms: Option<u64>,
}

/// The one field of a stored node a listing reads.
#[derive(serde::Deserialize)]
struct NodeStatus {
    status: String,
}

/// A pub/sub message of a flow's channel.
#[derive(Debug, PartialEq)]
pub(crate) enum Published<'a> {
    /// A message appended at `(epoch, seq)`, as its JSON.
    Message { at: EventId, json: &'a [u8] },
    /// The flow was deleted.
    Deleted,
}

impl<'a> Published<'a> {
    pub(crate) fn parse(payload: &'a [u8]) -> Option<Self> {
        if payload == b"d" {
            return Some(Self::Deleted);
        }
        let rest = payload.strip_prefix(b"m ")?;
        let mut parts = rest.splitn(3, |b| *b == b' ');
        let epoch = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
        let seq = std::str::from_utf8(parts.next()?).ok()?.parse().ok()?;
        let json = parts.next()?;
        Some(Self::Message {
            at: EventId {
                epoch: Epoch(epoch),
                seq,
            },
            json,
        })
    }
}

/// The pub/sub channel of a flow.
pub(crate) fn channel(flow_id: &str) -> String {
    format!("{PREFIX}{{{flow_id}}}:events")
}

/// The flow id of a channel name.
pub(crate) fn flow_of_channel(channel: &str) -> Option<&str> {
    channel
        .strip_prefix(PREFIX)?
        .strip_prefix('{')?
        .strip_suffix("}:events")
}

/// The flow id of a meta key.
fn flow_of_meta(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX)?
        .strip_prefix('{')?
        .strip_suffix("}:meta")
}

fn keys(flow_id: &str) -> [String; 6] {
    ["meta", "log", "inst", "nodes", "rels", "sizes"]
        .map(|name| format!("{PREFIX}{{{flow_id}}}:{name}"))
}

/// The commands connection, the scripts and the bounds the scripts enforce.
#[derive(Clone)]
pub(crate) struct SharedLog {
    connection: ConnectionManager,
    append: Script,
    load: Script,
    delete: Script,
    ttl_ms: u64,
    ring_capacity: usize,
    max_state_items: usize,
    byte_budget: usize,
    limits: Limits,
}

impl std::fmt::Debug for SharedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLog").finish_non_exhaustive()
    }
}

/// A connection manager that reconnects in the background with exponential backoff
/// (100 ms doubling to 5 s) and fails each command after `timeout`.
pub(crate) fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_min_delay(Duration::from_millis(100))
        .set_max_delay(Duration::from_secs(5))
        .set_exponent_base(2.0)
        .set_number_of_retries(3)
}

/// A Redis client for `connection` (no I/O yet).
pub(crate) fn client(connection: ConnectionInfo) -> Result<Client, RedisError> {
    Client::open(connection)
}

impl SharedLog {
    /// Connects lazily: the first command connects, so the server starts while Redis is down.
    pub(crate) fn new(
        config: &RedisConfig,
        router: &flow_router::RouterConfig,
    ) -> Result<Self, RedisError> {
        let connection = ConnectionManager::new_lazy_with_config(
            client(config.connection.clone())?,
            manager_config(config.timeout),
        )?;
        Ok(Self {
            connection,
            append: Script::new(include_str!("lua/append.lua")),
            load: Script::new(include_str!("lua/load.lua")),
            delete: Script::new(include_str!("lua/delete.lua")),
            ttl_ms: u64::try_from(config.flow_ttl.as_millis()).unwrap_or(u64::MAX),
            ring_capacity: router.ring_capacity,
            max_state_items: router.max_state_items,
            // The replay half of the flow's budget, as the engine's ring holds it.
            byte_budget: router.flow_share(),
            limits: router.limits,
        })
    }

    /// `PING`: whether Redis answers.
    pub(crate) async fn ping(&self) -> Result<(), LogError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(LogError::from)
    }

    /// Appends a decoded, validated message: one script call assigns the seq, appends, trims
    /// the stream to the ring's bounds (count and bytes), folds and publishes. Nothing is
    /// written when it fails, nor when the flow does not exist and `create` is false: then
    /// `Ok(None)`.
    pub(crate) async fn append(
        &self,
        flow_id: &str,
        message: &FlowMessage,
        create: bool,
    ) -> Result<Option<Appended>, LogError> {
        let json = message.to_json();
        let len = json.len() + FRAME_OVERHEAD;
        if len > self.byte_budget {
            return Err(LogError::TooLarge {
                len,
                budget: self.byte_budget,
            });
        }
        let mut invocation = self.append.prepare_invoke();
        for key in keys(flow_id) {
            invocation.key(key);
        }
        invocation
            .arg(channel(flow_id))
            .arg(message.message_type().as_str())
            .arg(json)
            .arg(self.ring_capacity)
            .arg(self.ttl_ms)
            .arg(self.max_state_items)
            .arg(flow_id)
            .arg(self.byte_budget)
            .arg(FRAME_OVERHEAD)
            .arg(if create { "1" } else { "0" });
        let fold = fold_args(flow_id, message);
        let sizes: Vec<String> = fold.sizes.iter().map(usize::to_string).collect();
        // The state's share of the budget equals the replay's (`RouterConfig::flow_share`).
        invocation
            .arg(self.byte_budget)
            .arg(fold.instance_size)
            .arg(sizes.join(","));
        for arg in fold.args {
            invocation.arg(arg);
        }
        let mut connection = self.connection.clone();
        let reply: Value = invocation.invoke_async(&mut connection).await?;
        let items = array(reply)?;
        match (text(items.first())?.as_str(), items.get(1), items.get(2)) {
            ("ok", Some(epoch), Some(seq)) => Ok(Some(Appended {
                epoch: epoch_of(epoch)?,
                seq: int(seq)?,
            })),
            ("new", _, _) => Ok(None),
            ("full", Some(items), _) => Err(LogError::StateFull {
                items: usize::try_from(int(items)?).unwrap_or(usize::MAX),
                limit: self.max_state_items,
            }),
            ("memfull", Some(bytes), _) => Err(LogError::FlowMemoryFull {
                bytes: usize::try_from(int(bytes)?).unwrap_or(usize::MAX),
                limit: self.byte_budget,
            }),
            (other, _, _) => Err(LogError::Reply(format!("append answered {other:?}"))),
        }
    }

    /// Reads a flow relative to the replica's position `local`; `create` makes a missing
    /// flow exist (empty, seq 0, new epoch) and refreshes its expiry. A whole-state answer
    /// carries the entries after `replay` (a client's `Last-Event-ID`, when it is of the
    /// stored epoch), none without it: never the whole stream.
    pub(crate) async fn load(
        &self,
        flow_id: &str,
        local: Option<EventId>,
        create: bool,
        replay: Option<EventId>,
    ) -> Result<Loaded, LogError> {
        let mut invocation = self.load.prepare_invoke();
        for key in keys(flow_id) {
            invocation.key(key);
        }
        let (epoch, seq) = local.map_or((String::new(), 0), |at| (at.epoch.0.to_string(), at.seq));
        invocation
            .arg(epoch)
            .arg(seq)
            .arg(if create { "1" } else { "0" })
            .arg(self.ttl_ms);
        let (epoch, seq) = replay.map_or((String::new(), 0), |at| (at.epoch.0.to_string(), at.seq));
        invocation.arg(epoch).arg(seq);
        let mut connection = self.connection.clone();
        let reply: Value = invocation.invoke_async(&mut connection).await?;
        let mut items = array(reply)?.into_iter();
        let tag = text(items.next().as_ref())?;
        if tag == "none" {
            return Ok(Loaded::Missing);
        }
        let at = EventId {
            epoch: epoch_of(&items.next().unwrap_or(Value::Nil))?,
            seq: int(&items.next().unwrap_or(Value::Nil))?,
        };
        match tag.as_str() {
            "tail" => Ok(Loaded::Tail {
                at,
                entries: self.entries(flow_id, items.next())?,
            }),
            "full" => {
                let instance = match items.next() {
                    None | Some(Value::Nil) => None,
                    Some(value) => Some(json::<FlowInstance>(&value)?),
                };
                let nodes = pairs(items.next())?
                    .into_iter()
                    .map(|(_, value)| json::<FlowNode>(&value))
                    .collect::<Result<Vec<_>, _>>()?;
                let relationships = pairs(items.next())?
                    .into_iter()
                    .map(|(_, value)| json::<Relationship>(&value))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Loaded::Full {
                    at,
                    state: Box::new(FlowState {
                        instance,
                        nodes,
                        relationships,
                    }),
                    entries: self.entries(flow_id, items.next())?,
                })
            }
            other => Err(LogError::Reply(format!("load answered {other:?}"))),
        }
    }

    /// The flow's position from its meta hash (`HMGET epoch seq`: O(1), never the stream);
    /// `None` when the flow has no meta or nothing was appended yet (seq 0, created by a
    /// subscription), as a snapshot read answers.
    pub(crate) async fn head(&self, flow_id: &str) -> Result<Option<EventId>, LogError> {
        let [meta, ..] = keys(flow_id);
        let mut connection = self.connection.clone();
        let reply: Value = redis::cmd("HMGET")
            .arg(meta)
            .arg("epoch")
            .arg("seq")
            .query_async(&mut connection)
            .await?;
        let items = array(reply)?;
        match (items.first(), items.get(1)) {
            (Some(Value::Nil) | None, _) | (_, Some(Value::Nil) | None) => Ok(None),
            (Some(epoch), Some(seq)) => {
                let at = EventId {
                    epoch: epoch_of(epoch)?,
                    seq: int(seq)?,
                };
                Ok((at.seq > 0).then_some(at))
            }
        }
    }

    /// Deletes a flow's keys and tells every replica; returns whether anything was removed.
    pub(crate) async fn delete(&self, flow_id: &str) -> Result<bool, LogError> {
        let mut invocation = self.delete.prepare_invoke();
        for key in keys(flow_id) {
            invocation.key(key);
        }
        invocation.arg(channel(flow_id));
        let mut connection = self.connection.clone();
        let removed: i64 = invocation.invoke_async(&mut connection).await?;
        Ok(removed > 0)
    }

    /// Every flow stored (its meta hash exists and something was appended), sorted by id, at
    /// most [`LIST_LIMIT`]: `SCAN` for meta keys, then one pipeline reading each flow's meta,
    /// node statuses and relationship count. The meta hash is the index: the append script
    /// writes it, DELETE and expiry remove it.
    pub(crate) async fn flows(&self) -> Result<Vec<Stored>, LogError> {
        let mut connection = self.connection.clone();
        let pattern = format!("{PREFIX}{{*}}:meta");
        let mut ids = BTreeSet::new();
        let mut cursor = 0;
        loop {
            let reply: Value = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut connection)
                .await?;
            let mut parts = array(reply)?.into_iter();
            cursor = int(&parts.next().unwrap_or(Value::Nil))?;
            for key in array(parts.next().unwrap_or(Value::Nil))? {
                if let Some(flow_id) = flow_of_meta(&text(Some(&key))?) {
                    ids.insert(flow_id.to_owned());
                }
            }
            if cursor == 0 || ids.len() >= LIST_LIMIT {
                break;
            }
        }
        let ids: Vec<String> = ids.into_iter().take(LIST_LIMIT).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for flow_id in &ids {
            let [meta, _, _, nodes, rels, _] = keys(flow_id);
            pipe.cmd("HMGET")
                .arg(meta)
                .arg("epoch")
                .arg("seq")
                .arg("at");
            pipe.cmd("HVALS").arg(nodes);
            pipe.cmd("HLEN").arg(rels);
        }
        let replies: Vec<Value> = pipe.query_async(&mut connection).await?;
        if replies.len() != 3 * ids.len() {
            return Err(LogError::Reply(format!(
                "listing pipeline answered {} replies for {} flows",
                replies.len(),
                ids.len()
            )));
        }
        let mut flows = Vec::with_capacity(ids.len());
        for (flow_id, replies) in ids.into_iter().zip(replies.chunks_exact(3)) {
            let meta = array(replies[0].clone())?;
            // Deleted or expired since the scan, or created by a subscription alone.
            let (Some(epoch), Some(seq)) = (meta.first(), meta.get(1)) else {
                continue;
            };
            if matches!(epoch, Value::Nil) || matches!(seq, Value::Nil) {
                continue;
            }
            let at = EventId {
                epoch: epoch_of(epoch)?,
                seq: int(seq)?,
            };
            if at.seq == 0 {
                continue;
            }
            let last_event_ms = match meta.get(2) {
                None | Some(Value::Nil) => None,
                Some(value) => Some(int(value)?),
            };
            let mut nodes_by_status = BTreeMap::new();
            for node in array(replies[1].clone())? {
                let node = json::<NodeStatus>(&node)?;
                *nodes_by_status.entry(node.status).or_insert(0) += 1;
            }
            flows.push(Stored {
                flow_id,
                at,
                nodes_by_status,
                relationships: usize::try_from(int(&replies[2])?).unwrap_or(usize::MAX),
                last_event_ms,
            });
        }
        Ok(flows)
    }

    /// Decodes a published or stored message with the engine's limits.
    pub(crate) fn decode(&self, flow_id: &str, json: &[u8]) -> Result<FlowMessage, LogError> {
        self.limits
            .decode(json, flow_id)
            .map_err(|err| LogError::Reply(format!("stored message breaks the contract: {err}")))
    }

    /// XRANGE entries `[[id, [field, value, ...]], ...]` as `(seq, message)`.
    fn entries(
        &self,
        flow_id: &str,
        value: Option<Value>,
    ) -> Result<Vec<(u64, FlowMessage)>, LogError> {
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        array(value)?
            .into_iter()
            .map(|entry| {
                let mut parts = array(entry)?.into_iter();
                let id = text(parts.next().as_ref())?;
                let seq = id
                    .strip_suffix("-0")
                    .and_then(|seq| seq.parse().ok())
                    .ok_or_else(|| LogError::Reply(format!("stream id {id:?}")))?;
                let fields = pairs(parts.next())?;
                let json = fields
                    .into_iter()
                    .find_map(|(field, value)| (field == "m").then_some(value))
                    .ok_or_else(|| LogError::Reply(format!("stream entry {id} has no m")))?;
                let Value::BulkString(bytes) = json else {
                    return Err(LogError::Reply(format!("stream entry {id}")));
                };
                Ok((seq, self.decode(flow_id, &bytes)?))
            })
            .collect()
    }
}

/// An item's JSON and what the engine charges for it.
type Charged = (Vec<u8>, usize);

/// The script arguments that fold `message` into the stored state (see `append.lua`).
struct FoldArgs {
    /// What the engine charges for the message's flow instance (0 without one).
    instance_size: usize,
    /// What the engine charges for each upserted item, in the order of `args`' pairs.
    sizes: Vec<usize>,
    /// The kind's arguments.
    args: Vec<Vec<u8>>,
}

/// What the engine's fold charges for the state `message` makes from nothing: one item's
/// size, computed by the engine itself so both backends bound the same bytes.
fn charge(flow_id: &str, message: FlowMessage) -> usize {
    let mut fold = Fold::default();
    fold.apply(flow_id, message);
    fold.bytes()
}

/// Upserts are de-duplicated by key, the last occurrence winning, as the engine's fold does.
fn fold_args(flow_id: &str, message: &FlowMessage) -> FoldArgs {
    let node_pairs = |nodes: &[FlowNode]| -> BTreeMap<String, Charged> {
        nodes
            .iter()
            .map(|node| {
                let size = charge(
                    flow_id,
                    FlowMessage::UpsertNodes {
                        nodes: vec![node.clone()],
                    },
                );
                (node.id.clone(), (to_json(node), size))
            })
            .collect()
    };
    let rel_pairs = |rels: &[Relationship]| -> BTreeMap<Vec<u8>, Charged> {
        rels.iter()
            .map(|rel| {
                let size = charge(
                    flow_id,
                    FlowMessage::UpsertRels {
                        relationships: vec![rel.clone()],
                    },
                );
                (to_json(&rel.key()), (to_json(rel), size))
            })
            .collect()
    };
    let instance_size =
        |flow: &FlowInstance| charge(flow_id, FlowMessage::UpsertFlow { flow: flow.clone() });
    let mut out = FoldArgs {
        instance_size: 0,
        sizes: Vec::new(),
        args: Vec::new(),
    };
    let pairs = |out: &mut FoldArgs, pairs: Vec<(Vec<u8>, Charged)>| {
        for (key, (json, size)) in pairs {
            out.args.push(key);
            out.args.push(json);
            out.sizes.push(size);
        }
    };
    match message {
        FlowMessage::Snapshot {
            flow,
            nodes,
            relationships,
        } => {
            let nodes = node_pairs(nodes);
            let rels = rel_pairs(relationships);
            out.instance_size = instance_size(flow);
            out.args.push(to_json(flow));
            out.args
                .push((nodes.len() + rels.len()).to_string().into_bytes());
            out.args.push(nodes.len().to_string().into_bytes());
            let nodes = nodes
                .into_iter()
                .map(|(id, value)| (id.into_bytes(), value))
                .collect();
            pairs(&mut out, nodes);
            pairs(&mut out, rels.into_iter().collect());
        }
        FlowMessage::UpsertFlow { flow } => {
            out.instance_size = instance_size(flow);
            out.args.push(to_json(flow));
        }
        FlowMessage::UpsertNodes { nodes } => {
            let nodes = node_pairs(nodes)
                .into_iter()
                .map(|(id, value)| (id.into_bytes(), value))
                .collect();
            pairs(&mut out, nodes);
        }
        FlowMessage::UpsertRels { relationships } => {
            pairs(&mut out, rel_pairs(relationships).into_iter().collect());
        }
        FlowMessage::DeleteNodes { ids } => {
            out.args
                .extend(ids.iter().map(|id| id.clone().into_bytes()));
        }
        FlowMessage::DeleteRels { pairs } => out.args.extend(pairs.iter().map(to_json)),
    }
    out
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    // Wire types have string keys only; writing into a Vec cannot fail.
    serde_json::to_vec(value).expect("wire types serialise infallibly")
}

fn array(value: Value) -> Result<Vec<Value>, LogError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(Vec::new()),
        other => Err(LogError::Reply(format!("expected an array, got {other:?}"))),
    }
}

fn text(value: Option<&Value>) -> Result<String, LogError> {
    match value {
        Some(Value::BulkString(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Some(Value::SimpleString(text)) => Ok(text.clone()),
        Some(Value::Int(n)) => Ok(n.to_string()),
        other => Err(LogError::Reply(format!("expected text, got {other:?}"))),
    }
}

fn int(value: &Value) -> Result<u64, LogError> {
    match value {
        Value::Int(n) => u64::try_from(*n).map_err(|_| LogError::Reply(format!("negative {n}"))),
        other => text(Some(other))?
            .parse()
            .map_err(|_| LogError::Reply(format!("expected an integer, got {other:?}"))),
    }
}

fn epoch_of(value: &Value) -> Result<Epoch, LogError> {
    int(value).map(Epoch)
}

/// A flat `[field, value, ...]` array (HGETALL, stream fields) as pairs.
fn pairs(value: Option<Value>) -> Result<Vec<(String, Value)>, LogError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let mut items = array(value)?.into_iter();
    let mut out = Vec::new();
    while let Some(field) = items.next() {
        let value = items.next().unwrap_or(Value::Nil);
        out.push((text(Some(&field))?, value));
    }
    Ok(out)
}

fn json<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, LogError> {
    let Value::BulkString(bytes) = value else {
        return Err(LogError::Reply(format!("expected JSON, got {value:?}")));
    };
    serde_json::from_slice(bytes).map_err(|err| LogError::Reply(format!("stored state: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_messages_round_trip() {
        assert_eq!(Published::parse(b"d"), Some(Published::Deleted));
        assert_eq!(
            Published::parse(b"m 17 3 {\"a\": 1}"),
            Some(Published::Message {
                at: EventId {
                    epoch: Epoch(17),
                    seq: 3
                },
                json: b"{\"a\": 1}"
            })
        );
        for bad in [&b""[..], b"m", b"m x 1 {}", b"m 1 {}", b"x 1 2 {}"] {
            assert_eq!(Published::parse(bad), None, "{bad:?}");
        }
        assert_eq!(flow_of_channel(&channel("a:b-c")), Some("a:b-c"));
        assert_eq!(flow_of_channel("other"), None);
        assert!(
            keys("f")
                .iter()
                .all(|key| key.starts_with("openova-flow:{f}:"))
        );
    }
}
