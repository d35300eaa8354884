//! The Redis side of the `redis` backend: per-flow keys, the four server-side scripts, and
//! the messages replicas receive by pub/sub. Redis stores and orders; the engine
//! (`flow-router`) alone decides what a message does to a flow.
//!
//! Per flow, every key carries the `{flowId}` hash tag (one cluster slot):
//! `openova-flow:2:{f}:meta` (hash `epoch`, `seq`, `at`, `bytes`, `ckpt`, `tail`, and the
//! listing's `nodes`, `rels`; also the listing's index), `:log` (stream, entry ids `<seq>-0`,
//! field `m` = the message's canonical JSON, bounded like the ring), `:ckpt` (the folded state
//! at seq `ckpt`, a [`FlowState`] as JSON, written by an engine).
//! Channel `openova-flow:2:{f}:events` carries `m <epoch> <seq> <json>` per message and `d` on
//! delete. See `docs/OPERATIONS.md`, section "Redis backend".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use flow_contract::{FlowMessage, Limits};
use flow_router::{Epoch, EventId, FlowState, LogTail, MAX_FRAME_OVERHEAD};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionInfo, RedisError, Script, Value};

use crate::config::RedisConfig;

/// The key prefix; `2` is the layout (checkpoints), so keys of another layout are never read
/// as this one (they expire by their TTL).
const PREFIX: &str = "openova-flow:2:";
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
    /// Other writers kept moving the flow on: the append was retried this many times.
    #[error("the flow changed under {attempts} attempts to append; retry")]
    Contended {
        /// Attempts made.
        attempts: usize,
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

/// What [`SharedLog::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Appended at `at`; `tail` is what the log holds after its checkpoint.
    Ok { at: EventId, tail: LogTail },
    /// The flow is not at the expected position: nothing was written.
    Stale,
    /// The entries after the checkpoint fill the stream's bounds: a checkpoint must be
    /// written first. Nothing was written.
    NeedsCheckpoint,
}

/// A flow's figures for the listing, as the engine counted them at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Listing {
    pub(crate) nodes_by_status: BTreeMap<String, usize>,
    pub(crate) relationships: usize,
}

impl From<flow_router::FlowInfo> for Listing {
    fn from(info: flow_router::FlowInfo) -> Self {
        Self {
            nodes_by_status: info.nodes_by_status,
            relationships: info.relationships,
        }
    }
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
    /// The state at the head (the checkpoint with the entries after it folded in) and the
    /// stream's entries from the checkpoint, or from the client's id when the stream holds it.
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

fn keys(flow_id: &str) -> [String; 3] {
    ["meta", "log", "ckpt"].map(|name| format!("{PREFIX}{{{flow_id}}}:{name}"))
}

/// The commands connection, the scripts and the bounds the scripts enforce.
#[derive(Clone)]
pub(crate) struct SharedLog {
    connection: ConnectionManager,
    append: Script,
    settle: Script,
    load: Script,
    delete: Script,
    ttl_ms: u64,
    ring_capacity: usize,
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
            settle: Script::new(include_str!("lua/settle.lua")),
            load: Script::new(include_str!("lua/load.lua")),
            delete: Script::new(include_str!("lua/delete.lua")),
            ttl_ms: u64::try_from(config.flow_ttl.as_millis()).unwrap_or(u64::MAX),
            ring_capacity: router.ring_capacity,
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

    /// Appends a message the engine admitted at `after` (`None`: the flow has no meta), as
    /// its canonical JSON, if the flow is still there: one script call assigns the seq,
    /// appends, trims what the checkpoint covers and publishes.
    pub(crate) async fn append(
        &self,
        flow_id: &str,
        json: &[u8],
        after: Option<EventId>,
    ) -> Result<Appended, LogError> {
        let mut invocation = self.append.prepare_invoke();
        for key in keys(flow_id) {
            invocation.key(key);
        }
        let (epoch, seq) = after.map_or((String::new(), 0), |at| (at.epoch.0.to_string(), at.seq));
        invocation
            .arg(channel(flow_id))
            .arg(json)
            .arg(epoch)
            .arg(seq)
            .arg(self.ring_capacity)
            .arg(self.byte_budget)
            .arg(MAX_FRAME_OVERHEAD)
            .arg(self.ttl_ms);
        let mut connection = self.connection.clone();
        let reply: Value = invocation.invoke_async(&mut connection).await?;
        let items = array(reply)?;
        match text(items.first())?.as_str() {
            "ok" if items.len() == 5 => Ok(Appended::Ok {
                at: EventId {
                    epoch: epoch_of(&items[1])?,
                    seq: int(&items[2])?,
                },
                tail: LogTail {
                    bytes: usize::try_from(int(&items[3])?).unwrap_or(usize::MAX),
                    entries: usize::try_from(int(&items[4])?).unwrap_or(usize::MAX),
                },
            }),
            "stale" => Ok(Appended::Stale),
            "checkpoint" => Ok(Appended::NeedsCheckpoint),
            other => Err(LogError::Reply(format!("append answered {other:?}"))),
        }
    }

    /// Records what the engine holds at `at`: the listing's figures (if newer than the recorded ones)
    /// and, when given, a checkpoint (if newer than the stored one). Returns whether each was
    /// written.
    pub(crate) async fn settle(
        &self,
        flow_id: &str,
        at: EventId,
        listing: &Listing,
        checkpoint: Option<&FlowState>,
    ) -> Result<(bool, bool), LogError> {
        let mut invocation = self.settle.prepare_invoke();
        for key in keys(flow_id) {
            invocation.key(key);
        }
        invocation
            .arg(at.epoch.0.to_string())
            .arg(at.seq)
            .arg(to_json(&listing.nodes_by_status))
            .arg(listing.relationships)
            .arg(checkpoint.map(to_json).unwrap_or_default())
            .arg(MAX_FRAME_OVERHEAD)
            .arg(self.ttl_ms);
        let mut connection = self.connection.clone();
        let reply: Value = invocation.invoke_async(&mut connection).await?;
        let items = array(reply)?;
        match (items.first(), items.get(1)) {
            (Some(listed), Some(checkpointed)) => Ok((int(listed)? == 1, int(checkpointed)? == 1)),
            _ => Err(LogError::Reply(format!("settle answered {items:?}"))),
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
                let covered = int(&items.next().unwrap_or(Value::Nil))?;
                let checkpoint = match items.next() {
                    None | Some(Value::Nil) => FlowState::default(),
                    Some(value) => json::<FlowState>(&value)?,
                };
                let entries = self.entries(flow_id, items.next())?;
                let state = restored(flow_id, at, covered, checkpoint, &entries)?;
                Ok(Loaded::Full {
                    at,
                    state: Box::new(state),
                    entries,
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
    /// most [`LIST_LIMIT`]: `SCAN` for meta keys, then one pipeline reading each meta hash
    /// (position, last append, and the figures the last writer's engine recorded). The meta
    /// hash is the index: the append script writes it, DELETE and expiry remove it.
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
            let [meta, ..] = keys(flow_id);
            pipe.cmd("HMGET")
                .arg(meta)
                .arg("epoch")
                .arg("seq")
                .arg("at")
                .arg("nodes")
                .arg("rels");
        }
        let replies: Vec<Value> = pipe.query_async(&mut connection).await?;
        if replies.len() != ids.len() {
            return Err(LogError::Reply(format!(
                "listing pipeline answered {} replies for {} flows",
                replies.len(),
                ids.len()
            )));
        }
        let mut flows = Vec::with_capacity(ids.len());
        for (flow_id, reply) in ids.into_iter().zip(replies) {
            let meta = array(reply)?;
            let field = |i: usize| meta.get(i).filter(|value| !matches!(value, Value::Nil));
            // Deleted or expired since the scan, or created by a subscription alone.
            let (Some(epoch), Some(seq)) = (field(0), field(1)) else {
                continue;
            };
            let at = EventId {
                epoch: epoch_of(epoch)?,
                seq: int(seq)?,
            };
            if at.seq == 0 {
                continue;
            }
            flows.push(Stored {
                flow_id,
                at,
                nodes_by_status: field(3).map(json).transpose()?.unwrap_or_default(),
                relationships: field(4)
                    .map(int)
                    .transpose()?
                    .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
                last_event_ms: field(2).map(int).transpose()?,
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

/// The state at the head `at`: the checkpoint at seq `covered` with the entries after it
/// folded in by the engine. Those entries must run from `covered + 1` to the head without a
/// gap (the append script never trims past the checkpoint).
fn restored(
    flow_id: &str,
    at: EventId,
    covered: u64,
    checkpoint: FlowState,
    entries: &[(u64, FlowMessage)],
) -> Result<FlowState, LogError> {
    let after: Vec<&(u64, FlowMessage)> =
        entries.iter().filter(|(seq, _)| *seq > covered).collect();
    let contiguous = after
        .iter()
        .zip(covered + 1..)
        .all(|((seq, _), expected)| *seq == expected);
    let ends_at_head = after.last().map_or(covered, |(seq, _)| *seq) == at.seq;
    if !contiguous || !ends_at_head {
        return Err(LogError::Reply(format!(
            "the stream does not hold every entry from the checkpoint at {covered} to {at}"
        )));
    }
    Ok(checkpoint.folded(
        flow_id,
        after.into_iter().map(|(_, message)| message.clone()),
    ))
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
                .all(|key| key.starts_with("openova-flow:2:{f}:"))
        );
    }

    /// A restore folds the entries after the checkpoint, and refuses a stream that does not
    /// hold all of them.
    #[test]
    fn a_restore_needs_every_entry_after_the_checkpoint() {
        let message = |id: &str| {
            let body = format!(
                r#"{{"type":"upsert-nodes","nodes":[{{"id":"{id}","flowId":"f","label":"{id}","status":"ok"}}]}}"#
            );
            flow_contract::decode(body.as_bytes(), "f").expect("valid")
        };
        let at = |seq| EventId {
            epoch: Epoch(1),
            seq,
        };
        let entries = vec![(2, message("a")), (3, message("b")), (4, message("c"))];
        let state = restored("f", at(4), 2, FlowState::default(), &entries).expect("complete");
        let ids: Vec<&str> = state.nodes.iter().map(|node| node.id.as_str()).collect();
        assert_eq!(
            ids,
            ["b", "c"],
            "entries up to the checkpoint are in it already"
        );
        assert!(
            restored("f", at(5), 2, FlowState::default(), &entries).is_err(),
            "short"
        );
        assert!(
            restored("f", at(4), 1, FlowState::default(), &entries[1..]).is_err(),
            "a gap"
        );
    }
}
