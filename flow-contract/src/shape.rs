//! The structural shape of the contract, used to locate a decoding error precisely.
//!
//! serde's derived decoder reports errors inside an internally tagged enum at "line 0 column
//! 0" without a field path. When the fast derived decoder rejects a message, [`locate`] walks
//! the parsed JSON against this table and names the variant and the path of the first
//! offending value. The table mirrors the types in [`crate::message`]; the golden vectors and
//! the fuzz target check that both agree on what they accept.

use serde_json::{Map, Value};

use crate::MessageType;
use crate::error::{ContractError, ErrorKind};
use crate::path::Path;

/// The JSON shape of one value.
enum Shape {
    /// A string.
    Str,
    /// A non-negative integer that fits `u64`.
    U64,
    /// An integer that fits `i64`.
    I64,
    /// A string out of a closed vocabulary.
    Enum(&'static [&'static str]),
    /// Any JSON object.
    AnyObject,
    /// An object with exactly these fields.
    Struct(&'static [Field]),
    /// An array of one shape.
    List(&'static Shape),
}

/// One field of a [`Shape::Struct`].
struct Field {
    name: &'static str,
    shape: Shape,
    required: bool,
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: true,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        required: false,
    }
}

pub(crate) const REL_TYPES: &[&str] = &[
    "contains",
    "finish-to-start",
    "start-to-start",
    "finish-to-finish",
    "start-to-finish",
    "triggers",
];
const CONDITIONS: &[&str] = &["on-success", "on-failure", "always"];
const TRIGGER_WHEN: &[&str] = &["success", "failure", "always"];

const TRIGGERER: &[Field] = &[
    req("flowId", Shape::Str),
    req("when", Shape::Enum(TRIGGER_WHEN)),
];

const FLOW_INSTANCE: &[Field] = &[
    req("id", Shape::Str),
    opt("definitionId", Shape::Str),
    opt("parentFlowId", Shape::Str),
    opt("triggeredBy", Shape::List(&Shape::Struct(TRIGGERER))),
    req("status", Shape::Str),
    req("startedAt", Shape::U64),
    opt("endedAt", Shape::U64),
    opt("meta", Shape::AnyObject),
];

const FLOW_NODE: &[Field] = &[
    req("id", Shape::Str),
    req("flowId", Shape::Str),
    req("label", Shape::Str),
    req("status", Shape::Str),
    opt("family", Shape::Str),
    opt("region", Shape::Str),
    opt("startedAt", Shape::U64),
    opt("endedAt", Shape::U64),
    opt("meta", Shape::AnyObject),
];

const RELATIONSHIP: &[Field] = &[
    req("fromId", Shape::Str),
    req("toId", Shape::Str),
    opt("fromFlowId", Shape::Str),
    opt("toFlowId", Shape::Str),
    req("type", Shape::Enum(REL_TYPES)),
    opt("condition", Shape::Enum(CONDITIONS)),
    opt("lag", Shape::I64),
];

const REL_PAIR: &[Field] = &[
    req("fromId", Shape::Str),
    req("toId", Shape::Str),
    req("type", Shape::Enum(REL_TYPES)),
];

const FLOW: Shape = Shape::Struct(FLOW_INSTANCE);
const NODES: Shape = Shape::List(&Shape::Struct(FLOW_NODE));
const RELS: Shape = Shape::List(&Shape::Struct(RELATIONSHIP));
const SNAPSHOT: &[Field] = &[
    req("flow", FLOW),
    req("nodes", NODES),
    req("relationships", RELS),
];
const UPSERT_FLOW: &[Field] = &[req("flow", FLOW)];
const UPSERT_NODES: &[Field] = &[req("nodes", NODES)];
const UPSERT_RELS: &[Field] = &[req("relationships", RELS)];
const DELETE_NODES: &[Field] = &[req("ids", Shape::List(&Shape::Str))];
const DELETE_RELS: &[Field] = &[req("pairs", Shape::List(&Shape::Struct(REL_PAIR)))];

/// The fields of each variant besides `type`.
fn variant_fields(variant: MessageType) -> &'static [Field] {
    match variant {
        MessageType::Snapshot => SNAPSHOT,
        MessageType::UpsertFlow => UPSERT_FLOW,
        MessageType::UpsertNodes => UPSERT_NODES,
        MessageType::UpsertRels => UPSERT_RELS,
        MessageType::DeleteNodes => DELETE_NODES,
        MessageType::DeleteRels => DELETE_RELS,
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(n) if n.is_i64() && n.as_i64().is_some_and(i64::is_negative) => {
            "a negative integer"
        }
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

type Located = (String, ErrorKind);

/// Finds the first structural error in `value`, with its variant and path.
///
/// Returns `None` when the structure matches the contract (the caller then falls back to the
/// decoder's own message, for the few errors structure cannot see, such as duplicate keys).
pub(crate) fn locate(value: &Value) -> Option<ContractError> {
    let root = Path::Root;
    let Value::Object(map) = value else {
        return Some(ContractError::new(
            None,
            root.to_string(),
            ErrorKind::WrongType {
                expected: "a JSON object",
                found: json_type(value),
            },
        ));
    };
    let variant = match map.get("type") {
        Some(Value::String(tag)) => match MessageType::from_wire(tag) {
            Some(variant) => variant,
            None => {
                return Some(ContractError::new(
                    None,
                    Path::Key(&root, "type").to_string(),
                    ErrorKind::UnknownType { found: tag.clone() },
                ));
            }
        },
        _ => {
            return Some(ContractError::new(
                None,
                Path::Key(&root, "type").to_string(),
                ErrorKind::MissingType,
            ));
        }
    };
    check_fields(map, variant_fields(variant), &root, true)
        .err()
        .map(|(path, kind)| ContractError::new(Some(variant), path, kind))
}

fn check_fields(
    map: &Map<String, Value>,
    fields: &'static [Field],
    path: &Path<'_>,
    tagged: bool,
) -> Result<(), Located> {
    for key in map.keys() {
        let known = (tagged && key == "type") || fields.iter().any(|f| f.name == key);
        if !known {
            return Err((
                Path::Key(path, key).to_string(),
                ErrorKind::UnknownField {
                    field: key.clone(),
                    expected: tagged
                        .then_some("type")
                        .into_iter()
                        .chain(fields.iter().map(|f| f.name))
                        .collect(),
                },
            ));
        }
    }
    for field in fields {
        match map.get(field.name) {
            Some(Value::Null) if !field.required => {
                // serde maps `null` to `None` for an optional field.
            }
            Some(value) => check(value, &field.shape, &Path::Key(path, field.name))?,
            None if field.required => {
                return Err((
                    path.to_string(),
                    ErrorKind::MissingField { field: field.name },
                ));
            }
            None => {}
        }
    }
    Ok(())
}

fn wrong(path: &Path<'_>, expected: &'static str, value: &Value) -> Located {
    (
        path.to_string(),
        ErrorKind::WrongType {
            expected,
            found: json_type(value),
        },
    )
}

fn check(value: &Value, shape: &'static Shape, path: &Path<'_>) -> Result<(), Located> {
    match (shape, value) {
        (Shape::Str, Value::String(_)) | (Shape::AnyObject, Value::Object(_)) => Ok(()),
        (Shape::U64, Value::Number(n)) if n.is_u64() => Ok(()),
        (Shape::U64, _) => Err(wrong(
            path,
            "a non-negative integer (unix milliseconds)",
            value,
        )),
        (Shape::I64, Value::Number(n)) if n.is_i64() => Ok(()),
        (Shape::I64, _) => Err(wrong(path, "an integer (seconds)", value)),
        (Shape::Enum(allowed), Value::String(s)) => {
            if allowed.contains(&s.as_str()) {
                Ok(())
            } else {
                Err((
                    path.to_string(),
                    ErrorKind::UnknownValue {
                        found: s.clone(),
                        expected: allowed,
                    },
                ))
            }
        }
        (Shape::Str | Shape::Enum(_), _) => Err(wrong(path, "a string", value)),
        (Shape::Struct(fields), Value::Object(map)) => check_fields(map, fields, path, false),
        (Shape::AnyObject | Shape::Struct(_), _) => Err(wrong(path, "a JSON object", value)),
        (Shape::List(item), Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                check(v, item, &Path::Index(path, i))?;
            }
            Ok(())
        }
        (Shape::List(_), _) => Err(wrong(path, "an array", value)),
    }
}
