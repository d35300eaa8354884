//! What the engine charges against its byte budgets: an honest estimate of the memory a
//! folded item, a ring entry or a flow takes, computed from the item itself (never by
//! asking the allocator), so the same state always costs the same bytes.
//!
//! The estimate counts each value's inline size, the heap bytes of its strings and `meta`
//! (with an allocator overhead per allocation), and the map entry holding it (B-tree nodes
//! are at least half full, so an entry costs up to twice its key and value; we charge 3/2).

use std::mem::size_of;

use flow_contract::{FlowInstance, FlowNode, Meta, RelPair, Relationship, Triggerer};
use serde_json::Value;

/// Bookkeeping bytes of one heap allocation (size header, alignment).
const ALLOCATION: usize = 16;

/// What one ring entry costs besides its frame bytes: the `(seq, Bytes)` slot, the frame's
/// allocation and the shared header `Bytes` adds when a frame is first cloned.
pub(crate) const RING_ENTRY: usize = size_of::<(u64, bytes::Bytes)>() + 2 * ALLOCATION + 32;

/// What one flow costs besides its ring and fold: its table slot (`inline`, the flow's
/// inline size), its index entry and its shared id.
pub(crate) fn flow_overhead(inline: usize, flow_id: &str) -> usize {
    inline + entry::<std::sync::Arc<str>, usize>() + 2 * ALLOCATION + flow_id.len()
}

/// A map entry of `key` and `value` inline bytes, at the charged B-tree occupancy.
const fn entry<K, V>() -> usize {
    (size_of::<K>() + size_of::<V>()) * 3 / 2
}

fn text(value: &str) -> usize {
    if value.is_empty() {
        0
    } else {
        value.len() + ALLOCATION
    }
}

fn optional(value: Option<&String>) -> usize {
    value.map_or(0, |value| text(value))
}

/// Heap bytes of a `meta` object (its inline size is part of the item holding it).
fn meta(map: &Meta) -> usize {
    // Iterative: a value built in code (not decoded) may nest deeper than the stack allows.
    let mut pending: Vec<&Value> = Vec::new();
    let mut heap = object(map, &mut pending);
    while let Some(value) = pending.pop() {
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
            Value::String(value) => heap += text(value),
            Value::Array(values) => {
                if !values.is_empty() {
                    heap += values.len() * size_of::<Value>() + ALLOCATION;
                }
                pending.extend(values);
            }
            Value::Object(map) => heap += object(map, &mut pending),
        }
    }
    heap
}

/// Heap bytes of an object's own entries; its values are pushed onto `pending`.
fn object<'a>(map: &'a Meta, pending: &mut Vec<&'a Value>) -> usize {
    let mut heap = if map.is_empty() { 0 } else { ALLOCATION };
    for (key, value) in map {
        heap += entry::<String, Value>() + text(key);
        pending.push(value);
    }
    heap
}

/// A node held in the fold's map by its id.
pub(crate) fn node(node: &FlowNode) -> usize {
    entry::<String, FlowNode>()
        + text(&node.id) // the map key, a copy of the id
        + text(&node.id)
        + text(&node.flow_id)
        + text(&node.label)
        + text(&node.status)
        + optional(node.family.as_ref())
        + optional(node.region.as_ref())
        + node.meta.as_ref().map_or(0, meta)
}

/// A relationship held in the fold's map by its natural key.
pub(crate) fn relationship(rel: &Relationship) -> usize {
    entry::<RelPair, Relationship>()
        + text(&rel.from_id) // the key holds copies of both ids
        + text(&rel.to_id)
        + text(&rel.from_id)
        + text(&rel.to_id)
        + optional(rel.from_flow_id.as_ref())
        + optional(rel.to_flow_id.as_ref())
}

/// A posted flow instance.
pub(crate) fn instance(flow: &FlowInstance) -> usize {
    size_of::<FlowInstance>()
        + text(&flow.id)
        + optional(flow.definition_id.as_ref())
        + optional(flow.parent_flow_id.as_ref())
        + flow.triggered_by.as_ref().map_or(0, |triggers| {
            ALLOCATION
                + triggers
                    .iter()
                    .map(|t| size_of::<Triggerer>() + text(&t.flow_id))
                    .sum::<usize>()
        })
        + text(&flow.status)
        + flow.meta.as_ref().map_or(0, meta)
}

#[cfg(test)]
mod tests {
    use flow_contract::decode;

    use super::*;

    fn nodes(body: &str) -> Vec<FlowNode> {
        match decode(body.as_bytes(), "f").unwrap() {
            flow_contract::FlowMessage::UpsertNodes { nodes } => nodes,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_node_costs_its_strings_and_meta_on_top_of_a_fixed_part() {
        let [small, long, with_meta] = &nodes(
            r#"{"type":"upsert-nodes","nodes":[
                {"id":"a","flowId":"f","label":"a","status":"ok"},
                {"id":"a","flowId":"f","label":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"ok"},
                {"id":"a","flowId":"f","label":"a","status":"ok","meta":{"k":["xxxxxxxxxx",{"n":1}]}}]}"#,
        )[..] else {
            panic!("three nodes")
        };
        assert!(node(small) > size_of::<FlowNode>(), "{}", node(small));
        assert_eq!(
            node(long) - node(small),
            49,
            "the longer label's extra bytes"
        );
        let meta_heap = node(with_meta) - node(small);
        // One object with one key, an array of two values, a string, an object with one key.
        let expected = ALLOCATION
            + entry::<String, Value>()
            + text("k")
            + 2 * size_of::<Value>()
            + ALLOCATION
            + text("xxxxxxxxxx")
            + ALLOCATION
            + entry::<String, Value>()
            + text("n");
        assert_eq!(meta_heap, expected);
    }

    #[test]
    fn deep_meta_is_walked_without_recursion() {
        let mut value = Value::Null;
        for _ in 0..100_000 {
            value = Value::Array(vec![value]);
        }
        let mut map = Meta::new();
        map.insert("deep".to_owned(), value);
        let heap = meta(&map);
        assert!(heap > 100_000 * size_of::<Value>(), "{heap}");
        // serde_json drops nested values recursively; take it apart by hand.
        let mut value = map.remove("deep");
        while let Some(Value::Array(mut values)) = value {
            value = values.pop();
        }
    }
}
