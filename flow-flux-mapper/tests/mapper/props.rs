//! Properties: a stale generation never maps to succeeded; output does not depend on event
//! order; containment is a tree whatever labels and inventories say; arbitrary JSON never
//! panics and every output validates.

use flow_flux_mapper::{Event, HelmRelease, Kind, NodeStatus, Reconciler, decide};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{assert_valid, config};

const STATUSES: &[&str] = &["True", "False", "Unknown", "true", ""];
const REASONS: &[&str] = &[
    "InstallSucceeded",
    "UpgradeSucceeded",
    "Progressing",
    "ProgressingWithRetry",
    "InstallFailed",
    "RetriesExhausted",
    "RetriesExceeded",
    "DependencyNotReady",
    "SourceNotReady",
    "RollbackSucceeded",
    "SomethingElse",
];
const TYPES: &[&str] = &[
    "Ready",
    "Reconciling",
    "Stalled",
    "Drifted",
    "Released",
    "Other",
];

fn condition() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(TYPES),
        prop::sample::select(STATUSES),
        prop::sample::select(REASONS),
        prop::option::of(0_i64..10),
    )
        .prop_map(|(t, s, r, og)| {
            let mut c = json!({"type": t, "status": s, "reason": r, "message": "m",
                "lastTransitionTime": "2026-07-01T10:00:00Z"});
            if let Some(og) = og {
                c["observedGeneration"] = og.into();
            }
            c
        })
}

fn release(
    name: String,
    namespace: &'static str,
    (generation, observed): (i64, i64),
    conditions: Vec<Value>,
    deps: Vec<String>,
) -> Value {
    let deps: Vec<Value> = deps.iter().map(|d| json!({"name": d})).collect();
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": namespace, "generation": generation},
        "spec": {"dependsOn": deps},
        "status": {"observedGeneration": observed, "conditions": conditions}
    })
}

proptest! {
    #[test]
    fn stale_generation_never_maps_to_succeeded(
        generation in 1_i64..50,
        lag in 1_i64..50,
        conditions in prop::collection::vec(condition(), 0..6),
        suspend: bool,
        deleting: bool,
    ) {
        let observed = (generation - lag).max(-1);
        let mut object = release("a".into(), "flux-system", (generation, observed), conditions, vec![]);
        object["spec"]["suspend"] = suspend.into();
        if deleting {
            object["metadata"]["deletionTimestamp"] = "2026-07-01T10:00:00Z".into();
        }
        let decision = decide(&HelmRelease::from_value(&object).unwrap());
        prop_assert_ne!(decision.status, NodeStatus::Succeeded);
    }

    #[test]
    fn output_is_independent_of_event_order(
        releases in prop::collection::vec(
            (0_usize..8, prop::sample::select(&["flux-system", "apps"][..]), 1_i64..4, 0_i64..4,
             prop::collection::vec(condition(), 0..4), prop::collection::vec(0_usize..8, 0..3)),
            0..12),
        seed in any::<u64>(),
    ) {
        let objects: Vec<Value> = releases
            .into_iter()
            .map(|(n, ns, g, o, c, deps)| {
                release(format!("r{n}"), ns, (g, o), c,
                        deps.into_iter().map(|d| format!("r{d}")).collect())
            })
            // One object per key, as a watcher would deliver.
            .fold(Vec::<Value>::new(), |mut acc, object| {
                if !acc.iter().any(|o| o["metadata"] == object["metadata"]
                    || (o["metadata"]["name"] == object["metadata"]["name"]
                        && o["metadata"]["namespace"] == object["metadata"]["namespace"])) {
                    acc.push(object);
                }
                acc
            });
        let mut shuffled = objects.clone();
        // A deterministic permutation driven by the seed.
        let len = shuffled.len();
        if len > 1 {
            let mut state = seed;
            for i in (1..len).rev() {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let j = usize::try_from(state >> 33).unwrap() % (i + 1);
                shuffled.swap(i, j);
            }
        }
        let run = |objects: &[Value]| {
            let mut reconciler = Reconciler::new(config());
            for object in objects {
                reconciler.handle(Event::Applied(object.clone())).unwrap();
            }
            let out = reconciler.flush();
            out.iter().for_each(assert_valid);
            out
        };
        prop_assert_eq!(run(&objects), run(&shuffled));
    }

    #[test]
    fn arbitrary_json_never_panics(value in arbitrary_json(), as_release: bool) {
        let mut value = value;
        if as_release && let Value::Object(map) = &mut value {
            map.insert("apiVersion".into(), "helm.toolkit.fluxcd.io/v2".into());
            map.insert("kind".into(), "HelmRelease".into());
            map.entry("metadata").or_insert(json!({"name": "x"}));
        }
        let mut reconciler = Reconciler::new(config());
        let _ = reconciler.handle(Event::Applied(value.clone()));
        reconciler.flush().iter().for_each(assert_valid);
        let _ = reconciler.handle(Event::Deleted(value));
        reconciler.handle(Event::InitStarted(Kind::HelmRelease)).unwrap();
        reconciler.handle(Event::InitDone(Kind::HelmRelease)).unwrap();
        reconciler.flush().iter().for_each(assert_valid);
    }
}

/// Names shared by Kustomizations and releases, so labels and inventories point anywhere:
/// at themselves, at each other in loops, at objects of the other kind or at nothing.
const NAMES: &[&str] = &["a", "b", "c", "d"];

fn nested_kustomization(name: &str, parent: Option<&str>, applied: &[(bool, &str)]) -> Value {
    let entries: Vec<Value> = applied
        .iter()
        .map(|(is_kustomization, child)| {
            let (group, kind) = if *is_kustomization {
                ("kustomize.toolkit.fluxcd.io", "Kustomization")
            } else {
                ("helm.toolkit.fluxcd.io", "HelmRelease")
            };
            json!({"id": format!("flux-system_{child}_{group}_{kind}"), "v": "v1"})
        })
        .collect();
    let mut object = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m", "prune": true,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": 1, "inventory": {"entries": entries}, "conditions": []}
    });
    if let Some(parent) = parent {
        object["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": parent});
    }
    object
}

fn labelled_release(name: &str, parent: Option<&str>) -> Value {
    let mut object = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": name, "namespace": "flux-system", "generation": 1},
        "spec": {"interval": "10m"}
    });
    if let Some(parent) = parent {
        object["metadata"]["labels"] = json!({"kustomize.toolkit.fluxcd.io/name": parent});
    }
    object
}

fn nesting() -> impl Strategy<Value = Vec<Value>> {
    let name = || prop::sample::select(NAMES);
    let kustomization = (
        name(),
        prop::option::of(name()),
        prop::collection::vec((any::<bool>(), name()), 0..4),
    )
        .prop_map(|(n, parent, applied)| nested_kustomization(n, parent, &applied));
    let release = (name(), prop::option::of(name())).prop_map(|(n, p)| labelled_release(n, p));
    (
        prop::collection::vec(kustomization, 0..5),
        prop::collection::vec(release, 0..5),
    )
        .prop_map(|(mut k, r)| {
            k.extend(r);
            k
        })
}

proptest! {
    #[test]
    fn containment_is_a_tree_under_the_region(objects in nesting()) {
        let mut reconciler = Reconciler::new(config());
        for object in &objects {
            reconciler.handle(Event::Applied(object.clone())).unwrap();
        }
        let graph = reconciler.graph();
        let region = super::REGION;
        let mut parent = std::collections::BTreeMap::new();
        for rel in graph.relationships.values() {
            if rel.rel_type == flow_contract::RelType::Contains {
                prop_assert!(
                    parent.insert(rel.from_id.clone(), rel.to_id.clone()).is_none(),
                    "{} has two parents", rel.from_id
                );
                let is_kustomization = graph.nodes[&rel.to_id]
                    .meta.as_ref()
                    .and_then(|m| m.get("kind"))
                    .is_some_and(|k| k == "Kustomization");
                prop_assert!(rel.to_id == region || is_kustomization, "{rel:?}");
            }
        }
        for id in graph.nodes.keys().filter(|id| *id != region) {
            let mut at = id.clone();
            let mut steps = 0;
            while at != region {
                at = parent.get(&at).cloned().unwrap_or_else(|| panic!("{at} has no parent"));
                steps += 1;
                prop_assert!(steps <= graph.nodes.len(), "{id} never reaches the region");
            }
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z/ -]{0,12}".prop_map(Value::from),
        prop::sample::select(&["True", "False", "Ready", "Stalled", "2026-07-01T10:00:00Z"][..])
            .prop_map(Value::from),
    ];
    let keys = prop::sample::select(
        &[
            "kind",
            "apiVersion",
            "metadata",
            "name",
            "namespace",
            "generation",
            "spec",
            "status",
            "conditions",
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "dependsOn",
            "suspend",
            "observedGeneration",
            "history",
            "helmChart",
            "labels",
            "chart",
            "x",
        ][..],
    );
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..8).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}
