//! `flowctl critical-path`: the chain of nodes that set a flow's end, as a table or JSON.
//!
//! The analysis is [`flow_router::Timeline`]; this module only renders it.

use std::fmt::Write as _;

use flow_router::{NodeTiming, Timeline};
use serde::Serialize;

use crate::timestamp::{rfc3339, span};

/// One node on the path, as `--format json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Step<'a> {
    id: &'a str,
    started_at: Option<u64>,
    ended_at: Option<u64>,
    wait_ms: Option<u64>,
}

/// `--format json`: `{"durationMs": N, "path": [{"id", "startedAt", "endedAt", "waitMs"}]}`,
/// in path order; `endedAt` is `null` for a node still running.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Json<'a> {
    duration_ms: u64,
    path: Vec<Step<'a>>,
}

fn steps(timeline: &Timeline) -> impl Iterator<Item = &NodeTiming> {
    timeline.path.iter().filter_map(|id| {
        timeline
            .nodes
            .binary_search_by(|n| n.id.as_str().cmp(id))
            .ok()
            .map(|at| &timeline.nodes[at])
    })
}

/// The path as pretty-printed JSON with a trailing newline.
pub(crate) fn json(timeline: &Timeline) -> Result<String, serde_json::Error> {
    let json = Json {
        duration_ms: timeline.duration_ms,
        path: steps(timeline)
            .map(|n| Step {
                id: &n.id,
                started_at: n.started_at,
                ended_at: n.ended_at,
                wait_ms: n.wait_ms,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&json)?;
    text.push('\n');
    Ok(text)
}

/// The path as a table: one row per node, first to last, under a line with the total.
pub(crate) fn table(flow_id: &str, timeline: &Timeline) -> String {
    let state = if timeline.running {
        "running for"
    } else {
        "took"
    };
    let mut out = format!(
        "flow {flow_id} {state} {}; critical path of {} node(s)\n",
        span(timeline.duration_ms),
        timeline.path.len()
    );
    let rows: Vec<[String; 5]> = steps(timeline)
        .map(|n| {
            [
                n.id.clone(),
                n.started_at.map(rfc3339).unwrap_or_default(),
                n.ended_at.map_or_else(|| "running".to_owned(), rfc3339),
                n.wait_ms.map(span).unwrap_or_default(),
                n.duration_ms.map(span).unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NODE", "STARTED", "ENDED", "WAIT", "DURATION"].map(str::to_owned);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use flow_contract::{FlowMessage, decode};

    use super::*;

    fn timeline(now: u64) -> Timeline {
        let FlowMessage::Snapshot {
            nodes,
            relationships,
            ..
        } = decode(
            br#"{"type":"snapshot","flow":{"id":"f","status":"running","startedAt":0},
            "nodes":[{"id":"a","flowId":"f","label":"a","status":"succeeded","startedAt":1000,"endedAt":61000},
                     {"id":"b","flowId":"f","label":"b","status":"running","startedAt":62000}],
            "relationships":[{"fromId":"a","toId":"b","type":"finish-to-start"}]}"#,
            "f",
        )
        .unwrap()
        else {
            panic!("not a snapshot")
        };
        Timeline::analyse(&nodes, &relationships, now).unwrap()
    }

    #[test]
    fn json_has_exactly_the_documented_shape() {
        let value: serde_json::Value =
            serde_json::from_str(&json(&timeline(90_000)).unwrap()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"durationMs": 89_000, "path": [
                {"id": "a", "startedAt": 1000, "endedAt": 61_000, "waitMs": 0},
                {"id": "b", "startedAt": 62_000, "endedAt": null, "waitMs": 60_000}]})
        );
    }

    #[test]
    fn table_lists_the_path_in_order() {
        let text = table("f", &timeline(90_000));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "flow f running for 1m29s; critical path of 2 node(s)"
        );
        assert!(lines[1].starts_with("NODE"), "{text}");
        assert!(
            lines[2].starts_with("a  ") && lines[2].contains("1970-01-01T00:01:01.000Z"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("b  ") && lines[3].contains("running"),
            "{text}"
        );
        assert_eq!(lines.len(), 4);
    }
}
