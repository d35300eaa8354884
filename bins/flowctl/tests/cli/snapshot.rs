//! `flowctl snapshot`: DOT parsed back with a Graphviz parser, table, JSON, missing flows;
//! `flowctl head`: the snapshot's position without its body.

use graphviz_rust::dot_structures::{Edge, EdgeTy, Graph, Id, Stmt, Subgraph, Vertex};

use crate::harness::{Server, flowctl, post};

const FLOW: &str = r#"{"type":"upsert-nodes","nodes":[
  {"id":"fsn1","flowId":"dot","label":"fsn1","status":"running"},
  {"id":"fsn1/bp-cilium","flowId":"dot","label":"bp-cilium","status":"succeeded"},
  {"id":"fsn1/bp-cert-manager","flowId":"dot","label":"bp \"cert\" manager","status":"failed","meta":{"reason":"InstallFailed"}},
  {"id":"loose","flowId":"dot","label":"loose","status":"odd\\status"}]}
{"type":"upsert-rels","relationships":[
  {"fromId":"fsn1/bp-cilium","toId":"fsn1","type":"contains"},
  {"fromId":"fsn1/bp-cert-manager","toId":"fsn1","type":"contains"},
  {"fromId":"fsn1/bp-cilium","toId":"fsn1/bp-cert-manager","type":"finish-to-start"},
  {"fromId":"fsn1/bp-cert-manager","toId":"loose","type":"triggers"}]}"#;

fn text(id: &Id) -> String {
    match id {
        Id::Escaped(s) => s
            .trim_matches('"')
            .replace("\\\"", "\"")
            .replace("\\\\", "\\"),
        Id::Html(s) | Id::Plain(s) | Id::Anonymous(s) => s.clone(),
    }
}

fn collect(
    stmts: &[Stmt],
    nodes: &mut Vec<(String, Vec<(String, String)>)>,
    edges: &mut Vec<(String, String, String)>,
    clusters: &mut Vec<Vec<String>>,
) {
    for stmt in stmts {
        match stmt {
            Stmt::Node(node) => nodes.push((
                text(&node.id.0),
                node.attributes
                    .iter()
                    .map(|a| (text(&a.0), text(&a.1)))
                    .collect(),
            )),
            Stmt::Edge(Edge {
                ty: EdgeTy::Pair(Vertex::N(a), Vertex::N(b)),
                attributes,
            }) => {
                let label = attributes
                    .iter()
                    .find(|a| text(&a.0) == "label")
                    .map(|a| text(&a.1))
                    .unwrap_or_default();
                edges.push((text(&a.0), text(&b.0), label));
            }
            Stmt::Subgraph(Subgraph { stmts, .. }) => {
                let mut inner = Vec::new();
                collect(stmts, &mut inner, edges, clusters);
                clusters.push(inner.iter().map(|(id, _)| id.clone()).collect());
                nodes.extend(inner);
            }
            _ => {}
        }
    }
}

#[test]
fn dot_output_parses_back_to_the_flow() {
    let server = Server::start(&[]);
    post(&server, "dot", FLOW);
    let out = flowctl(&["snapshot", &server.url, "dot", "--format", "dot"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = String::from_utf8(out.stdout).expect("DOT is UTF-8");
    let graph = graphviz_rust::parse(&dot).unwrap_or_else(|e| panic!("unparsable DOT: {e}\n{dot}"));
    let Graph::DiGraph { id, stmts, .. } = graph else {
        panic!("not a digraph")
    };
    assert_eq!(text(&id), "dot");

    let (mut nodes, mut edges, mut clusters) = (Vec::new(), Vec::new(), Vec::new());
    collect(&stmts, &mut nodes, &mut edges, &mut clusters);
    nodes.sort();
    let ids: Vec<&str> = nodes.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["fsn1/bp-cert-manager", "fsn1/bp-cilium", "loose"],
        "regions are clusters, not nodes"
    );
    assert_eq!(
        clusters,
        [vec![
            "fsn1/bp-cert-manager".to_owned(),
            "fsn1/bp-cilium".to_owned()
        ]]
    );
    let label = |id: &str| {
        nodes
            .iter()
            .find(|(n, _)| n == id)
            .and_then(|(_, attrs)| attrs.iter().find(|(k, _)| k == "label"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        label("fsn1/bp-cert-manager").as_deref(),
        Some("bp \"cert\" manager\\nfailed")
    );
    assert_eq!(label("loose").as_deref(), Some("loose\\nodd\\status"));
    edges.sort();
    assert_eq!(
        edges,
        [
            (
                "fsn1/bp-cert-manager".to_owned(),
                "loose".to_owned(),
                "triggers".to_owned()
            ),
            (
                "fsn1/bp-cilium".to_owned(),
                "fsn1/bp-cert-manager".to_owned(),
                "finish-to-start".to_owned()
            ),
        ]
    );
}

#[test]
fn table_and_json_formats() {
    let server = Server::start(&[]);
    post(&server, "dot", FLOW);
    let table = flowctl(&["snapshot", &server.url, "dot"], "");
    let table = String::from_utf8(table.stdout).expect("UTF-8");
    assert!(table.starts_with("flow dot: failed, 4 nodes (1 running, 1 succeeded, 1 failed, 1 odd\\status)  seq 2  epoch "), "{table}");
    assert!(
        table.contains("\nfsn1 [running]  2 nodes: 1 succeeded, 1 failed\n"),
        "{table}"
    );
    assert!(
        table.contains("\n(no region)  1 nodes: 1 odd\\status\n"),
        "{table}"
    );

    let json = flowctl(&["snapshot", &server.url, "dot", "--format", "json"], "");
    let message = flow_contract::decode(&json.stdout, "dot").expect("a valid snapshot message");
    assert_eq!(message.message_type(), flow_contract::MessageType::Snapshot);
}

#[test]
fn missing_flow_exits_5_and_unreachable_server_exits_1() {
    let server = Server::start(&[]);
    let out = flowctl(&["snapshot", &server.url, "never-posted"], "");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = server.url.clone();
    drop(server);
    let out = flowctl(&["snapshot", &url, "x"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the server"));
}

#[test]
fn head_prints_the_position_of_the_snapshot() {
    let server = Server::start(&[("FLOW_SERVER_READ_TOKENS", "rd")]);
    let missing = flowctl(&["--token", "rd", "head", &server.url, "dot"], "");
    assert_eq!(
        missing.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    post(&server, "dot", FLOW);
    let refused = flowctl(&["head", &server.url, "dot"], "");
    assert_eq!(refused.status.code(), Some(4), "a read token is needed");

    let head = flowctl(&["--token", "rd", "head", &server.url, "dot"], "");
    assert!(
        head.status.success(),
        "{}",
        String::from_utf8_lossy(&head.stderr)
    );
    let line = String::from_utf8(head.stdout).expect("UTF-8");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let ["dot", "epoch", epoch, "seq", "2"] = fields[..] else {
        panic!("unexpected head output {line:?}");
    };
    assert!(
        !epoch.is_empty() && epoch.chars().all(|c| c.is_ascii_hexdigit()),
        "{line:?}"
    );
}
