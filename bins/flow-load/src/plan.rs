//! Command line (raw clap arguments) and the validated [`Plan`] a run follows, with the presets.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Serialize, Serializer};

/// `flow-load`: load generator and raw baseline for openova-flow-server.
#[derive(Debug, Parser)]
#[command(name = "flow-load", version, about, long_about = None)]
pub(crate) struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a scenario against a server (`--url`, or `--spawn-server PATH`).
    Run(RunArgs),
    /// Push the same SSE bytes from a minimal in-process TCP writer (the machine's limit).
    Baseline(RunArgs),
    /// The batched baseline writer as a child of `--baseline-process` (driven by its parent).
    #[command(name = "baseline-writer", hide = true)]
    BaselineWriter,
}

/// Named scenarios; every flag overrides the preset's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Preset {
    /// 1 flow, 1 publisher at full speed, 1,000 subscribers.
    Fanout,
    /// 100 flows, 4 publishers at full speed, no subscribers.
    Ingest,
    /// 100 flows x 10 subscribers, 2 publishers.
    Mixed,
    /// 4 flows x 50 subscribers that disconnect and reconnect during ingest (4 publishers,
    /// 2,000 events/s in all).
    Churn,
    /// 10,000 idle subscribers on 1 flow: server memory per connection.
    Idle,
    /// 1 flow, 1 publisher, 10 subscribers: a starting point for flags.
    Custom,
}

/// Flags shared by `run` and `baseline`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Scenario preset.
    #[arg(long, value_enum, default_value_t = Preset::Custom)]
    pub(crate) preset: Preset,
    /// Server base URL (plain `http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,
    /// Where subscribers connect, when not `--url` (for example a second server replica sharing
    /// the flows through Redis: publish to one, subscribe on the other).
    #[arg(long)]
    pub(crate) subscribe_url: Option<String>,
    /// Start this server binary on a free loopback port for the run (and stop it after).
    #[arg(long)]
    pub(crate) spawn_server: Option<PathBuf>,
    /// Extra `KEY=VALUE` environment for the spawned server (repeatable).
    #[arg(long = "server-env", value_parser = parse_key_value)]
    pub(crate) server_env: Vec<(String, String)>,
    /// Pid of an already running server, to read its RSS.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,
    /// Publishers (keep-alive HTTP/1.1 connections).
    #[arg(short = 'P', long)]
    pub(crate) publishers: Option<usize>,
    /// Flows.
    #[arg(short = 'F', long)]
    pub(crate) flows: Option<usize>,
    /// SSE subscribers per flow.
    #[arg(short = 'S', long)]
    pub(crate) subscribers: Option<usize>,
    /// Approximate size of each message body in bytes.
    #[arg(long)]
    pub(crate) size: Option<usize>,
    /// Target events per second over all publishers; 0 = as fast as possible.
    #[arg(long)]
    pub(crate) rate: Option<u64>,
    /// POSTs each publisher pipelines on its connection (written in one batch, answered in
    /// order); 1 = one request in flight, through hyper's client. More needs `--rate 0`.
    #[arg(long, default_value_t = 1)]
    pub(crate) pipeline: usize,
    /// Publish window (`500ms`, `10s`, `2m`); for `idle`, how long the subscribers are held.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// Every Nth subscriber parses `publishedAt` for latency (0 = none).
    #[arg(long)]
    pub(crate) sample_every: Option<usize>,
    /// How long after publishing stops subscribers may take to receive the final seq.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub(crate) drain: Duration,
    /// How long every subscriber may take to connect and receive its first frame.
    #[arg(long, value_parser = parse_duration, default_value = "60s")]
    pub(crate) connect_timeout: Duration,
    /// Distinct node ids the publishers cycle through per flow (bounds the snapshot size).
    #[arg(long, default_value_t = 100)]
    pub(crate) node_ids: usize,
    /// Runtime worker threads of the load tool.
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Also run the raw baseline with the same shape and report our fraction of it.
    #[arg(long)]
    pub(crate) baseline: bool,
    /// Run the batched baseline writer in a child process: each process then holds one end of
    /// every subscriber's connection, as with a server (10,000 subscribers need 20,000 open
    /// files in one process otherwise).
    #[arg(long)]
    pub(crate) baseline_process: bool,
    /// Write the JSON report to this file (`-` for stdout, then the table goes to stderr).
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// The validated parameters of one run.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Plan {
    /// The preset the values came from.
    pub(crate) preset: Preset,
    /// Publishers.
    pub(crate) publishers: usize,
    /// Flows.
    pub(crate) flows: usize,
    /// Subscribers per flow.
    pub(crate) subscribers_per_flow: usize,
    /// Approximate body size in bytes.
    pub(crate) size: usize,
    /// Events per second over all publishers; 0 = maximum.
    pub(crate) rate: u64,
    /// POSTs in flight per publisher connection.
    pub(crate) pipeline: usize,
    /// Publish window.
    #[serde(serialize_with = "seconds", rename = "duration_s")]
    pub(crate) duration: Duration,
    /// Drain deadline after publishing.
    #[serde(serialize_with = "seconds", rename = "drain_s")]
    pub(crate) drain: Duration,
    /// Connect deadline.
    #[serde(serialize_with = "seconds", rename = "connect_timeout_s")]
    pub(crate) connect_timeout: Duration,
    /// Every Nth subscriber samples latency (0 = none).
    pub(crate) sample_every: usize,
    /// Distinct node ids per flow.
    pub(crate) node_ids: usize,
    /// Subscribers disconnect and reconnect while publishing.
    pub(crate) churn: bool,
    /// Tool worker threads.
    pub(crate) threads: usize,
}

fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Why flags do not make a runnable plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PlanError {
    /// A count that must be positive is zero.
    #[error("--{0} must be at least 1")]
    Zero(&'static str),
    /// Nothing to measure.
    #[error("a run needs publishers or subscribers")]
    Empty,
    /// Pipelined batches go out flat out; pacing them is not supported.
    #[error("--pipeline above 1 needs --rate 0")]
    PacedPipeline,
}

impl Plan {
    /// The preset's values with every given flag applied.
    pub(crate) fn from_args(args: &RunArgs) -> Result<Self, PlanError> {
        let secs = Duration::from_secs;
        let (p, f, s, rate, duration, churn) = match args.preset {
            Preset::Fanout => (1, 1, 1000, 0, secs(10), false),
            Preset::Ingest => (4, 100, 0, 0, secs(10), false),
            Preset::Mixed => (2, 100, 10, 0, secs(10), false),
            Preset::Churn => (4, 4, 50, 2000, secs(10), true),
            Preset::Idle => (0, 1, 10_000, 0, secs(5), false),
            Preset::Custom => (1, 1, 10, 0, secs(5), false),
        };
        let plan = Self {
            preset: args.preset,
            publishers: args.publishers.unwrap_or(p),
            flows: args.flows.unwrap_or(f),
            subscribers_per_flow: args.subscribers.unwrap_or(s),
            size: args.size.unwrap_or(256),
            rate: args.rate.unwrap_or(rate),
            pipeline: args.pipeline,
            duration: args.duration.unwrap_or(duration),
            drain: args.drain,
            connect_timeout: args.connect_timeout,
            sample_every: args.sample_every.unwrap_or(100),
            node_ids: args.node_ids,
            churn,
            threads: args.threads,
        };
        if plan.flows == 0 {
            return Err(PlanError::Zero("flows"));
        }
        if plan.node_ids == 0 {
            return Err(PlanError::Zero("node-ids"));
        }
        if plan.threads == 0 {
            return Err(PlanError::Zero("threads"));
        }
        if plan.pipeline == 0 {
            return Err(PlanError::Zero("pipeline"));
        }
        if plan.pipeline > 1 && plan.rate > 0 {
            return Err(PlanError::PacedPipeline);
        }
        if plan.publishers == 0 && plan.subscribers_per_flow == 0 {
            return Err(PlanError::Empty);
        }
        Ok(plan)
    }

    /// Subscribers over all flows.
    pub(crate) fn subscribers(&self) -> usize {
        self.flows * self.subscribers_per_flow
    }

    /// Whether subscriber `index` samples latency.
    pub(crate) fn samples(&self, index: usize) -> bool {
        index.checked_rem(self.sample_every) == Some(0)
    }
}

/// Parses `KEY=VALUE`.
fn parse_key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

/// Parses `250ms`, `10s`, `2m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s or m"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{text:?}: unit must be ms, s or m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> RunArgs {
        let mut full = vec!["flow-load", "run"];
        full.extend_from_slice(line);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Run(a) | Command::Baseline(a) => a,
            Command::BaselineWriter => unreachable!("the line starts with `run`"),
        }
    }

    #[test]
    fn presets_fill_and_flags_override() {
        let plan = Plan::from_args(&args(&["--preset", "fanout"])).unwrap();
        assert_eq!(
            (plan.publishers, plan.flows, plan.subscribers_per_flow),
            (1, 1, 1000)
        );
        let plan = Plan::from_args(&args(&[
            "--preset",
            "fanout",
            "-S",
            "20",
            "--duration",
            "2s",
        ]))
        .unwrap();
        assert_eq!(plan.subscribers(), 20);
        assert_eq!(plan.duration, Duration::from_secs(2));
        let plan = Plan::from_args(&args(&["--preset", "churn"])).unwrap();
        assert!(plan.churn);
        assert_eq!(
            Plan::from_args(&args(&["-F", "0"])).unwrap_err(),
            PlanError::Zero("flows")
        );
        assert_eq!(
            Plan::from_args(&args(&["-P", "0", "-S", "0"])).unwrap_err(),
            PlanError::Empty
        );
        let plan = Plan::from_args(&args(&["--preset", "ingest", "--pipeline", "16"])).unwrap();
        assert_eq!(plan.pipeline, 16);
        assert_eq!(
            Plan::from_args(&args(&["--pipeline", "0"])).unwrap_err(),
            PlanError::Zero("pipeline")
        );
        assert_eq!(
            Plan::from_args(&args(&["--pipeline", "4", "--rate", "100"])).unwrap_err(),
            PlanError::PacedPipeline
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("3").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("A=b=c"),
            Ok(("A".to_owned(), "b=c".to_owned()))
        );
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("x").is_err());
    }

    #[test]
    fn sampling() {
        let mut plan = Plan::from_args(&args(&[])).unwrap();
        plan.sample_every = 3;
        assert!(plan.samples(0) && !plan.samples(1) && plan.samples(3));
        plan.sample_every = 0;
        assert!(!plan.samples(0));
    }
}
