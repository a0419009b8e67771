//! One bridged action as a tool: its schemas as served, local argument validation, and the
//! mapping of Backstage's answers to tool results.

use std::fmt;

use backstage_client::{Action, BackstageError};
use serde_json::{Map, Value};

use crate::tool::{Attributes, ToolError};

/// Most violations listed in one invalid-arguments message.
const MAX_VIOLATIONS: usize = 20;
/// Longest text of one violation.
const MAX_VIOLATION_CHARS: usize = 300;

/// An action from the Actions Registry, served as a tool.
pub struct BridgedTool {
    /// The action as listed by Backstage.
    pub action: Action,
    /// The tool name (see [`super::naming`]).
    pub name: String,
    /// The plugin the action is invoked on: the text before the first `:` of its id (as
    /// the official plugin routes it), or the source that listed it.
    pub plugin: String,
    /// The input schema as served: the action's JSON Schema, verbatim.
    pub input_schema: Map<String, Value>,
    /// The output schema, when the action's is an object schema.
    pub output_schema: Option<Map<String, Value>>,
    /// Effects, as Backstage resolved them.
    pub attributes: Attributes,
    /// Compiled input schema; `None` when it could not be compiled (then Backstage's own
    /// validation is the only one).
    validator: Option<jsonschema::Validator>,
}

impl fmt::Debug for BridgedTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgedTool")
            .field("id", &self.action.id)
            .field("name", &self.name)
            .field("validates", &self.validator.is_some())
            .finish_non_exhaustive()
    }
}

impl BridgedTool {
    /// Builds the tool, or says why the action cannot be served (its input schema is not
    /// an object schema, which MCP requires).
    pub fn new(action: Action, name: String, source: &str) -> Result<Self, String> {
        let input_schema = match &action.schema.input {
            Value::Object(m) => {
                match m.get("type") {
                    Some(Value::String(t)) if t == "object" => {}
                    None if m.contains_key("properties") => {}
                    other => {
                        return Err(format!(
                            "its input schema is not an object schema (type {})",
                            other.map_or_else(|| "missing".into(), Value::to_string)
                        ));
                    }
                }
                let mut m = m.clone();
                m.entry("type")
                    .or_insert_with(|| Value::String("object".into()));
                m
            }
            Value::Null => {
                let mut m = Map::new();
                m.insert("type".into(), Value::String("object".into()));
                m
            }
            _ => return Err("its input schema is not a JSON object".into()),
        };
        let output_schema = match &action.schema.output {
            Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("object") => {
                Some(m.clone())
            }
            _ => None,
        };
        let validator = match jsonschema::validator_for(&Value::Object(input_schema.clone())) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(
                    action = %action.id,
                    error = %e,
                    "the action's input schema cannot be compiled; arguments are left to Backstage to validate"
                );
                None
            }
        };
        let plugin = action
            .id
            .split_once(':')
            .map(|(p, _)| p.to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| source.to_owned());
        let a = action.attributes;
        Ok(Self {
            attributes: Attributes {
                read_only: a.read_only,
                destructive: a.destructive,
                idempotent: a.idempotent,
            },
            plugin,
            input_schema,
            output_schema,
            validator,
            name,
            action,
        })
    }

    /// The action id, `pluginId:name`.
    pub fn id(&self) -> &str {
        &self.action.id
    }

    /// Whether a retry after a connect failure or a 502/503/504 is harmless.
    pub fn retry_safe(&self) -> bool {
        self.attributes.read_only || self.attributes.idempotent
    }

    /// Validates `args` against the input schema; every violation is named in the error.
    pub fn validate(&self, args: &Map<String, Value>) -> Result<(), ToolError> {
        let Some(validator) = &self.validator else {
            return Ok(());
        };
        let instance = Value::Object(args.clone());
        let mut problems: Vec<String> = Vec::new();
        let mut total = 0usize;
        for e in validator.iter_errors(&instance) {
            total += 1;
            if problems.len() < MAX_VIOLATIONS {
                let path = e.instance_path().to_string();
                let at = if path.is_empty() {
                    "(arguments)".to_owned()
                } else {
                    format!("`{path}`")
                };
                problems.push(format!("{at}: {}", clip(&e.to_string())));
            }
        }
        if total == 0 {
            return Ok(());
        }
        let more = if total > problems.len() {
            format!("\n- ... and {} more", total - problems.len())
        } else {
            String::new()
        };
        Err(ToolError::invalid(format!(
            "Invalid arguments for {} ({} problem{}; nothing was sent to Backstage):\n- {}{more}\nFix them and call again; the tool's inputSchema describes every field.",
            self.name,
            total,
            if total == 1 { "" } else { "s" },
            problems.join("\n- ")
        )))
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_VIOLATION_CHARS) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

/// Maps a failed invocation to the tool error the model sees: a Backstage error keeps the
/// official plugin's `"<ErrorName>: <message>"` text; transport faults and unnamed answers
/// say what to check.
pub fn invoke_error(tool: &BridgedTool, err: &BackstageError) -> ToolError {
    match err {
        BackstageError::Api {
            status,
            name: Some(name),
            message,
            ..
        } => {
            let mut text = format!("{name}: {message}");
            if *status == 401 {
                text.push_str(" (Backstage rejected the credentials the action was invoked with: the caller's own token, or backstage.token / BACKSTAGE_TOKEN for static-token callers)");
            }
            ToolError {
                message: text,
                kind: crate::tool::ErrorKind::from_status(Some(*status)),
            }
        }
        other => ToolError::backstage(&format!("invoking action {}", tool.id()), other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(input: Value, output: Value) -> Action {
        serde_json::from_value(json!({
            "id": "catalog:get-catalog-entity",
            "name": "get-catalog-entity",
            "title": "Get Catalog Entity",
            "description": "d",
            "pluginId": "catalog",
            "attributes": {"destructive": false, "idempotent": true, "readOnly": true},
            "schema": {"input": input, "output": output}
        }))
        .expect("action")
    }

    fn entity_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "kind": {"type": "string"},
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1}
            },
            "required": ["name"],
            "additionalProperties": false,
            "$schema": "http://json-schema.org/draft-07/schema#"
        })
    }

    fn args(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn schemas_are_served_verbatim_and_output_only_when_an_object() {
        let t = BridgedTool::new(
            action(entity_schema(), json!({"type": "object"})),
            "n".into(),
            "catalog",
        )
        .expect("tool");
        assert_eq!(Value::Object(t.input_schema.clone()), entity_schema());
        assert!(t.output_schema.is_some());
        assert_eq!(t.plugin, "catalog");
        let t = BridgedTool::new(
            action(entity_schema(), json!({"type": "array"})),
            "n".into(),
            "catalog",
        )
        .expect("tool");
        assert!(t.output_schema.is_none());
        assert!(
            BridgedTool::new(
                action(json!({"type": "string"}), json!({})),
                "n".into(),
                "c"
            )
            .is_err()
        );
    }

    #[test]
    fn every_violation_is_named() {
        let t = BridgedTool::new(action(entity_schema(), json!({})), "get".into(), "catalog")
            .expect("tool");
        assert!(t.validate(&args(json!({"name": "a"}))).is_ok());
        let e = t
            .validate(&args(json!({"kind": 5, "limit": 0, "extra": true})))
            .unwrap_err();
        let m = e.message;
        assert!(m.contains("4 problems"), "{m}");
        assert!(m.contains("`/kind`"), "{m}");
        assert!(m.contains("`/limit`"), "{m}");
        assert!(m.contains("\"name\" is a required property"), "{m}");
        assert!(m.contains("extra"), "{m}");
        assert!(m.contains("nothing was sent to Backstage"), "{m}");
    }

    #[test]
    fn remote_errors_keep_name_and_message() {
        let t = BridgedTool::new(action(entity_schema(), json!({})), "get".into(), "catalog")
            .expect("tool");
        let e = invoke_error(
            &t,
            &BackstageError::Api {
                status: 400,
                name: Some("InputError".into()),
                message: "No entity found with name \"nope\"".into(),
                url: "u".into(),
            },
        );
        assert_eq!(e.message, "InputError: No entity found with name \"nope\"");
        let e = invoke_error(
            &t,
            &BackstageError::Connect {
                url: "u".into(),
                message: "refused".into(),
            },
        );
        assert!(
            e.message.contains("catalog:get-catalog-entity"),
            "{}",
            e.message
        );
        assert!(e.message.contains("backstage.baseUrl"), "{}", e.message);
    }
}
