//! Why the tool could not audit: every variant is bad input (exit 3).

use std::path::PathBuf;

use flow_flux_mapper::{ConfigError, ExpectedError, MapError};

use crate::load::Location;

/// Bad input: the audit did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DepsError {
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A document is not valid YAML.
    #[error("{location}: invalid YAML: {message}")]
    Yaml {
        /// Where.
        location: Location,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A document has no identity (`kind`, `apiVersion`, `metadata.name`) or is a HelmRelease
    /// or Kustomization the mapper cannot read.
    #[error("{location}: {error}")]
    Document {
        /// Where.
        location: Location,
        /// What the mapper said.
        error: MapError,
    },
    /// Two documents declare the same HelmRelease or Kustomization.
    #[error("{second}: {kind} {release} is already declared at {first}")]
    Duplicate {
        /// Its kind.
        kind: flow_flux_mapper::Kind,
        /// The object's key, in the report's notation.
        release: String,
        /// The first declaration.
        first: Location,
        /// The second one.
        second: Location,
    },
    /// The expected-dependencies file is not in the seed's form.
    #[error("{}: {error}", path.display())]
    Expected {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        error: ExpectedError,
    },
    /// `--flow-id`, `--region` or `--namespace` was rejected.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The preview snapshot breaks the contract (for example more than 10,000 releases).
    #[error("the snapshot would be invalid: {0}")]
    Contract(#[from] flow_contract::ContractError),
    /// The snapshot could not be encoded as JSON.
    #[error("cannot encode the snapshot: {0}")]
    Encode(serde_json::Error),
    /// Standard output could not be written.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}
