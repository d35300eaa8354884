//! Random operation sequences against a naive model of the engine.
//!
//! The model predicts every output byte: each cursor sees strictly increasing ids, a gap
//! only ever comes with a snapshot frame, the fold equals a naive list-based fold, and the
//! ring, flow, subscriber and waiter bounds hold after every step, the flow's byte budget
//! splits evenly between ring and state, the engine's byte total is the sum of its flows',
//! and a subscription to a flow without state waits without allocating one.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use flow_contract::{FlowInstance, FlowMessage, FlowNode, RelType, Relationship};
use flow_router::{
    EventId, Fold, IngestError, Polled, Router, RouterConfig, Start, SubscribeError,
};
use proptest::prelude::*;

use crate::sim::{SEED, origin};

pub(crate) const FLOWS: usize = 4;
const CAPACITY: usize = 4;
/// Per flow: half for the ring (a few frames), half for the state (about eight items).
const BUDGET: usize = 6000;
const SHARE: usize = BUDGET / 2;
const MAX_FLOWS: usize = 3;
const MAX_SUBSCRIBERS: usize = 5;
const MAX_WAITERS: usize = 2;
const MAX_ITEMS: usize = 10;
pub(crate) const IDLE: Duration = Duration::from_secs(10);
const STATUSES: [&str; 4] = ["pending", "running", "succeeded", "failed"];

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Ingest(usize, FlowMessage),
    /// Subscribe to a flow, resuming from another cursor's position, a raw id, or nothing.
    Subscribe(usize, Resume),
    Poll(usize),
    Drop(usize),
    Delete(usize),
    Idle,
}

#[derive(Debug, Clone)]
pub(crate) enum Resume {
    Fresh,
    From(usize),
    Raw(String),
}

pub(crate) fn flow_id(flow: usize) -> String {
    format!("f{flow}")
}

fn node(flow: usize, id: u8, status: usize) -> FlowNode {
    FlowNode {
        id: format!("n{id}"),
        flow_id: flow_id(flow),
        label: format!("node {id}"),
        status: STATUSES[status].to_owned(),
        family: None,
        region: None,
        started_at: Some(u64::from(id) * 10),
        ended_at: None,
        meta: None,
    }
}

fn rel(from: u8, to: u8, contains: bool) -> Relationship {
    Relationship {
        from_id: format!("n{from}"),
        to_id: format!("n{to}"),
        from_flow_id: None,
        to_flow_id: None,
        rel_type: if contains {
            RelType::Contains
        } else {
            RelType::Triggers
        },
        condition: None,
        lag: None,
    }
}

fn message(flow: usize) -> impl Strategy<Value = FlowMessage> {
    let nodes = prop::collection::vec((0u8..6, 0usize..4), 1..4).prop_map(move |v| {
        v.into_iter()
            .map(|(id, s)| node(flow, id, s))
            .collect::<Vec<_>>()
    });
    let rels = prop::collection::vec((0u8..6, 0u8..6, any::<bool>()), 1..4).prop_map(|v| {
        v.into_iter()
            .map(|(a, b, c)| rel(a, b, c))
            .collect::<Vec<_>>()
    });
    let ids = prop::collection::vec(0u8..6, 1..3)
        .prop_map(|v| v.into_iter().map(|id| format!("n{id}")).collect::<Vec<_>>());
    prop_oneof![
        3 => nodes.clone().prop_map(|nodes| FlowMessage::UpsertNodes { nodes }),
        2 => rels.clone().prop_map(|relationships| FlowMessage::UpsertRels { relationships }),
        1 => ids.prop_map(|ids| FlowMessage::DeleteNodes { ids }),
        1 => rels.clone().prop_map(|r| FlowMessage::DeleteRels {
            pairs: r.iter().map(Relationship::key).collect()
        }),
        1 => (0usize..4).prop_map(move |s| FlowMessage::UpsertFlow {
            flow: FlowInstance::new(flow_id(flow), STATUSES[s].to_owned(), 5)
        }),
        1 => (prop::collection::vec((0u8..6, 0usize..4), 0..4), rels).prop_map(move |(n, relationships)| {
            FlowMessage::Snapshot {
                flow: FlowInstance::new(flow_id(flow), "running", 1),
                nodes: n.into_iter().map(|(id, s)| node(flow, id, s)).collect(),
                relationships,
            }
        }),
    ]
}

pub(crate) fn op() -> impl Strategy<Value = Op> {
    let ingest =
        (0..FLOWS).prop_flat_map(|flow| message(flow).prop_map(move |m| Op::Ingest(flow, m)));
    let resume = prop_oneof![
        2 => Just(Resume::Fresh),
        3 => (0usize..8).prop_map(Resume::From),
        1 => prop_oneof![Just("3".to_owned()), Just("zz-1".to_owned()), Just("e0-1".to_owned()), Just(String::new())]
            .prop_map(Resume::Raw),
    ];
    prop_oneof![
        8 => ingest,
        3 => (0..FLOWS, resume).prop_map(|(f, r)| Op::Subscribe(f, r)),
        8 => (0usize..8).prop_map(Op::Poll),
        1 => (0usize..8).prop_map(Op::Drop),
        1 => (0..FLOWS).prop_map(Op::Delete),
        1 => Just(Op::Idle),
    ]
}

/// The bounds every sequence runs under: small enough that each one is reached.
pub(crate) fn config() -> RouterConfig {
    let mut config = RouterConfig::default();
    config.ring_capacity = CAPACITY;
    config.flow_byte_budget = BUDGET;
    config.max_flows = MAX_FLOWS;
    config.max_subscribers = MAX_SUBSCRIBERS;
    config.max_waiters = MAX_WAITERS;
    config.max_state_items = MAX_ITEMS;
    config.idle_timeout = IDLE;
    config
}

/// The naive reference fold: lists, linear search, sorted only when read.
#[derive(Debug, Clone, Default)]
struct RefFold {
    flow: Option<FlowInstance>,
    nodes: Vec<FlowNode>,
    rels: Vec<Relationship>,
}

impl RefFold {
    fn upsert_node(&mut self, node: FlowNode) {
        match self.nodes.iter_mut().find(|n| n.id == node.id) {
            Some(slot) => *slot = node,
            None => self.nodes.push(node),
        }
    }

    fn upsert_rel(&mut self, rel: Relationship) {
        match self.rels.iter_mut().find(|r| r.key() == rel.key()) {
            Some(slot) => *slot = rel,
            None => self.rels.push(rel),
        }
    }

    fn apply(&mut self, message: &FlowMessage) {
        match message.clone() {
            FlowMessage::Snapshot {
                flow,
                nodes,
                relationships,
            } => {
                *self = Self {
                    flow: Some(flow),
                    ..Self::default()
                };
                nodes.into_iter().for_each(|n| self.upsert_node(n));
                relationships.into_iter().for_each(|r| self.upsert_rel(r));
            }
            FlowMessage::UpsertFlow { flow } => self.flow = Some(flow),
            FlowMessage::UpsertNodes { nodes } => {
                nodes.into_iter().for_each(|n| self.upsert_node(n))
            }
            FlowMessage::UpsertRels { relationships } => {
                relationships.into_iter().for_each(|r| self.upsert_rel(r));
            }
            FlowMessage::DeleteNodes { ids } => {
                self.nodes.retain(|n| !ids.contains(&n.id));
                self.rels
                    .retain(|r| !ids.contains(&r.from_id) && !ids.contains(&r.to_id));
            }
            FlowMessage::DeleteRels { pairs } => self.rels.retain(|r| !pairs.contains(&r.key())),
        }
    }

    fn items(&self) -> usize {
        self.nodes.len() + self.rels.len()
    }

    fn snapshot(&self, flow: usize) -> FlowMessage {
        let mut nodes = self.nodes.clone();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut relationships = self.rels.clone();
        relationships.sort_by_key(Relationship::key);
        let statuses: Vec<&str> = nodes.iter().map(|n| n.status.as_str()).collect();
        let rolled = if statuses.contains(&"failed") {
            "failed"
        } else if statuses.contains(&"running") {
            "running"
        } else if statuses.is_empty() || statuses.contains(&"pending") {
            "pending"
        } else {
            "succeeded"
        };
        let flow = self.flow.clone().unwrap_or_else(|| {
            FlowInstance::new(
                flow_id(flow),
                rolled.to_owned(),
                nodes.iter().filter_map(|n| n.started_at).min().unwrap_or(0),
            )
        });
        FlowMessage::Snapshot {
            flow,
            nodes,
            relationships,
        }
    }
}

#[derive(Debug)]
struct ModelFlow {
    incarnation: u64,
    epoch: u64,
    seq: u64,
    fold: RefFold,
    /// The engine's own fold, for its byte figure only (the model's `fold` checks the state).
    state: Fold,
    ring: VecDeque<(u64, Vec<u8>)>,
    evicted_through: u64,
    /// The wait group that was waiting when the flow was created.
    joined_group: Option<u64>,
}

impl ModelFlow {
    fn ring_bytes(&self) -> usize {
        self.ring.iter().map(|(_, f)| f.len()).sum()
    }

    fn snapshot_frame(&self, flow: usize) -> Vec<u8> {
        let json = self.fold.snapshot(flow).to_json();
        frame("snapshot", self.epoch, self.seq, &json)
    }
}

struct ModelCursor {
    cursor: flow_router::Cursor,
    flow: usize,
    incarnation: u64,
    seen: u64,
    /// The wait group while the cursor has not joined a flow.
    waiting: Option<u64>,
}

fn frame(event: &str, epoch: u64, seq: u64, json: &[u8]) -> Vec<u8> {
    let mut out = format!("event: {event}\nid: {epoch:x}-{seq}\ndata: ").into_bytes();
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out
}

struct Model {
    router: Router,
    now: std::time::Instant,
    flows: Vec<Option<ModelFlow>>,
    cursors: Vec<ModelCursor>,
    creations: u64,
    /// Per flow, the wait group of subscriptions waiting for its state, and the epoch it
    /// reserved.
    waiting: Vec<Option<(u64, u64)>>,
    groups: u64,
}

impl Model {
    fn new() -> Self {
        Self {
            router: Router::new(config(), SEED).unwrap(),
            now: origin(),
            flows: (0..FLOWS).map(|_| None).collect(),
            cursors: Vec::new(),
            creations: 0,
            waiting: vec![None; FLOWS],
            groups: 0,
        }
    }

    fn held(&self) -> usize {
        self.flows.iter().flatten().count()
    }

    fn waiters(&self) -> usize {
        self.cursors.iter().filter(|c| c.waiting.is_some()).count()
    }

    /// The epoch a new flow gets: its wait group's, or the next one.
    fn next_epoch(&self, flow: usize) -> u64 {
        self.waiting[flow].map_or(SEED + self.creations, |(_, epoch)| epoch)
    }

    fn create(&mut self, flow: usize) -> &mut ModelFlow {
        let epoch = self.next_epoch(flow);
        let group = self.waiting[flow].take();
        if group.is_none() {
            self.creations += 1;
        }
        let joined_group = group.map(|(group, _)| group);
        self.flows[flow].insert(ModelFlow {
            joined_group,
            incarnation: self.creations,
            epoch,
            seq: 0,
            fold: RefFold::default(),
            state: Fold::default(),
            ring: VecDeque::new(),
            evicted_through: 0,
        })
    }

    fn ingest(&mut self, flow: usize, message: &FlowMessage) {
        let got = self
            .router
            .ingest(&flow_id(flow), message.clone(), self.now);
        if self.flows[flow].is_none() && self.held() >= MAX_FLOWS {
            assert_eq!(got, Err(IngestError::TooManyFlows { limit: MAX_FLOWS }));
            return;
        }
        let (epoch, seq, mut fold, mut state) = match &self.flows[flow] {
            Some(f) => (f.epoch, f.seq + 1, f.fold.clone(), f.state.clone()),
            None => (
                self.next_epoch(flow),
                1,
                RefFold::default(),
                Fold::default(),
            ),
        };
        fold.apply(message);
        state.apply(&flow_id(flow), message.clone());
        if fold.items() > MAX_ITEMS {
            assert!(matches!(got, Err(IngestError::StateFull { .. })), "{got:?}");
            return;
        }
        let bytes = frame(
            message.message_type().as_str(),
            epoch,
            seq,
            &message.to_json(),
        );
        if bytes.len() > SHARE {
            assert!(matches!(got, Err(IngestError::TooLarge { .. })), "{got:?}");
            return;
        }
        if state.bytes() > SHARE {
            assert_eq!(
                got,
                Err(IngestError::FlowMemoryFull {
                    bytes: state.bytes(),
                    limit: SHARE
                })
            );
            return;
        }
        let accepted = got.unwrap();
        assert_eq!((accepted.epoch.0, accepted.seq), (epoch, seq));
        if self.flows[flow].is_none() {
            self.create(flow);
        }
        let f = self.flows[flow].as_mut().unwrap();
        f.seq = seq;
        f.fold = fold;
        f.state = state;
        f.ring.push_back((seq, bytes));
        while f.ring.len() > CAPACITY || f.ring_bytes() > SHARE {
            f.evicted_through = f.ring.pop_front().unwrap().0;
        }
    }

    fn subscribe(&mut self, flow: usize, resume: &Resume) {
        let raw = match resume {
            Resume::Fresh => None,
            Resume::From(c) => self
                .cursors
                .get(*c)
                .map(|c| c.cursor.position().to_string()),
            Resume::Raw(raw) => Some(raw.clone()),
        };
        let got = self
            .router
            .subscribe(&flow_id(flow), raw.as_deref(), self.now);
        if self.cursors.len() >= MAX_SUBSCRIBERS {
            assert_eq!(
                got.unwrap_err(),
                SubscribeError::TooManySubscribers {
                    limit: MAX_SUBSCRIBERS
                }
            );
            return;
        }
        if self.flows[flow].is_none() {
            self.wait(flow, raw.as_deref(), got);
            return;
        }
        let sub = got.unwrap();
        let f = self.flows[flow].as_ref().unwrap();
        let resumable = raw
            .as_deref()
            .and_then(EventId::parse)
            .filter(|id| id.epoch.0 == f.epoch && id.seq <= f.seq && f.evicted_through <= id.seq);
        let mut expected = b"retry: 3000\n\n".to_vec();
        match resumable {
            Some(id) => {
                assert!(
                    matches!(sub.start, Start::Resumed { .. }),
                    "{:?}",
                    sub.start
                );
                for (_, bytes) in f.ring.iter().filter(|(seq, _)| *seq > id.seq) {
                    expected.extend_from_slice(bytes);
                }
            }
            None => {
                assert!(!matches!(sub.start, Start::Resumed { .. }));
                expected.extend_from_slice(&f.snapshot_frame(flow));
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&sub.initial),
            String::from_utf8_lossy(&expected)
        );
        self.cursors.push(ModelCursor {
            cursor: sub.cursor,
            flow,
            incarnation: f.incarnation,
            seen: f.seq,
            waiting: None,
        });
    }

    /// A subscription to a flow without state: no flow is created; the cursor waits in the
    /// flow's wait group, which reserves the epoch of its first incarnation.
    fn wait(
        &mut self,
        flow: usize,
        raw: Option<&str>,
        got: Result<flow_router::Subscription, SubscribeError>,
    ) {
        if self.waiters() >= MAX_WAITERS {
            assert_eq!(
                got.unwrap_err(),
                SubscribeError::TooManyWaiters { limit: MAX_WAITERS }
            );
            return;
        }
        if self.waiting.iter().flatten().count() >= MAX_WAITERS {
            // The router forgets groups nobody waits in any more.
            for f in 0..FLOWS {
                let held = |g: u64| self.cursors.iter().any(|c| c.waiting == Some(g));
                if self.waiting[f].is_some_and(|(g, _)| !held(g)) {
                    self.waiting[f] = None;
                }
            }
        }
        let sub = got.unwrap();
        assert!(!self.router.contains(&flow_id(flow)));
        let (group, epoch) = match self.waiting[flow] {
            Some(group) => group,
            None => {
                self.groups += 1;
                let group = (self.groups, SEED + self.creations);
                self.creations += 1;
                self.waiting[flow] = Some(group);
                group
            }
        };
        let mut expected = b"retry: 3000\n\n".to_vec();
        if raw == Some(format!("{epoch:x}-0").as_str()) {
            assert_eq!(sub.start, Start::Resumed { replayed: 0 });
        } else {
            assert_eq!(sub.start, Start::Waiting);
            let json = RefFold::default().snapshot(flow).to_json();
            expected.extend_from_slice(&frame("snapshot", epoch, 0, &json));
        }
        assert_eq!(
            String::from_utf8_lossy(&sub.initial),
            String::from_utf8_lossy(&expected)
        );
        self.cursors.push(ModelCursor {
            cursor: sub.cursor,
            flow,
            incarnation: 0,
            seen: 0,
            waiting: Some(group),
        });
    }

    fn poll(&mut self, index: usize) {
        let Some(c) = self.cursors.get_mut(index) else {
            return;
        };
        let polled = self.router.poll(&mut c.cursor, self.now);
        if let Some(group) = c.waiting {
            match &self.flows[c.flow] {
                Some(f) if f.joined_group == Some(group) => {
                    c.waiting = None;
                    c.incarnation = f.incarnation;
                    c.seen = 0;
                }
                None if self.waiting[c.flow].is_some_and(|(g, _)| g == group) => {
                    assert_eq!(polled, Polled::Pending);
                    return;
                }
                _ => {
                    assert_eq!(polled, Polled::Closed);
                    return;
                }
            }
        }
        let live = self.flows[c.flow]
            .as_ref()
            .filter(|f| f.incarnation == c.incarnation);
        let Some(f) = live else {
            assert_eq!(polled, Polled::Closed);
            return;
        };
        let expected = if f.evicted_through > c.seen {
            c.seen = f.seq;
            Polled::Resync(Bytes::from(f.snapshot_frame(c.flow)))
        } else if let Some((seq, bytes)) = f.ring.iter().find(|(seq, _)| *seq > c.seen) {
            assert_eq!(*seq, c.seen + 1, "a silent gap");
            c.seen = *seq;
            Polled::Frame(Bytes::from(bytes.clone()))
        } else {
            Polled::Pending
        };
        assert_eq!(polled, expected);
        assert_eq!(c.cursor.position().seq, c.seen);
    }

    fn idle(&mut self) {
        self.now += IDLE;
        let mut evicted: Vec<String> = self
            .router
            .handle_timeout(self.now)
            .iter()
            .map(|id| id.to_string())
            .collect();
        evicted.sort();
        let mut expected = Vec::new();
        for flow in 0..FLOWS {
            let Some(f) = &self.flows[flow] else { continue };
            let watched = self
                .cursors
                .iter()
                .any(|c| c.waiting.is_none() && c.flow == flow && c.incarnation == f.incarnation);
            if !watched {
                expected.push(flow_id(flow));
                self.flows[flow] = None;
            }
        }
        assert_eq!(evicted, expected);
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Ingest(flow, message) => self.ingest(*flow, message),
            Op::Subscribe(flow, resume) => self.subscribe(*flow, resume),
            Op::Poll(index) => self.poll(*index),
            Op::Drop(index) => {
                if *index < self.cursors.len() {
                    self.cursors.swap_remove(*index);
                }
            }
            Op::Delete(flow) => {
                assert_eq!(
                    self.router.delete(&flow_id(*flow)),
                    self.flows[*flow].is_some()
                );
                self.flows[*flow] = None;
                self.waiting[*flow] = None;
            }
            Op::Idle => self.idle(),
        }
        self.check();
    }

    fn check(&self) {
        let stats = self.router.stats();
        assert_eq!(stats.flows, self.held());
        assert!(stats.flows <= MAX_FLOWS);
        assert_eq!(stats.subscribers, self.cursors.len());
        assert_eq!(stats.waiters, self.waiters());
        assert!(stats.waiters <= MAX_WAITERS);
        let flows = self.router.flows();
        assert_eq!(
            stats.memory_bytes,
            flows.iter().map(|info| info.bytes).sum::<usize>(),
            "the total is the sum of the flows' charges"
        );
        assert!(stats.memory_bytes <= stats.memory_limit);
        for (flow, f) in self.flows.iter().enumerate() {
            let id = flow_id(flow);
            // The head is the snapshot's position, without the state.
            assert_eq!(
                self.router.head(&id),
                self.router.snapshot(&id).map(|s| EventId {
                    epoch: s.epoch,
                    seq: s.seq
                })
            );
            let Some(f) = f else {
                assert!(!self.router.contains(&id));
                continue;
            };
            let info = self.router.flow(&id).unwrap();
            assert!(info.ring_frames <= CAPACITY && info.ring_bytes <= SHARE);
            assert!(info.state_bytes <= SHARE);
            assert_eq!(info.state_bytes, f.state.bytes());
            assert_eq!(
                (info.ring_frames, info.ring_bytes),
                (f.ring.len(), f.ring_bytes())
            );
            match self.router.snapshot(&id) {
                Some(snapshot) => {
                    assert_eq!(snapshot.message, f.fold.snapshot(flow));
                    assert_eq!(snapshot.seq, f.seq);
                }
                None => assert_eq!(f.seq, 0),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operations_match_the_model(ops in prop::collection::vec(op(), 1..80)) {
        let mut model = Model::new();
        for op in &ops {
            model.step(op);
        }
        // Drain everyone: ids strictly increase and the last one is the flow's seq.
        for index in 0..model.cursors.len() {
            for _ in 0..CAPACITY + 2 {
                model.poll(index);
            }
        }
    }
}
