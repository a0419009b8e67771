//! Scaffolder tools: find templates, learn and check their parameters, run them (optionally
//! following the task to its end with progress notifications), dry-run them, and watch or
//! cancel tasks.
//!
//! The flow a model follows: `list_templates` → `get_template` (every field, with guidance
//! for pickers) → `validate_template_values` (defaults applied, every violation with its path)
//! → `run_template` (refuses invalid values before any task exists) → `get_task_status` /
//! `cancel_task`. Values are checked here with the template's own JSON Schemas, so a typo
//! never becomes a half-run task.

pub mod fields;
pub mod guidance;
pub mod report;
pub mod run;
pub mod tasks;
pub mod templates;
pub mod values;

use std::sync::Arc;

use backstage_client::{BackstageError, EntityQuery, EntityRef, ParameterSchema};
use serde_json::Value;

use super::{ToolCtx, ToolError};

pub use run::{DryRunTemplate, RunTemplate};
pub use tasks::{CancelTask, GetTaskStatus, ListTasks};
pub use templates::{GetTemplate, ListTemplates, ValidateTemplateValues};

/// Parses a lenient template reference: `hello-world`, `default/hello-world`,
/// `template:hello-world` or `template:default/hello-world`.
fn template_ref(input: &str) -> Result<EntityRef, ToolError> {
    let r = EntityRef::parse(input.trim(), Some("template"), Some("default"))
        .map_err(|e| ToolError::invalid(format!("`templateRef`: {e}")))?;
    if !r.kind.eq_ignore_ascii_case("template") {
        return Err(ToolError::invalid(format!(
            "`templateRef` `{input}` names a {} entity, not a template; give a template such as `template:default/hello-world` (list_templates lists them)",
            r.kind
        )));
    }
    Ok(EntityRef {
        kind: "template".into(),
        ..r
    })
}

/// The parameter form of a template, or an error that names close matches.
async fn schema_of(ctx: &ToolCtx, r: &EntityRef) -> Result<Arc<ParameterSchema>, ToolError> {
    match ctx.portal.template_schema(r).await {
        Ok(s) => Ok(s),
        Err(e) if e.is_not_found() => Err(not_found(ctx, r).await),
        Err(e) => Err(ToolError::backstage(
            &format!("reading the parameters of {}", r.to_string_ref()),
            &e,
        )),
    }
}

/// The template entity (for its steps and YAML), or an error that names close matches.
async fn entity_of(ctx: &ToolCtx, r: &EntityRef) -> Result<Arc<Value>, ToolError> {
    match ctx.portal.entity(r).await {
        Ok(e) => Ok(e),
        Err(e) if e.is_not_found() => Err(not_found(ctx, r).await),
        Err(e) => Err(ToolError::backstage(
            &format!("reading {}", r.to_string_ref()),
            &e,
        )),
    }
}

/// "No such template", with the closest template names the catalog has.
async fn not_found(ctx: &ToolCtx, r: &EntityRef) -> ToolError {
    let q = EntityQuery {
        filters: vec!["kind=template".into()],
        fields: vec![
            "kind".into(),
            "metadata.name".into(),
            "metadata.namespace".into(),
        ],
        limit: Some(500),
        ..Default::default()
    };
    let names: Vec<String> = match ctx.portal.query_entities(&q).await {
        Ok(page) => page
            .items
            .iter()
            .filter_map(EntityRef::from_entity)
            .map(|t| t.to_string_ref())
            .collect(),
        Err(_) => Vec::new(),
    };
    let wanted = r.name.to_ascii_lowercase();
    let mut scored: Vec<(f64, &String)> = names
        .iter()
        .map(|n| {
            let name = n.rsplit('/').next().unwrap_or(n).to_ascii_lowercase();
            (strsim::jaro_winkler(&wanted, &name), n)
        })
        .filter(|(s, _)| *s >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<&str> = scored.iter().take(3).map(|(_, n)| n.as_str()).collect();
    let hint = if close.is_empty() {
        "list_templates shows the templates that exist.".to_string()
    } else {
        format!(
            "Did you mean {}? list_templates shows them all.",
            close.join(", ")
        )
    };
    ToolError {
        message: format!("No template {} in the catalog. {hint}", r.to_string_ref()),
        kind: crate::tool::ErrorKind::from_status(Some(404)),
    }
}

/// Checks a task id given by a client: Backstage ids are UUIDs; anything with characters
/// outside `[A-Za-z0-9_-]` is refused before a request is made.
fn task_id(input: &str) -> Result<String, ToolError> {
    let id = input.trim();
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ToolError::invalid(format!(
            "`taskId` `{input}` is not a scaffolder task id (a UUID such as 9f250bbf-7f03-40dd-b3c3-aabd45bb42ad); list_tasks lists recent tasks"
        )));
    }
    Ok(id.to_string())
}

/// A task read failed: a 404 names the id and what to do.
fn task_error(id: &str, what: &str, e: &BackstageError) -> ToolError {
    if e.is_not_found() {
        return ToolError {
            message: format!(
                "No scaffolder task with id {id}. list_tasks lists recent tasks (the testbed and other in-memory setups forget tasks on restart)."
            ),
            kind: crate::tool::ErrorKind::from_status(Some(404)),
        };
    }
    ToolError::backstage(&format!("{what} task {id}"), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_refs_are_lenient_but_must_be_templates() {
        for input in [
            "hello-world",
            "default/hello-world",
            "template:hello-world",
            "Template:default/hello-world",
        ] {
            let r = template_ref(input).expect(input);
            assert_eq!(r.to_string_ref(), "template:default/hello-world", "{input}");
        }
        assert!(template_ref("component:default/web").is_err());
        assert!(template_ref("").is_err());
    }

    #[test]
    fn task_ids_are_checked() {
        assert_eq!(
            task_id(" 9f250bbf-7f03-40dd-b3c3-aabd45bb42ad ")
                .ok()
                .as_deref(),
            Some("9f250bbf-7f03-40dd-b3c3-aabd45bb42ad")
        );
        for bad in ["", "../etc", "a/b", "x?y", &"a".repeat(200)] {
            assert!(task_id(bad).is_err(), "{bad}");
        }
    }
}
