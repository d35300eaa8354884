//! Property tests: any message built from the types round-trips, and the precise error locator
//! agrees with serde's derived decoder on what it accepts.

use flow_contract::{
    Condition, FlowInstance, FlowMessage, FlowNode, Meta, RelPair, RelType, Relationship,
    TriggerWhen, Triggerer, decode,
};
use proptest::prelude::*;

use crate::FLOW;

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9/._-]{1,12}"
}

fn meta() -> impl Strategy<Value = Option<Meta>> {
    proptest::option::of(
        proptest::collection::btree_map("[a-z]{1,6}", any::<i32>(), 0..4).prop_map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, serde_json::Value::from(v)))
                .collect::<Meta>()
        }),
    )
}

fn rel_type() -> impl Strategy<Value = RelType> {
    prop_oneof![
        Just(RelType::Contains),
        Just(RelType::FinishToStart),
        Just(RelType::StartToStart),
        Just(RelType::FinishToFinish),
        Just(RelType::StartToFinish),
        Just(RelType::Triggers),
    ]
}

fn node() -> impl Strategy<Value = FlowNode> {
    (
        id(),
        "[ -~]{0,12}",
        "[a-z]{1,9}",
        proptest::option::of(id()),
        proptest::option::of(any::<u64>()),
        meta(),
    )
        .prop_map(|(id, label, status, region, started_at, meta)| FlowNode {
            id,
            flow_id: FLOW.to_owned(),
            label,
            status,
            family: None,
            region,
            started_at,
            ended_at: started_at.map(|t| t / 2),
            meta,
        })
}

fn rel() -> impl Strategy<Value = Relationship> {
    (
        id(),
        id(),
        rel_type(),
        proptest::option::of(0..i64::MAX),
        any::<bool>(),
    )
        .prop_map(|(from_id, to_id, rel_type, lag, cross)| Relationship {
            from_id,
            to_id,
            from_flow_id: cross.then(|| "other".to_owned()),
            to_flow_id: None,
            rel_type,
            condition: cross.then_some(Condition::OnFailure),
            lag,
        })
}

fn flow() -> impl Strategy<Value = FlowInstance> {
    ("[a-z]{1,9}", any::<u64>(), meta(), any::<bool>()).prop_map(
        |(status, started_at, meta, triggered)| FlowInstance {
            id: FLOW.to_owned(),
            definition_id: None,
            parent_flow_id: triggered.then(|| "parent".to_owned()),
            triggered_by: triggered.then(|| {
                vec![Triggerer {
                    flow_id: "parent".to_owned(),
                    when: TriggerWhen::Failure,
                }]
            }),
            status,
            started_at,
            ended_at: None,
            meta,
        },
    )
}

fn message() -> impl Strategy<Value = FlowMessage> {
    prop_oneof![
        (
            flow(),
            proptest::collection::vec(node(), 0..4),
            proptest::collection::vec(rel(), 0..4)
        )
            .prop_map(|(flow, nodes, relationships)| FlowMessage::Snapshot {
                flow,
                nodes,
                relationships
            }),
        flow().prop_map(|flow| FlowMessage::UpsertFlow { flow }),
        proptest::collection::vec(node(), 1..4)
            .prop_map(|nodes| FlowMessage::UpsertNodes { nodes }),
        proptest::collection::vec(rel(), 1..4)
            .prop_map(|relationships| FlowMessage::UpsertRels { relationships }),
        proptest::collection::vec(id(), 1..4).prop_map(|ids| FlowMessage::DeleteNodes { ids }),
        proptest::collection::vec((id(), id(), rel_type()), 1..4).prop_map(|pairs| {
            FlowMessage::DeleteRels {
                pairs: pairs
                    .into_iter()
                    .map(|(from_id, to_id, rel_type)| RelPair {
                        from_id,
                        to_id,
                        rel_type,
                    })
                    .collect(),
            }
        }),
    ]
}

proptest! {
    #[test]
    fn built_messages_round_trip(message in message()) {
        let bytes = message.to_json();
        let decoded = decode(&bytes, FLOW).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&decoded, &message);
        prop_assert_eq!(decoded.to_json(), bytes);
    }

    /// Removing any one field, or adding an unknown one, anywhere in a valid message: `decode`
    /// and serde's derived decoder accept or reject together, and a rejection is never
    /// positionless.
    #[test]
    fn locator_agrees_with_serde(message in message(), pick in any::<prop::sample::Index>(), add in any::<bool>()) {
        let mut value = serde_json::to_value(&message).expect("plain JSON");
        let mut objects = Vec::new();
        collect_objects(&value, &mut Vec::new(), &mut objects);
        let target = pick.get(&objects).clone();
        let object = pointer_mut(&mut value, &target).as_object_mut().expect("an object");
        if add || object.is_empty() {
            object.insert("zzUnknown".to_owned(), serde_json::Value::Null);
        } else {
            let key = object.keys().nth(pick.index(object.len())).expect("a key").clone();
            object.remove(&key);
        }
        let bytes = serde_json::to_vec(&value).expect("plain JSON");
        let by_serde = serde_json::from_slice::<FlowMessage>(&bytes);
        match decode(&bytes, FLOW) {
            Ok(_) => prop_assert!(by_serde.is_ok()),
            Err(err) => {
                let semantic = ["empty", "too_long", "too_large", "flow_mismatch", "negative"];
                prop_assert_eq!(by_serde.is_ok(), semantic.contains(&err.code()), "{}", err);
                prop_assert!(err.code() != "invalid", "positionless: {}", err);
                prop_assert!(err.path().starts_with('$'));
            }
        }
    }
}

fn collect_objects(value: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        serde_json::Value::Object(map) => {
            if at.last().is_none_or(|k| k != "meta") {
                out.push(at.clone());
            }
            for (k, v) in map {
                if k != "meta" {
                    at.push(k.clone());
                    collect_objects(v, at, out);
                    at.pop();
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(i.to_string());
                collect_objects(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(value: &'a mut serde_json::Value, at: &[String]) -> &'a mut serde_json::Value {
    let pointer: String = at.iter().map(|k| format!("/{k}")).collect();
    value
        .pointer_mut(&pointer)
        .expect("path collected from this value")
}
