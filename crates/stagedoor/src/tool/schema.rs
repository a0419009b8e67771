//! JSON Schemas of tool arguments and outputs, derived once from the Rust types and made
//! portable (inline, no `$ref`, no `null` types) so every major client accepts them.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The JSON Schema of tool arguments `T` (see [`portable_schema`]).
pub fn schema_for<T: JsonSchema>() -> Map<String, Value> {
    portable_schema::<T>(schemars::generate::Contract::Deserialize)
}

/// The JSON Schema of a tool's structured output `T`: fields skipped when empty are optional.
pub fn output_schema_for<T: JsonSchema>() -> Map<String, Value> {
    portable_schema::<T>(schemars::generate::Contract::Serialize)
}

/// The JSON Schema of `T` as an inline object schema that every major client accepts: no
/// `$ref`s, no `$schema`, no `null` in types (absent fields are simply left out), and no
/// boolean `true` schemas.
fn portable_schema<T: JsonSchema>(contract: schemars::generate::Contract) -> Map<String, Value> {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.contract = contract;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut value = schema.to_value();
    make_portable(&mut value);
    if let Value::Object(map) = &mut value {
        map.remove("$schema");
        map.remove("title");
        map.entry("type")
            .or_insert_with(|| Value::String("object".into()));
        return map.clone();
    }
    let mut map = Map::new();
    map.insert("type".into(), Value::String("object".into()));
    map
}

/// Rewrites schema constructs some clients reject: `"type": [X, "null"]` becomes `X`,
/// `anyOf: [S, {"type": "null"}]` becomes `S`, and `true` subschemas become `{}`.
fn make_portable(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Array(types)) = map.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1 {
            map.insert("type".into(), kept[0].clone());
        } else {
            map.insert("type".into(), Value::Array(kept));
        }
    }
    if let Some(Value::Array(any)) = map.get("anyOf") {
        let kept: Vec<Value> = any
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1 {
            map.remove("anyOf");
            if let Value::Object(inner) = &kept[0] {
                for (k, v) in inner {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        } else {
            map.insert("anyOf".into(), Value::Array(kept));
        }
    }
    if map.get("items") == Some(&Value::Bool(true)) {
        map.insert("items".into(), Value::Object(Map::new()));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "definitions" | "patternProperties" => {
                if let Value::Object(props) = child {
                    for p in props.values_mut() {
                        if *p == Value::Bool(true) {
                            *p = Value::Object(Map::new());
                        }
                        make_portable(p);
                    }
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(items) = child {
                    items.iter_mut().for_each(make_portable);
                }
            }
            _ if child.is_object() => make_portable(child),
            _ => {}
        }
    }
}
