//! The dependency graph as Graphviz DOT: one node per release, one edge per `dependsOn` entry
//! from the dependency to its dependent (the order Flux installs them). Releases on a cycle are
//! red; names outside the folder (external or dangling) are dashed.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use flow_flux_mapper::{DependencyGraph, ObjectKey};

use crate::notation::Notation;

/// Renders `graph`.
pub(crate) fn render(graph: &DependencyGraph, notation: &Notation) -> String {
    let on_cycle: BTreeSet<ObjectKey> = graph.cycles().into_iter().flatten().collect();
    let in_folder: BTreeSet<&ObjectKey> = graph.releases.iter().map(|r| &r.key).collect();
    let mut out = String::from("digraph dependencies {\n  rankdir=LR;\n  node [shape=box];\n");
    for key in &in_folder {
        let colour = if on_cycle.contains(*key) {
            " [color=red]"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}{colour};", quote(&notation.key(key)));
    }
    let outside: BTreeSet<&ObjectKey> = graph
        .releases
        .iter()
        .flat_map(|r| &r.depends_on)
        .filter(|dep| !in_folder.contains(dep))
        .collect();
    for key in outside {
        let _ = writeln!(out, "  {} [style=dashed];", quote(&notation.key(key)));
    }
    for release in &graph.releases {
        for dep in &release.depends_on {
            let _ = writeln!(
                out,
                "  {} -> {};",
                quote(&notation.key(dep)),
                quote(&notation.key(&release.key))
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
