//! The kinds a default Backstage accepts — the built-in kinds of `BuiltinKindsEntityProcessor`
//! and the scaffolder's `Template` — with the `spec` rules of their JSON schemas: the
//! apiVersions allowed, the required fields and the type of each known field.

use serde_json::{Map, Value};

use super::validate::{Invalid, type_name};

const BACKSTAGE_VERSIONS: [&str; 2] = ["backstage.io/v1alpha1", "backstage.io/v1beta1"];

/// How a kind's `spec` is checked: which fields are required, and the type of known fields.
struct KindRule {
    kind: &'static str,
    api_versions: &'static [&'static str],
    required: &'static [&'static str],
    strings: &'static [&'static str],
    string_arrays: &'static [&'static str],
    arrays: &'static [&'static str],
    objects: &'static [&'static str],
}

/// The kinds a default Backstage accepts (`BuiltinKindsEntityProcessor` and the scaffolder
/// entity model), with the spec rules of their JSON schemas.
const KINDS: [KindRule; 9] = [
    KindRule {
        kind: "API",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["type", "lifecycle", "owner", "definition"],
        strings: &["type", "lifecycle", "owner", "system", "definition"],
        string_arrays: &[],
        arrays: &[],
        objects: &[],
    },
    KindRule {
        kind: "Component",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["type", "lifecycle", "owner"],
        strings: &["type", "lifecycle", "owner", "system", "subcomponentOf"],
        string_arrays: &["providesApis", "consumesApis", "dependsOn"],
        arrays: &[],
        objects: &[],
    },
    KindRule {
        kind: "Domain",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["owner"],
        strings: &["owner", "subdomainOf", "type"],
        string_arrays: &[],
        arrays: &[],
        objects: &[],
    },
    KindRule {
        kind: "Group",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["type", "children"],
        strings: &["type", "parent"],
        string_arrays: &["children", "members"],
        arrays: &[],
        objects: &["profile"],
    },
    KindRule {
        kind: "Location",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &[],
        strings: &["type", "target"],
        string_arrays: &["targets"],
        arrays: &[],
        objects: &[],
    },
    KindRule {
        kind: "Resource",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["type", "owner"],
        strings: &["type", "owner", "system"],
        string_arrays: &["dependsOn"],
        arrays: &[],
        objects: &[],
    },
    KindRule {
        kind: "System",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["owner"],
        strings: &["owner", "domain", "type"],
        string_arrays: &[],
        arrays: &[],
        objects: &[],
    },
    KindRule {
        kind: "User",
        api_versions: &BACKSTAGE_VERSIONS,
        required: &["memberOf"],
        strings: &[],
        string_arrays: &["memberOf"],
        arrays: &[],
        objects: &["profile"],
    },
    KindRule {
        kind: "Template",
        api_versions: &["scaffolder.backstage.io/v1beta3"],
        required: &["type", "steps"],
        strings: &["type", "owner", "lifecycle"],
        string_arrays: &[],
        arrays: &["steps"],
        objects: &[],
    },
];

/// The kinds the local catalog accepts.
pub(crate) fn known_kinds() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|k| k.kind)
}

/// The kind validators: a known kind and apiVersion, and a spec of the right shape.
pub(super) fn check(entity: &Value) -> Result<(), Invalid> {
    let kind = entity["kind"].as_str().unwrap_or_default();
    let api_version = entity["apiVersion"].as_str().unwrap_or_default();
    let Some(rule) = KINDS.iter().find(|k| k.kind == kind) else {
        let hint = KINDS
            .iter()
            .find(|k| k.kind.eq_ignore_ascii_case(kind))
            .map(|k| format!(" (kinds are case-sensitive: did you mean `{}`?)", k.kind))
            .unwrap_or_default();
        return Err(Invalid::at(
            &["kind"],
            format!(
                "unknown kind `{kind}`{hint}; the catalog recognizes {}",
                known_kinds().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    if !rule.api_versions.contains(&api_version) {
        return Err(Invalid::at(
            &["apiVersion"],
            format!(
                "apiVersion `{api_version}` is not one the catalog recognizes for kind {kind}; use {}",
                rule.api_versions.join(" or ")
            ),
        ));
    }
    let empty = Map::new();
    let spec = entity
        .get("spec")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for field in rule.required {
        if !spec.contains_key(*field) {
            let at: &[&str] = if entity.get("spec").is_some() {
                &["spec"]
            } else {
                &[]
            };
            return Err(Invalid::at(
                at,
                format!("`spec.{field}` is required for kind {kind}"),
            ));
        }
    }
    for (field, v) in spec {
        let f = field.as_str();
        let path = ["spec", f];
        let wrong = |what: &str| {
            Err(Invalid::at(
                &path,
                format!(
                    "`spec.{f}` must be {what} for kind {kind}, found {}",
                    type_name(v)
                ),
            ))
        };
        if rule.strings.contains(&f) && v.as_str().is_none_or(|s| s.is_empty()) {
            return wrong("a non-empty string");
        }
        if rule.string_arrays.contains(&f) {
            let ok = v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty())));
            if !ok {
                return wrong("a list of non-empty strings");
            }
        }
        if rule.arrays.contains(&f) && !v.is_array() {
            return wrong("a list");
        }
        if rule.objects.contains(&f) && !v.is_object() {
            return wrong("a mapping");
        }
    }
    if kind == "Location"
        && let Some(p) = spec.get("presence").and_then(Value::as_str)
        && !["required", "optional"].contains(&p)
    {
        return Err(Invalid::at(
            &["spec", "presence"],
            "`spec.presence` must be `required` or `optional`",
        ));
    }
    Ok(())
}
