//! The folder's releases as one FlowMessage `snapshot`, so the canvas can show a bootstrap
//! before it runs.
//!
//! Nodes and relationships are the mapper's ([`Graph::build`]): one node per release (status
//! `pending`, as nothing has reconciled), the region node, `contains` edges and one
//! `finish-to-start` edge per `dependsOn` between releases of the folder (a dependency outside
//! the folder is listed in the node's `meta.missingDependencies`). The flow instance is
//! `pending` with `startedAt` 0 and `meta.preview: true`: a preview never started, and a fixed
//! time keeps the output byte-stable, so it can be committed and diffed.

use std::collections::BTreeMap;

use flow_contract::{FlowInstance, FlowMessage, Limits, Meta};
use flow_flux_mapper::{Config, Graph, HelmRelease};

use crate::error::DepsError;
use crate::load::Manifests;

/// Builds and validates the snapshot.
pub(crate) fn snapshot(manifests: &Manifests, config: &Config) -> Result<FlowMessage, DepsError> {
    let releases = manifests
        .documents
        .iter()
        .zip(&manifests.locations)
        .map(|(document, location)| {
            HelmRelease::from_value(document).map_err(|error| DepsError::Document {
                location: location.clone(),
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let graph = Graph::build(config, &releases, &[], &BTreeMap::new());
    let mut meta = Meta::new();
    meta.insert("preview".into(), true.into());
    let message = FlowMessage::Snapshot {
        flow: FlowInstance {
            meta: Some(meta),
            ..FlowInstance::new(config.flow_id(), "pending", 0)
        },
        nodes: graph.nodes.into_values().collect(),
        relationships: graph.relationships.into_values().collect(),
    };
    message.validate(config.flow_id(), &Limits::DEFAULT)?;
    Ok(message)
}
