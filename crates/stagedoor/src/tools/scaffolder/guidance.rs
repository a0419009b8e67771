//! Guidance for the custom form fields of Backstage's scaffolder, whose valid values the JSON
//! Schema does not describe: entity pickers (the exact `search_catalog` call listing valid
//! refs), the repository URL picker (its `host?owner=..&repo=..` format and allowed hosts),
//! tags, secrets and masked widgets.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::fields::TemplateField;

/// How to obtain a valid value for a custom field.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Guidance {
    /// What to do, in one or two sentences.
    pub text: String,
    /// The shape of a valid value, e.g. `kind:namespace/name` or `host?owner=..&repo=..`.
    pub value_format: String,
    /// The tool to call to list valid values (`search_catalog`, `list_entity_facets`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The exact arguments for `tool`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// An example value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

/// Guidance for the custom fields of Backstage's scaffolder (and the masked widget).
pub fn guidance(field: &TemplateField) -> Option<Guidance> {
    let empty = Value::Object(Map::new());
    let options = field.ui_options.as_ref().unwrap_or(&empty);
    let ui_field = field.ui_field.as_deref();
    match ui_field {
        Some("EntityPicker") | Some("MultiEntityPicker") => {
            let many = ui_field == Some("MultiEntityPicker");
            let args = catalog_arguments(options, &[]);
            Some(Guidance {
                text: format!(
                    "{} Call search_catalog with these arguments and use the `ref` of {}.{}",
                    if many {
                        "A list of catalog entities."
                    } else {
                        "A catalog entity."
                    },
                    if many { "each chosen item" } else { "the chosen item" },
                    default_kind_note(options)
                ),
                value_format: if many {
                    "an array of entity refs, e.g. [\"kind:namespace/name\"]".into()
                } else {
                    "an entity ref, kind:namespace/name".into()
                },
                tool: Some("search_catalog".into()),
                arguments: Some(args),
                example: None,
            })
        }
        Some("OwnerPicker") => {
            let args = catalog_arguments(options, &["Group", "User"]);
            Some(Guidance {
                text: format!(
                    "The owner: a group (or user) from the catalog. Call search_catalog with these arguments and use the `ref` of the chosen item.{}",
                    default_kind_note(options)
                ),
                value_format: "an entity ref, e.g. group:default/team-name".into(),
                tool: Some("search_catalog".into()),
                arguments: Some(args),
                example: None,
            })
        }
        Some("OwnedEntityPicker") => {
            let mut args = catalog_arguments(options, &[]);
            if let Value::Object(m) = &mut args {
                m.insert("owner".into(), json!("<your user or group ref>"));
            }
            Some(Guidance {
                text: "An entity owned by the person running the template. Call search_catalog with these arguments, `owner` set to that user or one of their groups, and use the `ref` of the chosen item.".into(),
                value_format: "an entity ref, kind:namespace/name".into(),
                tool: Some("search_catalog".into()),
                arguments: Some(args),
                example: None,
            })
        }
        Some("EntityTagsPicker") => {
            let mut args = json!({"facets": ["metadata.tags"]});
            if let Some(kinds) = options.get("kinds").and_then(Value::as_array)
                && let Some(k) = kinds.iter().filter_map(Value::as_str).next()
            {
                args["kind"] = json!(k);
            }
            Some(Guidance {
                text: "Tags: lowercase words with dashes. Existing tags are listed by list_entity_facets with these arguments; new tags are allowed unless the template says otherwise.".into(),
                value_format: "an array of strings, e.g. [\"java\", \"payments\"]".into(),
                tool: Some("list_entity_facets".into()),
                arguments: Some(args),
                example: None,
            })
        }
        Some("RepoUrlPicker") => Some(repo_url_guidance(options)),
        Some("Secret") => Some(Guidance {
            text: "A secret. Give it in run_template's `secrets` (same key) rather than in `values`, so it is not stored with the task.".into(),
            value_format: "a string".into(),
            tool: None,
            arguments: None,
            example: None,
        }),
        Some(other) => Some(Guidance {
            text: format!(
                "`{other}` is a custom form field from a frontend extension; its valid values are not described by the schema. Follow the field's description and help text."
            ),
            value_format: field
                .field_type
                .clone()
                .unwrap_or_else(|| "as described".into()),
            tool: None,
            arguments: None,
            example: None,
        }),
        None if field.ui_widget.as_deref() == Some("password") => Some(Guidance {
            text: "Sensitive: the form masks it. Prefer passing it in `secrets` if the template reads it from there.".into(),
            value_format: field.field_type.clone().unwrap_or_else(|| "string".into()),
            tool: None,
            arguments: None,
            example: None,
        }),
        None => None,
    }
}

fn default_kind_note(options: &Value) -> String {
    let kind = options.get("defaultKind").and_then(Value::as_str);
    let ns = options.get("defaultNamespace").and_then(Value::as_str);
    match (kind, ns) {
        (Some(k), Some(n)) => format!(" A bare name is read as kind {k} in namespace {n}."),
        (Some(k), None) => format!(" A bare name is read as kind {k}."),
        (None, Some(n)) => format!(" A bare name is read in namespace {n}."),
        (None, None) => String::new(),
    }
}

/// The `search_catalog` arguments that list valid values for an entity picker: its
/// `catalogFilter` (an object, or an array of objects that are ORed) and `allowedKinds`.
pub fn catalog_arguments(options: &Value, default_kinds: &[&str]) -> Value {
    let allowed: Vec<String> = options
        .get("allowedKinds")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let filters: Vec<&Value> = match options.get("catalogFilter") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => Vec::new(),
    };
    let kinds: Vec<String> = if !allowed.is_empty() {
        allowed
    } else if filters.is_empty() {
        default_kinds.iter().map(|k| k.to_string()).collect()
    } else {
        Vec::new()
    };
    let kind_expr: Vec<String> = kinds.iter().map(|k| format!("kind={k}")).collect();
    let mut exprs: Vec<String> = filters
        .iter()
        .filter_map(|f| f.as_object())
        .map(|f| {
            let mut parts: Vec<String> = Vec::new();
            for (k, v) in f {
                match v {
                    Value::String(s) => parts.push(format!("{k}={s}")),
                    Value::Array(vals) => {
                        parts.extend(vals.iter().filter_map(scalar).map(|s| format!("{k}={s}")))
                    }
                    Value::Object(o) if o.get("exists") == Some(&Value::Bool(true)) => {
                        parts.push(k.clone())
                    }
                    other => {
                        if let Some(s) = scalar(other) {
                            parts.push(format!("{k}={s}"));
                        }
                    }
                }
            }
            parts.extend(kind_expr.iter().cloned());
            parts.join(",")
        })
        .filter(|e| !e.is_empty())
        .collect();
    if exprs.is_empty() && !kind_expr.is_empty() {
        if kinds.len() == 1 {
            return json!({ "kind": kinds[0] });
        }
        exprs.push(kind_expr.join(","));
    }
    // A filter that is only `kind=X` reads better as the `kind` argument.
    if exprs.len() == 1
        && let Some(k) = exprs[0].strip_prefix("kind=")
        && !k.contains([',', '='])
    {
        return json!({ "kind": k });
    }
    match exprs.len() {
        0 => json!({}),
        1 => json!({ "filter": exprs[0] }),
        _ => json!({ "filter": exprs }),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(options: &Value, key: &str) -> Vec<String> {
    options
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn repo_url_guidance(options: &Value) -> Guidance {
    let hosts = strings(options, "allowedHosts");
    let owners = strings(options, "allowedOwners");
    let orgs = strings(options, "allowedOrganizations");
    let projects = strings(options, "allowedProjects");
    let repos = strings(options, "allowedRepos");
    let host = hosts
        .first()
        .cloned()
        .unwrap_or_else(|| "github.com".into());
    let owner = owners.first().cloned().unwrap_or_else(|| "OWNER".into());
    let repo = repos.first().cloned().unwrap_or_else(|| "REPO".into());
    let mut text = "A repository location, written as a host followed by a query string: \
        `host?owner=OWNER&repo=REPO` (GitHub, GitLab, Gitea), `host?organization=ORG&project=PROJECT&repo=REPO` \
        (Azure DevOps) or `host?workspace=WS&project=PROJECT&repo=REPO` (Bitbucket Cloud)."
        .to_string();
    let mut limits = Vec::new();
    if !hosts.is_empty() {
        limits.push(format!("host one of {}", hosts.join(", ")));
    }
    if !owners.is_empty() {
        limits.push(format!("owner one of {}", owners.join(", ")));
    }
    if !orgs.is_empty() {
        limits.push(format!("organization one of {}", orgs.join(", ")));
    }
    if !projects.is_empty() {
        limits.push(format!("project one of {}", projects.join(", ")));
    }
    if !repos.is_empty() {
        limits.push(format!("repo one of {}", repos.join(", ")));
    }
    if !limits.is_empty() {
        text.push_str(&format!(" This template allows: {}.", limits.join("; ")));
    }
    Guidance {
        text,
        value_format: "host?owner=OWNER&repo=REPO".into(),
        tool: None,
        arguments: None,
        example: Some(Value::String(format!("{host}?owner={owner}&repo={repo}"))),
    }
}
