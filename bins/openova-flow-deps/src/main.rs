//! `openova-flow-deps`: an offline audit of a folder of Flux HelmReleases and Kustomizations.
//!
//! - `openova-flow-deps check DIR --expected FILE [--json]` compares every HelmRelease's and
//!   Kustomization's `dependsOn` in `DIR` (recursively, `*.yaml` / `*.yml`, multi-document files
//!   too) with an expected-dependencies file in the seed's form (a slot may say
//!   `kind: Kustomization`), and reports drift, cycles (as paths `a -> b -> a`, across kinds:
//!   see `flow_flux_mapper::DependencyGraph::cycle_paths`) and dangling references. `DIR` is
//!   the root of the Kustomizations' source: a Kustomization applies the documents under its
//!   `spec.path` (the deepest such path wins), unless they carry the
//!   `kustomize.toolkit.fluxcd.io` labels already.
//! - `openova-flow-deps graph DIR --format snapshot|dot [--flow-id ID] [--region KEY]` prints
//!   the graph as a validated FlowMessage `snapshot` or as Graphviz DOT.
//!
//! Exit codes: 0 clean, 1 drift (dangling references included), 2 cycle (also when there is
//! drift too), 3 bad input (unreadable file, invalid YAML, a document without identity, an
//! object declared twice, a malformed expected file, a usage error).
//!
//! The rules live in `flow_flux_mapper::Audit`; this binary reads files and prints.

mod cli;
mod dot;
mod error;
mod load;
mod notation;
mod preview;
mod report;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use flow_flux_mapper::{Audit, Config, ExpectedDeps, Kind};

use crate::cli::{Cli, Command, Format};
use crate::error::DepsError;
use crate::load::{Manifests, read_expected};
use crate::notation::Notation;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() {
                report::BAD_INPUT
            } else {
                0
            };
            // Nothing better to do when the terminal is gone.
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("openova-flow-deps: {err}");
            ExitCode::from(report::BAD_INPUT)
        }
    }
}

fn run(cli: Cli) -> Result<u8, DepsError> {
    let notation = Notation::new(cli.namespace);
    match cli.command {
        Command::Check {
            dir,
            expected,
            json,
        } => {
            let graph = Manifests::read(&dir, notation.default_namespace())?.graph(&notation)?;
            let expected =
                ExpectedDeps::from_value(&read_expected(&expected)?, notation.default_namespace())
                    .map_err(|error| DepsError::Expected {
                        path: expected,
                        error,
                    })?;
            let audit = Audit::run(&graph, &expected);
            let counts = report::Counts {
                releases: graph.count(Kind::HelmRelease),
                kustomizations: graph.count(Kind::Kustomization),
            };
            let text = if json {
                format!("{}\n", report::json(&audit, counts, &notation))
            } else {
                report::lines(&audit, counts, &notation)
            };
            print(&text)?;
            Ok(report::exit_code(audit.outcome()))
        }
        Command::Graph {
            dir,
            format,
            flow_id,
            region,
        } => {
            let manifests = Manifests::read(&dir, notation.default_namespace())?;
            let graph = manifests.graph(&notation)?;
            let text = match format {
                Format::Dot => dot::render(&graph, &notation),
                Format::Snapshot => {
                    let config = Config::new(flow_id, region, notation.default_namespace())?;
                    let message = preview::snapshot(&manifests, &config)?;
                    format!(
                        "{}\n",
                        serde_json::to_string(&message).map_err(DepsError::Encode)?
                    )
                }
            };
            print(&text)?;
            Ok(0)
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> Result<(), DepsError> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(DepsError::Output(err)),
        _ => Ok(()),
    }
}
