//! Every fixture is valid against the CRD's `openAPIV3Schema` (the structural subset: known
//! fields, JSON types, required fields, enums, string lengths, integer minimums, date-times).
//!
//! The CRDs are committed as JSON under `testdata/crds/` (see its README for provenance).

use flow_flux_mapper::rfc3339_to_unix_ms;
use serde_json::{Map, Value};

use super::golden::{cases, inputs, items, read_json};
use super::testdata;

/// `metadata` is `type: object` in a CRD; these are the ObjectMeta fields fixtures may use.
const OBJECT_META: &[&str] = &[
    "name",
    "namespace",
    "generation",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "finalizers",
];

fn crd_schema(file: &str) -> Value {
    let crd = read_json(&testdata().join("crds").join(file));
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["storage"] == Value::Bool(true))
        .unwrap()
        .clone();
    version["schema"]["openAPIV3Schema"].clone()
}

fn check(value: &Value, schema: &Map<String, Value>, path: &str, errors: &mut Vec<String>) {
    let flag = |name: &str| schema.get(name) == Some(&Value::Bool(true));
    if flag("x-kubernetes-preserve-unknown-fields") && !schema.contains_key("properties") {
        return;
    }
    if flag("x-kubernetes-int-or-string") {
        if !(value.is_i64() || value.is_string()) {
            errors.push(format!("{path}: not an int or string"));
        }
        return;
    }
    let mut fail = |what: String| errors.push(format!("{path}: {what}"));
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let Some(object) = value.as_object() else {
                return fail("not an object".into());
            };
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !object.contains_key(required.as_str().unwrap()) {
                    fail(format!("missing required {required}"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema
                .get("additionalProperties")
                .and_then(Value::as_object);
            for (key, child) in object {
                let child_path = format!("{path}.{key}");
                if path == "$.metadata" {
                    if !OBJECT_META.contains(&key.as_str()) {
                        errors.push(format!("{child_path}: not an ObjectMeta field"));
                    }
                    continue;
                }
                match (properties.and_then(|p| p.get(key)), additional) {
                    (Some(sub), _) => check(child, sub.as_object().unwrap(), &child_path, errors),
                    (None, Some(sub)) => check(child, sub, &child_path, errors),
                    (None, None) if properties.is_none() => {}
                    (None, None) => errors.push(format!("{child_path}: unknown field")),
                }
            }
        }
        Some("array") => {
            let Some(array) = value.as_array() else {
                return fail("not an array".into());
            };
            let items = schema["items"].as_object().unwrap();
            for (i, item) in array.iter().enumerate() {
                check(item, items, &format!("{path}[{i}]"), errors);
            }
        }
        Some("string") => {
            let Some(text) = value.as_str() else {
                return fail("not a string".into());
            };
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                && !allowed.contains(value)
            {
                fail(format!("{text:?} not in {allowed:?}"));
            }
            let chars = text.chars().count() as u64;
            if schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|max| chars > max)
            {
                fail("longer than maxLength".into());
            }
            if schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|min| chars < min)
            {
                fail("shorter than minLength".into());
            }
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && rfc3339_to_unix_ms(text).is_none()
            {
                fail(format!("{text:?} is not a date-time"));
            }
        }
        Some("integer") => match value.as_i64() {
            None => fail("not an integer".into()),
            Some(n) => {
                if schema
                    .get("minimum")
                    .and_then(Value::as_i64)
                    .is_some_and(|min| n < min)
                {
                    fail(format!("{n} below minimum"));
                }
            }
        },
        Some("boolean") if !value.is_boolean() => fail("not a boolean".into()),
        Some("boolean") | None => {}
        Some(other) => fail(format!("schema type {other} not handled by this check")),
    }
}

fn validate(object: &Value) -> Vec<String> {
    let file = match object["kind"].as_str() {
        Some("HelmRelease") => "helmreleases.helm.toolkit.fluxcd.io.json",
        Some("HelmChart") => "helmcharts.source.toolkit.fluxcd.io.json",
        Some("Kustomization") => "kustomizations.kustomize.toolkit.fluxcd.io.json",
        other => return vec![format!("fixture of unexpected kind {other:?}")],
    };
    let schema = crd_schema(file);
    let mut errors = Vec::new();
    check(object, schema.as_object().unwrap(), "$", &mut errors);
    errors
}

#[test]
fn every_fixture_is_valid_against_its_crd() {
    let mut errors = Vec::new();
    for dir in cases() {
        for (list, input) in inputs(&dir).iter().enumerate() {
            for (i, item) in items(input).iter().enumerate() {
                for error in validate(item) {
                    errors.push(format!("{} list {list} [{i}] {error}", dir.display()));
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// A change that makes a valid object invalid, and what it breaks.
type Mutation = (&'static str, fn(&mut Value));

#[test]
fn the_check_rejects_what_the_kustomization_crd_rejects() {
    let good = read_json(&testdata().join("kustomization/k04-ready/input.json"));
    assert_eq!(validate(&good), Vec::<String>::new());
    let mutations: [Mutation; 4] = [
        ("unknown field", |v| v["spec"]["colour"] = "blue".into()),
        ("bad enum", |v| {
            v["spec"]["sourceRef"]["kind"] = "HelmRepository".into()
        }),
        ("missing required", |v| {
            v["spec"].as_object_mut().unwrap().remove("prune");
        }),
        ("wrong type", |v| {
            v["status"]["inventory"]["entries"][0]["id"] = 7.into();
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert_eq!(validate(&bad).len(), 1, "{what}: {:?}", validate(&bad));
    }
}

#[test]
fn the_check_rejects_what_the_crd_rejects() {
    let good = read_json(&testdata().join("helmrelease/r04-ready/input.json"));
    assert_eq!(validate(&good), Vec::<String>::new());
    let mutations: [Mutation; 6] = [
        ("unknown field", |v| v["spec"]["colour"] = "blue".into()),
        ("bad enum", |v| {
            v["status"]["lastAttemptedReleaseAction"] = "delete".into()
        }),
        ("wrong type", |v| {
            v["status"]["observedGeneration"] = "1".into()
        }),
        ("missing required", |v| {
            v["status"]["conditions"][0]
                .as_object_mut()
                .unwrap()
                .remove("reason");
        }),
        ("bad date-time", |v| {
            v["status"]["conditions"][0]["lastTransitionTime"] = "yesterday".into();
        }),
        ("unknown metadata", |v| {
            v["metadata"]["colour"] = "blue".into()
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert_eq!(validate(&bad).len(), 1, "{what}: {:?}", validate(&bad));
    }
}
