//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Offline audit of a folder of Flux HelmReleases and Kustomizations.
#[derive(Debug, Parser)]
#[command(name = "openova-flow-deps", version, about)]
pub(crate) struct Cli {
    /// Namespace of objects and expected names written without one.
    #[arg(long, global = true, default_value = "flux-system")]
    pub(crate) namespace: String,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Compare the folder's dependsOn with an expected-dependencies file; report drift, cycles
    /// and dangling references. Exit 0 clean, 1 drift or dangling, 2 cycle, 3 bad input.
    Check {
        /// A folder of HelmRelease and Kustomization YAML files (searched recursively; the
        /// root Kustomizations' `spec.path` is resolved against), or one file.
        dir: PathBuf,
        /// The expected-dependencies file (`slots:` with `slot`, `name`, `depends_on`, `wave`).
        #[arg(long)]
        expected: PathBuf,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Print the folder's dependency graph.
    Graph {
        /// A folder of HelmRelease and Kustomization YAML files (searched recursively; the
        /// root Kustomizations' `spec.path` is resolved against), or one file.
        dir: PathBuf,
        /// Output format.
        #[arg(long, value_enum)]
        format: Format,
        /// Flow id of the snapshot.
        #[arg(long, default_value = "preview")]
        flow_id: String,
        /// Region key of the snapshot (prefix of every node id).
        #[arg(long, default_value = "preview")]
        region: String,
    },
}

/// Output formats of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A FlowMessage `snapshot` (JSON), validated with flow-contract.
    Snapshot,
    /// Graphviz DOT: one edge per dependsOn entry; Kustomizations are folders, with a dotted
    /// line to each object they apply.
    Dot,
}
