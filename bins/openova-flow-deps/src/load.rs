//! Reading manifests: a folder (recursively, `*.yaml` / `*.yml`, sorted) of multi-document
//! YAML files, down to the HelmRelease documents and the [`DependencyGraph`].
//!
//! Skipped: empty documents, documents of another kind or API group (a `kustomization.yaml`
//! has no `metadata.name` and is no concern of the audit), and mappings with neither `kind`
//! nor `apiVersion`, which are not Kubernetes objects (values files, or the expected file kept
//! beside the manifests, as in `deploy/flux/`). Bad input: a document that is not a mapping,
//! one with only one of `kind` and `apiVersion`, and a HelmRelease without `metadata.name`.
//! The mapper's own identity check decides, and the message names the file and the document.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use flow_flux_mapper::{DependencyGraph, HELM_RELEASE_GROUP};
use serde::Deserialize;
use serde_json::Value;

use crate::error::DepsError;
use crate::notation::Notation;

/// A document of a file: the path and the 1-based position of the document in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    /// The file.
    pub(crate) path: PathBuf,
    /// 1-based: the first document of a file is document 1.
    pub(crate) document: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.path.display(), self.document)
    }
}

/// The HelmRelease documents of a folder, in path then document order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Manifests {
    /// Where each document came from.
    pub(crate) locations: Vec<Location>,
    /// The documents, as JSON.
    pub(crate) documents: Vec<Value>,
}

impl Manifests {
    /// Reads `root`: a YAML file, or a folder searched recursively.
    pub(crate) fn read(root: &Path) -> Result<Self, DepsError> {
        let mut files = Vec::new();
        collect_files(root, &mut files)?;
        files.sort();
        let mut manifests = Self::default();
        for path in files {
            for (document, value) in read_yaml(&path)? {
                if is_candidate(&value) {
                    manifests.locations.push(Location {
                        path: path.clone(),
                        document,
                    });
                    manifests.documents.push(value);
                }
            }
        }
        Ok(manifests)
    }

    /// The dependency graph, by the mapper's parsing; a release declared twice is bad input.
    pub(crate) fn graph(&self, notation: &Notation) -> Result<DependencyGraph, DepsError> {
        let graph = DependencyGraph::from_documents(&self.documents, notation.default_namespace())
            .map_err(|e| DepsError::Document {
                location: self.location(e.index),
                error: e.error,
            })?;
        let mut seen = BTreeMap::new();
        for (i, release) in graph.releases.iter().enumerate() {
            if let Some(first) = seen.insert(&release.key, i) {
                return Err(DepsError::Duplicate {
                    release: notation.key(&release.key),
                    first: self.location(first),
                    second: self.location(i),
                });
            }
        }
        Ok(graph)
    }

    fn location(&self, index: usize) -> Location {
        self.locations.get(index).cloned().unwrap_or(Location {
            path: PathBuf::new(),
            document: index + 1,
        })
    }
}

/// Reads an expected-dependencies file (YAML; JSON is YAML too) into one value.
pub(crate) fn read_expected(path: &Path) -> Result<Value, DepsError> {
    let mut documents = read_yaml(path)?;
    match documents.len() {
        1 => Ok(documents.remove(0).1),
        n => Err(DepsError::Yaml {
            location: Location {
                path: path.to_owned(),
                document: n.min(2),
            },
            message: format!("an expected-dependencies file holds one document, found {n}"),
        }),
    }
}

/// Every non-empty document of a YAML file, with its 1-based position.
fn read_yaml(path: &Path) -> Result<Vec<(usize, Value)>, DepsError> {
    let text = fs::read_to_string(path).map_err(|source| DepsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut documents = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let location = || Location {
            path: path.to_owned(),
            document: index + 1,
        };
        let value = Value::deserialize(document).map_err(|e| DepsError::Yaml {
            location: location(),
            message: e.to_string(),
        })?;
        if !value.is_null() {
            documents.push((index + 1, value));
        }
    }
    Ok(documents)
}

/// A Flux HelmRelease, or a document whose identity is broken (the mapper reports it).
fn is_candidate(value: &Value) -> bool {
    let Value::Object(object) = value else {
        return true;
    };
    if !object.contains_key("kind") && !object.contains_key("apiVersion") {
        return false;
    }
    let text = |field| {
        object
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (text("kind"), text("apiVersion")) {
        (Some(kind), Some(api_version)) => {
            kind == "HelmRelease"
                && api_version.split_once('/').map(|(group, _)| group) == Some(HELM_RELEASE_GROUP)
        }
        _ => true,
    }
}

fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), DepsError> {
    let read_error = |source| DepsError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = fs::metadata(path).map_err(read_error)?;
    if !metadata.is_dir() {
        files.push(path.to_owned());
        return Ok(());
    }
    for entry in fs::read_dir(path).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let child = entry.path();
        // Symbolic links to folders are not followed, so a link loop cannot trap the walk.
        let file_type = entry.file_type().map_err(read_error)?;
        if file_type.is_dir() {
            collect_files(&child, files)?;
        } else if child
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::is_candidate;

    #[test]
    fn candidates_are_flux_helmreleases_and_broken_identities() {
        assert!(is_candidate(
            &json!({"kind": "HelmRelease", "apiVersion": "helm.toolkit.fluxcd.io/v2"})
        ));
        assert!(!is_candidate(
            &json!({"kind": "HelmRelease", "apiVersion": "helm.fluxcd.io/v1"})
        ));
        assert!(!is_candidate(
            &json!({"kind": "Kustomization", "apiVersion": "kustomize.config.k8s.io/v1beta1"})
        ));
        assert!(is_candidate(&json!({"kind": "HelmRelease"})));
        assert!(is_candidate(&json!({"apiVersion": "v1", "kind": ""})));
        assert!(is_candidate(&json!(["a list"])));
        assert!(!is_candidate(&json!({"slots": []})));
    }
}
