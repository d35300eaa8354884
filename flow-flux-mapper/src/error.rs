//! The errors of this crate: one enum per operation.

/// Why a Flux object could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// The document is not a JSON object.
    #[error("a Kubernetes object must be a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type found.
        found: &'static str,
    },
    /// An identity field (`kind`, `apiVersion`, `metadata.name`) is absent, empty or not a string.
    #[error("identity field `{field}` is missing, empty or not a string")]
    MissingIdentity {
        /// The field path.
        field: &'static str,
    },
    /// The object is not a `helm.toolkit.fluxcd.io` HelmRelease, a `source.toolkit.fluxcd.io`
    /// HelmChart or a `kustomize.toolkit.fluxcd.io` Kustomization.
    #[error("unsupported object {kind} of {api_version}")]
    UnsupportedKind {
        /// The object's `kind`.
        kind: String,
        /// The object's `apiVersion`.
        api_version: String,
    },
    /// A name or namespace Kubernetes would not accept in a way that breaks node ids (it
    /// contains `/`).
    #[error("`{field}` {value:?} must not contain '/'")]
    InvalidName {
        /// The field path.
        field: &'static str,
        /// The value found.
        value: String,
    },
    /// The node id built from region, namespace and name exceeds the contract's id limit.
    #[error("node id {id:?} is {len} bytes long; the limit is {limit}")]
    IdTooLong {
        /// The id (possibly long).
        id: String,
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

/// Why a [`Config`](crate::Config) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The flow id breaks the contract's flow-id rule.
    #[error("flow id: {0}")]
    FlowId(#[from] flow_contract::FlowIdError),
    /// The region key is empty.
    #[error("region must not be empty")]
    EmptyRegion,
    /// The region key contains `/`, which separates the parts of node ids.
    #[error("region {0:?} must not contain '/'")]
    RegionSlash(String),
    /// The region key is too long to leave room for names in node ids.
    #[error("region is {len} bytes long; the limit is {limit}")]
    RegionTooLong {
        /// Length found, in bytes.
        len: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The default namespace is empty or contains `/`.
    #[error("default namespace {0:?} must be non-empty and must not contain '/'")]
    DefaultNamespace(String),
}

/// A document of a list that could not be read, by [`DependencyGraph::from_documents`](crate::DependencyGraph::from_documents).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {index}: {error}")]
#[non_exhaustive]
pub struct DocumentError {
    /// The 0-based index of the document.
    pub index: usize,
    /// What was wrong with it.
    pub error: MapError,
}

/// Why an expected-dependencies file was rejected, by
/// [`ExpectedDeps::from_value`](crate::ExpectedDeps::from_value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExpectedError {
    /// Not the seed's form (`slots:` entries with `slot`, `name`, `depends_on`, `wave`).
    #[error("not an expected-dependencies file: {0}")]
    Shape(String),
    /// A name that is not `name` or `namespace/name`.
    #[error("slot {slot}: {value:?} is not `name` or `namespace/name`")]
    Name {
        /// The slot whose entry holds it.
        slot: u32,
        /// The name as resolved.
        value: String,
    },
    /// A `kind` other than `HelmRelease` or `Kustomization`.
    #[error("slot {slot}: kind {value:?} is neither HelmRelease nor Kustomization")]
    Kind {
        /// The slot whose entry holds it.
        slot: u32,
        /// The kind as written.
        value: String,
    },
    /// Two slots name the same object.
    #[error("release {0:?} has two slots")]
    DuplicateName(String),
    /// Two entries use the same slot number.
    #[error("slot {0} is listed twice")]
    DuplicateSlot(u32),
}
