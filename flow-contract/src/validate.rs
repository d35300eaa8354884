//! Rules beyond the JSON shape: non-empty ids and lists, flow-id consistency, bounds.

use std::io;

use crate::error::{ContractError, ErrorKind};
use crate::message::{FlowInstance, FlowMessage, FlowNode, Meta, RelPair, Relationship};
use crate::path::Path;

/// Size bounds a message must respect. [`Limits::default`] holds the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest id (node, flow, relationship endpoint), in bytes. Default 256.
    pub max_id_bytes: usize,
    /// Longest free text (label, status, family, region, definition id), in bytes. Default 1024.
    pub max_text_bytes: usize,
    /// Most items in one list (nodes, relationships, ids, pairs, triggeredBy). Default 10,000.
    pub max_items: usize,
    /// Largest `meta` object, as compact JSON, in bytes. Default 16 KiB.
    pub max_meta_bytes: usize,
}

impl Limits {
    /// The documented defaults.
    pub const DEFAULT: Self = Self {
        max_id_bytes: 256,
        max_text_bytes: 1024,
        max_items: 10_000,
        max_meta_bytes: 16 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

type Check = Result<(), (String, ErrorKind)>;

struct Validator<'a> {
    flow_id: &'a str,
    limits: &'a Limits,
}

impl Validator<'_> {
    fn message(&self, message: &FlowMessage) -> Check {
        let root = Path::Root;
        match message {
            FlowMessage::Snapshot {
                flow,
                nodes,
                relationships,
            } => {
                self.flow(flow, &Path::Key(&root, "flow"))?;
                self.list(nodes, &Path::Key(&root, "nodes"), false, |n, p| {
                    self.node(n, p)
                })?;
                self.list(
                    relationships,
                    &Path::Key(&root, "relationships"),
                    false,
                    |r, p| self.rel(r, p),
                )
            }
            FlowMessage::UpsertFlow { flow } => self.flow(flow, &Path::Key(&root, "flow")),
            FlowMessage::UpsertNodes { nodes } => {
                self.list(nodes, &Path::Key(&root, "nodes"), true, |n, p| {
                    self.node(n, p)
                })
            }
            FlowMessage::UpsertRels { relationships } => self.list(
                relationships,
                &Path::Key(&root, "relationships"),
                true,
                |r, p| self.rel(r, p),
            ),
            FlowMessage::DeleteNodes { ids } => {
                self.list(ids, &Path::Key(&root, "ids"), true, |id, p| self.id(id, p))
            }
            FlowMessage::DeleteRels { pairs } => {
                self.list(pairs, &Path::Key(&root, "pairs"), true, |pair, p| {
                    self.pair(pair, p)
                })
            }
        }
    }

    fn list<T>(
        &self,
        items: &[T],
        path: &Path<'_>,
        non_empty: bool,
        each: impl Fn(&T, &Path<'_>) -> Check,
    ) -> Check {
        if non_empty && items.is_empty() {
            return Err((path.to_string(), ErrorKind::Empty));
        }
        if items.len() > self.limits.max_items {
            return Err((
                path.to_string(),
                ErrorKind::TooLarge {
                    len: items.len(),
                    limit: self.limits.max_items,
                },
            ));
        }
        items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| each(item, &Path::Index(path, i)))
    }

    fn flow(&self, flow: &FlowInstance, path: &Path<'_>) -> Check {
        self.own_flow_id(&flow.id, &Path::Key(path, "id"))?;
        self.opt_id(
            flow.definition_id.as_deref(),
            &Path::Key(path, "definitionId"),
        )?;
        self.opt_id(
            flow.parent_flow_id.as_deref(),
            &Path::Key(path, "parentFlowId"),
        )?;
        if let Some(triggers) = &flow.triggered_by {
            self.list(triggers, &Path::Key(path, "triggeredBy"), false, |t, p| {
                self.id(&t.flow_id, &Path::Key(p, "flowId"))
            })?;
        }
        self.status(&flow.status, &Path::Key(path, "status"))?;
        self.meta(flow.meta.as_ref(), &Path::Key(path, "meta"))
    }

    fn node(&self, node: &FlowNode, path: &Path<'_>) -> Check {
        self.id(&node.id, &Path::Key(path, "id"))?;
        self.own_flow_id(&node.flow_id, &Path::Key(path, "flowId"))?;
        self.text(&node.label, &Path::Key(path, "label"))?;
        self.status(&node.status, &Path::Key(path, "status"))?;
        if let Some(family) = &node.family {
            self.text(family, &Path::Key(path, "family"))?;
        }
        if let Some(region) = &node.region {
            self.text(region, &Path::Key(path, "region"))?;
        }
        self.meta(node.meta.as_ref(), &Path::Key(path, "meta"))
    }

    fn rel(&self, rel: &Relationship, path: &Path<'_>) -> Check {
        self.id(&rel.from_id, &Path::Key(path, "fromId"))?;
        self.id(&rel.to_id, &Path::Key(path, "toId"))?;
        self.opt_id(rel.from_flow_id.as_deref(), &Path::Key(path, "fromFlowId"))?;
        self.opt_id(rel.to_flow_id.as_deref(), &Path::Key(path, "toFlowId"))?;
        match rel.lag {
            Some(value) if value < 0 => Err((
                Path::Key(path, "lag").to_string(),
                ErrorKind::Negative { value },
            )),
            _ => Ok(()),
        }
    }

    fn pair(&self, pair: &RelPair, path: &Path<'_>) -> Check {
        self.id(&pair.from_id, &Path::Key(path, "fromId"))?;
        self.id(&pair.to_id, &Path::Key(path, "toId"))
    }

    fn own_flow_id(&self, id: &str, path: &Path<'_>) -> Check {
        self.id(id, path)?;
        if id == self.flow_id {
            Ok(())
        } else {
            Err((
                path.to_string(),
                ErrorKind::FlowMismatch {
                    expected: self.flow_id.to_owned(),
                    found: id.to_owned(),
                },
            ))
        }
    }

    fn opt_id(&self, id: Option<&str>, path: &Path<'_>) -> Check {
        id.map_or(Ok(()), |id| self.id(id, path))
    }

    fn id(&self, id: &str, path: &Path<'_>) -> Check {
        if id.is_empty() {
            return Err((path.to_string(), ErrorKind::Empty));
        }
        bounded(id, self.limits.max_id_bytes, path)
    }

    fn status(&self, status: &str, path: &Path<'_>) -> Check {
        if status.is_empty() {
            return Err((path.to_string(), ErrorKind::Empty));
        }
        self.text(status, path)
    }

    fn text(&self, text: &str, path: &Path<'_>) -> Check {
        bounded(text, self.limits.max_text_bytes, path)
    }

    fn meta(&self, meta: Option<&Meta>, path: &Path<'_>) -> Check {
        let Some(meta) = meta else { return Ok(()) };
        if upper_bound_len(meta) <= self.limits.max_meta_bytes {
            // Nearly every `meta` is far below the limit: skip the exact count.
            return Ok(());
        }
        let len = encoded_len(meta);
        if len > self.limits.max_meta_bytes {
            return Err((
                path.to_string(),
                ErrorKind::TooLarge {
                    len,
                    limit: self.limits.max_meta_bytes,
                },
            ));
        }
        Ok(())
    }
}

fn bounded(text: &str, limit: usize, path: &Path<'_>) -> Check {
    if text.len() > limit {
        return Err((
            path.to_string(),
            ErrorKind::TooLong {
                len: text.len(),
                limit,
            },
        ));
    }
    Ok(())
}

/// An upper bound of `meta`'s compact JSON length, from a walk that formats nothing: every
/// string is counted as if each byte needed a six-byte `\uXXXX` escape, every number as 24
/// bytes (the longest `f64`, `i64` or `u64` serde_json writes), plus quotes and separators.
fn upper_bound_len(meta: &Meta) -> usize {
    fn string(text: &str) -> usize {
        text.len() * 6 + 2
    }
    fn value(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Null | serde_json::Value::Bool(_) => 5,
            serde_json::Value::Number(_) => 24,
            serde_json::Value::String(text) => string(text),
            serde_json::Value::Array(items) => {
                2 + items.iter().map(|i| value(i) + 1).sum::<usize>()
            }
            serde_json::Value::Object(map) => object(map),
        }
    }
    fn object(map: &Meta) -> usize {
        2 + map
            .iter()
            .map(|(k, v)| string(k) + 2 + value(v))
            .sum::<usize>()
    }
    object(meta)
}

/// Length of `meta` as compact JSON, counted without allocating.
fn encoded_len(meta: &Meta) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a JSON map to a counter cannot fail: keys are strings and the writer never errs.
    serde_json::to_writer(&mut counter, meta).expect("counting JSON bytes is infallible");
    counter.0
}

impl FlowMessage {
    /// Checks the rules beyond the JSON shape, for a message posted to `flow_id`: non-empty
    /// required lists and ids, `flow.id` and every `node.flowId` equal to `flow_id`,
    /// non-negative `lag`, and the size [`Limits`].
    ///
    /// [`decode`](crate::decode) calls this; call it yourself on messages you build.
    ///
    /// # Errors
    /// The first rule broken, with the variant and the field path.
    pub fn validate(&self, flow_id: &str, limits: &Limits) -> Result<(), ContractError> {
        Validator { flow_id, limits }
            .message(self)
            .map_err(|(path, kind)| ContractError::new(Some(self.message_type()), path, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::{encoded_len, upper_bound_len};
    use crate::Meta;

    #[test]
    fn the_upper_bound_is_never_below_the_encoded_length() {
        let samples = [
            "{}",
            r#"{"a":null,"b":true,"c":-12345678901234,"d":1.7976931348623157e308,"e":18446744073709551615}"#,
            r#"{"quote":"say \"hi\"\n\t\u0001","nested":{"list":[1,2.5,"x",null,[],{}]},"emoji":"🚀"}"#,
        ];
        for text in samples {
            let meta: Meta = serde_json::from_str(text).expect("an object");
            assert!(upper_bound_len(&meta) >= encoded_len(&meta), "{text}");
        }
    }
}
