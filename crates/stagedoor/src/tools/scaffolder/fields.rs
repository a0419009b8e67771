//! Flattening a template's parameter form (one JSON Schema per page) into one list of fields,
//! each with guidance (see [`super::guidance`]) when its valid values live elsewhere.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use backstage_client::ParameterStep;

use super::guidance::{Guidance, guidance};

/// Deepest nesting of object properties that is flattened (`a.b.c`).
const MAX_DEPTH: usize = 3;
/// Most fields listed for one template (a form larger than this is not a real form).
pub const MAX_FIELDS: usize = 300;

/// One input of a template's form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateField {
    /// The key in `values`; nested object properties are dotted (`repo.visibility`).
    pub name: String,
    /// 1-based index of the form page (parameter step) declaring it.
    pub step: usize,
    /// Title of that page.
    pub step_title: String,
    /// Label shown in the form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON type (`string`, `integer`, `array`, ...; several joined by `|`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub field_type: Option<String>,
    /// Must be given (after defaults are applied); under `condition`, only when it holds.
    pub required: bool,
    /// Value used when none is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The only accepted values.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    /// Labels of the `enum` values, in the same order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enum_names: Option<Vec<Value>>,
    /// Regular expression a string must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// `format` (e.g. `email`, `uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Numeric minimum (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<Value>,
    /// Numeric maximum (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<Value>,
    /// Shortest string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Longest string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// Fewest array items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// Most array items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// Array items must be distinct.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unique_items: bool,
    /// Schema of array items (type, enum, pattern), compact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
    /// Custom form field (`ui:field`), e.g. `EntityPicker`, `RepoUrlPicker`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_field: Option<String>,
    /// Form widget (`ui:widget`), e.g. `password`, `textarea`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_widget: Option<String>,
    /// `ui:options` of the field, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_options: Option<Value>,
    /// `ui:help`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_help: Option<String>,
    /// When the field only applies under a condition on another field, that condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// How to find a valid value, for fields whose values come from elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<Guidance>,
}

/// Flattens every page of a form into fields, in form order, at most [`MAX_FIELDS`].
pub fn flatten(steps: &[ParameterStep]) -> Vec<TemplateField> {
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let ctx = StepCtx {
            step: i + 1,
            title: if step.title.is_empty() {
                format!("Step {}", i + 1)
            } else {
                step.title.clone()
            },
        };
        walk(&ctx, &step.schema, "", None, 0, &mut out);
    }
    out.truncate(MAX_FIELDS);
    out
}

/// The top-level keys a form knows (including conditional ones).
pub fn top_level_names(fields: &[TemplateField]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for f in fields {
        let top = f.name.split('.').next().unwrap_or(&f.name).to_string();
        if !names.contains(&top) {
            names.push(top);
        }
    }
    names
}

struct StepCtx {
    step: usize,
    title: String,
}

/// Collects the `properties` of `schema` (and of its conditional branches).
fn walk(
    ctx: &StepCtx,
    schema: &Value,
    prefix: &str,
    condition: Option<&str>,
    depth: usize,
    out: &mut Vec<TemplateField>,
) {
    if depth > MAX_DEPTH || out.len() >= MAX_FIELDS {
        return;
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, prop) in props {
            let name = format!("{prefix}{key}");
            // A conditional branch re-declares the field it depends on (to pin its value);
            // that is not a new field.
            if out.iter().any(|f| f.name == name) {
                continue;
            }
            let field = describe(
                ctx,
                &name,
                prop,
                required.contains(&key.as_str()),
                condition,
            );
            out.push(field);
            if prop.get("properties").is_some() {
                walk(ctx, prop, &format!("{name}."), condition, depth + 1, out);
            }
        }
    }
    // `dependencies: {a: {oneOf: [{properties: {a: {enum: [x]}, b: ...}}]}}` and plain
    // schema dependencies `{a: {properties: {b: ...}}}`.
    if let Some(deps) = schema.get("dependencies").and_then(Value::as_object) {
        for (key, dep) in deps {
            let branches: Vec<&Value> = ["oneOf", "anyOf", "allOf"]
                .iter()
                .filter_map(|k| dep.get(*k).and_then(Value::as_array))
                .flatten()
                .chain(dep.get("properties").map(|_| dep))
                .collect();
            for branch in branches {
                let cond = branch_condition(&format!("{prefix}{key}"), key, branch);
                let cond = join_conditions(condition, &cond);
                walk(ctx, branch, prefix, Some(&cond), depth + 1, out);
            }
        }
    }
    // `allOf: [{if: {properties: {a: {const: x}}}, then: {...}, else: {...}}]`, and a bare
    // if/then/else at this level.
    let mut conditionals: Vec<&Value> = schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if schema.get("if").is_some() {
        conditionals.push(schema);
    }
    for c in conditionals {
        let Some(test) = c.get("if") else {
            walk(ctx, c, prefix, condition, depth + 1, out);
            continue;
        };
        let when = if_condition(prefix, test);
        if let Some(then) = c.get("then") {
            let cond = join_conditions(condition, &when);
            walk(ctx, then, prefix, Some(&cond), depth + 1, out);
        }
        if let Some(otherwise) = c.get("else") {
            let cond = join_conditions(condition, &format!("not ({when})"));
            walk(ctx, otherwise, prefix, Some(&cond), depth + 1, out);
        }
    }
}

fn join_conditions(outer: Option<&str>, inner: &str) -> String {
    match outer {
        Some(o) => format!("{o} and {inner}"),
        None => inner.to_string(),
    }
}

fn branch_condition(name: &str, key: &str, branch: &Value) -> String {
    match branch.pointer(&format!("/properties/{}", escape_pointer(key))) {
        Some(p) => value_condition(name, p),
        None => format!("`{name}` is set"),
    }
}

fn if_condition(prefix: &str, test: &Value) -> String {
    let parts: Vec<String> = test
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(k, p)| value_condition(&format!("{prefix}{k}"), p))
                .collect()
        })
        .unwrap_or_default();
    if parts.is_empty() {
        "a condition in the template holds".to_string()
    } else {
        parts.join(" and ")
    }
}

fn value_condition(name: &str, p: &Value) -> String {
    if let Some(c) = p.get("const") {
        return format!("`{name}` is {c}");
    }
    match p.get("enum").and_then(Value::as_array) {
        Some(e) if e.len() == 1 => format!("`{name}` is {}", e[0]),
        Some(e) => format!("`{name}` is one of {}", Value::Array(e.clone())),
        None => format!("`{name}` is set"),
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn u64_of(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

fn type_of(v: &Value) -> Option<String> {
    match v.get("type")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("|"),
        ),
        _ => None,
    }
}

fn describe(
    ctx: &StepCtx,
    name: &str,
    prop: &Value,
    required: bool,
    condition: Option<&str>,
) -> TemplateField {
    let items = prop.get("items").filter(|i| i.is_object()).map(|i| {
        let mut m = Map::new();
        for k in ["type", "enum", "enumNames", "pattern", "format", "const"] {
            if let Some(v) = i.get(k) {
                m.insert(k.to_string(), v.clone());
            }
        }
        Value::Object(m)
    });
    let mut field = TemplateField {
        name: name.to_string(),
        step: ctx.step,
        step_title: ctx.title.clone(),
        title: str_of(prop, "title"),
        description: str_of(prop, "description"),
        field_type: type_of(prop),
        required,
        default: prop.get("default").cloned(),
        enum_values: prop.get("enum").and_then(Value::as_array).cloned(),
        enum_names: prop.get("enumNames").and_then(Value::as_array).cloned(),
        pattern: str_of(prop, "pattern"),
        format: str_of(prop, "format"),
        minimum: prop
            .get("minimum")
            .or_else(|| prop.get("exclusiveMinimum"))
            .cloned(),
        maximum: prop
            .get("maximum")
            .or_else(|| prop.get("exclusiveMaximum"))
            .cloned(),
        min_length: u64_of(prop, "minLength"),
        max_length: u64_of(prop, "maxLength"),
        min_items: u64_of(prop, "minItems"),
        max_items: u64_of(prop, "maxItems"),
        unique_items: prop.get("uniqueItems") == Some(&Value::Bool(true)),
        items: items.filter(|i| i.as_object().is_some_and(|m| !m.is_empty())),
        ui_field: str_of(prop, "ui:field"),
        ui_widget: str_of(prop, "ui:widget"),
        ui_options: prop.get("ui:options").cloned(),
        ui_help: str_of(prop, "ui:help"),
        condition: condition.map(str::to_string),
        guidance: None,
    };
    field.guidance = guidance(&field);
    field
}

#[cfg(test)]
mod tests;
