//! `list_templates`, `get_template` and `validate_template_values`.

use backstage_client::{EntityQuery, EntityRef, SortOrder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fields::{self, TemplateField};
use super::values::{self, AppliedDefault, Violation};
use super::{entity_of, schema_of, template_ref};
use crate::tool::{CuratedTool, Needs};
use crate::tools::shape::{self, Cursor, filter_value};
use crate::tools::{Attributes, ToolCtx, ToolError};

/// Name of the template listing.
pub const LIST: &str = "list_templates";
/// Name of the template detail tool.
pub const GET: &str = "get_template";
/// Name of the value checker.
pub const VALIDATE: &str = "validate_template_values";

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
const FULL_TEXT_FIELDS: [&str; 4] = [
    "metadata.name",
    "metadata.title",
    "metadata.description",
    "metadata.tags",
];

// ---------------------------------------------------------------- list_templates

/// Arguments of `list_templates`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams {
    /// Free text matched (substring, case-insensitive) against name, title, description and tags.
    pub query: Option<String>,
    /// Tags; templates carrying any of them match.
    pub tags: Option<Vec<String>>,
    /// Owner reference, e.g. `platform-team` or `group:default/platform-team`.
    pub owner: Option<String>,
    /// Template type (`spec.type`), e.g. `service`, `website`, `library`.
    #[serde(rename = "type")]
    pub template_type: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// `nextCursor` of a previous page; the other arguments are then ignored.
    pub cursor: Option<String>,
}

/// One template, compact.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    /// Reference to pass as `templateRef`, `template:namespace/name`.
    #[serde(rename = "ref")]
    pub template_ref: String,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `spec.type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub template_type: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Result of `list_templates`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOutput {
    /// Matching templates.
    pub items: Vec<TemplateSummary>,
    /// How many match in all.
    pub total_items: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The `list_templates` tool.
pub struct ListTemplates;

impl CuratedTool for ListTemplates {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = LIST;
    const TITLE: &'static str = "List software templates";
    const DESCRIPTION: &'static str = "List the scaffolder's software templates (what can be created: services, websites, libraries, ...), filtered by free text, tags, owner or type. Returns each template's ref, title, description, owner, type and tags, with a cursor for the next page. Use get_template on a ref to learn its parameters.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = ListParams;
    type Output = ListOutput;

    async fn run(ctx: ToolCtx, p: ListParams) -> Result<ListOutput, ToolError> {
        list(ctx, p).await
    }
}

fn list_filter(p: &ListParams) -> Result<String, ToolError> {
    let mut parts = vec!["kind=template".to_string()];
    if let Some(t) = &p.template_type {
        parts.push(format!("spec.type={}", filter_value("type", t)?));
    }
    if let Some(o) = &p.owner {
        let o = filter_value("owner", o)?;
        let r = EntityRef::parse(&o, Some("group"), Some("default"))
            .map_err(|e| ToolError::invalid(format!("`owner`: {e}")))?;
        parts.push(format!("relations.ownedBy={}", r.to_string_ref()));
    }
    for t in p.tags.iter().flatten() {
        parts.push(format!("metadata.tags={}", filter_value("tags", t)?));
    }
    Ok(parts.join(","))
}

pub(crate) async fn list(ctx: ToolCtx, p: ListParams) -> Result<ListOutput, ToolError> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let fields: Vec<String> = shape::SUMMARY_FIELDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let query = match p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => EntityQuery {
            cursor: Some(Cursor::decode(c)?.b),
            fields,
            limit: Some(limit),
            ..Default::default()
        },
        None => {
            let term = p
                .query
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            EntityQuery {
                filters: vec![list_filter(&p)?],
                fields,
                limit: Some(limit),
                order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
                full_text_fields: if term.is_some() {
                    FULL_TEXT_FIELDS.iter().map(|s| s.to_string()).collect()
                } else {
                    Vec::new()
                },
                full_text_term: term,
                cursor: None,
            }
        }
    };
    let page = ctx
        .portal
        .query_entities(&query)
        .await
        .map_err(|e| ToolError::backstage("listing templates", &e))?;
    let items = page
        .items
        .iter()
        .map(|e| {
            let s = shape::summarize(e, &[]);
            TemplateSummary {
                template_ref: s.entity_ref,
                title: s.title,
                description: s.description,
                owner: s.owner,
                template_type: s.entity_type,
                tags: s.tags,
            }
        })
        .collect();
    let next_cursor = page.next_cursor.as_ref().map(|b| {
        Cursor {
            v: 1,
            b: b.clone(),
            f: Vec::new(),
        }
        .encode()
    });
    Ok(ListOutput {
        items,
        total_items: page.total_items,
        next_cursor,
    })
}

// ---------------------------------------------------------------- get_template

/// Arguments of `get_template`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetParams {
    /// The template: `template:default/create-node-service`, or just `create-node-service`.
    pub template_ref: String,
}

/// One step the template runs.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TemplateStep {
    /// Step id.
    pub id: String,
    /// Step name.
    pub name: String,
    /// The action, e.g. `fetch:template`, `publish:github`.
    pub action: String,
}

/// One page of the template's form.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FormPage {
    /// 1-based page index, as in each field's `step`.
    pub step: usize,
    /// Page title.
    pub title: String,
    /// Page description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Result of `get_template`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetOutput {
    /// Template reference.
    #[serde(rename = "ref")]
    pub template_ref: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Owner reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `spec.type`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub template_type: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The form's pages, in order.
    pub pages: Vec<FormPage>,
    /// Every field of every page, flattened, with type, constraints, default and guidance.
    pub fields: Vec<TemplateField>,
    /// Names of the fields that must be given (unconditionally) and have no default.
    pub required_without_default: Vec<String>,
    /// What the template will do, step by step.
    pub steps: Vec<TemplateStep>,
}

/// The `get_template` tool.
pub struct GetTemplate;

impl CuratedTool for GetTemplate {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = GET;
    const TITLE: &'static str = "Get a template's parameters";
    const DESCRIPTION: &'static str = "Get everything needed to fill in a software template: every field of every form page, flattened (name, type, required, default, enum and labels, pattern, limits, description, ui:field/ui:widget), with guidance for picker fields (EntityPicker, OwnerPicker, ... name the exact search_catalog call that lists valid values; RepoUrlPicker gives the host?owner=..&repo=.. format and allowed hosts), and the steps the template runs. Next: validate_template_values, then run_template.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = GetParams;
    type Output = GetOutput;

    async fn run(ctx: ToolCtx, p: GetParams) -> Result<GetOutput, ToolError> {
        get(ctx, p).await
    }
}

fn str_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The steps of a template entity (`spec.steps`), with ids and names filled in as Backstage does.
fn steps_of(entity: &Value) -> Vec<TemplateStep> {
    entity
        .pointer("/spec/steps")
        .and_then(Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let action = str_at(s, "/action").unwrap_or_default();
                    TemplateStep {
                        id: str_at(s, "/id").unwrap_or_else(|| format!("step-{}", i + 1)),
                        name: str_at(s, "/name").unwrap_or_else(|| action.clone()),
                        action,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn get(ctx: ToolCtx, p: GetParams) -> Result<GetOutput, ToolError> {
    let r = template_ref(&p.template_ref)?;
    let (schema, entity) = futures::join!(schema_of(&ctx, &r), entity_of(&ctx, &r));
    let schema = schema?;
    let entity = entity?;
    let fields = fields::flatten(&schema.steps);
    let required_without_default = fields
        .iter()
        .filter(|f| f.required && f.default.is_none() && f.condition.is_none())
        .map(|f| f.name.clone())
        .collect();
    let summary = shape::summarize(&entity, &[]);
    let pages = schema
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| FormPage {
            step: i + 1,
            title: s.title.clone(),
            description: s.description.clone(),
        })
        .collect();
    Ok(GetOutput {
        template_ref: r.to_string_ref(),
        title: if schema.title.is_empty() {
            r.name.clone()
        } else {
            schema.title.clone()
        },
        description: schema.description.clone().or(summary.description),
        owner: summary.owner,
        template_type: summary.entity_type,
        tags: summary.tags,
        pages,
        fields,
        required_without_default,
        steps: steps_of(&entity),
    })
}

// ---------------------------------------------------------------- validate_template_values

/// Arguments of `validate_template_values`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateParams {
    /// The template: `template:default/create-node-service`, or just `create-node-service`.
    pub template_ref: String,
    /// The values to check: one key per field of get_template (top-level names).
    pub values: Map<String, Value>,
}

/// Result of `validate_template_values`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateOutput {
    /// Template reference.
    pub template_ref: String,
    /// True when run_template would accept the values.
    pub valid: bool,
    /// Every violation, each with its JSON path (`/name`) and a readable message.
    pub errors: Vec<Violation>,
    /// Defaults filled in for missing fields.
    pub applied_defaults: Vec<AppliedDefault>,
    /// The values with defaults applied: what run_template would send.
    pub values: Map<String, Value>,
}

/// The `validate_template_values` tool.
pub struct ValidateTemplateValues;

impl CuratedTool for ValidateTemplateValues {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = VALIDATE;
    const TITLE: &'static str = "Check values for a template";
    const DESCRIPTION: &'static str = "Check values against a template's parameter schemas without running anything: defaults are applied first (and listed), then every violation is reported with its JSON path and a readable message, including keys the template does not have. The answer is data (valid, errors, appliedDefaults, values), so fix the errors and check again before run_template.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = ValidateParams;
    type Output = ValidateOutput;

    async fn run(ctx: ToolCtx, p: ValidateParams) -> Result<ValidateOutput, ToolError> {
        validate(ctx, p).await
    }
}

pub(crate) async fn validate(ctx: ToolCtx, p: ValidateParams) -> Result<ValidateOutput, ToolError> {
    let r = template_ref(&p.template_ref)?;
    let schema = schema_of(&ctx, &r).await?;
    let report = values::check(&schema.steps, &p.values);
    Ok(ValidateOutput {
        template_ref: r.to_string_ref(),
        valid: report.valid,
        errors: report.errors,
        applied_defaults: report.applied_defaults,
        values: report.values,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_filter_is_anchored_to_templates() {
        let p: ListParams = serde_json::from_value(json!({
            "type": "service", "owner": "platform-team", "tags": ["nodejs", "recommended"]
        }))
        .expect("params");
        assert_eq!(
            list_filter(&p).expect("filter"),
            "kind=template,spec.type=service,relations.ownedBy=group:default/platform-team,metadata.tags=nodejs,metadata.tags=recommended"
        );
        let bad: ListParams = serde_json::from_value(json!({"type": "a,kind=user"})).expect("p");
        assert!(list_filter(&bad).is_err());
    }

    #[test]
    fn steps_get_ids_and_names_like_backstage() {
        let e = json!({"spec": {"steps": [
            {"id": "fetch", "name": "Fetch", "action": "fetch:template"},
            {"action": "debug:log"}
        ]}});
        let steps = steps_of(&e);
        assert_eq!(steps[0].id, "fetch");
        assert_eq!(steps[1].id, "step-2");
        assert_eq!(steps[1].name, "debug:log");
    }
}
