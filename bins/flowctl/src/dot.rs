//! A flow as Graphviz DOT: one cluster per region, nodes filled by status, edges labelled with
//! their type. `contains` relationships become the clusters and are not drawn as edges.

use std::fmt::Write as _;

use flow_contract::{FlowNode, RelType};

use crate::state::FlowState;
use crate::status::StatusClass;

/// Renders the flow as a `digraph` named after it, laid out left to right.
pub(crate) fn render(flow_id: &str, state: &FlowState) -> String {
    let mut out = String::new();
    let status = state.flow().map_or("unknown", |f| f.status.as_str());
    let _ = writeln!(out, "digraph {} {{", quote(flow_id));
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, labelloc=t, fontname=\"sans-serif\", label={}];",
        quote(&format!("flow {flow_id}: {status}"))
    );
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n");
    out.push_str("  edge [fontname=\"sans-serif\", fontsize=10];\n");
    for (index, group) in state.groups().iter().enumerate() {
        let indent = if group.id.is_some() { "    " } else { "  " };
        if let Some(id) = group.id {
            let label = group
                .parent
                .map_or_else(|| id.to_owned(), |p| format!("{} [{}]", p.label, p.status));
            let _ = writeln!(out, "  subgraph cluster_{index} {{");
            let _ = writeln!(out, "    label={};", quote(&label));
        }
        for node in &group.members {
            node_line(&mut out, indent, node);
        }
        if group.id.is_some() {
            out.push_str("  }\n");
        }
    }
    for rel in state.rels().values() {
        if rel.rel_type == RelType::Contains {
            continue;
        }
        let style = match rel.rel_type {
            RelType::StartToStart | RelType::StartToFinish => "dashed",
            RelType::FinishToFinish => "dotted",
            RelType::Triggers => "bold",
            RelType::Contains | RelType::FinishToStart => "solid",
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}, style={style}];",
            quote(&rel.from_id),
            quote(&rel.to_id),
            quote(rel.rel_type.as_str())
        );
    }
    out.push_str("}\n");
    out
}

fn node_line(out: &mut String, indent: &str, node: &FlowNode) {
    let _ = writeln!(
        out,
        "{indent}{} [label={}, fillcolor={}];",
        quote(&node.id),
        quote(&format!("{}\n{}", node.label, node.status)),
        quote(StatusClass::of(&node.status).fill())
    );
}

/// A DOT double-quoted string: backslash and quote escaped, line breaks as `\n`.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;

    #[test]
    fn clusters_regions_and_labels_edges() {
        let mut state = FlowState::default();
        state.apply(
            "f",
            decode(
                br#"{"type":"snapshot","flow":{"id":"f","status":"running","startedAt":1},
            "nodes":[{"id":"r1","flowId":"f","label":"r1","status":"running"},
                     {"id":"r1/a","flowId":"f","label":"a \"q\"","status":"succeeded"},
                     {"id":"b","flowId":"f","label":"b\\","status":"odd"}],
            "relationships":[{"fromId":"r1/a","toId":"r1","type":"contains"},
                             {"fromId":"r1/a","toId":"b","type":"finish-to-start"}]}"#,
                "f",
            )
            .unwrap(),
        );
        let expected = r##"digraph "f" {
  graph [rankdir=LR, labelloc=t, fontname="sans-serif", label="flow f: running"];
  node [shape=box, style="rounded,filled", fontname="sans-serif"];
  edge [fontname="sans-serif", fontsize=10];
  subgraph cluster_0 {
    label="r1 [running]";
    "r1/a" [label="a \"q\"\nsucceeded", fillcolor="#a6dba0"];
  }
  "b" [label="b\\\nodd", fillcolor="#e8e4d8"];
  "r1/a" -> "b" [label="finish-to-start", style=solid];
}
"##;
        assert_eq!(render("f", &state), expected);
    }
}
