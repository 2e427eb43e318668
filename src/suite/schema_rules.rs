//! The JSON Schema's rules beyond the types (`batchbench schema`): what `validate`
//! checks that JSON Schema can say, so that an editor flags it as it is typed.
//!
//! Every rule here must accept every suite `validate` accepts; the schema can only
//! be looser. What it cannot say: arithmetic between two values (a batch that
//! `accumulate` does not divide, a warm-up longer than the budget, increasing
//! milestones), anything that needs the dataset's size, and what the matrix's
//! product leaves after `exclude` (`tests/schema.rs` lists the invalid suites this
//! leaves accepted).

use schemars::Schema;
use serde_json::{Value, json};

use super::checks::{MAX_BATCH, MAX_EPOCHS, MAX_SAMPLES};
use super::expand::MAX_LR;
use super::schema::Settings;

/// The bounds of a setting's value, as [`CheckValue`] checks them in `checks.rs`
/// wherever the value is written (defaults, each matrix value, include, exclude).
/// Settings whose value is a struct carry their bounds on the struct's fields.
fn setting_value_bounds(field: &str) -> Option<Value> {
    Some(match field {
        "batch_size" | "base_batch" => json!({"minimum": 1, "maximum": MAX_BATCH}),
        // The literals are `CheckValue for u64`'s and `CheckValue for f64`'s.
        "accumulate" => json!({"minimum": 1, "maximum": 4096}),
        "samples" => json!({"minimum": 1, "maximum": MAX_SAMPLES}),
        "eval_train_samples" => json!({"minimum": 1, "maximum": 10_000_000}),
        // checks.rs writes 100 for a written lr; MAX_LR is the same bound after scaling.
        "lr" => json!({"exclusiveMinimum": 0, "maximum": MAX_LR}),
        "epochs" | "eval_every" => json!({"exclusiveMinimum": 0, "maximum": MAX_EPOCHS}),
        "timeout_s" | "warmup_timeout_s" => json!({"exclusiveMinimum": 0, "maximum": 1e7}),
        "warmup_epochs" => json!({"minimum": 0, "maximum": MAX_EPOCHS}),
        "target_accuracy" => json!({"exclusiveMinimum": 0, "maximum": 1}),
        "batch_schedule" => json!({"minItems": 1}),
        _ => return None,
    })
}

/// Adds `extra`'s keywords to `schema` (replacing any of the same name).
fn merge_keywords(schema: &mut Value, extra: Value) {
    if let (Some(schema), Value::Object(extra)) = (schema.as_object_mut(), extra) {
        schema.extend(extra);
    }
}

/// Appends `rules` to the schema's `allOf`.
fn push_all_of(schema: &mut Schema, rules: impl IntoIterator<Item = Value>) {
    let all_of = schema
        .ensure_object()
        .entry("allOf")
        .or_insert_with(|| json!([]));
    if let Some(list) = all_of.as_array_mut() {
        list.extend(rules);
    }
}

/// Matches a settings mapping (`defaults`, `matrix`, an include entry) that sets
/// `field` (`null` leaves a setting unset, as in Rust).
fn sets(field: &str) -> Value {
    json!({"type": "object", "required": [field], "properties": {field: {"not": {"type": "null"}}}})
}

/// Matches a suite whose `block` (`defaults` or `matrix`) matches `schema`.
fn block(block: &str, schema: Value) -> Value {
    json!({"required": [block], "properties": {block: schema}})
}

/// Matches a suite where some `include` entry sets `field`.
fn some_include_sets(field: &str) -> Value {
    json!({"required": ["include"], "properties": {"include": {"type": "array", "contains": sets(field)}}})
}

/// Matches a suite whose `key` (`include` or `exclude`) has at least one entry.
fn has_entries(key: &str) -> Value {
    json!({"required": [key], "properties": {key: {"type": "array", "minItems": 1}}})
}

/// `defaults` and every include entry: the budget is `epochs` or `samples`, not
/// both. (An exclude entry may name both axes, so `Settings` itself does not say it.)
fn not_both_budgets() -> Value {
    json!({"not": {"allOf": [sets("epochs"), sets("samples")]}})
}

/// The per-value bounds on every setting of `defaults`, include and exclude entries.
pub(super) fn settings_schema_rules(schema: &mut Schema) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            if let Some(bounds) = setting_value_bounds(name) {
                merge_keywords(property, bounds);
            }
        }
    }
}

/// The matrix: every axis a non-empty list, every value within its setting's bounds.
pub(super) fn matrix_schema_rules(schema: &mut Schema) {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            merge_keywords(property, json!({"minItems": 1}));
            if let (Some(bounds), Some(items)) =
                (setting_value_bounds(name), property.get_mut("items"))
            {
                merge_keywords(items, bounds);
            }
        }
    }
}

/// Rules across `defaults`, `matrix`, `include` and `exclude`, each a necessary
/// condition of `Suite::expand` succeeding. Where a rule holds only for the matrix's
/// combinations, a non-empty `exclude` (which may remove them all, leaving the
/// include entries as the runs) or `include` (which may override settings) lifts it.
pub(super) fn suite_schema_rules(schema: &mut Schema) {
    let mut rules = Vec::new();

    // Every run needs these settings, so some block must set them.
    let anywhere = |field: &str| {
        json!([
            block("defaults", sets(field)),
            block("matrix", sets(field)),
            some_include_sets(field)
        ])
    };
    for field in ["dataset", "model", "lr", "batch_size"] {
        rules.push(json!({
            "anyOf": anywhere(field),
            "$comment": format!("missing setting `{field}`: set it under defaults, as a matrix axis or in an include entry"),
        }));
    }
    let budget: Vec<Value> = ["epochs", "samples"]
        .into_iter()
        .flat_map(|f| anywhere(f).as_array().cloned().unwrap_or_default())
        .collect();
    rules.push(json!({
        "anyOf": budget,
        "$comment": "missing the training budget: set epochs or samples",
    }));

    // `epochs` xor `samples`, where both reach every run.
    let in_defaults = |f: &str| block("defaults", sets(f));
    let in_matrix = |f: &str| block("matrix", sets(f));
    rules.push(json!({
        "properties": {"defaults": not_both_budgets(), "include": {"items": not_both_budgets()}},
        "not": {"anyOf": [
            {"allOf": [in_defaults("epochs"), some_include_sets("samples")]},
            {"allOf": [in_defaults("samples"), some_include_sets("epochs")]},
        ]},
        "$comment": "set the budget with epochs or samples, not both",
    }));
    rules.push(json!({
        "if": {"not": has_entries("exclude")},
        "then": {"not": {"anyOf": [
            {"allOf": [in_matrix("epochs"), in_matrix("samples")]},
            {"allOf": [in_defaults("epochs"), in_matrix("samples")]},
            {"allOf": [in_defaults("samples"), in_matrix("epochs")]},
        ]}},
        "$comment": "set the budget with epochs or samples, not both",
    }));

    // Two equal values on an axis make two equal runs (unless exclude removes both).
    rules.push(json!({
        "if": {"not": has_entries("exclude")},
        "then": {"properties": {"matrix": {"additionalProperties": {"uniqueItems": true}}}},
        "$comment": "a matrix axis lists a value twice: two combinations define the same run",
    }));

    // Exclude entries name matrix axes only, and at least one.
    rules.push(json!({
        "properties": {"exclude": {"items": {"minProperties": 1}}},
        "$comment": "an exclude entry is empty; name the axis values to leave out",
    }));
    for field in Settings::FIELDS {
        rules.push(json!({
            "if": {"required": ["exclude"], "properties": {"exclude": {"type": "array", "contains": sets(field)}}},
            "then": in_matrix(field),
            "$comment": format!("`{field}` is named by an exclude entry but is not a matrix axis; exclude entries may only name axes"),
        }));
    }

    // Settings that clash within `defaults`, when neither a matrix axis nor an
    // include entry can change them.
    let unless = |axes: &[&str]| {
        let mut escapes: Vec<Value> = axes.iter().map(|a| in_matrix(a)).collect();
        escapes.push(has_entries("include"));
        json!({"anyOf": escapes})
    };
    let defaults_where = |conditions: Value| block("defaults", conditions);
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["lr_scaling"],
            "properties": {"lr_scaling": {"enum": ["linear", "sqrt"]}},
        })),
        "then": {"anyOf": [in_defaults("base_batch"), unless(&["base_batch", "lr_scaling"])]},
        "$comment": "linear and sqrt scaling need base_batch, the batch size at which lr applies",
    }));
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["device", "precision"],
            "properties": {"device": {"const": "cpu"}, "precision": {"enum": ["bf16", "f16"]}},
        })),
        "then": unless(&["device", "precision"]),
        "$comment": "bf16 and f16 need CUDA; the CPU backend computes in f32",
    }));
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["engine", "precision"],
            "properties": {
                "engine": {"enum": ["pytorch", "pytorch-compile", "jax"]},
                "precision": {"enum": ["bf16", "f16"]},
            },
        })),
        "then": unless(&["engine", "precision"]),
        "$comment": "the Python engines train in f32 only",
    }));
    let targets: Vec<Value> = ["target", "target_accuracy"]
        .into_iter()
        .flat_map(|f| anywhere(f).as_array().cloned().unwrap_or_default())
        .collect();
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["stop_at_target"],
            "properties": {"stop_at_target": {"const": true}},
        })),
        "then": {"anyOf": targets},
        "$comment": "stop_at_target needs a target to stop at: set target_accuracy or target",
    }));
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["engine", "stop_at_target"],
            "properties": {
                "engine": {"enum": ["pytorch", "pytorch-compile", "jax"]},
                "stop_at_target": {"const": true},
            },
        })),
        "then": unless(&["engine", "stop_at_target"]),
        "$comment": "stop_at_target runs on engine: burn only",
    }));
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["engine", "probes"],
            "properties": {"engine": {"enum": ["pytorch", "pytorch-compile", "jax"]}},
        })),
        "then": unless(&["engine", "probes"]),
        "$comment": "probes run on engine: burn only",
    }));
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["model", "dataset"],
            "properties": {
                "model": {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "cnn"}}},
                "dataset": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"const": "synthetic"}, "shape": {"type": "null"}},
                },
            },
        })),
        "then": unless(&["model", "dataset"]),
        "$comment": "a cnn needs image data; a synthetic dataset without a shape is not",
    }));
    let tokens = json!(["text", "synthetic-text"]);
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["model", "dataset"],
            "properties": {
                "model": {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "transformer"}}},
                "dataset": {"type": "object", "required": ["name"], "properties": {"name": {"not": {"enum": tokens}}}},
            },
        })),
        "then": unless(&["model", "dataset"]),
        "$comment": "a transformer needs token data (text or synthetic-text)",
    }));
    rules.push(json!({
        "if": defaults_where(json!({
            "type": "object",
            "required": ["model", "dataset"],
            "properties": {
                "model": {"type": "object", "required": ["kind"], "properties": {"kind": {"not": {"const": "transformer"}}}},
                "dataset": {"type": "object", "required": ["name"], "properties": {"name": {"enum": tokens}}},
            },
        })),
        "then": unless(&["model", "dataset"]),
        "$comment": "token data trains only a transformer",
    }));

    push_all_of(schema, rules);
}
