//! The distributed Actions Registry API every Backstage plugin serves under its own base path.
//!
//! Wire facts (`backstage-testbed.md`, "Distributed actions HTTP API"):
//!
//! - `GET /api/<plugin>/.backstage/actions/v1/actions` → `{"actions": [Action…]}`.
//! - `POST /api/<plugin>/.backstage/actions/v2/actions/<id>/invoke` with
//!   `{"input": {...}, "secrets"?: {...}}` → `{"output": ...}` (Backstage ≥ 1.52).
//! - `POST /api/<plugin>/.backstage/actions/v1/actions/<id>/invoke` with the raw input →
//!   `{"output": ...}` (deprecated, still served; the only one on older backends).
//! - Errors are Backstage error JSON (`InputError` 400, `NotFoundError` 404, ...). A route
//!   that does not exist (an older backend without v2, or a plugin that is not installed)
//!   answers 404 with an EMPTY body, which is how [`is_missing_route`] tells them apart.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::client::BackstageClient;
use crate::error::BackstageError;

/// Effects of an action as the registry resolves them (defaults already applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionAttributes {
    /// May destroy data.
    #[serde(default)]
    pub destructive: bool,
    /// Repeating a call has no further effect.
    #[serde(default)]
    pub idempotent: bool,
    /// Only reads.
    #[serde(default)]
    pub read_only: bool,
}

/// The JSON Schemas of an action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionSchema {
    /// Input JSON Schema (zod-to-json-schema output, draft-07).
    #[serde(default)]
    pub input: Value,
    /// Output JSON Schema.
    #[serde(default)]
    pub output: Value,
    /// Secrets JSON Schema, when the action takes secrets (sent only through v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Value>,
}

/// One action as listed by a plugin's registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// `pluginId:name`, e.g. `catalog:get-catalog-entity`.
    pub id: String,
    /// The action name, e.g. `get-catalog-entity`.
    pub name: String,
    /// Human title.
    #[serde(default)]
    pub title: String,
    /// What the action does (for the model).
    #[serde(default)]
    pub description: String,
    /// The owning plugin, e.g. `catalog`.
    #[serde(default)]
    pub plugin_id: String,
    /// Resolved attributes.
    #[serde(default)]
    pub attributes: ActionAttributes,
    /// Input, output and secrets schemas.
    #[serde(default)]
    pub schema: ActionSchema,
    /// Examples, when the action defines them (kept opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub examples: Option<Value>,
}

/// Which invoke endpoint to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeVersion {
    /// `v1`: the body is the raw input; no secrets.
    V1,
    /// `v2`: the body is `{input, secrets?}`.
    V2,
}

impl InvokeVersion {
    /// `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

#[derive(Deserialize)]
struct RawList {
    actions: Vec<Value>,
}

/// A listing: the actions that decoded, and a note for each entry that did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionList {
    /// Actions in the plugin's order.
    pub actions: Vec<Action>,
    /// One line per entry that was not a well-formed action (skipped).
    pub skipped: Vec<String>,
}

/// `true` when an error is a 404/405 for a route that does not exist at all (no Backstage
/// error body), as opposed to a Backstage `NotFoundError` about an action or entity.
pub fn is_missing_route(err: &BackstageError) -> bool {
    matches!(
        err,
        BackstageError::Api {
            status: 404 | 405,
            name: None,
            ..
        }
    )
}

impl BackstageClient {
    /// `GET /api/<plugin>/.backstage/actions/v1/actions`. Entries that are not well-formed
    /// actions are skipped and reported in [`ActionList::skipped`] (one bad action must not
    /// hide the others).
    pub async fn list_actions(&self, plugin: &str) -> Result<ActionList, BackstageError> {
        let url = self.url_for_segments(
            &["api", plugin, ".backstage", "actions", "v1", "actions"],
            &[],
        )?;
        let shown = url.to_string();
        let value = self.request_json(Method::GET, url, None, true).await?;
        let raw: RawList = serde_json::from_value(value).map_err(|e| BackstageError::Decode {
            url: shown.clone(),
            message: format!("expected {{\"actions\": [...]}}: {e}"),
        })?;
        let mut list = ActionList::default();
        for (i, entry) in raw.actions.into_iter().enumerate() {
            let id = entry
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("#{i}"));
            match serde_json::from_value::<Action>(entry) {
                Ok(mut action) => {
                    if action.plugin_id.is_empty() {
                        action.plugin_id = plugin.to_owned();
                    }
                    list.actions.push(action);
                }
                Err(e) => list.skipped.push(format!("{id}: {e}")),
            }
        }
        Ok(list)
    }

    /// `POST /api/<plugin>/.backstage/actions/<version>/actions/<id>/invoke` and returns the
    /// action's `output`. `retry` allows retries on connect failures and 502/503/504 (pass
    /// `true` only for read-only or idempotent actions). v1 cannot carry secrets: passing
    /// some with [`InvokeVersion::V1`] is a [`BackstageError::Config`].
    pub async fn invoke_action(
        &self,
        plugin: &str,
        id: &str,
        version: InvokeVersion,
        input: &Map<String, Value>,
        secrets: Option<&Map<String, Value>>,
        retry: bool,
    ) -> Result<Value, BackstageError> {
        let url = self.url_for_segments(
            &[
                "api",
                plugin,
                ".backstage",
                "actions",
                version.as_str(),
                "actions",
                id,
                "invoke",
            ],
            &[],
        )?;
        let body = match (version, secrets) {
            (InvokeVersion::V2, Some(s)) => json!({ "input": input, "secrets": s }),
            (InvokeVersion::V2, None) => json!({ "input": input }),
            (InvokeVersion::V1, None) => Value::Object(input.clone()),
            (InvokeVersion::V1, Some(_)) => {
                return Err(BackstageError::Config(format!(
                    "action {id} needs secrets, which only the v2 actions API accepts; this Backstage serves only v1"
                )));
            }
        };
        let bytes = serde_json::to_vec(&body).map_err(|e| {
            BackstageError::Config(format!("request body is not serializable: {e}"))
        })?;
        let shown = url.to_string();
        let answer = self
            .request_json(Method::POST, url, Some(bytes), retry)
            .await?;
        match answer {
            Value::Object(mut map) if map.contains_key("output") => {
                Ok(map.remove("output").unwrap_or(Value::Null))
            }
            other => Err(BackstageError::Decode {
                url: shown,
                message: format!(
                    "expected {{\"output\": ...}}, got {}",
                    match other {
                        Value::Object(_) => "an object without `output`",
                        Value::Null => "an empty body",
                        _ => "something else",
                    }
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_wire_shape_with_defaults() {
        let a: Action = serde_json::from_value(json!({
            "id": "catalog:get-catalog-entity",
            "name": "get-catalog-entity",
            "title": "Get Catalog Entity",
            "description": "d",
            "pluginId": "catalog",
            "attributes": {"destructive": false, "idempotent": true, "readOnly": true},
            "schema": {"input": {"type": "object"}, "output": {"type": "object"}}
        }))
        .expect("action");
        assert!(a.attributes.read_only && a.attributes.idempotent);
        assert!(a.schema.secrets.is_none());
        let minimal: Action =
            serde_json::from_value(json!({"id": "x:y", "name": "y"})).expect("minimal");
        assert_eq!(minimal.attributes, ActionAttributes::default());
        assert_eq!(minimal.schema.input, Value::Null);
    }

    #[test]
    fn missing_route_is_an_empty_404_not_a_backstage_error() {
        let route = BackstageError::Api {
            status: 404,
            name: None,
            message: "Not Found".into(),
            url: "u".into(),
        };
        let action = BackstageError::Api {
            status: 404,
            name: Some("NotFoundError".into()),
            message: "Action \"catalog:nope\" not found".into(),
            url: "u".into(),
        };
        assert!(is_missing_route(&route));
        assert!(!is_missing_route(&action));
        assert!(!is_missing_route(&BackstageError::Config("x".into())));
    }
}
