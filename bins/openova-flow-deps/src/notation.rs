//! How objects are written in reports, DOT and the expected file: `name` for a HelmRelease in
//! the default namespace, `namespace/name` otherwise; a Kustomization is prefixed with
//! `Kustomization/` (no namespace starts with a capital letter, so this cannot be misread).

use flow_flux_mapper::{Kind, ObjectKey, ObjectRef};

/// The default namespace, and the notation it implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notation {
    default_namespace: String,
}

impl Notation {
    /// Releases in `default_namespace` are written by name alone.
    pub(crate) fn new(default_namespace: impl Into<String>) -> Self {
        Self {
            default_namespace: default_namespace.into(),
        }
    }

    /// The namespace of releases written by name alone.
    pub(crate) fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// `key` in this notation.
    pub(crate) fn key(&self, key: &ObjectKey) -> String {
        if key.namespace == self.default_namespace {
            key.name.clone()
        } else {
            key.to_string()
        }
    }

    /// `object` in this notation.
    pub(crate) fn object(&self, object: &ObjectRef) -> String {
        match object.kind {
            Kind::Kustomization => format!("Kustomization/{}", self.key(&object.key)),
            Kind::HelmRelease | Kind::HelmChart => self.key(&object.key),
        }
    }
}

#[cfg(test)]
mod tests {
    use flow_flux_mapper::{Kind, ObjectKey, ObjectRef};

    use super::Notation;

    #[test]
    fn default_namespace_is_implicit() {
        let n = Notation::new("flux-system");
        let key = |ns: &str| ObjectKey {
            namespace: ns.into(),
            name: "bp-x".into(),
        };
        assert_eq!(n.key(&key("flux-system")), "bp-x");
        assert_eq!(n.key(&key("apps")), "apps/bp-x");
        let ks = |ns: &str| ObjectRef {
            kind: Kind::Kustomization,
            key: key(ns),
        };
        assert_eq!(n.object(&ks("flux-system")), "Kustomization/bp-x");
        assert_eq!(n.object(&ks("apps")), "Kustomization/apps/bp-x");
    }
}
