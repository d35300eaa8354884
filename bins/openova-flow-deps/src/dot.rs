//! The dependency graph as Graphviz DOT: one node per HelmRelease (a box) and Kustomization
//! (a folder), one edge per `dependsOn` entry from the dependency to its dependent (the order
//! Flux installs them), and a dotted line without arrowhead from each Kustomization to each
//! object it applies. Objects on a cycle are red; names outside the folder (external or
//! dangling) are dashed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use flow_flux_mapper::{DependencyGraph, Kind, ObjectRef};

use crate::notation::Notation;

/// Renders `graph`.
pub(crate) fn render(graph: &DependencyGraph, notation: &Notation) -> String {
    let on_cycle: BTreeSet<ObjectRef> = graph.cycles().into_iter().flatten().collect();
    let in_folder: BTreeSet<ObjectRef> = graph.objects.iter().map(|o| o.object()).collect();
    let name = |object: &ObjectRef| quote(&notation.object(object));
    let mut out = String::from("digraph dependencies {\n  rankdir=LR;\n  node [shape=box];\n");
    for object in &in_folder {
        let mut attributes = Vec::new();
        if object.kind == Kind::Kustomization {
            attributes.push("shape=folder");
        }
        if on_cycle.contains(object) {
            attributes.push("color=red");
        }
        let attributes = if attributes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", attributes.join(", "))
        };
        let _ = writeln!(out, "  {}{attributes};", name(object));
    }
    let outside: BTreeSet<ObjectRef> = graph
        .objects
        .iter()
        .flat_map(|o| o.dependencies())
        .filter(|dep| !in_folder.contains(dep))
        .collect();
    for object in &outside {
        let _ = writeln!(out, "  {} [style=dashed];", name(object));
    }
    for object in &graph.objects {
        for dep in object.dependencies() {
            let _ = writeln!(out, "  {} -> {};", name(&dep), name(&object.object()));
        }
    }
    for object in &graph.objects {
        let parent = object.parent.as_ref().map(|key| ObjectRef {
            kind: Kind::Kustomization,
            key: key.clone(),
        });
        if let Some(parent) = parent.filter(|p| *p != object.object() && in_folder.contains(p)) {
            let _ = writeln!(
                out,
                "  {} -> {} [style=dotted, arrowhead=none];",
                name(&parent),
                name(&object.object())
            );
        }
    }
    out.push_str("}\n");
    out
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use flow_flux_mapper::DependencyGraph;
    use serde_json::json;

    use super::{quote, render};
    use crate::notation::Notation;

    #[test]
    fn quotes_escape_quotes_and_backslashes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn edges_run_from_dependency_to_dependent() {
        let doc = |name: &str, deps: serde_json::Value| {
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": name}, "spec": {"dependsOn": deps}})
        };
        let graph = DependencyGraph::from_documents(
            &[
                doc(
                    "a",
                    json!([{"name": "b"}, {"name": "ext", "namespace": "infra"}]),
                ),
                doc("b", json!([{"name": "a"}])),
            ],
            "flux-system",
        )
        .expect("valid documents");
        let dot = render(&graph, &Notation::new("flux-system"));
        assert!(dot.contains("  \"b\" -> \"a\";\n"), "{dot}");
        assert!(dot.contains("  \"a\" -> \"b\";\n"), "{dot}");
        assert!(dot.contains("  \"infra/ext\" -> \"a\";\n"), "{dot}");
        assert!(dot.contains("  \"infra/ext\" [style=dashed];\n"), "{dot}");
        assert!(dot.contains("  \"a\" [color=red];\n"), "{dot}");
        assert_eq!(dot.matches(" -> ").count(), 3);
    }
}
