//! Entity validation as Backstage's catalog does it: the envelope and metadata schema, the
//! default namespace, no foreign root fields, the field formats of `FieldFormatEntityPolicy`
//! (Kubernetes-style names, DNS-label namespaces, tags, label and annotation keys, link
//! URLs), then the kind validators of the built-in kinds and the scaffolder's `Template`.
//!
//! A problem is an [`Invalid`]: a message and the key path it is about, so the loader can
//! name the line.

use serde_json::{Map, Value};

pub(crate) use super::kinds::known_kinds;

/// Why an entity is rejected, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Key path of the offending node (empty: the whole document).
    pub path: Vec<String>,
    /// What is wrong.
    pub message: String,
}

impl Invalid {
    pub(crate) fn at(path: &[&str], message: impl Into<String>) -> Self {
        Self {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }
}

pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Checks the envelope before anything else touches the entity: an object with string
/// `apiVersion`, `kind` and a `metadata` mapping with a string `name`.
pub(crate) fn envelope(entity: &Value) -> Result<(), Invalid> {
    let Some(obj) = entity.as_object() else {
        return Err(Invalid::at(
            &[],
            format!(
                "expected an entity mapping at the top level, found {}",
                type_name(entity)
            ),
        ));
    };
    for key in ["apiVersion", "kind"] {
        match obj.get(key) {
            None => return Err(Invalid::at(&[], format!("`{key}` is missing"))),
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(v) => {
                return Err(Invalid::at(
                    &[key],
                    format!("`{key}` must be a non-empty string, found {}", type_name(v)),
                ));
            }
        }
    }
    match obj.get("metadata") {
        None => Err(Invalid::at(&[], "`metadata` is missing")),
        Some(Value::Object(m)) => match m.get("name") {
            None => Err(Invalid::at(&["metadata"], "`metadata.name` is missing")),
            Some(Value::String(s)) if !s.is_empty() => Ok(()),
            Some(v) => Err(Invalid::at(
                &["metadata", "name"],
                format!(
                    "`metadata.name` must be a non-empty string, found {}",
                    type_name(v)
                ),
            )),
        },
        Some(v) => Err(Invalid::at(
            &["metadata"],
            format!("`metadata` must be a mapping, found {}", type_name(v)),
        )),
    }
}

/// Applies the entity policies and the kind validators; fills in the default namespace.
pub(crate) fn entity(entity: &mut Value) -> Result<(), Invalid> {
    envelope(entity)?;
    schema(entity)?;
    default_namespace(entity);
    if let Some(obj) = entity.as_object() {
        for key in obj.keys() {
            if !["apiVersion", "kind", "metadata", "spec"].contains(&key.as_str()) {
                return Err(Invalid::at(
                    &[key],
                    format!(
                        "unknown top-level field `{key}`; an entity has apiVersion, kind, metadata and spec"
                    ),
                ));
            }
        }
    }
    field_formats(entity)?;
    super::kinds::check(entity)
}

/// The metadata schema (`EntityMeta`): types of the well-known metadata fields.
fn schema(entity: &Value) -> Result<(), Invalid> {
    if let Some(spec) = entity.get("spec")
        && !spec.is_object()
    {
        return Err(Invalid::at(
            &["spec"],
            format!("`spec` must be a mapping, found {}", type_name(spec)),
        ));
    }
    let meta = &entity["metadata"];
    for key in ["uid", "etag", "namespace", "title"] {
        match meta.get(key) {
            None => {}
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(v) => {
                return Err(Invalid::at(
                    &["metadata", key],
                    format!(
                        "`metadata.{key}` must be a non-empty string, found {}",
                        shown(v)
                    ),
                ));
            }
        }
    }
    if let Some(v) = meta.get("description")
        && !v.is_string()
    {
        return Err(Invalid::at(
            &["metadata", "description"],
            format!(
                "`metadata.description` must be a string, found {}",
                type_name(v)
            ),
        ));
    }
    for key in ["labels", "annotations"] {
        if let Some(v) = meta.get(key)
            && !v.is_object()
        {
            return Err(Invalid::at(
                &["metadata", key],
                format!("`metadata.{key}` must be a mapping, found {}", type_name(v)),
            ));
        }
    }
    if let Some(v) = meta.get("tags") {
        let Some(tags) = v.as_array() else {
            return Err(Invalid::at(
                &["metadata", "tags"],
                format!("`metadata.tags` must be a list, found {}", type_name(v)),
            ));
        };
        if let Some((i, t)) = tags.iter().enumerate().find(|(_, t)| !t.is_string()) {
            let i = i.to_string();
            return Err(Invalid::at(
                &["metadata", "tags", &i],
                format!(
                    "`metadata.tags[{i}]` must be a string, found {}",
                    type_name(t)
                ),
            ));
        }
    }
    if let Some(v) = meta.get("links") {
        let Some(links) = v.as_array() else {
            return Err(Invalid::at(
                &["metadata", "links"],
                format!("`metadata.links` must be a list, found {}", type_name(v)),
            ));
        };
        for (i, l) in links.iter().enumerate() {
            let i = i.to_string();
            if !l.is_object() || !l.get("url").is_some_and(Value::is_string) {
                return Err(Invalid::at(
                    &["metadata", "links", &i],
                    format!("`metadata.links[{i}]` must be a mapping with a string `url`"),
                ));
            }
        }
    }
    Ok(())
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        other => type_name(other).to_string(),
    }
}

/// `DefaultNamespaceEntityPolicy`: `metadata.namespace` defaults to `default`. Like
/// lodash's merge, the key goes first in `metadata`.
fn default_namespace(entity: &mut Value) {
    let Some(meta) = entity.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if meta
        .get("namespace")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
    {
        return;
    }
    let mut out = Map::with_capacity(meta.len() + 1);
    out.insert("namespace".into(), Value::String("default".into()));
    for (k, v) in std::mem::take(meta) {
        if k != "namespace" {
            out.insert(k, v);
        }
    }
    *meta = out;
}

/// `[a-z0-9A-Z]` sequences separated by `[-_.]`, 1 to 63 characters (`isValidObjectName`).
pub(crate) fn is_object_name(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `[a-z0-9]` sequences separated by `-`, 1 to 63 characters (`isValidDnsLabel`).
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_dns_subdomain(s: &str) -> bool {
    (1..=253).contains(&s.len()) && s.split('.').all(is_dns_label)
}

fn prefix_and_or_suffix(s: &str, suffix: impl Fn(&str) -> bool) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [one] => suffix(one),
        [prefix, rest] => is_dns_subdomain(prefix) && suffix(rest),
        _ => false,
    }
}

fn is_api_version(s: &str) -> bool {
    prefix_and_or_suffix(s, |n| {
        (1..=63).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_alphanumeric())
    })
}

fn is_kind(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric())
}

fn is_tag(s: &str) -> bool {
    let ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'+' || c == b'#';
    (1..=63).contains(&s.len())
        && s.split('-')
            .all(|part| !part.is_empty() && part.bytes().all(ok))
}

const OBJECT_NAME_RULE: &str =
    "sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";

/// `FieldFormatEntityPolicy`.
fn field_formats(entity: &Value) -> Result<(), Invalid> {
    let bad = |path: &[&str], field: &str, value: &str, rule: &str| {
        Err(Invalid::at(
            path,
            format!("`{field}` is not valid: expected {rule}, found `{value}`"),
        ))
    };
    let api_version = entity["apiVersion"].as_str().unwrap_or_default();
    if !is_api_version(api_version) {
        return bad(
            &["apiVersion"],
            "apiVersion",
            api_version,
            "a valid prefix and/or suffix such as `backstage.io/v1alpha1`",
        );
    }
    let kind = entity["kind"].as_str().unwrap_or_default();
    if !is_kind(kind) {
        return bad(
            &["kind"],
            "kind",
            kind,
            "a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters",
        );
    }
    let meta = &entity["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    if !is_object_name(name) {
        return bad(
            &["metadata", "name"],
            "metadata.name",
            name,
            OBJECT_NAME_RULE,
        );
    }
    if let Some(ns) = meta.get("namespace").and_then(Value::as_str)
        && !is_dns_label(ns)
    {
        return bad(
            &["metadata", "namespace"],
            "metadata.namespace",
            ns,
            "sequences of [a-z0-9] separated by [-], at most 63 characters in total",
        );
    }
    for (block, value_rule) in [("labels", true), ("annotations", false)] {
        for (k, v) in meta
            .get(block)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if !prefix_and_or_suffix(k, is_object_name) {
                return bad(
                    &["metadata", block, k],
                    &format!("metadata.{block} key"),
                    k,
                    "a valid prefix and/or suffix such as `backstage.io/techdocs-ref`",
                );
            }
            match (value_rule, v) {
                (true, Value::String(s)) if s.is_empty() || is_object_name(s) => {}
                (true, _) => {
                    return bad(
                        &["metadata", block, k],
                        &format!("metadata.{block}.{k}"),
                        &shown_raw(v),
                        OBJECT_NAME_RULE,
                    );
                }
                (false, Value::String(_)) => {}
                (false, _) => {
                    return bad(
                        &["metadata", block, k],
                        &format!("metadata.{block}.{k}"),
                        &shown_raw(v),
                        "a string",
                    );
                }
            }
        }
    }
    for (i, t) in meta
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let t = t.as_str().unwrap_or_default();
        if !is_tag(t) {
            let i = i.to_string();
            return bad(
                &["metadata", "tags", &i],
                &format!("metadata.tags[{i}]"),
                t,
                "sequences of [a-z0-9+#] separated by [-], at most 63 characters in total",
            );
        }
    }
    for (i, l) in meta
        .get("links")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let i = i.to_string();
        let url = l.get("url").and_then(Value::as_str).unwrap_or_default();
        if url::Url::parse(url).is_err() {
            return bad(
                &["metadata", "links", &i, "url"],
                &format!("metadata.links[{i}].url"),
                url,
                "a valid absolute URL",
            );
        }
        for key in ["title", "icon"] {
            if let Some(v) = l.get(key)
                && v.as_str().is_none_or(|s| s.trim().is_empty())
            {
                return bad(
                    &["metadata", "links", &i, key],
                    &format!("metadata.links[{i}].{key}"),
                    &shown_raw(v),
                    "a non-empty string",
                );
            }
        }
    }
    Ok(())
}

fn shown_raw(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn component() -> Value {
        json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
               "metadata": {"name": "web", "tags": ["java", "c++"], "annotations": {"backstage.io/techdocs-ref": "dir:."},
                            "links": [{"url": "https://x.example", "title": "X"}]},
               "spec": {"type": "service", "lifecycle": "production", "owner": "team-a", "dependsOn": ["resource:db"]}})
    }

    fn err(mut e: Value) -> Invalid {
        entity(&mut e).unwrap_err()
    }

    #[test]
    fn a_valid_entity_gets_the_default_namespace_first() {
        let mut e = component();
        entity(&mut e).unwrap();
        let keys: Vec<&String> = e["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "namespace");
        assert_eq!(e["metadata"]["namespace"], "default");
    }

    #[test]
    fn names_follow_backstage_rules() {
        for good in ["a", "A-b_c.d", "x9", &"a".repeat(63)] {
            assert!(is_object_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a b", "ä", &"a".repeat(64), "a/b"] {
            assert!(!is_object_name(bad), "{bad}");
        }
        assert!(is_dns_label("team-a") && !is_dns_label("Team") && !is_dns_label("a_b"));
        assert!(is_tag("c++") && is_tag("c#") && !is_tag("Java") && !is_tag("a--b"));
        assert!(is_api_version("backstage.io/v1alpha1") && !is_api_version("a/b/c"));
    }

    #[test]
    fn problems_name_their_field() {
        let mut e = component();
        e["metadata"]["name"] = json!("bad name!");
        let i = err(e);
        assert_eq!(i.path, ["metadata", "name"]);
        assert!(i.message.contains("bad name!"), "{}", i.message);

        let mut e = component();
        e["spec"].as_object_mut().unwrap().remove("owner");
        assert!(
            err(e)
                .message
                .contains("`spec.owner` is required for kind Component")
        );

        let mut e = component();
        e["kind"] = json!("component");
        assert!(err(e).message.contains("did you mean `Component`"));

        let mut e = component();
        e["apiVersion"] = json!("backstage.io/v2");
        assert!(err(e).message.contains("apiVersion"));

        let mut e = component();
        e["spec"]["dependsOn"] = json!("resource:db");
        assert_eq!(err(e).path, ["spec", "dependsOn"]);

        let mut e = component();
        e["metadata"]["tags"] = json!(["Java"]);
        assert_eq!(err(e).path, ["metadata", "tags", "0"]);

        let mut e = component();
        e["metadata"]["links"] = json!([{"url": "not a url"}]);
        assert_eq!(err(e).path, ["metadata", "links", "0", "url"]);

        let mut e = component();
        e["status"] = json!({});
        assert!(err(e).message.contains("unknown top-level field"));

        assert!(envelope(&json!({"kind": "A", "metadata": {"name": "a"}})).is_err());
        assert!(envelope(&json!([1])).is_err());
    }

    #[test]
    fn templates_and_locations() {
        let mut t = json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
                           "metadata": {"name": "t"}, "spec": {"type": "service", "steps": []}});
        entity(&mut t).unwrap();
        let mut l = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Location",
                           "metadata": {"name": "l"}, "spec": {"targets": ["./a.yaml"], "presence": "maybe"}});
        assert!(entity(&mut l).is_err());
    }
}
