//! One run, start to end: warm up, connect subscribers, publish for the window, drain, settle.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

use crate::baseline::{Baseline, Shape};
use crate::baseline_process::BaselineProcess;
use crate::board::Board;
use crate::payload::{Payload, unix_micros};
use crate::plan::Plan;
use crate::publisher::{run_pipelined_publisher, run_publisher, warm_up};
use crate::report::{
    CpuReport, DeliveryReport, Percentiles, PublishReport, Report, RssReport, per_second,
};
use crate::server::{cpu_time, rss_kib};
use crate::subscriber::{SubscriberOutcome, SubscriberSpec, run_subscriber};
use crate::target::Target;

/// Streams being opened at once (the rest wait), so the listen backlog never overflows.
const CONNECT_CONCURRENCY: usize = 256;

/// What the run loads.
#[derive(Debug)]
pub(crate) enum Mode {
    /// A real server.
    Server {
        /// Its address.
        target: Target,
        /// Where subscribers connect, when not `target`.
        subscribe_target: Option<Target>,
        /// Its pid, for RSS.
        pid: Option<u32>,
    },
    /// The raw baseline writer, in the shape [`baseline_shape`] picks for the plan.
    Baseline {
        /// The batched writer runs in a child process ([`BaselineProcess`]), not in this one.
        process: bool,
    },
}

/// The baseline writer of a run.
enum Writer {
    InProcess(Baseline),
    Child(Box<BaselineProcess>),
}

/// Runs `plan` against `mode`.
pub(crate) async fn run(
    plan: Arc<Plan>,
    mode: Mode,
    quiet: bool,
    publisher_runtime: &tokio::runtime::Handle,
) -> anyhow::Result<Report> {
    // The batched baseline streams one flow to every subscriber by itself; the sparse one is
    // driven by the publishers like a server; without subscribers it answers POSTs.
    let stream_baseline = matches!(mode, Mode::Baseline { .. })
        && plan.subscribers() > 0
        && baseline_shape(&plan) == Shape::Batched;
    if matches!(mode, Mode::Baseline { process: true }) && !stream_baseline {
        bail!("--baseline-process runs the batched baseline only: one flow with subscribers");
    }
    let flows = if stream_baseline { 1 } else { plan.flows };
    let board = Arc::new(Board::new(flows));
    let run_id = format!("{:x}", unix_micros());
    let flow_ids: Arc<[Arc<str>]> = (0..flows)
        .map(|i| Arc::from(format!("load-{run_id}-{i}")))
        .collect();
    let (target, subscribe_target, pid, baseline, label) = match mode {
        Mode::Server {
            target,
            subscribe_target,
            pid,
        } => {
            warm_up(&target, &flow_ids, &Payload::new(plan.size), &board)
                .await
                .with_context(|| format!("warm-up POST to {}", target.host))?;
            let label = match &subscribe_target {
                Some(other) => format!(
                    "http://{} (subscribers on http://{})",
                    target.host, other.host
                ),
                None => format!("http://{}", target.host),
            };
            let target = Arc::new(target);
            let subscribe_target = subscribe_target.map_or_else(|| Arc::clone(&target), Arc::new);
            (target, subscribe_target, pid, None, label)
        }
        Mode::Baseline { process } => {
            let (writer, addr) = if process {
                let child = BaselineProcess::start().await?;
                let addr = child.addr;
                (Writer::Child(Box::new(child)), addr)
            } else {
                let baseline = Baseline::start(Arc::clone(&board), baseline_shape(&plan))
                    .await
                    .context("binding the baseline listener")?;
                let addr = baseline.addr;
                (Writer::InProcess(baseline), addr)
            };
            let target = Arc::new(Target::local(addr));
            let label = if process {
                "baseline (child process)"
            } else {
                "baseline"
            };
            (
                Arc::clone(&target),
                target,
                None,
                Some(writer),
                label.to_owned(),
            )
        }
    };
    let rss_before = pid.and_then(rss_kib);

    let total_subscribers = plan.subscribers();
    let connect_started = Instant::now();
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut subscribers = JoinSet::new();
    for index in 0..total_subscribers {
        let flow = index % flows;
        let spec = SubscriberSpec {
            index,
            flow,
            flow_id: Arc::clone(&flow_ids[flow]),
            sample: plan.samples(index),
            churn: plan.churn,
        };
        subscribers.spawn(run_subscriber(
            Arc::clone(&subscribe_target),
            spec,
            Arc::clone(&board),
            Arc::clone(&gate),
            ready_tx.clone(),
        ));
    }
    drop(ready_tx);
    let connect_deadline = connect_started + plan.connect_timeout;
    let mut connected = 0_usize;
    let mut answered = 0_usize;
    while answered < total_subscribers {
        match timeout_at(connect_deadline, ready_rx.recv()).await {
            Ok(Some(ok)) => {
                answered += 1;
                connected += usize::from(ok);
            }
            Ok(None) => break,
            Err(_) => {
                board.error("subscriber connect timeout");
                break;
            }
        }
    }
    let connect_s = connect_started.elapsed().as_secs_f64();
    if total_subscribers > 0 && connected == 0 {
        let errors = board.errors();
        bail!("no subscriber could connect: {errors:?}");
    }
    let rss_connected = pid.and_then(rss_kib);

    let own_pid = std::process::id();
    let cpu_start = pid.and_then(cpu_time).zip(cpu_time(own_pid));
    let start = Instant::now();
    let deadline = start + plan.duration;
    let progress = (!quiet).then(|| tokio::spawn(progress(Arc::clone(&board), start)));
    let mut rtts = Vec::new();
    let mut child = None;
    if let Some(writer) = baseline.filter(|_| stream_baseline) {
        match writer {
            Writer::InProcess(baseline) => {
                baseline
                    .produce(&board, plan.size, plan.rate, deadline)
                    .await;
            }
            Writer::Child(mut process) => {
                process
                    .produce(&board, plan.size, plan.rate, deadline)
                    .await?;
                child = Some(process);
            }
        }
    } else if plan.publishers == 0 {
        tokio::time::sleep_until(deadline).await;
    } else {
        let mut publishers = JoinSet::new();
        for index in 0..plan.publishers {
            let (target, plan, flow_ids, board) = (
                Arc::clone(&target),
                Arc::clone(&plan),
                Arc::clone(&flow_ids),
                Arc::clone(&board),
            );
            if plan.pipeline > 1 {
                publishers.spawn_on(
                    run_pipelined_publisher(target, index, plan, flow_ids, board, deadline),
                    publisher_runtime,
                );
            } else {
                publishers.spawn_on(
                    run_publisher(target, index, plan, flow_ids, board, start, deadline),
                    publisher_runtime,
                );
            }
        }
        while let Some(done) = publishers.join_next().await {
            rtts.extend(done.context("publisher task")?);
        }
    }
    let window_s = start.elapsed().as_secs_f64();
    let cpu_end = pid.and_then(cpu_time).zip(cpu_time(own_pid));
    let rss_after = pid.and_then(rss_kib);
    let drain_deadline = Instant::now() + plan.drain;
    board.publish_finals(drain_deadline);

    let mut delivery = DeliveryReport {
        subscribers: total_subscribers,
        connected,
        connect_s,
        drained: true,
        ..DeliveryReport::default()
    };
    let mut latencies = Vec::new();
    let mut last_finish = start;
    while let Some(done) = subscribers.join_next().await {
        let outcome: SubscriberOutcome = done.context("subscriber task")?;
        delivery.add(outcome.settled);
        latencies.extend(outcome.latencies);
        match outcome.finished_at {
            Some(at) => last_finish = last_finish.max(at),
            None => {
                delivery.drained = false;
                last_finish = last_finish.max(drain_deadline.min(Instant::now()));
            }
        }
    }
    if let Some(process) = child {
        process.finish(&board).await?;
    }
    delivery.streams_opened = board.streams_opened.load(Ordering::SeqCst);
    if let Some(task) = progress {
        task.abort();
    }
    let delivery_s = if total_subscribers == 0 {
        window_s
    } else {
        (last_finish - start).as_secs_f64()
    };
    delivery.finish(delivery_s);

    let accepted = board.accepted.load(Ordering::SeqCst);
    let publish = PublishReport {
        accepted,
        failed: board.failed.load(Ordering::SeqCst),
        accepted_per_s: per_second(accepted, window_s),
        window_s,
        post_rtt_us: Percentiles::of(&mut rtts),
    };
    let server_rss = rss_before.map(|before_kib| {
        let mut rss = RssReport {
            before_kib,
            connected_kib: rss_connected.unwrap_or(0),
            after_kib: rss_after.unwrap_or(0),
            per_subscriber_bytes: 0,
        };
        rss.finish(connected);
        rss
    });
    Ok(Report {
        scenario: format!("{:?}", plan.preset).to_lowercase(),
        target: label,
        plan: (*plan).clone(),
        publish,
        delivery,
        latency_us: Percentiles::of(&mut latencies),
        server_rss,
        cpu: cpu_start
            .zip(cpu_end)
            .map(|((server0, tool0), (server1, tool1))| {
                CpuReport::between(
                    (server0, server1),
                    (tool0, tool1),
                    accepted,
                    plan.subscribers_per_flow,
                    window_s,
                )
            }),
        errors: board.errors(),
        baseline: None,
    })
}

/// The baseline for `plan`'s shape: one flow is fed flat out in batches (the machine's limit
/// for a hot flow); several flows with subscribers are fed by the plan's own publishers, one
/// write per frame per subscriber (the limit for frames that arrive one at a time, as in
/// `mixed`). Without subscribers the baseline only answers POSTs, as cheaply as it can.
pub(crate) fn baseline_shape(plan: &Plan) -> Shape {
    if plan.flows > 1 && plan.publishers > 0 && plan.subscribers_per_flow > 0 {
        Shape::Sparse
    } else {
        Shape::Batched
    }
}

/// Prints one line per second to stderr.
async fn progress(board: Arc<Board>, start: Instant) {
    let mut tick = tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let (mut accepted, mut frames) = (0, 0);
    loop {
        tick.tick().await;
        let (a, f) = (
            board.accepted.load(Ordering::Relaxed),
            board.frames.load(Ordering::Relaxed),
        );
        eprintln!(
            "[{:>6.1}s] accepted {:>9}/s  frames {:>10}/s  open streams {:>6}  errors {}",
            start.elapsed().as_secs_f64(),
            a - accepted,
            f - frames,
            board.open_streams.load(Ordering::Relaxed),
            board.error_count()
        );
        (accepted, frames) = (a, f);
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::plan::{Cli, Command};

    fn plan(line: &[&str]) -> Plan {
        let mut full = vec!["flow-load", "run"];
        full.extend_from_slice(line);
        let Command::Run(args) = Cli::try_parse_from(full).unwrap().command else {
            unreachable!("parsed a run")
        };
        Plan::from_args(&args).unwrap()
    }

    #[test]
    fn the_baseline_follows_the_shape() {
        assert_eq!(
            baseline_shape(&plan(&["--preset", "fanout"])),
            Shape::Batched
        );
        assert_eq!(baseline_shape(&plan(&["--preset", "mixed"])), Shape::Sparse);
        assert_eq!(
            baseline_shape(&plan(&["--preset", "ingest"])),
            Shape::Batched,
            "POSTs without subscribers are answered without building frames"
        );
        assert_eq!(
            baseline_shape(&plan(&["--preset", "idle", "-F", "3"])),
            Shape::Batched
        );
    }
}
