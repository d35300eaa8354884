//! Publishers: each one keep-alive connection POSTing upsert-nodes messages, paced or flat out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::board::Board;
use crate::payload::{Payload, unix_micros};
use crate::plan::Plan;
use crate::target::{Pipeline, Post, Poster, RequestError, Target};

/// Posts one message to every flow so each exists (and has a seq) before subscribers connect.
pub(crate) async fn warm_up(
    target: &Target,
    flow_ids: &[Arc<str>],
    payload: &Payload,
    board: &Board,
) -> Result<(), RequestError> {
    let mut poster = Poster::connect(target).await?;
    for (flow, id) in flow_ids.iter().enumerate() {
        let seq = poster.post(id, payload.body(id, 0, unix_micros())).await?;
        board.saw_seq(flow, seq);
    }
    Ok(())
}

/// Which flow and node publisher `publisher` uses for its `i`th message.
pub(crate) fn route(plan: &Plan, publisher: usize, i: usize) -> (usize, usize) {
    let global = i * plan.publishers.max(1) + publisher;
    (global % plan.flows, (global / plan.flows) % plan.node_ids)
}

/// The instant the `i`th message of one publisher is due at `per_publisher` messages/s.
pub(crate) fn due(start: Instant, i: usize, per_publisher: f64) -> Instant {
    start + Duration::from_secs_f64(i as f64 / per_publisher)
}

/// The open connection in `slot`, dialled first if there is none. A failed dial counts as a
/// failed POST and pauses 10 ms before `None` (the caller tries again).
async fn reconnect<'s, C, F>(
    slot: &'s mut Option<C>,
    connect: impl FnOnce() -> F,
    board: &Board,
) -> Option<&'s mut C>
where
    F: Future<Output = Result<C, RequestError>>,
{
    if slot.is_none() {
        match connect().await {
            Ok(connection) => *slot = Some(connection),
            Err(error) => {
                board.error(format!("post {}", error.kind()));
                board.failed.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
                return None;
            }
        }
    }
    slot.as_mut()
}

/// Runs publisher `index` from `start` until `deadline`; the round-trip times (µs) of its
/// accepted POSTs.
pub(crate) async fn run_publisher(
    target: Arc<Target>,
    index: usize,
    plan: Arc<Plan>,
    flow_ids: Arc<[Arc<str>]>,
    board: Arc<Board>,
    start: Instant,
    deadline: Instant,
) -> Vec<u64> {
    let payload = Payload::new(plan.size);
    let per_publisher = plan.rate as f64 / plan.publishers.max(1) as f64;
    let mut rtts = Vec::new();
    let mut poster: Option<Poster> = None;
    let mut i = 0_usize;
    while Instant::now() < deadline {
        if plan.rate > 0 {
            let at = due(start, i, per_publisher);
            if at >= deadline {
                break;
            }
            sleep_until(at).await;
        }
        let Some(connection) = reconnect(&mut poster, || Poster::connect(&target), &board).await
        else {
            continue;
        };
        let (flow, node) = route(&plan, index, i);
        i += 1;
        let sent = std::time::Instant::now();
        match connection
            .post(
                &flow_ids[flow],
                payload.body(&flow_ids[flow], node, unix_micros()),
            )
            .await
        {
            Ok(seq) => {
                rtts.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                board.saw_seq(flow, seq);
                board.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                board.error(format!("post {}", error.kind()));
                board.failed.fetch_add(1, Ordering::Relaxed);
                if matches!(error, RequestError::Http(_) | RequestError::Io(_)) {
                    poster = None;
                }
            }
        }
    }
    rtts
}

/// Runs publisher `index` with `plan.pipeline` POSTs in flight, flat out until `deadline`;
/// the round-trip times (µs) of its accepted POSTs, each from its batch's write to its answer.
pub(crate) async fn run_pipelined_publisher(
    target: Arc<Target>,
    index: usize,
    plan: Arc<Plan>,
    flow_ids: Arc<[Arc<str>]>,
    board: Arc<Board>,
    deadline: Instant,
) -> Vec<u64> {
    let payload = Payload::new(plan.size);
    let mut rtts = Vec::new();
    let mut connection: Option<Pipeline> = None;
    let mut i = 0_usize;
    while Instant::now() < deadline {
        let Some(pipeline) =
            reconnect(&mut connection, || Pipeline::connect(&target), &board).await
        else {
            continue;
        };
        let flows: Vec<usize> = (i..i + plan.pipeline)
            .map(|n| route(&plan, index, n).0)
            .collect();
        let batch: Vec<Post<'_>> = (i..i + plan.pipeline)
            .map(|n| {
                let (flow, node) = route(&plan, index, n);
                Post {
                    flow: &flow_ids[flow],
                    body: payload.body(&flow_ids[flow], node, unix_micros()),
                }
            })
            .collect();
        i += plan.pipeline;
        let sent = std::time::Instant::now();
        let mut answers = 0;
        let result = pipeline
            .post_batch(&batch, &mut |at, outcome| {
                answers += 1;
                match outcome {
                    Ok(seq) => {
                        rtts.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                        board.saw_seq(flows[at], seq);
                        board.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => {
                        board.error(format!("post {}", error.kind()));
                        board.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .await;
        if let Err(error) = result {
            // The connection failed: every POST of the batch not answered is a failure.
            board.error(format!("post {}", error.kind()));
            board
                .failed
                .fetch_add((batch.len() - answers) as u64, Ordering::Relaxed);
            connection = None;
        }
    }
    rtts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Cli, Command};
    use clap::Parser as _;

    fn plan(p: &str, f: &str) -> Plan {
        let cli =
            Cli::try_parse_from(["flow-load", "run", "-P", p, "-F", f, "--node-ids", "3"]).unwrap();
        let Command::Run(args) = cli.command else {
            unreachable!("parsed a run")
        };
        Plan::from_args(&args).unwrap()
    }

    #[test]
    fn publishers_spread_over_flows_and_nodes() {
        let plan = plan("2", "4");
        let routes: Vec<_> = (0..4).map(|i| route(&plan, 0, i)).collect();
        assert_eq!(routes, vec![(0, 0), (2, 0), (0, 1), (2, 1)]);
        assert_eq!(route(&plan, 1, 0), (1, 0));
        let single = plan_one();
        assert_eq!(
            (0..4).map(|i| route(&single, 0, i)).collect::<Vec<_>>(),
            vec![(0, 0), (0, 1), (0, 2), (0, 0)]
        );
    }

    fn plan_one() -> Plan {
        plan("1", "1")
    }

    #[test]
    fn pacing_spreads_messages_evenly() {
        let start = Instant::now();
        assert_eq!(due(start, 0, 100.0), start);
        assert_eq!(due(start, 50, 100.0), start + Duration::from_millis(500));
    }
}
