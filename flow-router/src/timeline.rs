//! What made a flow slow: per-node duration and wait, the critical path, the total duration.
//!
//! A pure function of the nodes, the relationships and `now` (unix milliseconds, an input:
//! no clock is read here). The live page runs the same rules in JavaScript
//! (`bins/openova-flow-server/ui/timeline.mjs`); both are checked against the golden graphs in
//! `testdata/timeline/`, so the two cannot drift.
//!
//! The rules:
//!
//! - A node is **timed** when it has `startedAt`. Its end is `endedAt` (never before its
//!   start); a timed node without `endedAt` is **running** and ends at `now` (never before its
//!   start). Untimed nodes (pending, or times missing) get no figures and are never on the path.
//! - Only `finish-to-start` relationships whose both ends are nodes of the flow count (an end
//!   whose `fromFlowId`/`toFlowId` names another flow than its node's is another flow's node):
//!   `fromId` must finish before `toId` starts. A cycle among them is refused ([`TimelineError::Cycle`]).
//! - The flow starts at the earliest start and ends at the latest end of its timed nodes;
//!   `durationMs` is the difference (0 without timed nodes).
//! - A timed node's **wait** is the time from the flow's start until its last timed
//!   dependency ended (0 without one), never more than the time until it started itself.
//! - The **critical path** ends at the node that has been running longest (the earliest
//!   start among running nodes) when the flow runs, otherwise at the node that ended last
//!   (ties: the earlier start). From there it follows, backwards, the timed dependency that
//!   ended last, until a node has none. Remaining ties go to the smaller id.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use flow_contract::{FlowNode, RelType, Relationship};
use serde::Serialize;

/// Why a flow could not be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimelineError {
    /// The `finish-to-start` relationships form a cycle, so no node on it could ever start.
    #[error("finish-to-start relationships form a cycle: {}", nodes.join(" -> "))]
    Cycle {
        /// The ids on the cycle, in edge order, starting with the node where it was found
        /// (a depth-first search over ids in ascending order).
        nodes: Vec<String>,
    },
}

/// The times of one node, as the analysis sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTiming {
    /// The node id.
    pub id: String,
    /// When it started (absent: untimed).
    pub started_at: Option<u64>,
    /// When it ended (absent while running or untimed).
    pub ended_at: Option<u64>,
    /// Start to end, or to `now` while running.
    pub duration_ms: Option<u64>,
    /// Time from the flow's start until its dependencies had ended (see the module docs).
    pub wait_ms: Option<u64>,
}

/// The analysis of one flow at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// From the earliest start to the latest end (or `now` while running) of the timed nodes.
    pub duration_ms: u64,
    /// Whether some timed node is still running.
    pub running: bool,
    /// Every node, in id order.
    pub nodes: Vec<NodeTiming>,
    /// The ids on the critical path, first to last.
    pub path: Vec<String>,
}

impl Timeline {
    /// Analyses a flow's nodes and relationships at `now` (unix milliseconds).
    ///
    /// ```
    /// use flow_contract::{FlowMessage, decode};
    /// use flow_router::Timeline;
    ///
    /// let FlowMessage::Snapshot { nodes, relationships, .. } = decode(br#"{"type":"snapshot",
    ///     "flow":{"id":"f","status":"succeeded","startedAt":0},
    ///     "nodes":[{"id":"a","flowId":"f","label":"a","status":"succeeded","startedAt":0,"endedAt":10},
    ///              {"id":"b","flowId":"f","label":"b","status":"succeeded","startedAt":12,"endedAt":30}],
    ///     "relationships":[{"fromId":"a","toId":"b","type":"finish-to-start"}]}"#, "f")?
    /// else { unreachable!() };
    /// let timeline = Timeline::analyse(&nodes, &relationships, 40)?;
    /// assert_eq!(timeline.duration_ms, 30);
    /// assert_eq!(timeline.path, ["a", "b"]);
    /// assert_eq!(timeline.nodes[1].wait_ms, Some(10), "b waited for a until 10");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`TimelineError::Cycle`] when the `finish-to-start` relationships form a cycle.
    pub fn analyse<'a>(
        nodes: impl IntoIterator<Item = &'a FlowNode>,
        relationships: impl IntoIterator<Item = &'a Relationship>,
        now: u64,
    ) -> Result<Self, TimelineError> {
        let nodes: BTreeMap<&str, &FlowNode> =
            nodes.into_iter().map(|n| (n.id.as_str(), n)).collect();
        let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for rel in relationships {
            let (from, to) = (rel.from_id.as_str(), rel.to_id.as_str());
            // An end names another flow's node when its flow id is given and differs.
            let local = |id: &str, flow: Option<&String>| {
                nodes
                    .get(id)
                    .is_some_and(|n| flow.is_none_or(|f| *f == n.flow_id))
            };
            if rel.rel_type == RelType::FinishToStart
                && local(from, rel.from_flow_id.as_ref())
                && local(to, rel.to_flow_id.as_ref())
            {
                deps.entry(to).or_default().push(from);
                next.entry(from).or_default().push(to);
            }
        }
        for list in deps.values_mut().chain(next.values_mut()) {
            list.sort_unstable();
            list.dedup();
        }
        if let Some(cycle) = find_cycle(nodes.keys().copied(), &next) {
            return Err(TimelineError::Cycle {
                nodes: cycle.into_iter().map(str::to_owned).collect(),
            });
        }

        // (start, end, running) of the timed nodes.
        let spans: BTreeMap<&str, (u64, u64, bool)> = nodes
            .iter()
            .filter_map(|(&id, node)| {
                let start = node.started_at?;
                Some(match node.ended_at {
                    Some(end) => (id, (start, end.max(start), false)),
                    None => (id, (start, now.max(start), true)),
                })
            })
            .collect();
        let flow_start = spans.values().map(|s| s.0).min().unwrap_or(0);
        let flow_end = spans.values().map(|s| s.1).max().unwrap_or(0);
        let running = spans.values().any(|s| s.2);
        let timed_deps = |id: &str| {
            deps.get(id)
                .into_iter()
                .flatten()
                .filter_map(|d| spans.get(d).map(|s| (*d, s.1)))
        };

        let timings = nodes
            .keys()
            .map(|&id| {
                let span = spans.get(id);
                NodeTiming {
                    id: id.to_owned(),
                    started_at: span.map(|s| s.0),
                    ended_at: span.filter(|s| !s.2).map(|s| s.1),
                    duration_ms: span.map(|s| s.1 - s.0),
                    wait_ms: span.map(|&(start, ..)| {
                        let ready = timed_deps(id).map(|d| d.1).max().unwrap_or(flow_start);
                        ready.clamp(flow_start, start) - flow_start
                    }),
                }
            })
            .collect();

        let last = if running {
            spans
                .iter()
                .filter(|(_, s)| s.2)
                .min_by_key(|(id, s)| (s.0, **id))
        } else {
            spans.iter().min_by_key(|(id, s)| (Reverse(s.1), s.0, **id))
        };
        let mut path = Vec::new();
        let mut at = last.map(|(id, _)| *id);
        while let Some(id) = at {
            path.push(id.to_owned());
            at = timed_deps(id)
                .min_by_key(|&(dep, end)| (Reverse(end), dep))
                .map(|(dep, _)| dep);
        }
        path.reverse();

        Ok(Self {
            duration_ms: flow_end - flow_start,
            running,
            nodes: timings,
            path,
        })
    }
}

/// The first cycle a depth-first search meets, visiting roots and successors in id order.
fn find_cycle<'a>(
    ids: impl Iterator<Item = &'a str>,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
) -> Option<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnStack,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for root in ids {
        if marks.contains_key(root) {
            continue;
        }
        // An explicit stack of (node, index of the next successor to visit): no recursion, so
        // a long chain cannot overflow the thread's stack.
        let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
        marks.insert(root, Mark::OnStack);
        while let Some((id, child)) = stack.last_mut() {
            let successors = next.get(*id).map_or(&[][..], Vec::as_slice);
            let Some(&succ) = successors.get(*child) else {
                marks.insert(*id, Mark::Done);
                stack.pop();
                continue;
            };
            *child += 1;
            match marks.get(succ) {
                Some(Mark::Done) => {}
                Some(Mark::OnStack) => {
                    // `succ` is marked on-stack, so it is on the stack.
                    let from = stack.iter().position(|(n, _)| *n == succ).unwrap_or(0);
                    return Some(stack[from..].iter().map(|(n, _)| *n).collect());
                }
                None => {
                    marks.insert(succ, Mark::OnStack);
                    stack.push((succ, 0));
                }
            }
        }
    }
    None
}
