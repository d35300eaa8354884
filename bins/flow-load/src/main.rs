//! `flow-load`: the load generator and raw baseline for `openova-flow-server`.
//!
//! `flow-load run --preset fanout --spawn-server target/release/openova-flow-server` starts a
//! server, connects 1,000 SSE subscribers to one flow, posts upsert-nodes messages as fast as
//! one keep-alive connection allows for 10 s, and prints a table (and `--json FILE` a report):
//! accepted events/s, delivered frames/s, delivered/expected, end-to-end latency from the
//! `meta.publishedAt` the publishers stamp, server RSS and errors by kind. `flow-load baseline`
//! pushes the same bytes from a minimal TCP writer; `run --baseline` does both and reports the
//! fraction. Presets: `fanout`, `ingest`, `mixed`, `churn`, `idle`, `custom`; flags override.
//!
//! Exit codes: 0 for a clean run, 3 for a run that lost events, failed POSTs or had errors,
//! 1 when the run could not be carried out, 2 for bad flags.

mod baseline;
mod baseline_process;
mod board;
mod http_body;
mod payload;
mod plan;
mod publisher;
mod report;
mod run;
mod scanner;
mod server;
mod subscriber;
mod tally;
mod target;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;

use crate::plan::{Cli, Command, Plan, RunArgs};
use crate::report::{BaselineComparison, Report};
use crate::run::Mode;
use crate::server::SpawnedServer;
use crate::target::Target;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (args, baseline_only) = match cli.command {
        Command::Run(args) => (args, false),
        Command::Baseline(args) => (args, true),
        Command::BaselineWriter => return baseline_writer(),
    };
    let plan = match Plan::from_args(&args) {
        Ok(plan) => Arc::new(plan),
        Err(error) => {
            eprintln!("flow-load: {error}");
            return ExitCode::from(2);
        }
    };
    // Publishers get a runtime of their own: on the subscribers' runtime a publisher's next
    // POST would queue behind every reader's wake-up, and a wide fan-out would measure this
    // tool's scheduling instead of the server's.
    let runtimes = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(plan.threads)
        .enable_all()
        .build()
        .and_then(|readers| {
            let publishers = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("flow-load-publishers")
                .enable_all()
                .build()?;
            Ok((readers, publishers))
        });
    let result = runtimes
        .context("building the runtimes")
        .and_then(|(readers, publishers)| {
            readers.block_on(run(&args, plan, baseline_only, publishers.handle()))
        });
    match result {
        Ok(report) => output(&args, &report),
        Err(error) => {
            eprintln!("flow-load: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The child side of `--baseline-process`.
fn baseline_writer() -> ExitCode {
    let served = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the runtime")
        .and_then(|runtime| runtime.block_on(baseline_process::serve_for_parent()));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("flow-load baseline-writer: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    args: &RunArgs,
    plan: Arc<Plan>,
    baseline_only: bool,
    publishers: &tokio::runtime::Handle,
) -> anyhow::Result<Report> {
    let baseline = if baseline_only || args.baseline {
        let mode = Mode::Baseline {
            process: args.baseline_process,
        };
        Some(run::run(Arc::clone(&plan), mode, args.quiet, publishers).await?)
    } else {
        None
    };
    if baseline_only {
        return baseline.context("the baseline ran");
    }
    let spawned = match &args.spawn_server {
        Some(path) => Some(SpawnedServer::start(path, &args.server_env).await?),
        None => None,
    };
    let (target, pid) = match &spawned {
        Some(server) => (server.target.clone(), server.pid()),
        None => (Target::from_url(&args.url).await?, args.server_pid),
    };
    let subscribe_target = match &args.subscribe_url {
        Some(url) => Some(Target::from_url(url).await?),
        None => None,
    };
    let mode = Mode::Server {
        target,
        subscribe_target,
        pid,
    };
    let result = run::run(plan, mode, args.quiet, publishers).await;
    if let Some(server) = spawned {
        server.stop().await;
    }
    let mut report = result?;
    report.baseline = baseline.map(|b| BaselineComparison::of(&report, &b));
    Ok(report)
}

fn output(args: &RunArgs, report: &Report) -> ExitCode {
    let json = match serde_json::to_string_pretty(report) {
        Ok(json) => json,
        Err(error) => {
            eprintln!("flow-load: encoding the report: {error}");
            return ExitCode::FAILURE;
        }
    };
    match args.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            println!("{json}");
            eprint!("{report}");
        }
        Some(path) => {
            if let Err(error) = std::fs::write(path, json + "\n") {
                eprintln!("flow-load: writing {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
            print!("{report}");
        }
        None => print!("{report}"),
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
