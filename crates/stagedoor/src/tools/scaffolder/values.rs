//! Checking template values before Backstage sees them: defaults applied first (Backstage's
//! task API and dry run do not apply them; the web form does), then every page's JSON Schema
//! (draft 7, as the scaffolder's form uses) with the `jsonschema` crate, then keys no page
//! declares.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use backstage_client::ParameterStep;

use super::fields;
use crate::tools::shape::truncate_chars;

/// Longest message kept for one violation.
const MAX_MESSAGE_CHARS: usize = 400;
/// Most violations reported for one call.
pub const MAX_ERRORS: usize = 100;

/// One violation.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// JSON Pointer into `values` (`/name`, `/consumers/0`); `""` is the whole object.
    pub path: String,
    /// The top-level field concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Title of the form page whose schema failed, when it came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The failed JSON Schema keyword (`required`, `pattern`, `enum`, ...), or `unknown` for a
    /// key no page declares.
    pub keyword: String,
    /// What is wrong, readably.
    pub message: String,
}

/// A default that was filled in.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AppliedDefault {
    /// The field (dotted for nested properties).
    pub field: String,
    /// The value used.
    pub value: Value,
}

/// The outcome of checking values.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// True when Backstage will accept the values.
    pub valid: bool,
    /// Every violation (at most 100), each with its JSON path.
    pub errors: Vec<Violation>,
    /// Defaults filled in because the value was missing.
    pub applied_defaults: Vec<AppliedDefault>,
    /// The values with defaults applied: what run_template sends.
    pub values: Map<String, Value>,
}

impl Report {
    /// The report as text for an `isError` refusal.
    pub fn refusal(&self, template_ref: &str, what: &str) -> String {
        let mut lines = vec![format!(
            "The values are not valid for {template_ref}; {what}. Fix every violation below and call again (validate_template_values checks without running):"
        )];
        for e in &self.errors {
            let path = if e.path.is_empty() { "/" } else { &e.path };
            lines.push(format!("- {path} [{}]: {}", e.keyword, e.message));
        }
        if !self.applied_defaults.is_empty() {
            let applied: Vec<String> = self
                .applied_defaults
                .iter()
                .map(|d| format!("{}={}", d.field, d.value))
                .collect();
            lines.push(format!("Defaults applied: {}.", applied.join(", ")));
        }
        lines.join("\n")
    }
}

/// Checks `values` against every page of a form.
pub fn check(steps: &[ParameterStep], values: &Map<String, Value>) -> Report {
    let mut values = values.clone();
    let mut applied = Vec::new();
    for step in steps {
        apply_defaults(&step.schema, &mut values, "", &mut applied, 0);
    }
    let instance = Value::Object(values.clone());
    let mut errors = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let title = if step.title.is_empty() {
            format!("Step {}", i + 1)
        } else {
            step.title.clone()
        };
        let validator = match jsonschema::draft7::options()
            .should_validate_formats(true)
            .build(&step.schema)
        {
            Ok(v) => v,
            Err(e) => {
                errors.push(Violation {
                    path: String::new(),
                    field: None,
                    step: Some(title.clone()),
                    keyword: "schema".into(),
                    message: truncate_chars(
                        &format!(
                            "the template's own schema for this page cannot be used ({e}); Backstage may still accept the values, but they cannot be checked here"
                        ),
                        MAX_MESSAGE_CHARS,
                    ),
                });
                continue;
            }
        };
        for err in validator.iter_errors(&instance) {
            let mut path = err.instance_path().as_str().to_string();
            if let jsonschema::error::ValidationErrorKind::Required { property } = err.kind() {
                let name = property
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| property.to_string());
                path = format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
            }
            let field = top_field(&path);
            let described = field
                .as_deref()
                .and_then(|f| describe_field(&step.schema, f));
            let mut message = match (&field, err.kind().keyword()) {
                (Some(f), "required") => format!("`{f}` is required"),
                (Some(f), _) => format!("{f}: {err}"),
                (None, _) => format!("{err}"),
            };
            if let Some(d) = described
                && matches!(
                    err.kind().keyword(),
                    "pattern" | "required" | "format" | "type"
                )
            {
                message = format!("{message} ({d})");
            }
            errors.push(Violation {
                path,
                field,
                step: Some(title.clone()),
                keyword: err.kind().keyword().to_string(),
                message: truncate_chars(&message, MAX_MESSAGE_CHARS),
            });
        }
    }
    let known = fields::top_level_names(&fields::flatten(steps));
    for key in values.keys() {
        if !known.iter().any(|k| k == key) {
            let hint = match closest(key, &known) {
                Some(c) => format!("did you mean `{c}`? "),
                None => String::new(),
            };
            errors.push(Violation {
                path: format!("/{}", key.replace('~', "~0").replace('/', "~1")),
                field: Some(key.clone()),
                step: None,
                keyword: "unknown".into(),
                message: truncate_chars(
                    &format!(
                        "`{key}` is not a parameter of this template; {hint}the parameters are: {}",
                        if known.is_empty() {
                            "(none)".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                    MAX_MESSAGE_CHARS,
                ),
            });
        }
    }
    errors.truncate(MAX_ERRORS);
    Report {
        valid: errors.is_empty(),
        errors,
        applied_defaults: applied,
        values,
    }
}

/// Fills `default`s of missing properties of `schema` into `values`, recursing into nested
/// objects that are present (or that were just defaulted).
fn apply_defaults(
    schema: &Value,
    values: &mut Map<String, Value>,
    prefix: &str,
    applied: &mut Vec<AppliedDefault>,
    depth: usize,
) {
    if depth > 3 {
        return;
    }
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, prop) in props {
        let name = format!("{prefix}{key}");
        if !values.contains_key(key)
            && let Some(d) = prop.get("default")
        {
            values.insert(key.clone(), d.clone());
            applied.push(AppliedDefault {
                field: name.clone(),
                value: d.clone(),
            });
        }
        if prop.get("properties").is_some()
            && let Some(Value::Object(inner)) = values.get_mut(key)
        {
            apply_defaults(prop, inner, &format!("{name}."), applied, depth + 1);
        }
    }
}

/// The top-level key a JSON Pointer starts with.
fn top_field(pointer: &str) -> Option<String> {
    let first = pointer.strip_prefix('/')?.split('/').next()?;
    if first.is_empty() {
        return None;
    }
    Some(first.replace("~1", "/").replace("~0", "~"))
}

/// "Title: description" of a top-level property, to make a violation self-explaining.
fn describe_field(schema: &Value, name: &str) -> Option<String> {
    let prop = schema.get("properties")?.get(name)?;
    let title = prop.get("title").and_then(Value::as_str);
    let description = prop.get("description").and_then(Value::as_str);
    match (title, description) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (Some(t), None) => Some(t.to_string()),
        (None, Some(d)) => Some(d.to_string()),
        (None, None) => None,
    }
}

fn closest(key: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&key.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.clone())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn step(title: &str, schema: Value) -> ParameterStep {
        ParameterStep {
            title: title.into(),
            description: None,
            schema,
        }
    }

    fn hello() -> Vec<ParameterStep> {
        vec![step(
            "Greeting",
            json!({"required": ["name"], "properties": {
                "name": {"title": "Name", "type": "string", "description": "Who to greet", "minLength": 1, "default": "world"},
                "greeting": {"type": "string", "enum": ["Hello", "Hi", "Howdy"], "default": "Hello"},
                "repeat": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1}
            }}),
        )]
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn defaults_are_applied_and_named() {
        let r = check(&hello(), &obj(json!({"greeting": "Hi"})));
        assert!(r.valid, "{:?}", r.errors);
        assert_eq!(
            r.values,
            obj(json!({"greeting": "Hi", "name": "world", "repeat": 1}))
        );
        let applied: Vec<&str> = r
            .applied_defaults
            .iter()
            .map(|d| d.field.as_str())
            .collect();
        assert_eq!(applied, vec!["name", "repeat"]);
    }

    #[test]
    fn every_violation_has_its_path() {
        let r = check(
            &hello(),
            &obj(json!({"name": "", "greeting": "Yo", "repeat": 9, "nmae": "x"})),
        );
        assert!(!r.valid);
        let mut got: Vec<(String, String)> = r
            .errors
            .iter()
            .map(|e| (e.path.clone(), e.keyword.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                ("/greeting".to_string(), "enum".to_string()),
                ("/name".to_string(), "minLength".to_string()),
                ("/nmae".to_string(), "unknown".to_string()),
                ("/repeat".to_string(), "maximum".to_string()),
            ]
        );
        let unknown = r
            .errors
            .iter()
            .find(|e| e.keyword == "unknown")
            .map(|e| e.message.clone());
        assert!(
            unknown
                .as_deref()
                .is_some_and(|m| m.contains("did you mean `name`")),
            "{unknown:?}"
        );
        let text = r.refusal("template:default/hello-world", "no task was created");
        assert!(text.contains("/repeat [maximum]"), "{text}");
    }

    #[test]
    fn required_points_at_the_missing_field() {
        let steps = vec![step(
            "S",
            json!({"required": ["owner"], "properties": {"owner": {"type": "string", "title": "Owner", "description": "Team"}}}),
        )];
        let r = check(&steps, &Map::new());
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].path, "/owner");
        assert_eq!(r.errors[0].keyword, "required");
        assert!(
            r.errors[0].message.contains("Owner: Team"),
            "{}",
            r.errors[0].message
        );
        assert_eq!(r.errors[0].step.as_deref(), Some("S"));
    }

    #[test]
    fn nested_defaults_and_pattern_messages() {
        let steps = vec![step(
            "S",
            json!({"properties": {
                "repo": {"type": "object", "default": {}, "properties": {"visibility": {"type": "string", "default": "private"}}},
                "name": {"type": "string", "pattern": "^[a-z]+$", "description": "lowercase"}
            }}),
        )];
        let r = check(&steps, &obj(json!({"name": "Bad Name"})));
        assert_eq!(r.values["repo"], json!({"visibility": "private"}));
        let fields: Vec<&str> = r
            .applied_defaults
            .iter()
            .map(|d| d.field.as_str())
            .collect();
        assert_eq!(fields, vec!["repo", "repo.visibility"]);
        assert_eq!(r.errors.len(), 1);
        assert!(
            r.errors[0].message.contains("lowercase"),
            "{}",
            r.errors[0].message
        );
    }

    #[test]
    fn a_broken_template_schema_is_reported_not_panicked() {
        let steps = vec![step("S", json!({"properties": {"x": {"type": 12}}}))];
        let r = check(&steps, &obj(json!({"x": 1})));
        assert!(!r.valid);
        assert_eq!(r.errors[0].keyword, "schema");
    }

    #[test]
    fn pointers_are_unescaped_for_field_names() {
        assert_eq!(top_field("/a~1b/0"), Some("a/b".to_string()));
        assert_eq!(top_field(""), None);
    }
}
