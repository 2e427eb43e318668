//! Every unknown key of a suite at once.
//!
//! serde stops at the first unknown key, so a user who wrote `hiden` and `optimiser`
//! would fix them in two rounds. Before the typed parse, this walks the YAML as a
//! generic tree (each node with its position) against the suite's own JSON Schema
//! (the one `batchbench schema` prints, generated from the same types) and reports
//! each key the schema does not allow, with the message serde would give.
//! Anything else (a wrong type, a bad value) is left to the typed parse and checks.

use std::path::Path;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use super::{Position, SuiteError, closest};

/// A YAML node, for walking: mappings and sequences keep their children with
/// positions; scalars are not needed.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Spanned<Node>>()?));
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
        }
        d.deserialize_any(NodeVisitor)
    }
}

/// The schema a `$ref` points to, or the schema itself.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The alternative of `schema` that describes a mapping (`properties`) or a list
/// (`items`), through `$ref`, `anyOf` and `oneOf`.
fn shape<'a>(root: &'a Value, schema: &'a Value, key: &str) -> Option<&'a Value> {
    let schema = resolve(root, schema);
    if schema.get(key).is_some() {
        return Some(schema);
    }
    ["anyOf", "oneOf", "allOf"]
        .iter()
        .filter_map(|k| schema.get(*k)?.as_array())
        .flatten()
        .find_map(|alt| shape(root, alt, key))
}

fn walk(
    root: &Value,
    schema: &Value,
    node: &Node,
    path: &str,
    file: &Path,
    errors: &mut Vec<SuiteError>,
) {
    match node {
        Node::Map(entries) => {
            let Some(object) = shape(root, schema, "properties") else {
                return;
            };
            let properties = object["properties"]
                .as_object()
                .expect("properties is an object");
            let closed = object.get("additionalProperties") == Some(&Value::Bool(false));
            let names: Vec<&str> = properties.keys().map(String::as_str).collect();
            for (key, value) in entries {
                let field = if path.is_empty() {
                    key.value.clone()
                } else {
                    format!("{path}.{}", key.value)
                };
                match properties.get(&key.value) {
                    Some(s) => walk(root, s, &value.value, &field, file, errors),
                    None if closed => {
                        let mut message =
                            format!("unknown key `{}`; allowed: {}", key.value, names.join(", "));
                        if let Some(best) = closest(&key.value, &names) {
                            message.push_str(&format!(" (did you mean `{best}`?)"));
                        }
                        let at = key.referenced;
                        errors.push(SuiteError {
                            file: file.to_path_buf(),
                            position: (at.line() > 0).then(|| Position {
                                line: at.line() as u32,
                                column: at.column() as u32,
                            }),
                            field: Some(field),
                            message,
                        });
                    }
                    None => {}
                }
            }
        }
        Node::Seq(items) => {
            if let Some(list) = shape(root, schema, "items") {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        root,
                        &list["items"],
                        &item.value,
                        &format!("{path}[{i}]"),
                        file,
                        errors,
                    );
                }
            }
        }
        Node::Scalar => {}
    }
}

/// Every key of `text` that the suite schema does not allow, in file order; empty
/// when there is none or when the text is not YAML the walk can read (the typed
/// parse then says what is wrong).
pub(super) fn unknown_keys(file: &Path, text: &str) -> Vec<SuiteError> {
    let Ok(tree) =
        serde_saphyr::from_str_with_options::<Spanned<Node>>(text, super::yaml_options())
    else {
        return Vec::new();
    };
    let schema = super::schema_value();
    let mut errors = Vec::new();
    walk(schema, schema, &tree.value, "", file, &mut errors);
    errors
}
