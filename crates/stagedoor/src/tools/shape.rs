//! Shaping Backstage entities for a model: compact summaries, field projections, bounded
//! strings, and opaque cursors.

use backstage_client::EntityRef;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ToolError;

/// Longest description kept in a summary.
pub const SUMMARY_DESCRIPTION_CHARS: usize = 300;
/// Longest string kept in a full entity; longer ones are cut with a note.
pub const ENTITY_STRING_CHARS: usize = 2_000;

/// The fields a summary needs, requested from Backstage.
pub const SUMMARY_FIELDS: [&str; 9] = [
    "kind",
    "metadata.name",
    "metadata.namespace",
    "metadata.title",
    "metadata.description",
    "metadata.tags",
    "spec.owner",
    "spec.type",
    "spec.lifecycle",
];

/// A compact description of one entity.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntitySummary {
    /// Full entity reference, `kind:namespace/name` (kind lowercase).
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// Entity kind as declared (e.g. `Component`).
    pub kind: String,
    /// `metadata.title`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `metadata.description`, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner as a full entity reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `spec.type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub entity_type: Option<String>,
    /// `spec.lifecycle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// `metadata.tags`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The requested `fields` of the entity, when `fields` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// The entity's reference, or `None` if it lacks kind or name.
pub fn entity_ref_of(entity: &Value) -> Option<String> {
    EntityRef::from_entity(entity).map(|r| r.to_string_ref())
}

/// Resolves an owner as written in `spec.owner` (`team`, `group:team`, `user:ns/x`) into a
/// full reference, defaulting kind to `group` and namespace to the entity's own, as
/// Backstage does.
pub fn owner_ref(owner: &str, entity_namespace: &str) -> String {
    match EntityRef::parse(owner, Some("group"), Some(entity_namespace)) {
        Ok(r) => r.to_string_ref(),
        Err(_) => owner.to_string(),
    }
}

/// Builds a summary of an entity (full or partial), with `data` projected from `fields`.
pub fn summarize(entity: &Value, fields: &[String]) -> EntitySummary {
    let namespace = str_at(entity, &["metadata", "namespace"]).unwrap_or("default");
    EntitySummary {
        entity_ref: entity_ref_of(entity).unwrap_or_else(|| "<invalid entity>".into()),
        kind: str_at(entity, &["kind"]).unwrap_or_default().to_string(),
        title: str_at(entity, &["metadata", "title"]).map(str::to_string),
        description: str_at(entity, &["metadata", "description"])
            .map(|d| truncate_chars(d.trim(), SUMMARY_DESCRIPTION_CHARS)),
        owner: str_at(entity, &["spec", "owner"]).map(|o| owner_ref(o, namespace)),
        entity_type: str_at(entity, &["spec", "type"]).map(str::to_string),
        lifecycle: str_at(entity, &["spec", "lifecycle"]).map(str::to_string),
        tags: entity
            .pointer("/metadata/tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        data: (!fields.is_empty()).then(|| project(entity, fields)),
    }
}

/// Keeps only the given field paths of an entity, exactly as Backstage's `fields` does: a
/// segment that is not a key joins the next one, so an annotation key with dots
/// (`metadata.annotations.backstage.io/techdocs-ref`) is found. The same projector answers
/// `fields` over a local catalog, so both modes agree.
pub fn project(value: &Value, fields: &[String]) -> Value {
    crate::local::project_fields(value, fields)
}

/// Cuts `s` to at most `max` characters, marking the cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((idx, _)) => format!("{}…", &s[..idx]),
    }
}

/// Replaces every string longer than `max` characters with its head and a note saying how
/// long it was; returns how many strings were cut.
pub fn bound_strings(value: &mut Value, max: usize, hint: &str) -> usize {
    match value {
        Value::String(s) => {
            let len = s.chars().count();
            if len > max {
                *s = format!(
                    "{} … [cut: {len} characters in all{hint}]",
                    truncate_chars(s, max).trim_end_matches('…')
                );
                1
            } else {
                0
            }
        }
        Value::Array(items) => items.iter_mut().map(|v| bound_strings(v, max, hint)).sum(),
        Value::Object(map) => map.values_mut().map(|v| bound_strings(v, max, hint)).sum(),
        _ => 0,
    }
}

/// A continuation cursor: Backstage's own cursor plus what must carry over between pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Version of this format.
    pub v: u8,
    /// Backstage's cursor.
    pub b: String,
    /// `fields` of the first request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub f: Vec<String>,
}

impl Cursor {
    /// Encodes as an opaque URL-safe string.
    pub fn encode(&self) -> String {
        encode_opaque(self)
    }

    /// Decodes a cursor given back by a client.
    pub fn decode(s: &str) -> Result<Self, ToolError> {
        let restart = "Repeat the search without `cursor` to start over.";
        let c: Cursor = decode_opaque(s, restart)?;
        if c.v != 1 || c.b.is_empty() {
            return Err(bad_cursor(restart));
        }
        Ok(c)
    }
}

/// Encodes any continuation state as an opaque URL-safe cursor (base64 of its JSON).
pub fn encode_opaque<T: Serialize>(state: &T) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a cursor made by [`encode_opaque`]; `restart` tells the model how to start over
/// when the cursor is not one this server issued.
pub fn decode_opaque<T: DeserializeOwned>(s: &str, restart: &str) -> Result<T, ToolError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(s.trim())
        .map_err(|_| bad_cursor(restart))?;
    serde_json::from_slice(&bytes).map_err(|_| bad_cursor(restart))
}

/// The error for a cursor this server did not issue (or that was altered).
pub fn bad_cursor(restart: &str) -> ToolError {
    ToolError::invalid(format!(
        "The cursor is not one this server issued (or it was altered). {restart}"
    ))
}

/// Checks one value used inside a Backstage filter expression, which has no escaping.
pub fn filter_value(key: &str, value: &str) -> Result<String, ToolError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ToolError::invalid(format!("`{key}` must not be empty")));
    }
    if v.contains(',') || v.contains('=') {
        return Err(ToolError::invalid(format!(
            "`{key}` value `{v}` contains `,` or `=`, which Backstage filters cannot express; give one plain value"
        )));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn projection_keeps_only_named_paths() {
        let e = json!({"kind": "Component", "metadata": {"name": "a", "title": "A", "tags": ["x"]}, "spec": {"type": "service"}});
        let p = project(
            &e,
            &["metadata.name".into(), "spec".into(), "nope.deeper".into()],
        );
        assert_eq!(
            p,
            json!({"metadata": {"name": "a"}, "spec": {"type": "service"}})
        );
    }

    #[test]
    fn projection_finds_annotation_keys_with_dots() {
        let e = json!({"kind": "Component", "metadata": {"name": "a", "annotations": {
            "backstage.io/techdocs-ref": "dir:.", "github.com/project-slug": "o/r"
        }}});
        let p = project(
            &e,
            &["metadata.annotations.backstage.io/techdocs-ref".into()],
        );
        assert_eq!(
            p,
            json!({"metadata": {"annotations": {"backstage.io/techdocs-ref": "dir:."}}})
        );
        let s = summarize(
            &e,
            &["metadata.annotations.backstage.io/techdocs-ref".into()],
        );
        assert_eq!(
            s.data.unwrap()["metadata"]["annotations"]["backstage.io/techdocs-ref"],
            "dir:."
        );
    }

    #[test]
    fn summary_resolves_owner_and_shortens_description() {
        let e = json!({"kind": "Component", "metadata": {"name": "web", "namespace": "shop", "description": "d".repeat(400)}, "spec": {"owner": "web-team"}});
        let s = summarize(&e, &[]);
        assert_eq!(s.entity_ref, "component:shop/web");
        assert_eq!(s.owner.as_deref(), Some("group:shop/web-team"));
        assert_eq!(
            s.description.unwrap().chars().count(),
            SUMMARY_DESCRIPTION_CHARS + 1
        );
        assert!(s.data.is_none());
    }

    #[test]
    fn long_strings_are_bounded_with_a_note() {
        let mut v = json!({"spec": {"definition": "x".repeat(50), "short": "ok"}});
        assert_eq!(bound_strings(&mut v, 10, "; use get_api_spec"), 1);
        let d = v["spec"]["definition"].as_str().unwrap();
        assert!(d.starts_with("xxxxxxxxxx …"), "{d}");
        assert!(d.contains("50 characters"));
        assert_eq!(v["spec"]["short"], "ok");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            v: 1,
            b: "abc".into(),
            f: vec!["spec".into()],
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("not-a-cursor!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(b"{\"v\":2,\"b\":\"x\"}")).is_err());
    }

    #[test]
    fn filter_values_cannot_inject_clauses() {
        assert!(filter_value("owner", "team,kind=user").is_err());
        assert!(filter_value("owner", " ").is_err());
        assert_eq!(filter_value("owner", " team ").unwrap(), "team");
    }
}
