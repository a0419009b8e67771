//! API tools: list the catalog's APIs, and read one API's definition (summary, one
//! operation or schema, or the raw text paged by bytes).
//!
//! Both read only the catalog (`needs_backstage = false`), so they can later answer from a
//! local catalog too. A definition is parsed locally (YAML/JSON with serde-saphyr, GraphQL
//! with apollo-parser, protobuf with protox-parse); nothing named inside a spec — server
//! URLs, external `$ref`s, imports — is ever fetched.
//!
//! Degraded results: a definition that cannot be parsed still answers `view: "summary"`
//! successfully, with `parseError` naming the problem and a note to read it with
//! `view: "full"` (the raw text always pages). Asking an unparseable definition for one
//! `operation` or `schema` is an `isError`, since nothing useful can be returned.

mod asyncapi;
mod detect;
mod graphql;
mod model;
mod openapi;
mod paging;
mod proto;
mod refs;
mod view;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{self, CatalogPage, SearchParams};
use super::shape::{self, owner_ref};
use super::{Attributes, ToolCtx, ToolError};
use crate::tool::{CuratedTool, Needs};

pub use model::{OperationInfo, SchemaInfo, ServerInfo};
pub use view::{ByteRange, GetApiSpecOutput, GetApiSpecParams, ItemOut, SpecView, SummaryOut};

/// Name of the listing tool.
pub const LIST: &str = "list_api_specs";
/// Name of the definition tool.
pub const GET: &str = "get_api_spec";

// ---------------------------------------------------------------- list_api_specs

/// Arguments of `list_api_specs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListApisParams {
    /// Free text matched (substring, case-insensitive) against name, title, description and tags.
    pub query: Option<String>,
    /// `spec.type`: `openapi`, `asyncapi`, `graphql`, `grpc`, or any other type your catalog
    /// uses (e.g. `trpc`, `other`). Filtered by Backstage, before paging.
    #[serde(rename = "type")]
    pub api_type: Option<String>,
    /// Owner reference, e.g. `payments-team` or `group:default/payments-team`.
    pub owner: Option<String>,
    /// `spec.lifecycle`, e.g. `production`, `experimental`, `deprecated`.
    pub lifecycle: Option<String>,
    /// System the API is part of, e.g. `payments` or `system:default/payments`.
    pub system: Option<String>,
    /// Tags; APIs carrying any of them match.
    pub tags: Option<Vec<String>>,
    /// Namespace (default: all namespaces).
    pub namespace: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// `nextCursor` of a previous page; the filters are carried by the cursor.
    pub cursor: Option<String>,
}

/// One API, compact.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiSummary {
    /// Full reference, e.g. `api:default/payments-openapi` (pass it to get_api_spec).
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// `metadata.title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `metadata.description`, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `spec.type`: openapi, asyncapi, graphql, grpc, ...
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub api_type: Option<String>,
    /// `spec.lifecycle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// Owner as a full reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// System as a full reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// `metadata.tags`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// How many entities provide this API (`apiProvidedBy`).
    pub provided_by: usize,
    /// How many entities consume this API (`apiConsumedBy`).
    pub consumed_by: usize,
}

/// Result of `list_api_specs`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListApisOutput {
    /// Matching APIs, ordered by name.
    pub items: Vec<ApiSummary>,
    /// How many APIs match in all.
    pub total_items: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The `list_api_specs` tool.
pub struct ListApiSpecs;

impl CuratedTool for ListApiSpecs {
    const FAMILY: &'static str = "apis";
    const NAME: &'static str = LIST;
    const TITLE: &'static str = "List API specs";
    const DESCRIPTION: &'static str = "List the APIs in the Backstage catalog, filtered by type (openapi, asyncapi, graphql, grpc, or any spec.type), owner, lifecycle, system, tags or free text. Returns compact summaries (ref, title, description, type, lifecycle, owner, system, how many entities provide and consume the API), the total count and a cursor for the next page. Use get_api_spec on a ref to read the definition.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = ListApisParams;
    type Output = ListApisOutput;

    async fn run(ctx: ToolCtx, p: ListApisParams) -> Result<ListApisOutput, ToolError> {
        list(ctx, p).await
    }
}

fn relation_count(entity: &Value, relation: &str) -> usize {
    entity
        .get("relations")
        .and_then(Value::as_array)
        .map(|rels| {
            rels.iter()
                .filter(|r| r.get("type").and_then(Value::as_str) == Some(relation))
                .count()
        })
        .unwrap_or(0)
}

fn api_summary(entity: &Value) -> ApiSummary {
    let s = shape::summarize(entity, &[]);
    let namespace = entity
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let system = entity
        .pointer("/spec/system")
        .and_then(Value::as_str)
        .map(|sys| {
            backstage_client::EntityRef::parse(sys, Some("system"), Some(namespace))
                .map(|r| r.to_string_ref())
                .unwrap_or_else(|_| sys.to_string())
        });
    ApiSummary {
        entity_ref: s.entity_ref,
        title: s.title,
        description: s.description,
        api_type: s.entity_type,
        lifecycle: s.lifecycle,
        owner: s.owner.map(|o| owner_ref(&o, namespace)),
        system,
        tags: s.tags,
        provided_by: relation_count(entity, "apiProvidedBy"),
        consumed_by: relation_count(entity, "apiConsumedBy"),
    }
}

async fn list(ctx: ToolCtx, p: ListApisParams) -> Result<ListApisOutput, ToolError> {
    let search = SearchParams {
        query: p.query,
        kind: Some("API".into()),
        entity_type: p.api_type,
        owner: p.owner,
        lifecycle: p.lifecycle,
        tags: p.tags,
        namespace: p.namespace,
        system: p.system,
        limit: p.limit,
        cursor: p.cursor,
        ..Default::default()
    };
    let CatalogPage {
        page, next_cursor, ..
    } = catalog::search_page(&ctx, &search, &["spec.system", "relations"]).await?;
    Ok(ListApisOutput {
        items: page.items.iter().map(api_summary).collect(),
        total_items: page.total_items,
        next_cursor,
    })
}

/// The `get_api_spec` tool.
pub struct GetApiSpec;

impl CuratedTool for GetApiSpec {
    const FAMILY: &'static str = "apis";
    const NAME: &'static str = GET;
    const TITLE: &'static str = "Read an API definition";
    const DESCRIPTION: &'static str = "Read one API's definition (OpenAPI/Swagger, AsyncAPI, GraphQL SDL, gRPC protobuf) from the catalog. view \"summary\" (default): title, version, servers and every operation (OpenAPI/AsyncAPI method, path and operationId; GraphQL root fields with arguments; gRPC rpcs with request/response types and streaming flags) plus the schema names, paged by `limit`. view \"operation\" or \"schema\" with `name`: one operation (operationId, \"METHOD /path\", Query.field, Service.Rpc) or one schema/type/message, with internal $refs resolved one level. view \"full\": the raw text paged by bytes with a cursor; the pages concatenate to the exact original. URLs and files named inside a spec are never fetched.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = GetApiSpecParams;
    type Output = GetApiSpecOutput;

    async fn run(ctx: ToolCtx, p: GetApiSpecParams) -> Result<GetApiSpecOutput, ToolError> {
        view::get(ctx, p).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn api_summary_counts_relations_and_resolves_refs() {
        let e = json!({
            "kind": "API",
            "metadata": {"name": "orders", "namespace": "shop", "title": "Orders", "tags": ["rest"]},
            "spec": {"type": "openapi", "lifecycle": "production", "owner": "team-a", "system": "commerce"},
            "relations": [
                {"type": "apiProvidedBy", "targetRef": "component:shop/a"},
                {"type": "apiConsumedBy", "targetRef": "component:shop/b"},
                {"type": "apiConsumedBy", "targetRef": "component:shop/c"},
                {"type": "ownedBy", "targetRef": "group:shop/team-a"}
            ]
        });
        let s = api_summary(&e);
        assert_eq!(s.entity_ref, "api:shop/orders");
        assert_eq!(s.owner.as_deref(), Some("group:shop/team-a"));
        assert_eq!(s.system.as_deref(), Some("system:shop/commerce"));
        assert_eq!((s.provided_by, s.consumed_by), (1, 2));
        assert_eq!(s.api_type.as_deref(), Some("openapi"));
    }
}
