//! A flow as a plain-text table grouped by region, with counts by status.

use std::fmt::Write as _;

use flow_client::Head;
use flow_contract::FlowNode;
use serde_json::Value;

use crate::change::meta_text;
use crate::state::FlowState;
use crate::status::{StatusClass, counts, counts_text};
use crate::timestamp::span;

/// Since when a node has been in its status (unix ms), as well as the node tells.
///
/// `meta.since` (the Ready condition's transition time) first; then `endedAt` for finished
/// nodes and `startedAt` for the others.
pub(crate) fn since(node: &FlowNode) -> Option<u64> {
    let meta_since = node
        .meta
        .as_ref()
        .and_then(|m| m.get("since"))
        .and_then(Value::as_u64);
    let finished = matches!(
        StatusClass::of(&node.status),
        StatusClass::Succeeded | StatusClass::Failed
    );
    meta_since.or(if finished {
        node.ended_at.or(node.started_at)
    } else {
        node.started_at
    })
}

/// Renders the table; `now` (unix ms) is the reference for the SINCE column.
pub(crate) fn render(flow_id: &str, state: &FlowState, head: &Head, now: u64) -> String {
    let mut out = String::new();
    let status = state.flow().map_or("unknown", |f| f.status.as_str());
    let all = counts(state.nodes().values().map(|n| n.status.as_str()));
    let _ = write!(
        out,
        "flow {flow_id}: {status}, {} nodes ({})",
        state.nodes().len(),
        counts_text(&all)
    );
    let _ = write!(out, "  seq {}  epoch {}", head.seq, head.epoch);
    out.push('\n');

    let groups = state.groups();
    let rows: Vec<Vec<[String; 4]>> = groups
        .iter()
        .map(|g| g.members.iter().map(|n| row(n, now)).collect())
        .collect();
    let mut widths = [4, 6, 5, 6];
    for cells in rows.iter().flatten() {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (group, rows) in groups.iter().zip(&rows) {
        out.push('\n');
        let name = group.parent.map_or_else(
            || group.id.unwrap_or("(no region)").to_owned(),
            |p| format!("{} [{}]", p.label, p.status),
        );
        let member_counts = counts(group.members.iter().map(|n| n.status.as_str()));
        let _ = writeln!(
            out,
            "{name}  {} nodes: {}",
            group.members.len(),
            counts_text(&member_counts)
        );
        if rows.is_empty() {
            continue;
        }
        line(
            &mut out,
            &widths,
            &["NODE", "STATUS", "SINCE", "REASON"].map(str::to_owned),
        );
        for cells in rows {
            line(&mut out, &widths, cells);
        }
    }
    out
}

fn row(node: &FlowNode, now: u64) -> [String; 4] {
    [
        node.label.clone(),
        node.status.clone(),
        since(node).map_or_else(|| "-".to_owned(), |t| span(now.saturating_sub(t))),
        meta_text(node, "reason").unwrap_or_default(),
    ]
}

fn line(out: &mut String, widths: &[usize; 4], cells: &[String; 4]) {
    out.push_str("  ");
    for (i, (width, cell)) in widths.iter().zip(cells).enumerate() {
        if i + 1 == cells.len() {
            out.push_str(cell);
        } else {
            let _ = write!(out, "{cell:<width$}  ");
        }
    }
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;

    #[test]
    fn groups_by_region_with_counts() {
        let mut state = FlowState::default();
        state.apply(
            "f",
            decode(
                br#"{"type":"snapshot","flow":{"id":"f","status":"running","startedAt":1},
            "nodes":[{"id":"r1","flowId":"f","label":"r1","status":"running"},
                     {"id":"r1/cilium","flowId":"f","label":"cilium","status":"succeeded","startedAt":1000,"endedAt":61000},
                     {"id":"r1/cert","flowId":"f","label":"cert","status":"failed","meta":{"reason":"InstallFailed","since":100000}},
                     {"id":"x","flowId":"f","label":"x","status":"waiting"}],
            "relationships":[{"fromId":"r1/cilium","toId":"r1","type":"contains"},
                             {"fromId":"r1/cert","toId":"r1","type":"contains"}]}"#,
                "f",
            )
            .unwrap(),
        );
        let head = Head {
            epoch: flow_router::Epoch(0x1f),
            seq: 7,
        };
        let expected = "\
flow f: running, 4 nodes (1 running, 1 succeeded, 1 failed, 1 waiting)  seq 7  epoch 1f

r1 [running]  2 nodes: 1 succeeded, 1 failed
  NODE    STATUS     SINCE  REASON
  cert    failed     21s    InstallFailed
  cilium  succeeded  1m0s

(no region)  1 nodes: 1 waiting
  NODE    STATUS     SINCE  REASON
  x       waiting    -
";
        assert_eq!(render("f", &state, &head, 121_000), expected);
    }
}
