//! Template parameter forms computed from local `Template` entities, as Backstage's
//! `GET /api/scaffolder/v2/templates/:namespace/:kind/:name/parameter-schema` computes them.
//!
//! Backstage answers `{title, description, steps: [{title, description, schema}]}` with one
//! step per element of `spec.parameters` (a single object counts as one), the template's
//! `metadata.title` (else its name) as title, and `Please enter the following information`
//! for a step without a title. Only `scaffolder.backstage.io/v1beta3` templates are
//! accepted, and only the `template` kind. With no permission framework locally, no
//! parameter is filtered out (Backstage's allow-all policy gives the same answer).

use backstage_client::{BackstageError, EntityRef, ParameterSchema};
use serde_json::{Map, Value, json};

use super::{LocalCatalog, input_error};

/// The only template apiVersion Backstage's scaffolder runs.
const SUPPORTED_API_VERSION: &str = "scaffolder.backstage.io/v1beta3";
/// The title Backstage gives a form page without one.
const DEFAULT_STEP_TITLE: &str = "Please enter the following information";

impl LocalCatalog {
    /// The parameter form of the template `r`; a missing template is a 404, another kind or
    /// apiVersion a 400, as Backstage answers.
    pub fn template_schema(&self, r: &EntityRef) -> Result<ParameterSchema, BackstageError> {
        if !r.kind.eq_ignore_ascii_case("template") {
            return Err(input_error(
                "Invalid kind, only 'Template' kind is supported".into(),
            ));
        }
        let entity = self.entity(r).map_err(|e| {
            if e.is_not_found() {
                BackstageError::Api {
                    status: 404,
                    name: Some("NotFoundError".into()),
                    message: format!("Template {} not found", r.to_string_ref()),
                    url: super::LOCAL_URL.into(),
                }
            } else {
                e
            }
        })?;
        parameter_schema(&entity)
    }
}

/// The parameter-schema answer for a template entity.
pub(crate) fn parameter_schema(template: &Value) -> Result<ParameterSchema, BackstageError> {
    let api_version = template.get("apiVersion").and_then(Value::as_str);
    if api_version != Some(SUPPORTED_API_VERSION) {
        return Err(input_error(format!(
            "Unsupported apiVersion field in schema entity, {}",
            api_version.unwrap_or("undefined")
        )));
    }
    let metadata = template.get("metadata");
    let field = |key: &str| metadata.and_then(|m| m.get(key)).cloned();
    let title = field("title")
        .filter(|t| !t.is_null())
        .or_else(|| field("name"))
        .unwrap_or(Value::Null);
    let parameters = match template.pointer("/spec/parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    let steps: Vec<Value> = parameters
        .into_iter()
        .map(|schema| {
            let title = schema
                .get("title")
                .filter(|t| !t.is_null())
                .cloned()
                .unwrap_or_else(|| json!(DEFAULT_STEP_TITLE));
            let mut step = Map::new();
            step.insert("title".into(), title);
            if let Some(d) = schema.get("description").filter(|d| !d.is_null()) {
                step.insert("description".into(), d.clone());
            }
            step.insert("schema".into(), schema);
            Value::Object(step)
        })
        .collect();
    let mut answer = Map::new();
    answer.insert("title".into(), title);
    if let Some(d) = field("description").filter(|d| !d.is_null()) {
        answer.insert("description".into(), d);
    }
    answer.insert("steps".into(), Value::Array(steps));
    serde_json::from_value(Value::Object(answer)).map_err(|e| {
        input_error(format!(
            "the template's spec.parameters do not form a parameter schema: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_spec_parameters_like_backstage() {
        let t = json!({
            "apiVersion": SUPPORTED_API_VERSION,
            "kind": "Template",
            "metadata": {"name": "svc", "description": "Make a service"},
            "spec": {"parameters": [
                {"title": "Basics", "description": "Name it", "required": ["name"],
                 "properties": {"name": {"type": "string"}}},
                {"properties": {"owner": {"type": "string"}}}
            ]}
        });
        let s = parameter_schema(&t).expect("schema");
        assert_eq!(s.title, "svc", "no metadata.title: the name");
        assert_eq!(s.description.as_deref(), Some("Make a service"));
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[0].title, "Basics");
        assert_eq!(s.steps[0].description.as_deref(), Some("Name it"));
        assert_eq!(s.steps[0].schema["required"], json!(["name"]));
        assert_eq!(s.steps[1].title, DEFAULT_STEP_TITLE);
        assert_eq!(s.steps[1].description, None);
    }

    #[test]
    fn a_single_parameters_object_is_one_step_and_none_is_zero() {
        let mut t = json!({
            "apiVersion": SUPPORTED_API_VERSION, "kind": "Template",
            "metadata": {"name": "x", "title": "X"},
            "spec": {"parameters": {"properties": {"a": {"type": "string"}}}}
        });
        let s = parameter_schema(&t).expect("schema");
        assert_eq!((s.title.as_str(), s.steps.len()), ("X", 1));
        t["spec"] = json!({});
        assert!(parameter_schema(&t).expect("schema").steps.is_empty());
    }

    #[test]
    fn other_api_versions_are_refused_as_backstage_does() {
        let t = json!({"apiVersion": "backstage.io/v1beta2", "kind": "Template",
                       "metadata": {"name": "old"}, "spec": {}});
        let e = parameter_schema(&t).expect_err("v1beta2");
        assert_eq!(e.status(), Some(400));
        assert!(e.to_string().contains("Unsupported apiVersion"), "{e}");
    }
}
