//! `get_api_spec`: one API's definition as a summary, one operation or schema, or raw pages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::detect::{self, Parsed};
use super::model::{OperationInfo, SchemaInfo, ServerInfo};
use super::paging::{SpecCursor, fingerprint, page_end};
use crate::tools::shape;
use crate::tools::{ToolCtx, ToolError};

/// Default operations per summary page.
const DEFAULT_OPERATIONS: usize = 100;
/// Most operations per summary page.
const MAX_OPERATIONS: usize = 500;
/// Most schema names listed (first summary page only).
const MAX_SCHEMAS: usize = 500;
/// Most servers listed.
const MAX_SERVERS: usize = 50;
/// Default bytes per `full` page.
const DEFAULT_PAGE_BYTES: usize = 20_000;
/// Smallest and largest `maxBytes`.
const PAGE_BYTES: std::ops::RangeInclusive<usize> = 256..=100_000;
/// Longest string in a summary (names, paths, titles come from the spec).
const SUMMARY_STRING_CHARS: usize = 1_000;
/// Largest operation/schema returned, as JSON bytes.
const MAX_ITEM_BYTES: usize = 60_000;

/// What to return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SpecView {
    /// Title, version, servers, every operation and the schema names.
    #[default]
    Summary,
    /// The raw definition, paged by bytes.
    Full,
    /// One operation by `name`.
    Operation,
    /// One schema, type or message by `name`.
    Schema,
}

/// Arguments of `get_api_spec`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetApiSpecParams {
    /// API reference: `api:default/payments-openapi`, `api:payments-openapi` or just
    /// `payments-openapi` (kind defaults to API).
    pub entity_ref: String,
    /// Namespace to assume when `entityRef` has none (default `default`).
    pub namespace: Option<String>,
    /// `summary` (default), `full` (raw text, paged), `operation` or `schema` (one, by `name`).
    pub view: Option<SpecView>,
    /// For `operation`: an operationId, `METHOD /path`, `Query.field` or `Service.Rpc`. For
    /// `schema`: a schema, message or type name, or an internal reference like
    /// `#/components/schemas/Payment`. The names are listed by the summary.
    pub name: Option<String>,
    /// `summary`: operations per page, 1 to 500 (default 100).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<usize>,
    /// `full`: bytes per page, 256 to 100000 (default 20000). Pages end on a line break
    /// when possible, always on a character boundary.
    #[schemars(range(min = 256, max = 100000))]
    pub max_bytes: Option<usize>,
    /// `nextCursor` of a previous page (it carries the view and the position).
    pub cursor: Option<String>,
}

/// The summary of a definition (`view: "summary"`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SummaryOut {
    /// `info.title` (the package for protobuf).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `info.version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `info.description`, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Servers as declared (never contacted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<ServerInfo>,
    /// This page of operations (OpenAPI/AsyncAPI operations, GraphQL root fields, rpcs).
    pub operations: Vec<OperationInfo>,
    /// Index of the first operation of this page.
    pub operations_offset: usize,
    /// How many operations the definition has.
    pub total_operations: usize,
    /// Schema, type and message names (first page only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schemas: Vec<SchemaInfo>,
    /// How many named schemas the definition has.
    pub total_schemas: usize,
}

/// A byte range of the definition.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ByteRange {
    /// First byte (inclusive).
    pub start: usize,
    /// Last byte (exclusive).
    pub end: usize,
}

/// One operation or schema (`view: "operation"` / `"schema"`).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemOut {
    /// Canonical name.
    pub name: String,
    /// Where it is: a JSON pointer (`#/paths/~1payments/post`) or a qualified name.
    pub location: String,
    /// The definition, internal references inlined one level.
    pub definition: Value,
    /// References that were inlined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolved_refs: Vec<String>,
    /// References left as they are, with the reason (nested, external, missing).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unresolved_refs: Vec<String>,
}

/// Result of `get_api_spec`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetApiSpecOutput {
    /// Full reference of the API.
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// The entity's `metadata.title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `spec.type` as declared.
    #[serde(rename = "type")]
    pub api_type: String,
    /// The view returned.
    pub view: String,
    /// What the definition was recognised as: `openapi 3.0.3`, `swagger 2.0`,
    /// `asyncapi 2.6.0`, `graphql`, `protobuf (proto3)`, or `unrecognised`.
    pub format: String,
    /// Size of the whole definition in bytes (UTF-8).
    pub total_bytes: usize,
    /// `summary` view.
    // A `SummaryOut` whose strings from the spec are already bounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<SummaryOut>")]
    pub summary: Option<Value>,
    /// `full` view: this page of the raw text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `full` view: the bytes of this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    /// `operation` / `schema` view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemOut>,
    /// Pass as `cursor` (with the same `entityRef`) for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Why the definition could not be (fully) parsed; `view: "full"` still works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Remarks for the reader (paging position, degraded parsing, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn view_name(v: SpecView) -> &'static str {
    match v {
        SpecView::Summary => "summary",
        SpecView::Full => "full",
        SpecView::Operation => "operation",
        SpecView::Schema => "schema",
    }
}

/// The definition text, or an error saying it is missing and what to check.
fn definition_text(entity: &Value, api_ref: &str) -> Result<(String, Option<String>), ToolError> {
    match entity.pointer("/spec/definition") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok((s.clone(), None)),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Ok((
            serde_json::to_string_pretty(v).unwrap_or_default(),
            Some("spec.definition is structured data rather than text; shown as JSON".into()),
        )),
        _ => Err(ToolError::invalid(format!(
            "{api_ref} has no `spec.definition` in the catalog, so there is nothing to read. Check the entity's catalog-info.yaml: `spec.definition` must hold the API definition text (inline, or a `$text`/`$openapi`/`$asyncapi` placeholder Backstage can resolve; a placeholder that fails to resolve keeps the entity from updating, see the catalog's processing errors). stagedoor does not fetch definitions from URLs itself."
        ))),
    }
}

fn not_an_api(api_ref: &str, entity: &Value) -> ToolError {
    let mut provided = Vec::new();
    let mut consumed = Vec::new();
    for rel in entity
        .get("relations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let target = rel.get("targetRef").and_then(Value::as_str);
        match (rel.get("type").and_then(Value::as_str), target) {
            (Some("providesApi"), Some(t)) => provided.push(t.to_string()),
            (Some("consumesApi"), Some(t)) => consumed.push(t.to_string()),
            _ => {}
        }
    }
    let kind = entity
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("entity");
    let mut msg = format!("{api_ref} is a {kind}, not an API.");
    if !provided.is_empty() {
        msg.push_str(&format!(" It provides: {}.", provided.join(", ")));
    }
    if !consumed.is_empty() {
        msg.push_str(&format!(" It consumes: {}.", consumed.join(", ")));
    }
    msg.push_str(" Pass an API reference; list_api_specs lists them.");
    ToolError::invalid(msg)
}

fn check_params(p: &GetApiSpecParams, view: SpecView) -> Result<(), ToolError> {
    let named = p.name.as_deref().is_some_and(|n| !n.trim().is_empty());
    match view {
        SpecView::Operation | SpecView::Schema if !named => {
            return Err(ToolError::invalid(format!(
                "view \"{}\" needs `name`; the summary (view \"summary\") lists the names",
                view_name(view)
            )));
        }
        SpecView::Summary | SpecView::Full if named => {
            return Err(ToolError::invalid(
                "`name` is only used with view \"operation\" or \"schema\"",
            ));
        }
        _ => {}
    }
    if let Some(l) = p.limit
        && !(1..=MAX_OPERATIONS).contains(&l)
    {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_OPERATIONS}, got {l}"
        )));
    }
    if let Some(b) = p.max_bytes
        && !PAGE_BYTES.contains(&b)
    {
        return Err(ToolError::invalid(format!(
            "`maxBytes` must be between {} and {}, got {b}",
            PAGE_BYTES.start(),
            PAGE_BYTES.end()
        )));
    }
    Ok(())
}

/// Runs `get_api_spec`.
pub(super) async fn get(ctx: ToolCtx, p: GetApiSpecParams) -> Result<GetApiSpecOutput, ToolError> {
    let cursor_arg = p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty());
    let (resolved, entity) =
        super::super::resolve::resolve(&ctx, &p.entity_ref, Some("api"), p.namespace.as_deref())
            .await?;
    let api_ref = shape::entity_ref_of(&entity).unwrap_or_else(|| resolved.to_string_ref());
    if !entity
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.eq_ignore_ascii_case("api"))
    {
        return Err(not_an_api(&api_ref, &entity));
    }
    let (text, structured_note) = definition_text(&entity, &api_ref)?;
    let cursor = match cursor_arg {
        Some(c) => {
            let c = SpecCursor::decode(c, &api_ref)?;
            c.check(&text)?;
            Some(c)
        }
        None => None,
    };
    let view = match &cursor {
        Some(c) if c.w == "full" => SpecView::Full,
        Some(_) => SpecView::Summary,
        None => p.view.unwrap_or_default(),
    };
    check_params(&p, view)?;
    let api_type = entity
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut out = GetApiSpecOutput {
        entity_ref: api_ref.clone(),
        title: entity
            .pointer("/metadata/title")
            .and_then(Value::as_str)
            .map(str::to_string),
        api_type: api_type.clone(),
        view: view_name(view).into(),
        format: String::new(),
        total_bytes: text.len(),
        summary: None,
        text: None,
        range: None,
        item: None,
        next_cursor: None,
        parse_error: None,
        notes: structured_note.into_iter().collect(),
    };
    if view == SpecView::Full {
        full(&mut out, &text, cursor.as_ref(), p.max_bytes)?;
        out.format = detect::parse(&api_type, &text).format;
        return Ok(out);
    }
    let parsed = detect::parse(&api_type, &text);
    out.format = parsed.format.clone();
    out.parse_error = parsed.error.clone();
    match view {
        SpecView::Summary => summary(&mut out, &parsed, &text, cursor.as_ref(), p.limit),
        _ => item(&mut out, &parsed, view, p.name.as_deref().unwrap_or("")),
    }?;
    Ok(out)
}

fn full(
    out: &mut GetApiSpecOutput,
    text: &str,
    cursor: Option<&SpecCursor>,
    max_bytes: Option<usize>,
) -> Result<(), ToolError> {
    let (start, n) = match cursor {
        Some(c) => (c.o, c.n),
        None => (0, max_bytes.unwrap_or(DEFAULT_PAGE_BYTES)),
    };
    if start > text.len() || !text.is_char_boundary(start) {
        return Err(shape::bad_cursor(
            "Call get_api_spec again without `cursor` to start from the beginning.",
        ));
    }
    let end = page_end(text, start, n);
    out.text = Some(text[start..end].to_string());
    out.range = Some(ByteRange { start, end });
    if end < text.len() {
        out.next_cursor = Some(
            SpecCursor {
                v: 1,
                r: out.entity_ref.clone(),
                w: "full".into(),
                o: end,
                n,
                h: fingerprint(text),
            }
            .encode(),
        );
        out.notes.push(format!(
            "Bytes {start}..{end} of {}; pass nextCursor for the rest. Concatenating every page gives the exact definition.",
            text.len()
        ));
    }
    Ok(())
}

fn summary(
    out: &mut GetApiSpecOutput,
    parsed: &Parsed,
    text: &str,
    cursor: Option<&SpecCursor>,
    limit: Option<usize>,
) -> Result<(), ToolError> {
    let Some(sum) = parsed.summary() else {
        out.notes.push(match &parsed.error {
            Some(_) => "The definition could not be parsed (see parseError); read the raw text with view \"full\".".to_string(),
            None => format!(
                "stagedoor does not recognise this definition's format (spec.type `{}`); read the raw text with view \"full\".",
                out.api_type
            ),
        });
        return Ok(());
    };
    if parsed.error.is_some() {
        out.notes.push(
            "The definition has syntax errors (see parseError); the summary lists what could be read. view \"full\" shows the raw text.".into(),
        );
    }
    let (offset, n) = match cursor {
        Some(c) => (c.o, c.n),
        None => (0, limit.unwrap_or(DEFAULT_OPERATIONS)),
    };
    let total = sum.operations.len();
    if offset > total {
        return Err(shape::bad_cursor(
            "Call get_api_spec again without `cursor` to start from the beginning.",
        ));
    }
    let end = (offset + n).min(total);
    let mut servers = sum.servers;
    servers.truncate(MAX_SERVERS);
    let total_schemas = sum.schemas.len();
    let mut schemas = if offset == 0 { sum.schemas } else { Vec::new() };
    if schemas.len() > MAX_SCHEMAS {
        schemas.truncate(MAX_SCHEMAS);
        out.notes.push(format!(
            "Only the first {MAX_SCHEMAS} of {total_schemas} schema names are listed; ask for any by name with view \"schema\"."
        ));
    }
    if end < total {
        out.next_cursor = Some(
            SpecCursor {
                v: 1,
                r: out.entity_ref.clone(),
                w: "summary".into(),
                o: end,
                n,
                h: fingerprint(text),
            }
            .encode(),
        );
        out.notes.push(format!(
            "Operations {}..{end} of {total}; pass nextCursor for more.",
            offset + 1
        ));
    }
    let summary = SummaryOut {
        title: sum.title,
        version: sum.version,
        description: sum.description,
        servers,
        operations: sum.operations[offset..end].to_vec(),
        operations_offset: offset,
        total_operations: total,
        schemas,
        total_schemas,
    };
    let mut summary = serde_json::to_value(summary)
        .map_err(|e| ToolError::internal(format!("the API summary cannot be serialized: {e}")))?;
    // Names, paths and titles come from the spec: keep a hostile one from bloating the list.
    shape::bound_strings(
        &mut summary,
        SUMMARY_STRING_CHARS,
        "; view \"full\" has it whole",
    );
    out.summary = Some(summary);
    Ok(())
}

fn item(
    out: &mut GetApiSpecOutput,
    parsed: &Parsed,
    view: SpecView,
    name: &str,
) -> Result<(), ToolError> {
    let looked_up = match view {
        SpecView::Operation => parsed.operation(name),
        _ => parsed.schema(name),
    };
    let Some(found) = looked_up else {
        return Err(ToolError::invalid(match &parsed.error {
            Some(e) => format!(
                "Cannot look up `{name}`: the definition of {} could not be parsed ({e}). Read the raw text with view \"full\".",
                out.entity_ref
            ),
            None => format!(
                "Cannot look up `{name}`: stagedoor does not recognise the format of {} (spec.type `{}`). Read the raw text with view \"full\".",
                out.entity_ref, out.api_type
            ),
        }));
    };
    let mut found = found.map_err(ToolError::invalid)?;
    let size = |v: &Value| serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
    if size(&found.definition) > MAX_ITEM_BYTES {
        let cut = shape::bound_strings(&mut found.definition, 1_000, "; read view \"full\"");
        if size(&found.definition) > MAX_ITEM_BYTES {
            return Err(ToolError::invalid(format!(
                "`{}` is too large to return as one item (over {MAX_ITEM_BYTES} bytes of JSON even with long strings cut). Read it in the raw text with view \"full\"; it is at {}.",
                found.name, found.location
            )));
        }
        out.notes.push(format!(
            "{cut} long strings were shortened to keep the result bounded; view \"full\" has them whole."
        ));
    }
    out.item = Some(ItemOut {
        name: found.name,
        location: found.location,
        definition: found.definition,
        resolved_refs: found.resolved_refs,
        unresolved_refs: found.unresolved_refs,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
