//! Every valid vector decodes, validates and re-encodes to identical bytes.

use flow_contract::{FlowMessage, MessageType, decode};

use crate::{FLOW, vectors};

#[test]
fn valid_vectors_round_trip_byte_for_byte() {
    for (name, bytes) in vectors("valid") {
        let message = decode(&bytes, FLOW).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut encoded = message.to_json();
        encoded.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&encoded),
            String::from_utf8_lossy(&bytes),
            "{name} does not re-encode to the same bytes"
        );
    }
}

#[test]
fn valid_vectors_cover_every_variant() {
    let seen: Vec<MessageType> = vectors("valid")
        .iter()
        .map(|(_, bytes)| decode(bytes, FLOW).expect("valid").message_type())
        .collect();
    for variant in MessageType::ALL {
        assert!(seen.contains(&variant), "no valid vector for {variant}");
    }
}

#[test]
fn valid_vectors_exercise_every_optional_field() {
    let all: String = vectors("valid")
        .into_iter()
        .map(|(_, bytes)| String::from_utf8(bytes).expect("utf-8"))
        .collect();
    for field in [
        "\"definitionId\"",
        "\"parentFlowId\"",
        "\"triggeredBy\"",
        "\"endedAt\"",
        "\"meta\"",
        "\"family\"",
        "\"region\"",
        "\"fromFlowId\"",
        "\"toFlowId\"",
        "\"condition\"",
        "\"lag\"",
    ] {
        assert!(all.contains(field), "no valid vector uses {field}");
    }
    for tag in flow_contract_rel_types() {
        assert!(
            all.contains(&format!("\"type\":\"{tag}\"")),
            "no vector uses {tag}"
        );
    }
}

fn flow_contract_rel_types() -> [&'static str; 6] {
    use flow_contract::RelType::*;
    [
        Contains,
        FinishToStart,
        StartToStart,
        FinishToFinish,
        StartToFinish,
        Triggers,
    ]
    .map(|t| t.as_str())
}

#[test]
fn serde_and_decode_agree_on_valid_vectors() {
    for (name, bytes) in vectors("valid") {
        let via_serde: FlowMessage =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(via_serde, decode(&bytes, FLOW).expect("valid"), "{name}");
    }
}

#[test]
fn message_type_tags_match_serde_tags() {
    for (_, bytes) in vectors("valid") {
        let value: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let message = decode(&bytes, FLOW).expect("valid");
        assert_eq!(
            value["type"].as_str(),
            Some(message.message_type().as_str())
        );
        assert_eq!(
            MessageType::from_wire(message.message_type().as_str()),
            Some(message.message_type())
        );
    }
}
