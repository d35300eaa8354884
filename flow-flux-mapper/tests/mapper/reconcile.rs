//! The reconciler: coalescing, silence when nothing changed, deletes after a relist, healing.

use flow_contract::{FlowMessage, FlowNode, RelPair, RelType, Relationship};
use flow_flux_mapper::{DependencyGraph, Event, Kind, MapError, ObjectKey, ObjectRef, Reconciler};
use serde_json::{Value, json};

use super::{FLOW, REGION, assert_valid, config};

fn release(name: &str, namespace: &str, ready: &str, deps: &[&str]) -> Value {
    let deps: Vec<Value> = deps.iter().map(|d| json!({"name": d})).collect();
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace, "generation": 1, "resourceVersion": "1"},
        "spec": {"interval": "10m", "dependsOn": deps},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": ready,
            "reason": "Progressing", "message": "", "lastTransitionTime": "2026-07-01T10:00:00Z"}]}
    })
}

fn flush(reconciler: &mut Reconciler) -> Vec<FlowMessage> {
    let out = reconciler.flush();
    out.iter().for_each(assert_valid);
    out
}

fn node_ids(messages: &[FlowMessage]) -> Vec<(&'static str, String)> {
    messages
        .iter()
        .flat_map(|m| match m {
            FlowMessage::UpsertNodes { nodes } => nodes
                .iter()
                .map(|n| ("upsert", format!("{}={}", n.id, n.status)))
                .collect(),
            FlowMessage::DeleteNodes { ids } => {
                ids.iter().map(|id| ("delete", id.clone())).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

fn started(objects: &[Value]) -> Reconciler {
    let mut reconciler = Reconciler::new(config());
    reconciler
        .handle(Event::InitStarted(Kind::HelmRelease))
        .unwrap();
    for object in objects {
        reconciler
            .handle(Event::InitObject(object.clone()))
            .unwrap();
    }
    reconciler
        .handle(Event::InitDone(Kind::HelmRelease))
        .unwrap();
    reconciler
}

#[test]
fn first_flush_emits_the_region_node_even_without_releases() {
    let mut reconciler = Reconciler::new(config());
    let out = flush(&mut reconciler);
    assert_eq!(node_ids(&out), [("upsert", format!("{REGION}=pending"))]);
    assert_eq!(out.len(), 1);
    assert!(flush(&mut reconciler).is_empty());
}

#[test]
fn nothing_visible_changed_means_no_message() {
    let mut reconciler = started(&[release("a", "flux-system", "True", &[])]);
    assert_eq!(flush(&mut reconciler).len(), 2);
    let mut same = release("a", "flux-system", "True", &[]);
    same["metadata"]["resourceVersion"] = "2".into();
    same["status"]["lastHandledReconcileAt"] = "now".into();
    reconciler.handle(Event::Applied(same)).unwrap();
    assert!(flush(&mut reconciler).is_empty());
}

#[test]
fn a_status_change_is_one_batched_upsert_with_the_region() {
    let mut reconciler = started(&[
        release("a", "flux-system", "True", &[]),
        release("b", "flux-system", "True", &[]),
    ]);
    let _ = flush(&mut reconciler);
    reconciler
        .handle(Event::Applied(release("a", "flux-system", "Unknown", &[])))
        .unwrap();
    reconciler
        .handle(Event::Applied(release("b", "flux-system", "Unknown", &[])))
        .unwrap();
    let out = flush(&mut reconciler);
    assert_eq!(out.len(), 1);
    assert_eq!(
        node_ids(&out),
        [
            ("upsert", format!("{REGION}=running")),
            ("upsert", format!("{REGION}/a=running")),
            ("upsert", format!("{REGION}/b=running")),
        ]
    );
}

#[test]
fn deleted_release_becomes_delete_nodes() {
    let mut reconciler = started(&[
        release("a", "flux-system", "True", &[]),
        release("b", "flux-system", "False", &["a"]),
    ]);
    let _ = flush(&mut reconciler);
    reconciler
        .handle(Event::Deleted(release("b", "flux-system", "False", &[])))
        .unwrap();
    let out = flush(&mut reconciler);
    assert_eq!(
        node_ids(&out),
        [
            ("upsert", format!("{REGION}=succeeded")),
            ("delete", format!("{REGION}/b")),
        ]
    );
    assert!(
        !out.iter()
            .any(|m| matches!(m, FlowMessage::DeleteRels { .. })),
        "edges of deleted nodes are pruned by the server: {out:?}"
    );
}

#[test]
fn relist_deletes_what_vanished_while_blind() {
    let mut reconciler = started(&[
        release("a", "flux-system", "True", &[]),
        release("b", "flux-system", "True", &[]),
        release("c", "apps", "True", &[]),
    ]);
    let _ = flush(&mut reconciler);
    reconciler
        .handle(Event::InitStarted(Kind::HelmRelease))
        .unwrap();
    reconciler
        .handle(Event::InitObject(release("a", "flux-system", "True", &[])))
        .unwrap();
    // Nothing is deleted before the relist is complete.
    assert!(flush(&mut reconciler).is_empty());
    reconciler
        .handle(Event::InitDone(Kind::HelmRelease))
        .unwrap();
    let out = flush(&mut reconciler);
    assert_eq!(
        out.last(),
        Some(&FlowMessage::DeleteNodes {
            ids: vec![format!("{REGION}/apps/c"), format!("{REGION}/b")]
        })
    );
}

#[test]
fn removed_depends_on_becomes_delete_rels() {
    let mut reconciler = started(&[
        release("a", "flux-system", "True", &[]),
        release("b", "flux-system", "True", &["a"]),
    ]);
    let _ = flush(&mut reconciler);
    reconciler
        .handle(Event::Applied(release("b", "flux-system", "True", &[])))
        .unwrap();
    let out = flush(&mut reconciler);
    assert_eq!(
        out,
        [FlowMessage::DeleteRels {
            pairs: vec![RelPair {
                from_id: format!("{REGION}/a"),
                to_id: format!("{REGION}/b"),
                rel_type: RelType::FinishToStart,
            }]
        }]
    );
}

#[test]
fn a_dependency_appearing_later_adds_its_edge() {
    let mut reconciler = started(&[release("b", "flux-system", "False", &["a"])]);
    let _ = flush(&mut reconciler);
    reconciler
        .handle(Event::Applied(release("a", "flux-system", "True", &[])))
        .unwrap();
    let out = flush(&mut reconciler);
    let FlowMessage::UpsertRels { relationships } = &out[1] else {
        panic!("{out:?}")
    };
    let keys: Vec<(String, String)> = relationships
        .iter()
        .map(|r| (r.from_id.clone(), r.to_id.clone()))
        .collect();
    assert_eq!(
        keys,
        [
            (format!("{REGION}/a"), REGION.to_owned()),
            (format!("{REGION}/a"), format!("{REGION}/b")),
        ]
    );
}

#[test]
fn a_chart_change_explains_the_waiting_release() {
    let mut waiting = release("a", "flux-system", "False", &[]);
    waiting["status"]["conditions"][0]["reason"] = "SourceNotReady".into();
    waiting["status"]["helmChart"] = "flux-system/flux-system-a".into();
    let mut reconciler = started(&[waiting]);
    let _ = flush(&mut reconciler);
    let chart = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": "flux-system-a", "namespace": "flux-system"},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "ChartPullError",
            "message": "no chart version found", "lastTransitionTime": "2026-07-01T10:00:00Z"}]}
    });
    reconciler.handle(Event::Applied(chart.clone())).unwrap();
    let out = flush(&mut reconciler);
    let FlowMessage::UpsertNodes { nodes } = &out[0] else {
        panic!("{out:?}")
    };
    let source = &nodes[0].meta.as_ref().unwrap()["source"];
    assert_eq!(source["reason"], "ChartPullError");
    assert_eq!(source["helmChart"], "flux-system/flux-system-a");
    reconciler.handle(Event::Deleted(chart)).unwrap();
    let out = flush(&mut reconciler);
    let FlowMessage::UpsertNodes { nodes } = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(nodes[0].meta.as_ref().unwrap()["source"]["found"], false);
}

#[test]
fn full_state_is_everything_and_counts_as_sent() {
    let mut reconciler = started(&[
        release("a", "flux-system", "True", &[]),
        release("b", "apps", "True", &["a"]),
    ]);
    let out = reconciler.full_state();
    out.iter().for_each(assert_valid);
    assert_eq!(node_ids(&out).len(), 3);
    assert!(flush(&mut reconciler).is_empty());
    assert_eq!(
        reconciler.full_state(),
        out,
        "full_state repeats everything"
    );
}

fn node(id: &str, region: Option<&str>) -> FlowNode {
    FlowNode {
        id: id.to_owned(),
        flow_id: FLOW.to_owned(),
        label: id.to_owned(),
        status: "running".to_owned(),
        family: None,
        region: region.map(str::to_owned),
        started_at: None,
        ended_at: None,
        meta: None,
    }
}

fn rel(from: &str, to: &str, rel_type: RelType) -> Relationship {
    Relationship {
        from_id: from.to_owned(),
        to_id: to.to_owned(),
        from_flow_id: None,
        to_flow_id: None,
        rel_type,
        condition: None,
        lag: None,
    }
}

#[test]
fn heal_touches_only_this_region() {
    let mut reconciler = started(&[release("a", "flux-system", "True", &[])]);
    let current = reconciler.full_state();
    let FlowMessage::UpsertNodes { nodes } = &current[0] else {
        panic!()
    };
    let mut server_nodes = nodes.clone();
    server_nodes.push(node(&format!("{REGION}/gone"), Some(REGION)));
    server_nodes.push(node("legacy-child", None));
    server_nodes.push(node("hel1/other", Some("hel1")));
    server_nodes.push(node("hel1", Some("hel1")));
    let snapshot = FlowMessage::Snapshot {
        flow: flow_contract::FlowInstance::new(FLOW.to_owned(), "running", 0),
        nodes: server_nodes,
        relationships: vec![
            rel(&format!("{REGION}/a"), REGION, RelType::Contains),
            rel("legacy-child", REGION, RelType::Contains),
            rel(&format!("{REGION}/gone"), REGION, RelType::Contains),
            rel(REGION, &format!("{REGION}/a"), RelType::FinishToStart),
            rel("hel1/other", "hel1", RelType::Contains),
        ],
    };
    let out = reconciler.heal(&snapshot);
    out.iter().for_each(assert_valid);
    assert_eq!(
        out,
        [
            FlowMessage::DeleteRels {
                pairs: vec![RelPair {
                    from_id: REGION.to_owned(),
                    to_id: format!("{REGION}/a"),
                    rel_type: RelType::FinishToStart
                }]
            },
            FlowMessage::DeleteNodes {
                ids: vec![format!("{REGION}/gone"), "legacy-child".to_owned()]
            },
        ]
    );
    assert!(flush(&mut reconciler).is_empty());
    // A server that lost everything gets everything back.
    let empty = FlowMessage::DeleteNodes {
        ids: vec!["x".to_owned()],
    };
    assert_eq!(reconciler.heal(&empty), current);
}

#[test]
fn same_name_in_two_namespaces_stays_two_nodes() {
    let mut reconciler = started(&[
        release("db", "flux-system", "True", &[]),
        release("db", "apps", "Unknown", &[]),
    ]);
    let out = flush(&mut reconciler);
    assert_eq!(
        node_ids(&out),
        [
            ("upsert", format!("{REGION}=running")),
            ("upsert", format!("{REGION}/apps/db=running")),
            ("upsert", format!("{REGION}/db=succeeded")),
        ]
    );
}

#[test]
fn identity_errors_are_typed_and_leave_state_alone() {
    let mut reconciler = Reconciler::new(config());
    let _ = flush(&mut reconciler);
    let cases = [
        (json!([1]), MapError::NotAnObject { found: "an array" }),
        (
            json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "metadata": {"name": "a"}}),
            MapError::MissingIdentity { field: "kind" },
        ),
        (
            json!({"kind": "HelmRelease", "metadata": {"name": "a"}}),
            MapError::MissingIdentity {
                field: "apiVersion",
            },
        ),
        (
            json!({"kind": "HelmRelease", "apiVersion": "helm.toolkit.fluxcd.io/v2", "metadata": {"name": ""}}),
            MapError::MissingIdentity {
                field: "metadata.name",
            },
        ),
        (
            json!({"kind": "HelmRelease", "apiVersion": "helm.toolkit.fluxcd.io/v2", "metadata": {"name": "a/b"}}),
            MapError::InvalidName {
                field: "metadata.name",
                value: "a/b".to_owned(),
            },
        ),
        (
            json!({"kind": "Kustomization", "apiVersion": "kustomize.config.k8s.io/v1beta1", "metadata": {"name": "a"}}),
            MapError::UnsupportedKind {
                kind: "Kustomization".to_owned(),
                api_version: "kustomize.config.k8s.io/v1beta1".to_owned(),
            },
        ),
    ];
    for (object, expected) in cases {
        assert_eq!(
            reconciler.handle(Event::Applied(object.clone())),
            Err(expected.clone())
        );
        assert_eq!(reconciler.handle(Event::Deleted(object)), Err(expected));
    }
    let long = "n".repeat(250);
    let err = reconciler
        .handle(Event::Applied(release(&long, "apps", "True", &[])))
        .unwrap_err();
    assert!(
        matches!(
            err,
            MapError::IdTooLong {
                len: 260,
                limit: 256,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(reconciler.count(Kind::HelmRelease), 0);
    assert!(flush(&mut reconciler).is_empty());
}

#[test]
fn huge_meta_is_cut_to_the_contract_limits() {
    let deps: Vec<Value> = (0..500)
        .map(|i| json!({"name": format!("dep-{i:03}"), "readyExpr": "x".repeat(3000)}))
        .collect();
    let mut object = release("big", "flux-system", "False", &[]);
    object["spec"]["dependsOn"] = Value::Array(deps);
    object["status"]["conditions"][0]["reason"] = "DependencyNotReady".into();
    object["status"]["conditions"][0]["message"] = "m".repeat(40_000).into();
    object["metadata"]["labels"] = json!({"catalyst.openova.io/family": "f".repeat(5000)});
    let mut reconciler = started(&[object]);
    let out = flush(&mut reconciler);
    let FlowMessage::UpsertNodes { nodes } = &out[0] else {
        panic!()
    };
    let meta = nodes[1].meta.as_ref().unwrap();
    assert_eq!(meta["message"].as_str().unwrap().len(), 1024);
    assert_eq!(meta["missingDependencies"].as_array().unwrap().len(), 32);
    assert_eq!(nodes[1].family.as_ref().unwrap().len(), 1024);
}

#[test]
fn dependency_graph_from_documents() {
    let documents = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}),
        release("a", "flux-system", "True", &["b"]),
        release("b", "flux-system", "True", &["a", "missing"]),
        release("c", "apps", "True", &["c"]),
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "d"}, "spec": {"dependsOn": [{"name": "c", "namespace": "apps"}]}}),
    ];
    let graph = DependencyGraph::from_documents(&documents, "flux-system").unwrap();
    let object_key = |ns: &str, name: &str| ObjectKey {
        namespace: ns.to_owned(),
        name: name.to_owned(),
    };
    let key = |ns: &str, name: &str| ObjectRef {
        kind: Kind::HelmRelease,
        key: object_key(ns, name),
    };
    assert_eq!(graph.objects.len(), 4);
    assert_eq!(graph.objects[3].key, object_key("flux-system", "d"));
    assert_eq!(graph.objects[3].depends_on, [object_key("apps", "c")]);
    assert_eq!(
        graph.cycles(),
        [
            vec![key("apps", "c")],
            vec![key("flux-system", "a"), key("flux-system", "b")]
        ]
    );
    assert_eq!(
        graph.dangling(),
        [(key("flux-system", "b"), key("flux-system", "missing"))]
    );
    let err = DependencyGraph::from_documents(&[json!({"kind": "X"})], "flux-system").unwrap_err();
    assert_eq!(err.index, 0);
    assert_eq!(
        err.to_string(),
        "document 0: identity field `apiVersion` is missing, empty or not a string"
    );
}

#[test]
fn unreadable_times_are_left_out_and_unknown_reasons_forwarded() {
    let mut object = release("a", "flux-system", "False", &[]);
    object["status"]["conditions"][0]["reason"] = "BrandNewReason".into();
    object["status"]["conditions"][0]["lastTransitionTime"] = "yesterday".into();
    object["status"]["conditions"].as_array_mut().unwrap().push(
        json!({"type": "Stalled", "status": "True", "reason": "RetriesExceeded",
            "message": "m", "lastTransitionTime": 17}),
    );
    let mut reconciler = started(&[object]);
    let out = flush(&mut reconciler);
    let FlowMessage::UpsertNodes { nodes } = &out[0] else {
        panic!("{out:?}")
    };
    let node = &nodes[1];
    assert_eq!(node.status, "failed");
    assert_eq!(node.ended_at, None);
    let meta = node.meta.as_ref().unwrap();
    assert_eq!(meta.get("since"), None);
    assert_eq!(meta["rule"], "stalled");

    let mut unknown = release("b", "flux-system", "False", &[]);
    unknown["status"]["conditions"][0]["reason"] = "BrandNewReason".into();
    reconciler.handle(Event::Applied(unknown)).unwrap();
    let out = flush(&mut reconciler);
    let FlowMessage::UpsertNodes { nodes } = &out[0] else {
        panic!("{out:?}")
    };
    let meta = nodes[1].meta.as_ref().unwrap();
    assert_eq!(
        (nodes[1].status.as_str(), &meta["reason"]),
        ("running", &json!("BrandNewReason"))
    );
    assert_eq!(meta["rule"], "unknown-reason");
}

fn kustomization(name: &str, inventory: &[&str]) -> Value {
    let entries: Vec<Value> = inventory
        .iter()
        .map(|hr| json!({"id": format!("flux-system_{hr}_helm.toolkit.fluxcd.io_HelmRelease"), "v": "v2"}))
        .collect();
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": 1, "inventory": {"entries": entries},
            "conditions": [{"type": "Ready", "status": "True",
                "reason": "ReconciliationSucceeded", "message": "Applied revision: main@sha1:1",
                "lastTransitionTime": "2026-07-01T10:00:00Z"}]}
    })
}

fn contains_edges(messages: &[FlowMessage]) -> Vec<(String, String)> {
    messages
        .iter()
        .flat_map(|m| match m {
            FlowMessage::UpsertRels { relationships } => relationships
                .iter()
                .filter(|r| r.rel_type == RelType::Contains)
                .map(|r| (r.from_id.clone(), r.to_id.clone()))
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn a_deleted_kustomization_hands_its_releases_back_to_the_region() {
    let mut reconciler = Reconciler::new(config());
    reconciler
        .handle(Event::Applied(kustomization("infra", &["a"])))
        .unwrap();
    reconciler
        .handle(Event::Applied(release("a", "flux-system", "False", &[])))
        .unwrap();
    let infra = format!("{REGION}/ks/flux-system/infra");
    let first = flush(&mut reconciler);
    assert_eq!(
        contains_edges(&first),
        [
            (format!("{REGION}/a"), infra.clone()),
            (infra.clone(), REGION.to_owned()),
        ]
    );
    // The region rolls up the Kustomization too: one running release, one succeeded.
    assert_eq!(node_ids(&first)[0], ("upsert", format!("{REGION}=running")));
    assert_eq!(reconciler.count(Kind::Kustomization), 1);

    reconciler
        .handle(Event::Deleted(kustomization("infra", &[])))
        .unwrap();
    let out = flush(&mut reconciler);
    assert_eq!(
        contains_edges(&out),
        [(format!("{REGION}/a"), REGION.to_owned())]
    );
    assert_eq!(
        node_ids(&out),
        [("upsert", format!("{REGION}=running")), ("delete", infra),]
    );
    assert_eq!(reconciler.count(Kind::Kustomization), 0);
}

#[test]
fn heal_deletes_a_kustomization_the_server_holds_but_the_cluster_lost() {
    let mut reconciler = started(&[release("a", "flux-system", "True", &[])]);
    let _ = flush(&mut reconciler);
    let mut server = Reconciler::new(config());
    server
        .handle(Event::Applied(kustomization("gone", &["a"])))
        .unwrap();
    server
        .handle(Event::Applied(release("a", "flux-system", "True", &[])))
        .unwrap();
    let held = server.graph();
    let snapshot = FlowMessage::Snapshot {
        flow: flow_contract::FlowInstance::new(FLOW, "running", 0),
        nodes: held.nodes.into_values().collect(),
        relationships: held.relationships.into_values().collect(),
    };
    let out = reconciler.heal(&snapshot);
    out.iter().for_each(assert_valid);
    assert!(
        out.iter()
            .any(|m| matches!(m, FlowMessage::DeleteNodes { ids }
            if ids == &[format!("{REGION}/ks/flux-system/gone")])),
        "{out:?}"
    );
    assert_eq!(
        contains_edges(&out),
        [(format!("{REGION}/a"), REGION.to_owned())]
    );
}
