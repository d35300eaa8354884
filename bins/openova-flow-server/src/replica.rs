//! The `redis` backend's replica: this process's engine holds the flows it writes to or serves
//! streams of. Writes are admitted by the engine at the flow's position and appended to the
//! log only if the log is still there (compare-and-set), then applied locally; the flows with
//! local subscribers are followed by pub/sub. Whatever arrives from Redis goes through the
//! engine's guarded seams ([`SharedRouter::apply_after`], [`SharedRouter::restore_from`],
//! [`SharedRouter::delete_from`]), so concurrent writers and followers never move a flow back.
//! Local fan-out stays in-process and zero-copy.
//!
//! No single task carries the flows: a POST runs in its own request, one writer per flow at a
//! time; a stream's first subscriber on this replica follows the flow in its own request, one
//! per flow at a time; the replica's task applies pub/sub messages (through a bounded queue)
//! and pings Redis, and runs what needs a flow's turn or a read of Redis as that flow's
//! follow-up, beside its loop, so one flow's wait never holds up another's messages.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use flow_contract::{FlowMessage, Limits};
use flow_router::{
    EventId, FrameStream, IngestError, LogTail, RouterConfig, SharedRouter, SubscribeError,
};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use redis::aio::ConnectionManager;
use redis::{PushInfo, PushKind, RedisError, Value};
use tokio::sync::mpsc;

use crate::backend::Listed;
use crate::config::RedisConfig;
use crate::shared_log::{self, Appended, Listing, Loaded, LogError, Published, SharedLog};

/// How often Redis is pinged (readiness, reconnection).
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Every this many pings, followed flows are re-read (expiry refresh and a safety net for a
/// pub/sub message lost without a reconnection), and unsubscribed flows are dropped.
const SYNC_EVERY: u32 = 5;

/// Pub/sub messages waiting for the replica's task; beyond it they are dropped and every
/// followed flow is caught up from Redis instead (messages carry their seq, so nothing is
/// lost, only read again).
const PUSH_QUEUE: usize = 4096;

/// Attempts to append one message while other writers move the flow on.
const APPEND_ATTEMPTS: usize = 16;

/// Why a replica operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ReplicaError {
    /// Redis refused or failed.
    #[error(transparent)]
    Log(LogError),
    /// The local engine refused the subscription.
    #[error(transparent)]
    Subscribe(SubscribeError),
    /// The local engine could not hold the flow's stored state.
    #[error("this replica cannot hold the flow: {0}")]
    Restore(IngestError),
    /// The engine refused the message for the flow's bounds.
    #[error(transparent)]
    Refused(IngestError),
}

/// One turn per flow at a time, an async lock per flow: a replica's writers of one flow queue
/// instead of failing each other's compare-and-set, and the first subscribers of one flow
/// instead of each loading it; other flows never wait. A flow's lock lives while someone holds
/// or awaits it.
#[derive(Default)]
struct Turns {
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A flow's turn; the flow's entry goes when its last user leaves.
struct Turn<'a> {
    turns: &'a Turns,
    flow_id: &'a str,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Turns {
    async fn turn<'a>(&'a self, flow_id: &'a str) -> Turn<'a> {
        let lock = Arc::clone(
            self.turns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(flow_id.to_owned())
                .or_default(),
        );
        let guard = Arc::clone(&lock).lock_owned().await;
        Turn {
            turns: self,
            flow_id,
            lock,
            guard: Some(guard),
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard = None;
        let mut turns = self
            .turns
            .turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's clone and ours: nobody else holds or awaits the lock.
        if Arc::strong_count(&self.lock) == 2 {
            turns.remove(self.flow_id);
        }
    }
}

/// What [`Replica::append`] did.
#[derive(Debug)]
pub(crate) enum Append {
    /// Appended at this position.
    Appended(EventId),
    /// The flow does not exist and the call was not to create it: nothing was written, and
    /// here is the message back, for a call that may create it.
    NoFlow(Box<FlowMessage>),
}

impl Append {
    /// Where the message was appended; `None` for [`Append::NoFlow`].
    pub(crate) fn at(&self) -> Option<EventId> {
        match self {
            Self::Appended(at) => Some(*at),
            Self::NoFlow(_) => None,
        }
    }
}

/// The handle request handlers use; [`Replica::run`] is its task.
pub(crate) struct Replica {
    log: SharedLog,
    /// `FLOW_SERVER_REDIS_TIMEOUT`, for errors.
    timeout: Duration,
    router: SharedRouter,
    router_config: RouterConfig,
    /// The pub/sub connection (RESP3: pushes arrive on `pushes`; it subscribes again by
    /// itself after a reconnection).
    pubsub: ConnectionManager,
    /// Taken by [`Replica::run`].
    pushes: Mutex<Option<mpsc::Receiver<PushInfo>>>,
    /// The flows whose channel this replica subscribed to. Lock order: this, then the router.
    followed: Mutex<HashSet<String>>,
    healthy: AtomicBool,
    /// Set when a pub/sub message was dropped at [`PUSH_QUEUE`]: the task catches every
    /// followed flow up.
    lagging: Arc<AtomicBool>,
    writers: Turns,
    follows: Turns,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// Builds the connections (lazily: nothing is dialled until the task runs or a request
    /// arrives, so the server starts while Redis is down). Needs a Tokio runtime.
    pub(crate) fn new(config: &RedisConfig, router: SharedRouter) -> Result<Self, RedisError> {
        let router_config = router.config().clone();
        let log = SharedLog::new(config, &router_config)?;
        // Pub/sub on its own RESP3 connection: pushes arrive on a channel, and the manager
        // subscribes again by itself after a reconnection.
        let info = config.connection.clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let (push_sender, pushes) = mpsc::channel(PUSH_QUEUE);
        let lagging = Arc::new(AtomicBool::new(false));
        let dropped = Arc::clone(&lagging);
        let push_sender = move |push: PushInfo| -> Result<(), ()> {
            if push_sender.try_send(push).is_err() {
                dropped.store(true, Ordering::Release);
            }
            Ok(())
        };
        let pubsub = ConnectionManager::new_lazy_with_config(
            shared_log::client(info.set_redis_settings(settings))?,
            shared_log::manager_config(config.timeout)
                .set_push_sender(push_sender)
                .set_automatic_resubscription(),
        )?;
        Ok(Self {
            log,
            timeout: config.timeout,
            router,
            router_config,
            pubsub,
            pushes: Mutex::new(Some(pushes)),
            followed: Mutex::new(HashSet::new()),
            healthy: AtomicBool::new(false),
            lagging,
            writers: Turns::default(),
            follows: Turns::default(),
        })
    }

    /// Whether the last contact with Redis succeeded.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Tracks health from a command's outcome and names a timeout as one.
    fn observe<T>(&self, result: Result<T, LogError>) -> Result<T, LogError> {
        if result.is_ok() {
            self.healthy.store(true, Ordering::Release);
        }
        result.map_err(|err| self.observe_error(err))
    }

    /// [`observe`](Self::observe) of a failure.
    fn observe_error(&self, err: LogError) -> LogError {
        match err {
            LogError::Unavailable(source) => {
                self.healthy.store(false, Ordering::Release);
                if source.is_timeout() {
                    LogError::TimedOut {
                        after: self.timeout,
                        source,
                    }
                } else {
                    LogError::Unavailable(source)
                }
            }
            other => other,
        }
    }

    /// The contract's bounds messages are decoded with.
    pub(crate) fn limits(&self) -> Limits {
        self.router_config.limits
    }

    /// Every flow stored in Redis, sorted by id (whichever replica wrote it, followed here or
    /// not), with the subscribers this replica serves.
    pub(crate) async fn flows(&self) -> Result<Vec<Listed>, LogError> {
        let stored = self.observe(self.log.flows().await)?;
        Ok(stored
            .into_iter()
            .map(|flow| {
                let subscribers = self
                    .router
                    .with_flow(&flow.flow_id, |router| router.flow(&flow.flow_id))
                    .map_or(0, |local| local.subscribers);
                Listed {
                    id: flow.flow_id,
                    at: flow.at,
                    nodes_by_status: flow.nodes_by_status,
                    relationships: flow.relationships,
                    subscribers,
                    last_event_ms: flow.last_event_ms,
                }
            })
            .collect())
    }

    /// Appends a message: the local engine admits it at the flow's position (read from Redis
    /// first when this replica does not hold the flow), the log appends it only if the flow is
    /// still there, and the engine applies it; a flow that moved on is read again and the
    /// message admitted anew. [`Append::NoFlow`] (nothing written, the message handed back)
    /// when the flow does not exist and `create` is false.
    pub(crate) async fn append(
        &self,
        flow_id: &str,
        message: FlowMessage,
        create: bool,
    ) -> Result<Append, ReplicaError> {
        let json = message.to_json();
        let _turn = self.writers.turn(flow_id).await;
        // Whether the local flow was read from Redis during this call: a refusal is final only
        // against a position Redis just confirmed.
        let mut fresh = false;
        for _ in 0..APPEND_ATTEMPTS {
            let (after, before) = match self.admit(flow_id, &message) {
                Ok(None) if !fresh => (None, None),
                Ok(Some((after, listing))) => (Some(after), Some(listing)),
                Ok(None) => (None, None),
                Err(err) if fresh => return Err(ReplicaError::Refused(err)),
                Err(_) => (None, None),
            };
            if after.is_none() && !fresh {
                self.catch_up_to_write(flow_id).await?;
                fresh = true;
                continue;
            }
            if after.is_none() && !create {
                return Ok(Append::NoFlow(Box::new(message)));
            }
            let appended = self.observe(self.log.append(flow_id, &json, after).await);
            match appended.map_err(ReplicaError::Log)? {
                Appended::Ok { at, tail } => {
                    // Appended is what the client is told; a local apply that fails (the
                    // follower applied the published message first, or this replica is short
                    // of memory) is repaired by the next read.
                    let _ = match after {
                        Some(after) => self.router.apply_after(flow_id, after, message),
                        None => self
                            .router
                            .apply_ordered(flow_id, at.epoch, at.seq, message),
                    };
                    // Whoever applied it here, the engine holds the state at `at`.
                    self.settle(flow_id, at, Some(tail), before.as_ref()).await;
                    return Ok(Append::Appended(at));
                }
                Appended::Stale => {
                    self.catch_up_to_write(flow_id).await?;
                    fresh = true;
                }
                Appended::NeedsCheckpoint => {
                    if let Some(after) = after {
                        self.settle(flow_id, after, None, None).await;
                    }
                }
            }
        }
        Err(ReplicaError::Log(LogError::Contended {
            attempts: APPEND_ATTEMPTS,
        }))
    }

    /// [`Router::admit`], with the listing's figures at the position it reports.
    fn admit(
        &self,
        flow_id: &str,
        message: &FlowMessage,
    ) -> Result<Option<(EventId, Listing)>, IngestError> {
        self.router.with_flow(flow_id, |router| {
            let after = router.admit(flow_id, message)?;
            Ok(after.zip(router.flow(flow_id).map(Listing::from)))
        })
    }

    /// Records what the engine holds at `at` in Redis: the listing's figures, unless they
    /// equal `before` (the figures at the position the message was appended after, which
    /// that position's writer records), and a checkpoint when the log's `tail` makes one due
    /// (always when `tail` is `None`). Best effort: a failure leaves the listing behind until
    /// the next change or the checkpoint older, and is logged.
    async fn settle(
        &self,
        flow_id: &str,
        at: EventId,
        tail: Option<LogTail>,
        before: Option<&Listing>,
    ) {
        let held = self.router.with_flow(flow_id, |router| {
            let info = router
                .flow(flow_id)
                .filter(|info| info.seq == at.seq && info.epoch == at.epoch)?;
            let due = tail.is_none_or(|tail| router.checkpoint_due(flow_id, tail));
            let state = due
                .then(|| router.state(flow_id).map(|(_, state)| state))
                .flatten();
            Some((Listing::from(info), state))
        });
        let Some((listing, checkpoint)) = held else {
            return;
        };
        if checkpoint.is_none() && before == Some(&listing) {
            return;
        }
        if let Err(err) = self.observe(
            self.log
                .settle(flow_id, at, &listing, checkpoint.as_ref())
                .await,
        ) {
            tracing::warn!(flow_id, error = %err, "cannot record the flow's listing or checkpoint");
        }
    }

    /// [`catch_up`](Self::catch_up) for a writer, in the flow's follow turn (after a first
    /// subscriber's load with its client's replay; see [`sync_or_warn`](Self::sync_or_warn)).
    async fn catch_up_to_write(&self, flow_id: &str) -> Result<(), ReplicaError> {
        let _turn = self.follows.turn(flow_id).await;
        self.catch_up(flow_id, false, None).await
    }

    /// Brings the local flow up to Redis (see [`catch_up`]).
    async fn catch_up(
        &self,
        flow_id: &str,
        create: bool,
        replay: Option<EventId>,
    ) -> Result<(), ReplicaError> {
        catch_up(&self.log, &self.router, flow_id, create, replay)
            .await
            .map_err(|err| match err {
                ReplicaError::Log(err) => ReplicaError::Log(self.observe_error(err)),
                other => other,
            })
    }

    /// The flow's stored state, folded exactly as the engine folds it; `None` when nothing
    /// was ever appended.
    pub(crate) async fn snapshot(
        &self,
        flow_id: &str,
    ) -> Result<Option<flow_router::FlowSnapshot>, ReplicaError> {
        let loaded = self
            .observe(self.log.load(flow_id, None, false, None).await)
            .map_err(ReplicaError::Log)?;
        let Loaded::Full { at, state, .. } = loaded else {
            return Ok(None);
        };
        Ok(Some(state.into_snapshot(flow_id, at)))
    }

    /// The flow's stored position (epoch and seq), read from its meta hash alone; `None`
    /// when nothing was ever appended.
    pub(crate) async fn head(&self, flow_id: &str) -> Result<Option<EventId>, ReplicaError> {
        self.observe(self.log.head(flow_id).await)
            .map_err(ReplicaError::Log)
    }

    /// Deletes the flow in Redis; every replica ends its streams.
    pub(crate) async fn delete(&self, flow_id: &str) -> Result<bool, LogError> {
        self.observe(self.log.delete(flow_id).await)
    }

    /// Subscribes to a flow: at once when this replica follows it; otherwise the flow's
    /// first subscriber here follows it (pub/sub first, then a read of Redis, so nothing
    /// published in between is missed) while later ones wait for that turn.
    pub(crate) async fn subscribe(
        &self,
        flow_id: &str,
        last_event_id: Option<&str>,
    ) -> Result<FrameStream, ReplicaError> {
        if let Some(stream) = self.join(flow_id, last_event_id) {
            return stream;
        }
        let _turn = self.follows.turn(flow_id).await;
        if let Some(stream) = self.join(flow_id, last_event_id) {
            return stream;
        }
        self.pubsub
            .clone()
            .subscribe(shared_log::channel(flow_id))
            .await
            .map_err(|err| ReplicaError::Log(self.observe_error(LogError::Unavailable(err))))?;
        self.lock_followed().insert(flow_id.to_owned());
        // A read never creates state, in Redis either: a flow nothing was posted to stays
        // missing and the subscription waits for its first message. The stream's entries
        // after the client's id come along, so it resumes exactly.
        let replay = last_event_id.and_then(EventId::parse);
        if let Err(err) = self.catch_up(flow_id, false, replay).await {
            tracing::warn!(flow_id, error = %err, "cannot follow flow");
            self.unfollow(flow_id).await;
            return Err(err);
        }
        self.join(flow_id, last_event_id).unwrap_or_else(|| {
            Err(ReplicaError::Log(LogError::Reply(
                "the flow was deleted while it was read".to_owned(),
            )))
        })
    }

    /// A stream of a followed flow; `None` when this replica does not follow it. Under the
    /// followed lock, so maintenance ([`FollowUp::MAINTAIN`]) never drops a flow a stream just joined.
    fn join(
        &self,
        flow_id: &str,
        last_event_id: Option<&str>,
    ) -> Option<Result<FrameStream, ReplicaError>> {
        let followed = self.lock_followed();
        followed.contains(flow_id).then(|| {
            self.router
                .subscribe(flow_id, last_event_id)
                .map_err(ReplicaError::Subscribe)
        })
    }

    fn lock_followed(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.followed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The task: applies pub/sub messages, pings Redis, and drops flows without local
    /// subscribers, until `shutdown`. Runs once; later calls return at once.
    ///
    /// A message that is simply the flow's next one is applied at once. Whatever needs the
    /// flow's follow turn or a read of Redis (a gap, a resubscription, maintenance) becomes the
    /// flow's [`FollowUp`], run beside the task's loop: a flow whose first subscriber is loading
    /// it here waits for that load without holding up the other flows' messages.
    pub(crate) async fn run(&self, shutdown: impl Future<Output = ()>) {
        let taken = self
            .pushes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut pushes) = taken else {
            return;
        };
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pings = 0_u32;
        let mut follow_ups = FollowUps::default();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                Some(push) = pushes.recv() => {
                    if let Some((flow_id, work)) = self.push(push).await {
                        follow_ups.queue(self, flow_id, work);
                    }
                }
                Some(flow_id) = follow_ups.running.next(), if !follow_ups.running.is_empty() => {
                    follow_ups.finished(self, flow_id);
                }
                _ = ping.tick() => {
                    pings = pings.wrapping_add(1);
                    let was_healthy = self.is_healthy();
                    let healthy = self.log.ping().await.is_ok() && self.ping_pubsub().await;
                    self.healthy.store(healthy, Ordering::Release);
                    if healthy != was_healthy {
                        tracing::info!(healthy, "redis availability changed");
                    }
                    let lagging = self.lagging.swap(false, Ordering::AcqRel);
                    if healthy && (lagging || !was_healthy || pings.is_multiple_of(SYNC_EVERY)) {
                        let flows: Vec<String> = self.lock_followed().iter().cloned().collect();
                        for flow_id in flows {
                            follow_ups.queue(self, flow_id, FollowUp::MAINTAIN);
                        }
                    }
                }
            }
        }
    }

    async fn unfollow(&self, flow_id: &str) {
        self.lock_followed().remove(flow_id);
        self.unsubscribe(flow_id).await;
    }

    async fn unsubscribe(&self, flow_id: &str) {
        if let Err(err) = self
            .pubsub
            .clone()
            .unsubscribe(shared_log::channel(flow_id))
            .await
        {
            tracing::debug!(flow_id, error = %err, "unsubscribe failed");
        }
    }

    /// Handles one push; what needs the flow's follow turn is returned as its follow-up.
    async fn push(&self, push: PushInfo) -> Option<(String, FollowUp)> {
        let channel = match push.data.first() {
            Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            _ => return None,
        };
        let flow_id = shared_log::flow_of_channel(&channel)?;
        if !self.lock_followed().contains(flow_id) {
            return None;
        }
        let work = match push.kind {
            PushKind::Message => {
                let Some(Value::BulkString(payload)) = push.data.get(1) else {
                    return None;
                };
                self.message(flow_id, payload).await?
            }
            // A (re)subscription: messages published while unsubscribed were missed. Only a
            // flow with state is kept alive; waiters create none.
            PushKind::Subscribe => FollowUp::KEEP,
            _ => return None,
        };
        Some((flow_id.to_owned(), work))
    }

    /// Applies a published message when it is the flow's next one; otherwise the follow-up
    /// that reads Redis.
    async fn message(&self, flow_id: &str, payload: &[u8]) -> Option<FollowUp> {
        match Published::parse(payload) {
            Some(Published::Deleted) => {
                self.router.delete(flow_id);
                self.unfollow(flow_id).await;
                None
            }
            Some(Published::Message { at, json }) => {
                let local = self
                    .router
                    .with_flow(flow_id, |router| router.position(flow_id));
                let next = local.is_some_and(|l| l.epoch == at.epoch && at.seq == l.seq + 1);
                let seen = local.is_some_and(|l| l.epoch == at.epoch && at.seq <= l.seq);
                if seen {
                    return None;
                }
                if next {
                    let after = EventId {
                        seq: at.seq - 1,
                        ..at
                    };
                    let applied = self
                        .log
                        .decode(flow_id, json)
                        .map(|message| self.router.apply_after(flow_id, after, message));
                    // Applied, or a writer of this replica applied it first.
                    if matches!(applied, Ok(Ok(_) | Err(IngestError::Stale { .. }))) {
                        return None;
                    }
                }
                // A gap, a new epoch, or a message the engine refused: read Redis, after the
                // flow's first subscriber here, if one is loading it with its client's replay.
                Some(FollowUp::CATCH_UP)
            }
            None => {
                tracing::warn!(flow_id, "unreadable pub/sub message ignored");
                None
            }
        }
    }

    /// Runs a flow's follow-up in its follow turn (after a first subscriber's load with its
    /// client's replay: see [`sync_or_warn`](Self::sync_or_warn)).
    async fn follow_up(&self, flow_id: &str, work: FollowUp) {
        let _turn = self.follows.turn(flow_id).await;
        if work.prune && self.prune(flow_id) {
            self.unsubscribe(flow_id).await;
            return;
        }
        let held = self
            .router
            .with_flow(flow_id, |router| router.contains(flow_id));
        self.sync_or_warn(flow_id, held && (work.keep || work.prune))
            .await;
    }

    /// Stops following `flow_id` and drops its local state when nobody here reads it (no
    /// subscriber, no waiter); whether it did. Under the followed lock, so a stream joining
    /// right now keeps it ([`join`](Self::join)).
    fn prune(&self, flow_id: &str) -> bool {
        let mut followed = self.lock_followed();
        let readers = self.router.with_flow(flow_id, |router| {
            router.flow(flow_id).map_or(0, |flow| flow.subscribers) + router.waiting(flow_id)
        });
        if readers == 0 && followed.remove(flow_id) {
            self.router.delete(flow_id);
            true
        } else {
            false
        }
    }

    /// [`catch_up`](Self::catch_up) without a replay. A follow-up calls it in the flow's
    /// follow turn: a first subscriber's load carries its client's replay, and a load without one
    /// must not restore the flow first (the subscriber's would then be skipped as stale).
    async fn sync_or_warn(&self, flow_id: &str, create: bool) {
        if let Err(err) = self.catch_up(flow_id, create, None).await {
            tracing::warn!(flow_id, error = %err, "cannot catch up with redis; retrying later");
        }
    }

    /// Pings the pub/sub connection (a dropped one reconnects and resubscribes).
    async fn ping_pubsub(&self) -> bool {
        redis::cmd("PING")
            .query_async::<Value>(&mut self.pubsub.clone())
            .await
            .is_ok()
    }
}

/// What the replica's task still has to do for a flow, in the flow's follow turn. Follow-ups
/// queued while the flow's previous one runs are merged into one that runs after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct FollowUp {
    /// Drop the flow when nobody here reads it any more; otherwise catch up and keep it alive.
    prune: bool,
    /// Catch up, and keep the flow alive in Redis when this replica holds its state.
    keep: bool,
}

impl FollowUp {
    /// Catch up with Redis (a gap or a new epoch); creates nothing.
    const CATCH_UP: Self = Self {
        prune: false,
        keep: false,
    };
    /// Catch up and keep the flow alive (a resubscription).
    const KEEP: Self = Self {
        prune: false,
        keep: true,
    };
    /// Maintenance: drop the flow if unread, else catch up and keep it alive.
    const MAINTAIN: Self = Self {
        prune: true,
        keep: true,
    };

    /// Both follow-ups' work, done once.
    fn merge(self, other: Self) -> Self {
        Self {
            prune: self.prune || other.prune,
            keep: self.keep || other.keep,
        }
    }
}

type Running<'a> = Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// The follow-ups in flight, at most one per flow, and the one queued after each.
#[derive(Default)]
struct FollowUps<'a> {
    running: FuturesUnordered<Running<'a>>,
    /// Flows with a running follow-up, and the merged follow-up queued after it.
    queued: HashMap<String, Option<FollowUp>>,
}

impl<'a> FollowUps<'a> {
    /// Starts `work` for `flow_id`, or queues it (merged) after the flow's running one.
    fn queue(&mut self, replica: &'a Replica, flow_id: String, work: FollowUp) {
        match self.queued.get_mut(&flow_id) {
            Some(next) => *next = Some(next.map_or(work, |queued| queued.merge(work))),
            None => {
                self.queued.insert(flow_id.clone(), None);
                self.start(replica, flow_id, work);
            }
        }
    }

    /// `flow_id`'s follow-up ended: starts the one queued after it, if any.
    fn finished(&mut self, replica: &'a Replica, flow_id: String) {
        match self.queued.get_mut(&flow_id).and_then(Option::take) {
            Some(next) => self.start(replica, flow_id, next),
            None => {
                self.queued.remove(&flow_id);
            }
        }
    }

    fn start(&mut self, replica: &'a Replica, flow_id: String, work: FollowUp) {
        self.running.push(Box::pin(async move {
            replica.follow_up(&flow_id, work).await;
            flow_id
        }));
    }
}

/// Brings the local flow up to Redis: the entries after the local position, or the state
/// at the head (checkpoint plus tail) when the epoch changed or the stream no longer holds the
/// gap, with the entries after `replay` when the stream holds them (a client resumes exactly).
/// Every change is guarded by the position the read started from, so a writer or the
/// follower that moved the flow on meanwhile is never undone.
async fn catch_up(
    log: &SharedLog,
    router: &SharedRouter,
    flow_id: &str,
    create: bool,
    replay: Option<EventId>,
) -> Result<(), ReplicaError> {
    let local = router.with_flow(flow_id, |router| router.position(flow_id));
    let loaded = log
        .load(flow_id, local, create, replay)
        .await
        .map_err(ReplicaError::Log)?;
    match loaded {
        Loaded::Missing => {
            // Deleted or expired in Redis: its streams end here too. Streams waiting for a
            // flow that never had state keep waiting.
            if let Some(local) = local {
                router.delete_from(flow_id, local);
            }
        }
        Loaded::Tail { at, entries } => {
            for (seq, message) in entries {
                let after = EventId {
                    epoch: at.epoch,
                    seq: seq.saturating_sub(1),
                };
                match router.apply_after(flow_id, after, message) {
                    Ok(_) | Err(IngestError::Stale { .. }) => {}
                    Err(err) => return Err(ReplicaError::Restore(err)),
                }
            }
        }
        Loaded::Full { at, state, entries } => {
            let restored = router
                .restore_from(flow_id, local, at, *state, entries)
                .map_err(ReplicaError::Restore)?;
            tracing::debug!(flow_id, %at, ?restored, "flow loaded from redis");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use redis_process::RedisProcess;

    use super::*;
    use crate::config::Config;

    const WAIT: Duration = Duration::from_secs(20);

    /// A replica of the server's defaults on `url`.
    fn replica(url: &str) -> Replica {
        let config = Config::try_from_args([
            "openova-flow-server",
            "--backend",
            "redis",
            "--redis-url",
            url,
        ])
        .expect("valid flags");
        let router =
            SharedRouter::new(config.router.clone(), 7, Instant::now).expect("default bounds");
        Replica::new(config.redis.as_ref().expect("redis backend"), router).expect("a redis client")
    }

    fn upsert(flow_id: &str, node: &str) -> FlowMessage {
        let json = format!(
            r#"{{"type":"upsert-nodes","nodes":[{{"id":"{node}","flowId":"{flow_id}","label":"{node}","status":"running"}}]}}"#
        );
        flow_contract::decode(json.as_bytes(), flow_id).expect("a valid message")
    }

    /// While a flow's first subscriber loads it here (its follow turn is held), the task keeps
    /// applying the other flows' messages: the flow's resubscription waits as its follow-up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flow_in_its_first_load_does_not_hold_up_the_others() {
        let redis = RedisProcess::start();
        let writer = replica(&redis.url());
        let here = Arc::new(replica(&redis.url()));
        let task = tokio::spawn({
            let here = Arc::clone(&here);
            async move { here.run(std::future::pending()).await }
        });
        writer
            .append("y", upsert("y", "a"), true)
            .await
            .expect("redis answers")
            .at()
            .expect("created");
        let mut y = here.subscribe("y", None).await.expect("y followed");
        assert!(y.next().await.is_some(), "y's initial snapshot");

        let loading = here.follows.turn("x").await;
        here.lock_followed().insert("x".to_owned());
        here.pubsub
            .clone()
            .subscribe(shared_log::channel("x"))
            .await
            .expect("subscribed to x");

        let at = writer
            .append("y", upsert("y", "b"), false)
            .await
            .expect("redis answers")
            .at()
            .expect("y exists");
        let frame = tokio::time::timeout(WAIT, y.next())
            .await
            .expect("y's message is applied while x loads")
            .expect("y's stream is open");
        let text = String::from_utf8_lossy(&frame);
        assert!(text.contains(&format!("id: {at}\n")), "{text}");
        drop(loading);
        task.abort();
    }

    /// Maintenance keeps a flow someone here reads, and drops one nobody reads any more.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn maintenance_drops_only_flows_nobody_here_reads() {
        let redis = RedisProcess::start();
        let here = replica(&redis.url());
        here.append("y", upsert("y", "a"), true)
            .await
            .expect("redis answers")
            .at()
            .expect("created");
        let stream = here.subscribe("y", None).await.expect("y followed");
        let held = |here: &Replica| here.router.with_flow("y", |router| router.contains("y"));

        here.follow_up("y", FollowUp::MAINTAIN).await;
        assert!(held(&here), "read here: kept");
        assert!(here.lock_followed().contains("y"));

        drop(stream);
        here.follow_up("y", FollowUp::MAINTAIN).await;
        assert!(!held(&here), "unread: its local state is dropped");
        assert!(
            !here.lock_followed().contains("y"),
            "and no longer followed"
        );
    }

    /// A flow's users queue for its turn; other flows never wait; nothing is left behind.
    #[tokio::test]
    async fn a_flow_waits_only_for_its_own_turn_and_leaves_nothing_behind() {
        let turns = Turns::default();
        let held = turns.turn("a").await;
        let other = tokio::time::timeout(Duration::from_secs(5), turns.turn("b"))
            .await
            .expect("b does not wait for a");
        let mut second = Box::pin(turns.turn("a"));
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "a's second user waits for the first"
        );
        drop(held);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("granted once the first leaves");
        drop((second, other));
        assert!(
            turns
                .turns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        );
    }
}
