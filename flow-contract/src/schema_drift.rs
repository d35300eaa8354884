//! The checked-in JSON Schema (`docs/flow-message.schema.json`) must equal the one generated
//! from the Rust types. `UPDATE_GOLDEN=1 cargo test -p flow-contract` refreshes it.

use std::path::PathBuf;

use crate::FlowMessage;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/flow-message.schema.json")
}

fn generated() -> String {
    let mut schema = schemars::schema_for!(FlowMessage);
    schema.insert(
        "$id".into(),
        "https://openova.io/schemas/flow-message/v1.json".into(),
    );
    schema.insert("title".into(), "FlowMessage (schema version 1)".into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is plain JSON");
    text.push('\n');
    text
}

#[test]
fn checked_in_schema_matches_the_types() {
    let path = checked_in();
    let want = generated();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &want).expect("write the schema");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} drifted from the Rust types; run `UPDATE_GOLDEN=1 cargo test -p flow-contract` and commit it",
        path.display()
    );
}

#[test]
fn schema_closes_every_object_and_lists_every_variant() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).expect("valid JSON");
    let variants = schema["oneOf"].as_array().expect("a oneOf of variants");
    let tags: Vec<&str> = variants
        .iter()
        .map(|v| {
            v["properties"]["type"]["const"]
                .as_str()
                .expect("a const tag")
        })
        .collect();
    let want: Vec<&str> = crate::MessageType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(tags, want);
    for v in variants {
        assert_eq!(
            v["additionalProperties"],
            serde_json::Value::Bool(false),
            "{v}"
        );
    }
    for (name, def) in schema["$defs"].as_object().expect("definitions") {
        if def["type"] == "object" {
            assert_eq!(def["additionalProperties"], false, "{name} must be closed");
        }
    }
}
