//! Reading manifests: a folder (recursively, `*.yaml` / `*.yml`, sorted) of multi-document
//! YAML files, down to the HelmRelease and Kustomization documents and the
//! [`DependencyGraph`].
//!
//! Containment, as kustomize-controller would apply the folder: the folder is the root of the
//! Kustomizations' source, so a Kustomization applies every document under its `spec.path`
//! (resolved against the folder; the deepest path wins when several hold a document; never
//! its own document). Such a document gets the `kustomize.toolkit.fluxcd.io/name` and
//! `/namespace` labels the controller would add, unless it carries them already; the mapper
//! reads containment from those labels.
//!
//! Skipped: empty documents, documents of another kind or API group (a kustomize
//! `kustomization.yaml` is `kustomize.config.k8s.io`, not Flux's group), and mappings with neither `kind`
//! nor `apiVersion`, which are not Kubernetes objects (values files, or the expected file kept
//! beside the manifests, as in `deploy/flux/`). Bad input: a document that is not a mapping,
//! one with only one of `kind` and `apiVersion`, and a HelmRelease or Kustomization without
//! `metadata.name`.
//! The mapper's own identity check decides, and the message names the file and the document.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use flow_flux_mapper::{DependencyGraph, Kind, NAME_LABEL, NAMESPACE_LABEL};
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

/// The HelmRelease and Kustomization documents of a folder, in path then document order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Manifests {
    /// Where each document came from.
    pub(crate) locations: Vec<Location>,
    /// The documents, as JSON.
    pub(crate) documents: Vec<Value>,
}

impl Manifests {
    /// Reads `root`: a YAML file, or a folder searched recursively. Objects without the
    /// `kustomize.toolkit.fluxcd.io` labels get those of the Kustomization that applies them
    /// (see the [module docs](self)); `default_namespace` is that of a Kustomization without
    /// one.
    pub(crate) fn read(root: &Path, default_namespace: &str) -> Result<Self, DepsError> {
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
        let base = if fs::metadata(root).is_ok_and(|m| m.is_dir()) {
            root
        } else {
            root.parent().unwrap_or(root)
        };
        manifests.label_applied(base, default_namespace);
        Ok(manifests)
    }

    /// Adds the labels of the applying Kustomization to each document under a Kustomization's
    /// `spec.path`.
    fn label_applied(&mut self, base: &Path, default_namespace: &str) {
        // (folder applied, name, namespace, index of the Kustomization's document)
        let applying: Vec<(PathBuf, String, String, usize)> = self
            .documents
            .iter()
            .enumerate()
            .filter(|(_, document)| Kind::of(document) == Ok(Kind::Kustomization))
            .filter_map(|(index, document)| {
                let path = document.pointer("/spec/path").and_then(Value::as_str)?;
                let name = document.pointer("/metadata/name").and_then(Value::as_str)?;
                let namespace = document
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or(default_namespace);
                Some((
                    base.join(relative(path)),
                    name.to_owned(),
                    namespace.to_owned(),
                    index,
                ))
            })
            .collect();
        for (index, (document, location)) in
            self.documents.iter_mut().zip(&self.locations).enumerate()
        {
            let parent = applying
                .iter()
                .filter(|(folder, .., own)| *own != index && location.path.starts_with(folder))
                .max_by_key(|(folder, ..)| folder.components().count());
            let Some((_, name, namespace, _)) = parent else {
                continue;
            };
            let Some(metadata) = document.get_mut("metadata").and_then(Value::as_object_mut) else {
                continue;
            };
            let labels = metadata
                .entry("labels")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(labels) = labels.as_object_mut()
                && !labels.contains_key(NAME_LABEL)
            {
                labels.insert(NAME_LABEL.to_owned(), Value::String(name.clone()));
                labels.insert(NAMESPACE_LABEL.to_owned(), Value::String(namespace.clone()));
            }
        }
    }

    /// The dependency graph, by the mapper's parsing; an object declared twice is bad input.
    pub(crate) fn graph(&self, notation: &Notation) -> Result<DependencyGraph, DepsError> {
        let graph = DependencyGraph::from_documents(&self.documents, notation.default_namespace())
            .map_err(|e| DepsError::Document {
                location: self.location(e.index),
                error: e.error,
            })?;
        let mut seen = BTreeMap::new();
        for (i, object) in graph.objects.iter().enumerate() {
            if let Some(first) = seen.insert(object.object(), i) {
                return Err(DepsError::Duplicate {
                    kind: object.kind,
                    release: notation.key(&object.key),
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

/// `path` without a leading `./` (or `/`), as a path relative to the source root.
fn relative(path: &str) -> &Path {
    Path::new(path.trim_start_matches("./").trim_start_matches('/'))
}

/// A Flux HelmRelease or Kustomization, or a document whose identity is broken (the mapper
/// reports it).
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
            let group = api_version.split_once('/').map_or("", |(group, _)| group);
            matches!(
                Kind::from_group_kind(group, kind),
                Some(Kind::HelmRelease | Kind::Kustomization)
            )
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
    fn candidates_are_flux_helmreleases_kustomizations_and_broken_identities() {
        assert!(is_candidate(
            &json!({"kind": "HelmRelease", "apiVersion": "helm.toolkit.fluxcd.io/v2"})
        ));
        assert!(!is_candidate(
            &json!({"kind": "HelmRelease", "apiVersion": "helm.fluxcd.io/v1"})
        ));
        assert!(!is_candidate(
            &json!({"kind": "Kustomization", "apiVersion": "kustomize.config.k8s.io/v1beta1"})
        ));
        assert!(is_candidate(
            &json!({"kind": "Kustomization", "apiVersion": "kustomize.toolkit.fluxcd.io/v1"})
        ));
        assert!(!is_candidate(
            &json!({"kind": "HelmChart", "apiVersion": "source.toolkit.fluxcd.io/v1"})
        ));
        assert!(is_candidate(&json!({"kind": "HelmRelease"})));
        assert!(is_candidate(&json!({"apiVersion": "v1", "kind": ""})));
        assert!(is_candidate(&json!(["a list"])));
        assert!(!is_candidate(&json!({"slots": []})));
    }
}
