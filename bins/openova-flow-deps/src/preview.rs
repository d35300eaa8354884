//! The folder's HelmReleases and Kustomizations as one FlowMessage `snapshot`, so the canvas
//! can show a bootstrap before it runs.
//!
//! Nodes and relationships are the mapper's ([`Graph::build`]): one node per object (status
//! `pending`, as nothing has reconciled), the region node, `contains` edges (to the
//! Kustomization whose `spec.path` holds the object, else to the region) and one
//! `finish-to-start` edge per `dependsOn` between objects of the folder (a dependency outside
//! the folder is listed in the node's `meta.missingDependencies`). The flow instance is
//! `pending` with `startedAt` 0 and `meta.preview: true`: a preview never started, and a fixed
//! time keeps the output byte-stable, so it can be committed and diffed.

use std::collections::BTreeMap;

use flow_contract::{FlowInstance, FlowMessage, Limits, Meta};
use flow_flux_mapper::{Config, Graph, HelmRelease, Kind, Kustomization, MapError};

use crate::error::DepsError;
use crate::load::Manifests;

/// Builds and validates the snapshot.
pub(crate) fn snapshot(manifests: &Manifests, config: &Config) -> Result<FlowMessage, DepsError> {
    let mut releases = Vec::new();
    let mut kustomizations = Vec::new();
    for (document, location) in manifests.documents.iter().zip(&manifests.locations) {
        let mut read = |document| -> Result<(), MapError> {
            match Kind::of(document)? {
                Kind::Kustomization => kustomizations.push(Kustomization::from_value(document)?),
                _ => releases.push(HelmRelease::from_value(document)?),
            }
            Ok(())
        };
        read(document).map_err(|error| DepsError::Document {
            location: location.clone(),
            error,
        })?;
    }
    let graph = Graph::build(config, &releases, &kustomizations, &BTreeMap::new());
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
