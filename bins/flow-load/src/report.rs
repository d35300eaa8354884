//! The run report: JSON for machines, a short table for people, and the math behind both.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::baseline::Shape;
use crate::plan::Plan;
use crate::run::baseline_shape;
use crate::server::CpuTime;
use crate::tally::Settled;

/// Nearest-rank percentiles of a set of samples (microseconds).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Percentiles {
    /// Number of samples.
    pub(crate) samples: usize,
    /// Median.
    pub(crate) p50: u64,
    /// 99th percentile.
    pub(crate) p99: u64,
    /// Largest sample.
    pub(crate) max: u64,
}

impl Percentiles {
    /// Computes the percentiles; sorts `samples` in place. All zero for no samples.
    pub(crate) fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        Self {
            samples: samples.len(),
            p50: rank(samples, 50),
            p99: rank(samples, 99),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank `pct` percentile of sorted samples.
fn rank(sorted: &[u64], pct: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = (pct * sorted.len()).div_ceil(100).max(1) - 1;
    sorted[index.min(sorted.len() - 1)]
}

/// A count per second over `seconds` (0 for an empty interval).
pub(crate) fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// `part / whole`, 1 when nothing was expected.
pub(crate) fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// What the publishers achieved.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct PublishReport {
    /// POSTs answered 200.
    pub(crate) accepted: u64,
    /// POSTs that failed (any status other than 200, or an I/O error).
    pub(crate) failed: u64,
    /// Accepted events per second over the publish window.
    pub(crate) accepted_per_s: f64,
    /// The publish window in seconds.
    pub(crate) window_s: f64,
    /// Round-trip time of accepted POSTs.
    pub(crate) post_rtt_us: Percentiles,
}

/// What the subscribers received.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct DeliveryReport {
    /// Subscribers asked for.
    pub(crate) subscribers: usize,
    /// Subscribers whose stream opened and sent its first frame.
    pub(crate) connected: usize,
    /// Seconds until every subscriber had its first frame.
    pub(crate) connect_s: f64,
    /// Streams opened, churn reconnects included.
    pub(crate) streams_opened: u64,
    /// Event frames delivered (snapshots and heartbeats excluded).
    pub(crate) frames: u64,
    /// Frames per second from the start of publishing until the last subscriber was drained.
    pub(crate) frames_per_s: f64,
    /// Seconds from the start of publishing until every subscriber had the final seq.
    pub(crate) delivery_s: f64,
    /// True if every subscriber reached its flow's final seq before the drain deadline.
    pub(crate) drained: bool,
    /// Events the subscribers should have received, summed.
    pub(crate) expected: u64,
    /// `frames / expected`.
    pub(crate) delivered_ratio: f64,
    /// Events neither delivered nor covered by a resync snapshot.
    pub(crate) lost: u64,
    /// Resync snapshots received after the first frame.
    pub(crate) resyncs: u64,
    /// Events covered by resync snapshots instead of frames.
    pub(crate) resync_covered: u64,
    /// Frames whose seq was not above the previous one.
    pub(crate) duplicates: u64,
    /// Heartbeat frames.
    pub(crate) heartbeats: u64,
}

impl DeliveryReport {
    /// Adds one settled subscriber.
    pub(crate) fn add(&mut self, settled: Settled) {
        self.frames += settled.delivered;
        self.expected += settled.expected;
        self.lost += settled.lost;
        self.resyncs += settled.resyncs;
        self.resync_covered += settled.resync_covered;
        self.duplicates += settled.duplicates;
        self.heartbeats += settled.heartbeats;
    }

    /// Fills the rates once the totals and the delivery time are known.
    pub(crate) fn finish(&mut self, delivery_s: f64) {
        self.delivery_s = delivery_s;
        self.frames_per_s = per_second(self.frames, delivery_s);
        self.delivered_ratio = ratio(self.frames, self.expected);
    }
}

/// Resident memory of the server process, from `/proc/<pid>/status` `VmRSS`.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct RssReport {
    /// Before any subscriber connected (flows already created).
    pub(crate) before_kib: u64,
    /// Once every subscriber had its first frame.
    pub(crate) connected_kib: u64,
    /// After publishing stopped.
    pub(crate) after_kib: u64,
    /// `(connected - before) / subscribers`, in bytes.
    pub(crate) per_subscriber_bytes: u64,
}

impl RssReport {
    /// Fills `per_subscriber_bytes`.
    pub(crate) fn finish(&mut self, subscribers: usize) {
        let grown = self.connected_kib.saturating_sub(self.before_kib) * 1024;
        self.per_subscriber_bytes = u64::try_from(subscribers)
            .ok()
            .filter(|s| *s > 0)
            .map_or(0, |s| grown / s);
    }
}

/// CPU time used during the publish window, by the server and by this tool.
#[derive(Debug, Default, Clone, Serialize)]
pub(crate) struct CpuReport {
    /// Server CPU in user space, milliseconds.
    pub(crate) server_user_ms: u64,
    /// Server CPU in the kernel, milliseconds.
    pub(crate) server_system_ms: u64,
    /// Server CPU (user + kernel) per accepted event, microseconds.
    pub(crate) server_us_per_event: f64,
    /// Server CPU per delivered frame, microseconds: per event divided by the subscribers of
    /// its flow (0 without subscribers).
    pub(crate) server_us_per_frame: f64,
    /// Server cores busy on average: CPU time / window.
    pub(crate) server_cores: f64,
    /// This tool's CPU (user + kernel) per accepted event, microseconds.
    pub(crate) tool_us_per_event: f64,
}

impl CpuReport {
    /// From the server's and the tool's CPU times at the start and the end of the window, in
    /// which `accepted` events were each delivered to `fan_out` subscribers.
    pub(crate) fn between(
        server: (CpuTime, CpuTime),
        tool: (CpuTime, CpuTime),
        accepted: u64,
        fan_out: usize,
        window_s: f64,
    ) -> Self {
        let spent = |(start, end): (CpuTime, CpuTime)| {
            (
                end.user_ms.saturating_sub(start.user_ms),
                end.system_ms.saturating_sub(start.system_ms),
            )
        };
        let per_event = |ms: u64| {
            if accepted == 0 {
                0.0
            } else {
                ms as f64 * 1000.0 / accepted as f64
            }
        };
        let (user, system) = spent(server);
        let (tool_user, tool_system) = spent(tool);
        Self {
            server_user_ms: user,
            server_system_ms: system,
            server_us_per_event: per_event(user + system),
            server_us_per_frame: if fan_out == 0 {
                0.0
            } else {
                per_event(user + system) / fan_out as f64
            },
            server_cores: if window_s > 0.0 {
                (user + system) as f64 / 1000.0 / window_s
            } else {
                0.0
            },
            tool_us_per_event: per_event(tool_user + tool_system),
        }
    }
}

/// The raw TCP baseline measured in the same invocation.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BaselineComparison {
    /// How the baseline produced its frames.
    pub(crate) shape: Shape,
    /// The baseline's frames per second (runs with subscribers).
    pub(crate) frames_per_s: f64,
    /// The baseline's answered POSTs per second (runs without subscribers).
    pub(crate) accepted_per_s: f64,
    /// The baseline's loss (must be 0).
    pub(crate) lost: u64,
    /// Our frames/s (or, without subscribers, accepted/s) as a fraction of the baseline's.
    pub(crate) fraction: f64,
}

impl BaselineComparison {
    /// Compares `ours` with the `baseline` run of the same plan.
    pub(crate) fn of(ours: &Report, baseline: &Report) -> Self {
        let (mine, limit) = if ours.delivery.subscribers > 0 {
            (ours.delivery.frames_per_s, baseline.delivery.frames_per_s)
        } else {
            (ours.publish.accepted_per_s, baseline.publish.accepted_per_s)
        };
        Self {
            shape: baseline_shape(&baseline.plan),
            frames_per_s: baseline.delivery.frames_per_s,
            accepted_per_s: baseline.publish.accepted_per_s,
            lost: baseline.delivery.lost,
            fraction: if limit > 0.0 { mine / limit } else { 0.0 },
        }
    }
}

/// The whole report of one run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// The preset (or `custom`, `baseline`).
    pub(crate) scenario: String,
    /// The server URL, or `baseline` for the raw TCP writer.
    pub(crate) target: String,
    /// The parameters the run used.
    pub(crate) plan: Plan,
    /// Publisher figures.
    pub(crate) publish: PublishReport,
    /// Subscriber figures.
    pub(crate) delivery: DeliveryReport,
    /// End-to-end latency from `meta.publishedAt` to receipt, sampled subscribers only.
    pub(crate) latency_us: Percentiles,
    /// Server memory, when its pid is known.
    pub(crate) server_rss: Option<RssReport>,
    /// CPU time during the publish window, when the server's pid is known.
    pub(crate) cpu: Option<CpuReport>,
    /// Errors by kind.
    pub(crate) errors: BTreeMap<String, u64>,
    /// The baseline of the same shape, when `--baseline` was given.
    pub(crate) baseline: Option<BaselineComparison>,
}

impl Report {
    /// Events lost plus failed POSTs plus errors: zero for a clean run.
    pub(crate) fn is_clean(&self) -> bool {
        self.delivery.lost == 0
            && self.publish.failed == 0
            && self.errors.is_empty()
            && self.delivery.connected == self.delivery.subscribers
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.delivery;
        let p = &self.publish;
        let l = &self.latency_us;
        writeln!(
            f,
            "scenario {}  target {}  P={} F={} S={}/flow size={}B rate={} duration={:.1}s",
            self.scenario,
            self.target,
            self.plan.publishers,
            self.plan.flows,
            self.plan.subscribers_per_flow,
            self.plan.size,
            if self.plan.rate == 0 {
                "max".to_owned()
            } else {
                format!("{}/s", self.plan.rate)
            },
            self.plan.duration.as_secs_f64(),
        )?;
        writeln!(
            f,
            "  accepted   {:>12.0} events/s  ({} ok, {} failed, POST rtt p50 {} us p99 {} us)",
            p.accepted_per_s, p.accepted, p.failed, p.post_rtt_us.p50, p.post_rtt_us.p99
        )?;
        writeln!(
            f,
            "  delivered  {:>12.0} frames/s  ({} / {} expected = {:.6}, lost {}, resyncs {}, drained {})",
            d.frames_per_s, d.frames, d.expected, d.delivered_ratio, d.lost, d.resyncs, d.drained
        )?;
        writeln!(
            f,
            "  latency    p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples)",
            l.p50 as f64 / 1000.0,
            l.p99 as f64 / 1000.0,
            l.max as f64 / 1000.0,
            l.samples
        )?;
        writeln!(
            f,
            "  subscribers {} / {} connected in {:.2}s ({} streams opened)",
            d.connected, d.subscribers, d.connect_s, d.streams_opened
        )?;
        if let Some(rss) = &self.server_rss {
            writeln!(
                f,
                "  server RSS before {} KiB, connected {} KiB, after {} KiB ({} B per subscriber)",
                rss.before_kib, rss.connected_kib, rss.after_kib, rss.per_subscriber_bytes
            )?;
        }
        if let Some(cpu) = &self.cpu {
            writeln!(
                f,
                "  server CPU {:.2} cores ({} ms user, {} ms kernel) = {:.1} us per event, {:.2} us per frame; this tool {:.1} us per event",
                cpu.server_cores,
                cpu.server_user_ms,
                cpu.server_system_ms,
                cpu.server_us_per_event,
                cpu.server_us_per_frame,
                cpu.tool_us_per_event
            )?;
        }
        if let Some(b) = &self.baseline {
            let (rate, unit) = if d.subscribers > 0 {
                (b.frames_per_s, "frames/s")
            } else {
                (b.accepted_per_s, "events/s")
            };
            writeln!(
                f,
                "  baseline   {rate:>12.0} {unit}  ({:?}; ours = {:.1}% of it, baseline lost {})",
                b.shape,
                b.fraction * 100.0,
                b.lost
            )?;
        }
        if !self.errors.is_empty() {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            writeln!(f, "  errors     {}", list.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.samples, p.p50, p.p99, p.max), (100, 50, 99, 100));
        let mut one = vec![7];
        let p = Percentiles::of(&mut one);
        assert_eq!((p.p50, p.p99, p.max), (7, 7, 7));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        let mut ten: Vec<u64> = (1..=10).collect();
        assert_eq!(Percentiles::of(&mut ten).p99, 10);
    }

    #[test]
    fn rates_and_ratios() {
        assert!((per_second(500, 0.5) - 1000.0).abs() < 1e-9);
        assert!(per_second(5, 0.0).abs() < f64::EPSILON);
        assert!((ratio(0, 0) - 1.0).abs() < f64::EPSILON);
        assert!((ratio(3, 4) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn delivery_sums_subscribers() {
        let mut d = DeliveryReport::default();
        let s = Settled {
            expected: 10,
            delivered: 9,
            lost: 1,
            ..Settled::default()
        };
        d.add(s);
        d.add(s);
        d.finish(2.0);
        assert_eq!((d.frames, d.expected, d.lost), (18, 20, 2));
        assert!((d.frames_per_s - 9.0).abs() < 1e-9);
        assert!((d.delivered_ratio - 0.9).abs() < 1e-12);
    }

    fn report(subscribers: usize, frames_per_s: f64, accepted_per_s: f64) -> Report {
        let cli = <crate::plan::Cli as clap::Parser>::try_parse_from(["flow-load", "run"]).unwrap();
        let crate::plan::Command::Run(args) = cli.command else {
            unreachable!("parsed a run")
        };
        Report {
            scenario: "custom".to_owned(),
            target: "t".to_owned(),
            plan: Plan::from_args(&args).unwrap(),
            publish: PublishReport {
                accepted_per_s,
                ..PublishReport::default()
            },
            delivery: DeliveryReport {
                subscribers,
                frames_per_s,
                ..DeliveryReport::default()
            },
            latency_us: Percentiles::default(),
            server_rss: None,
            cpu: None,
            errors: BTreeMap::new(),
            baseline: None,
        }
    }

    #[test]
    fn baseline_fraction_uses_frames_or_events() {
        let fanout = BaselineComparison::of(&report(10, 250.0, 5.0), &report(10, 1000.0, 0.0));
        assert!((fanout.fraction - 0.25).abs() < 1e-12);
        let ingest = BaselineComparison::of(&report(0, 0.0, 30.0), &report(0, 0.0, 40.0));
        assert!((ingest.fraction - 0.75).abs() < 1e-12);
        let empty = BaselineComparison::of(&report(0, 0.0, 30.0), &report(0, 0.0, 0.0));
        assert!(empty.fraction.abs() < f64::EPSILON);
        let table = report(10, 250.0, 5.0).to_string();
        assert!(table.contains("250 frames/s"), "{table}");
    }

    #[test]
    fn cpu_per_event() {
        let at = |user_ms, system_ms| CpuTime { user_ms, system_ms };
        let cpu = CpuReport::between(
            (at(1000, 2000), at(1400, 2600)),
            (at(0, 0), at(300, 200)),
            100_000,
            10,
            2.0,
        );
        assert_eq!((cpu.server_user_ms, cpu.server_system_ms), (400, 600));
        assert!((cpu.server_us_per_event - 10.0).abs() < 1e-9);
        assert!((cpu.server_us_per_frame - 1.0).abs() < 1e-9);
        assert!((cpu.server_cores - 0.5).abs() < 1e-9);
        assert!((cpu.tool_us_per_event - 5.0).abs() < 1e-9);
        let idle = CpuReport::between((at(5, 5), at(5, 5)), (at(0, 0), at(0, 0)), 0, 0, 0.0);
        assert!(idle.server_us_per_event.abs() < f64::EPSILON);
        assert!(idle.server_cores.abs() < f64::EPSILON);
        assert!(idle.server_us_per_frame.abs() < f64::EPSILON);
    }

    #[test]
    fn rss_per_subscriber() {
        let mut r = RssReport {
            before_kib: 10_000,
            connected_kib: 20_000,
            after_kib: 0,
            per_subscriber_bytes: 0,
        };
        r.finish(1000);
        assert_eq!(r.per_subscriber_bytes, 10_240);
        r.finish(0);
        assert_eq!(r.per_subscriber_bytes, 0);
    }
}
