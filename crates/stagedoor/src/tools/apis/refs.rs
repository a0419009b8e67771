//! `$ref`s inside one OpenAPI/AsyncAPI document: JSON-pointer lookup and one-level inlining.
//!
//! Only references into the same document (`#/...`) are followed. Anything else — a relative
//! file, an `http(s)://` URL — is reported and left alone: stagedoor never fetches a URL named
//! inside a spec (it would be an SSRF vector and could leak credentials).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Most references listed as resolved or unresolved.
const MAX_LISTED: usize = 100;

/// Looks up an internal reference (`#/components/schemas/Payment`) in `doc`.
pub(crate) fn lookup<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(doc);
    }
    if !fragment.starts_with('/') {
        return None;
    }
    doc.pointer(&percent_decode(fragment))
}

/// A JSON pointer to `segments`, as used in `$ref` (`#/paths/~1payments/post`).
pub(crate) fn pointer(segments: &[&str]) -> String {
    let mut out = String::from("#");
    for s in segments {
        out.push('/');
        out.push_str(&s.replace('~', "~0").replace('/', "~1"));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The result of [`resolve_one_level`].
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Resolution {
    /// The value with every reference it contains inlined once.
    pub(crate) value: Value,
    /// Internal references inlined.
    pub(crate) resolved: Vec<String>,
    /// References left in place, with the reason (`<ref>: <reason>`), including the ones
    /// found inside inlined targets (one level only).
    pub(crate) unresolved: Vec<String>,
}

/// Replaces every `{"$ref": "#/..."}` inside `value` by its target in `doc`, once: refs
/// inside an inlined target are left as they are and listed, so the model can ask for them
/// by name. Sibling keys of a `$ref` (OpenAPI 3.1 allows `description` beside it) override
/// the target's.
pub(crate) fn resolve_one_level(value: &Value, doc: &Value) -> Resolution {
    let mut resolved = BTreeSet::new();
    let mut unresolved = BTreeSet::new();
    let value = walk(value, doc, &mut resolved, &mut unresolved);
    Resolution {
        value,
        resolved: resolved.into_iter().take(MAX_LISTED).collect(),
        unresolved: unresolved.into_iter().take(MAX_LISTED).collect(),
    }
}

fn walk(
    v: &Value,
    doc: &Value,
    resolved: &mut BTreeSet<String>,
    unresolved: &mut BTreeSet<String>,
) -> Value {
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                if !r.starts_with('#') {
                    unresolved.insert(format!(
                        "{r}: external reference, not fetched (stagedoor never fetches URLs or files named in a spec)"
                    ));
                    return v.clone();
                }
                let Some(target) = lookup(doc, r) else {
                    unresolved.insert(format!("{r}: not found in this definition"));
                    return v.clone();
                };
                resolved.insert(r.to_string());
                collect_refs(target, unresolved);
                let mut inlined = target.clone();
                if let Value::Object(t) = &mut inlined {
                    for (k, sibling) in map.iter().filter(|(k, _)| *k != "$ref") {
                        t.insert(k.clone(), sibling.clone());
                    }
                }
                return inlined;
            }
            let mut out = Map::with_capacity(map.len());
            for (k, child) in map {
                out.insert(k.clone(), walk(child, doc, resolved, unresolved));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| walk(i, doc, resolved, unresolved))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Lists the references inside an inlined target (not followed: one level only).
fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    if out.len() >= MAX_LISTED {
        return;
    }
    match v {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.insert(format!(
                    "{r}: nested reference inside an inlined definition (ask for it with view \"schema\")"
                ));
            }
            map.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(items) => items.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({
            "paths": {"/a/{id}": {"get": {"x": 1}}},
            "components": {"schemas": {
                "Money": {"type": "object", "properties": {"cur": {"type": "string"}}},
                "Payment": {"type": "object", "properties": {"amount": {"$ref": "#/components/schemas/Money"}}},
                "Odd name": {"type": "string"}
            }}
        })
    }

    #[test]
    fn pointers_round_trip_with_escapes() {
        let d = doc();
        let p = pointer(&["paths", "/a/{id}", "get"]);
        assert_eq!(p, "#/paths/~1a~1{id}/get");
        assert_eq!(lookup(&d, &p), Some(&json!({"x": 1})));
        assert_eq!(
            lookup(&d, "#/components/schemas/Odd%20name"),
            Some(&json!({"type": "string"}))
        );
        assert_eq!(lookup(&d, "#/nope"), None);
        assert_eq!(lookup(&d, "other.yaml#/x"), None);
        assert_eq!(lookup(&d, "#"), Some(&d));
    }

    #[test]
    fn one_level_inlines_and_reports_nested_and_external() {
        let d = doc();
        let op = json!({
            "requestBody": {"$ref": "#/components/schemas/Payment", "description": "override"},
            "responses": {"200": {"$ref": "https://evil.example/x.yaml"}, "404": {"$ref": "#/components/schemas/Gone"}}
        });
        let r = resolve_one_level(&op, &d);
        assert_eq!(
            r.value["requestBody"]["properties"]["amount"],
            json!({"$ref": "#/components/schemas/Money"}),
            "nested refs stay"
        );
        assert_eq!(r.value["requestBody"]["description"], "override");
        assert_eq!(r.resolved, vec!["#/components/schemas/Payment".to_string()]);
        assert_eq!(r.unresolved.len(), 3, "{:?}", r.unresolved);
        assert!(
            r.unresolved
                .iter()
                .any(|u| u.starts_with("https://evil.example/x.yaml: external"))
        );
        assert!(
            r.unresolved
                .iter()
                .any(|u| u.starts_with("#/components/schemas/Gone: not found"))
        );
        assert!(
            r.unresolved
                .iter()
                .any(|u| u.starts_with("#/components/schemas/Money: nested"))
        );
        assert_eq!(
            r.value["responses"]["200"],
            json!({"$ref": "https://evil.example/x.yaml"})
        );
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("/a%zz"), "/a%zz");
        assert_eq!(percent_decode("/%7Bid%7D"), "/{id}");
    }
}
