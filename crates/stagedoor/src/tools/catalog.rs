//! Catalog tools: search, get one or many entities, walk relations, list facets.

use std::collections::{BTreeMap, HashMap, HashSet};

use backstage_client::{EntityQuery, EntityRef, SortOrder};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resolve::resolve;
use super::shape::{self, Cursor, EntitySummary, filter_value};
use super::{Attributes, ToolCtx, ToolError};
use crate::tool::{CuratedTool, Needs};

/// Name of the search tool.
pub const SEARCH: &str = "search_catalog";
/// Name of the single-entity tool.
pub const GET_ENTITY: &str = "get_entity";
/// Name of the batch tool.
pub const GET_ENTITIES: &str = "get_entities";
/// Name of the relation walk.
pub const RELATED: &str = "get_related_entities";
/// Name of the facet tool.
pub const FACETS: &str = "list_entity_facets";

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
const MAX_BATCH: usize = 100;
const MAX_RELATED: usize = 500;
const DEFAULT_RELATED: usize = 100;
const MAX_RELATIONS_PER_TYPE: usize = 100;
const FULL_TEXT_FIELDS: [&str; 4] = [
    "metadata.name",
    "metadata.title",
    "metadata.description",
    "metadata.tags",
];

/// Every relation type of the core catalog model, as Backstage names them.
pub const RELATION_TYPES: [&str; 14] = [
    "ownedBy",
    "ownerOf",
    "dependsOn",
    "dependencyOf",
    "providesApi",
    "apiProvidedBy",
    "consumesApi",
    "apiConsumedBy",
    "partOf",
    "hasPart",
    "memberOf",
    "hasMember",
    "parentOf",
    "childOf",
];

/// One Backstage filter expression, or several (ORed).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FilterArg {
    /// One expression, e.g. `kind=component,spec.type=service`.
    One(String),
    /// Several expressions; an entity matching any of them matches.
    Many(Vec<String>),
}

impl FilterArg {
    fn expressions(&self) -> Vec<String> {
        match self {
            FilterArg::One(s) => vec![s.clone()],
            FilterArg::Many(v) => v.clone(),
        }
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
    }
}

// ---------------------------------------------------------------- search_catalog

/// Arguments of `search_catalog`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchParams {
    /// Free text: words in any order, each matching the start of a word of the name, title,
    /// description or tags (case-insensitive); results ranked, name and title matches first.
    pub query: Option<String>,
    /// Entity kind: Component, API, System, Domain, Resource, Group, User, Template, Location.
    pub kind: Option<String>,
    /// `spec.type`, e.g. `service`, `website`, `openapi`.
    #[serde(rename = "type")]
    pub entity_type: Option<String>,
    /// Owner reference, e.g. `payments-team`, `group:payments-team` or `user:default/jane`.
    pub owner: Option<String>,
    /// `spec.lifecycle`, e.g. `production`, `experimental`, `deprecated`.
    pub lifecycle: Option<String>,
    /// Tags; entities carrying any of them match.
    pub tags: Option<Vec<String>>,
    /// Namespace (default: all namespaces).
    pub namespace: Option<String>,
    /// System the entity is part of, e.g. `payments` or `system:default/payments`.
    pub system: Option<String>,
    /// Raw Backstage filter expression(s) for power users, e.g. `kind=component,spec.type=service`
    /// or `metadata.annotations.backstage.io/techdocs-ref`. Combined (AND) with the other filters.
    pub filter: Option<FilterArg>,
    /// Page size, 1 to 100 (default 20).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// `nextCursor` of a previous page. The other filters are carried by the cursor and ignored.
    pub cursor: Option<String>,
    /// Extra entity fields to return in each item's `data`, e.g. `["spec.system", "metadata.annotations"]`.
    pub fields: Option<Vec<String>>,
}

/// Result of `search_catalog`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchOutput {
    /// Matching entities, compact.
    pub items: Vec<EntitySummary>,
    /// How many entities match in all.
    pub total_items: u64,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Only when nothing matched: what would have (words alone, close names, filter values).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hints: Option<super::catalog_words::SearchHints>,
}

/// The `search_catalog` tool.
pub struct SearchCatalog;

impl CuratedTool for SearchCatalog {
    const FAMILY: &'static str = "catalog";
    const NAME: &'static str = SEARCH;
    const TITLE: &'static str = "Search the software catalog";
    const DESCRIPTION: &'static str = "Search the Backstage software catalog by free text (words in any order, word prefixes, ranked) and filters (kind, type, owner, lifecycle, tags, namespace, system, or a raw Backstage filter expression). Returns compact summaries (ref, kind, title, description, owner, type, lifecycle, tags), the total count and a cursor for the next page. Use get_entity on a ref for full detail.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = SearchParams;
    type Output = SearchOutput;

    async fn run(ctx: ToolCtx, p: SearchParams) -> Result<SearchOutput, ToolError> {
        search(ctx, p).await
    }
}

fn structured_filter(p: &SearchParams) -> Result<Vec<String>, ToolError> {
    let mut parts = Vec::new();
    if let Some(k) = &p.kind {
        parts.push(format!("kind={}", filter_value("kind", k)?));
    }
    if let Some(t) = &p.entity_type {
        parts.push(format!("spec.type={}", filter_value("type", t)?));
    }
    if let Some(o) = &p.owner {
        let o = filter_value("owner", o)?;
        let r = EntityRef::parse(&o, Some("group"), Some("default"))
            .map_err(|e| ToolError::invalid(format!("`owner`: {e}")))?;
        parts.push(format!("relations.ownedBy={}", r.to_string_ref()));
    }
    if let Some(l) = &p.lifecycle {
        parts.push(format!("spec.lifecycle={}", filter_value("lifecycle", l)?));
    }
    if let Some(n) = &p.namespace {
        parts.push(format!(
            "metadata.namespace={}",
            filter_value("namespace", n)?
        ));
    }
    if let Some(s) = &p.system {
        let s = filter_value("system", s)?;
        let r = EntityRef::parse(&s, Some("system"), Some("default"))
            .map_err(|e| ToolError::invalid(format!("`system`: {e}")))?;
        parts.push(format!("relations.partOf={}", r.to_string_ref()));
    }
    for t in p.tags.iter().flatten() {
        parts.push(format!("metadata.tags={}", filter_value("tags", t)?));
    }
    Ok(parts)
}

/// Builds the Backstage filter list: each raw expression ANDed with the structured filters.
pub(crate) fn combined_filters(p: &SearchParams) -> Result<Vec<String>, ToolError> {
    let structured = structured_filter(p)?.join(",");
    let raw = p
        .filter
        .as_ref()
        .map(FilterArg::expressions)
        .unwrap_or_default();
    if raw.is_empty() {
        return Ok(if structured.is_empty() {
            Vec::new()
        } else {
            vec![structured]
        });
    }
    Ok(raw
        .into_iter()
        .map(|e| {
            if structured.is_empty() {
                e
            } else {
                format!("{e},{structured}")
            }
        })
        .collect())
}

pub(crate) fn summary_fields(extra: &[String], always: &[&str]) -> Vec<String> {
    let mut fields: Vec<String> = shape::SUMMARY_FIELDS
        .iter()
        .chain(always)
        .map(|s| s.to_string())
        .collect();
    for f in extra {
        if !fields.contains(f) {
            fields.push(f.clone());
        }
    }
    fields
}

/// One page of a catalog search, as `search_catalog` runs it (shared with other families
/// that list entities, e.g. `list_api_specs`).
pub(crate) struct CatalogPage {
    /// The page as Backstage returned it.
    pub page: std::sync::Arc<backstage_client::EntityPage>,
    /// The caller's extra `fields` (carried by the cursor).
    pub extra_fields: Vec<String>,
    /// Our opaque cursor for the next page.
    pub next_cursor: Option<String>,
}

/// Runs one page of the catalog search described by `p` (or its cursor). `always` are
/// entity fields fetched besides the summary fields, for the caller's own shaping.
pub(crate) async fn search_page(
    ctx: &ToolCtx,
    p: &SearchParams,
    always: &[&str],
) -> Result<CatalogPage, ToolError> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    if let Some(page) = super::catalog_words::page(ctx, p, always, limit).await? {
        return Ok(page);
    }
    let (query, extra_fields) = match &p.cursor {
        Some(c) if !c.trim().is_empty() => {
            let cursor = Cursor::decode(c)?;
            let extra = p.fields.clone().unwrap_or(cursor.f);
            let q = EntityQuery {
                cursor: Some(cursor.b),
                fields: summary_fields(&extra, always),
                limit: Some(limit),
                ..Default::default()
            };
            (q, extra)
        }
        _ => {
            let extra = p.fields.clone().unwrap_or_default();
            let term = p
                .query
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            let q = EntityQuery {
                filters: combined_filters(p)?,
                fields: summary_fields(&extra, always),
                limit: Some(limit),
                order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
                full_text_fields: if term.is_some() {
                    FULL_TEXT_FIELDS.iter().map(|s| s.to_string()).collect()
                } else {
                    Vec::new()
                },
                full_text_term: term,
                cursor: None,
            };
            (q, extra)
        }
    };
    let page = ctx
        .portal
        .query_entities(&query)
        .await
        .map_err(|e| ToolError::backstage("searching the catalog", &e))?;
    let next_cursor = page.next_cursor.as_ref().map(|b| {
        Cursor {
            v: 1,
            b: b.clone(),
            f: extra_fields.clone(),
        }
        .encode()
    });
    Ok(CatalogPage {
        page,
        extra_fields,
        next_cursor,
    })
}

pub(crate) async fn search(ctx: ToolCtx, p: SearchParams) -> Result<SearchOutput, ToolError> {
    let CatalogPage {
        page,
        extra_fields,
        next_cursor,
    } = search_page(&ctx, &p, &[]).await?;
    let items = page
        .items
        .iter()
        .map(|e| {
            let mut s = shape::summarize(e, &extra_fields);
            if let Some(d) = s.data.as_mut() {
                shape::bound_strings(d, shape::ENTITY_STRING_CHARS, "; use get_entity");
            }
            s
        })
        .collect();
    let hints = if page.total_items == 0 && p.cursor.is_none() {
        super::catalog_words::hints(&ctx, &p).await
    } else {
        None
    };
    Ok(SearchOutput {
        items,
        total_items: page.total_items,
        next_cursor,
        hints,
    })
}

// ---------------------------------------------------------------- get_entity

/// Arguments of `get_entity`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetEntityParams {
    /// Entity reference: `component:default/web`, `component:web`, or just `web` (then give `kind`,
    /// or the name is looked up across kinds).
    pub entity_ref: String,
    /// Kind to assume when `entityRef` has none.
    pub kind: Option<String>,
    /// Namespace to assume when `entityRef` has none (default `default`).
    pub namespace: Option<String>,
    /// Only these entity fields (dotted paths, e.g. `["metadata", "spec.owner"]`); relations are always resolved.
    pub fields: Option<Vec<String>>,
}

/// One resolved relation target.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelatedRef {
    /// Target reference.
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// Target kind.
    pub kind: String,
    /// Target title, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// True when the target is not in the catalog (a dangling reference).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// Result of `get_entity`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetEntityOutput {
    /// Full reference of the entity.
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// The entity (without its raw `relations`; long strings shortened).
    pub entity: Value,
    /// Relations grouped by type (`ownedBy`, `dependsOn`, ...), each target with its title.
    pub relations: BTreeMap<String, Vec<RelatedRef>>,
}

/// The `get_entity` tool.
pub struct GetEntity;

impl CuratedTool for GetEntity {
    const FAMILY: &'static str = "catalog";
    const NAME: &'static str = GET_ENTITY;
    const TITLE: &'static str = "Get a catalog entity";
    const DESCRIPTION: &'static str = "Get one catalog entity by reference, with its relations resolved to refs and titles and grouped by type (ownedBy, dependsOn, providesApi, partOf, hasMember, ...). References are parsed leniently: `component:default/web`, `component:web`, or `web` with `kind`. An unknown reference returns close matches.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = GetEntityParams;
    type Output = GetEntityOutput;

    async fn run(ctx: ToolCtx, p: GetEntityParams) -> Result<GetEntityOutput, ToolError> {
        get_entity(ctx, p).await
    }
}

/// Groups an entity's relations by type, resolving each target's kind and title in one call.
async fn resolve_relations(
    ctx: &ToolCtx,
    entity: &Value,
) -> Result<BTreeMap<String, Vec<RelatedRef>>, ToolError> {
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rel in entity
        .get("relations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(t), Some(target)) = (
            rel.get("type").and_then(Value::as_str),
            rel.get("targetRef").and_then(Value::as_str),
        ) else {
            continue;
        };
        let list = by_type.entry(t.to_string()).or_default();
        if !list.iter().any(|x| x == target) {
            list.push(target.to_string());
        }
    }
    let mut targets: Vec<String> = by_type.values().flatten().cloned().collect();
    targets.sort();
    targets.dedup();
    let found = ctx
        .portal
        .entities_by_refs(
            &targets,
            &[
                "kind".into(),
                "metadata.name".into(),
                "metadata.namespace".into(),
                "metadata.title".into(),
            ],
        )
        .await
        .map_err(|e| ToolError::backstage("resolving relations", &e))?;
    let titles: HashMap<&str, Option<&Value>> = targets
        .iter()
        .map(String::as_str)
        .zip(found.iter().map(Option::as_ref))
        .collect();
    let mut out = BTreeMap::new();
    for (t, refs) in by_type {
        let mut list: Vec<RelatedRef> = refs
            .iter()
            .map(|r| {
                let hit = titles.get(r.as_str()).copied().flatten();
                RelatedRef {
                    entity_ref: r.clone(),
                    kind: hit
                        .and_then(|e| e.get("kind").and_then(Value::as_str))
                        .map(str::to_string)
                        .unwrap_or_else(|| r.split(':').next().unwrap_or_default().to_string()),
                    title: hit
                        .and_then(|e| e.pointer("/metadata/title"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    missing: hit.is_none(),
                }
            })
            .collect();
        list.sort_by(|a, b| a.entity_ref.cmp(&b.entity_ref));
        list.truncate(MAX_RELATIONS_PER_TYPE);
        out.insert(t, list);
    }
    Ok(out)
}

fn bounded_entity(entity: &Value, fields: Option<&[String]>) -> Value {
    let mut e = entity.clone();
    if let Value::Object(map) = &mut e {
        map.remove("relations");
    }
    if let Some(f) = fields.filter(|f| !f.is_empty()) {
        e = shape::project(&e, f);
    }
    shape::bound_strings(
        &mut e,
        shape::ENTITY_STRING_CHARS,
        "; use get_api_spec for API definitions",
    );
    e
}

pub(crate) async fn get_entity(
    ctx: ToolCtx,
    p: GetEntityParams,
) -> Result<GetEntityOutput, ToolError> {
    let (r, entity) = resolve(
        &ctx,
        &p.entity_ref,
        p.kind.as_deref(),
        p.namespace.as_deref(),
    )
    .await?;
    let relations = resolve_relations(&ctx, &entity).await?;
    Ok(GetEntityOutput {
        entity_ref: EntityRef::from_entity(&entity)
            .map(|x| x.to_string_ref())
            .unwrap_or_else(|| r.to_string_ref()),
        entity: bounded_entity(&entity, p.fields.as_deref()),
        relations,
    })
}

// ---------------------------------------------------------------- get_entities

/// Arguments of `get_entities`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetEntitiesParams {
    /// Entity references (`kind:namespace/name` or `kind:name`), at most 100.
    pub entity_refs: Vec<String>,
    /// Only these entity fields (dotted paths).
    pub fields: Option<Vec<String>>,
}

/// A reference that could not be parsed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvalidRef {
    /// What was given.
    pub input: String,
    /// Why it is not a reference.
    pub error: String,
}

/// Result of `get_entities`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetEntitiesOutput {
    /// Found entities, in request order (relations kept as raw `{type, targetRef}`).
    pub entities: Vec<Value>,
    /// References that are not in the catalog.
    pub missing: Vec<String>,
    /// Inputs that are not valid references.
    pub invalid: Vec<InvalidRef>,
}

/// The `get_entities` tool.
pub struct GetEntities;

impl CuratedTool for GetEntities {
    const FAMILY: &'static str = "catalog";
    const NAME: &'static str = GET_ENTITIES;
    const TITLE: &'static str = "Get several catalog entities";
    const DESCRIPTION: &'static str = "Get up to 100 catalog entities by reference in one call. Missing and malformed references are reported in `missing` and `invalid` instead of failing the call.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = GetEntitiesParams;
    type Output = GetEntitiesOutput;

    async fn run(ctx: ToolCtx, p: GetEntitiesParams) -> Result<GetEntitiesOutput, ToolError> {
        get_entities(ctx, p).await
    }
}

pub(crate) async fn get_entities(
    ctx: ToolCtx,
    p: GetEntitiesParams,
) -> Result<GetEntitiesOutput, ToolError> {
    if p.entity_refs.is_empty() {
        return Err(ToolError::invalid(
            "`entityRefs` must name at least one entity",
        ));
    }
    if p.entity_refs.len() > MAX_BATCH {
        return Err(ToolError::invalid(format!(
            "`entityRefs` has {} references; at most {MAX_BATCH} per call",
            p.entity_refs.len()
        )));
    }
    let mut invalid = Vec::new();
    let mut refs = Vec::new();
    for input in &p.entity_refs {
        match EntityRef::parse(input, None, Some("default")) {
            Ok(r) => {
                let s = r.to_string_ref();
                if !refs.contains(&s) {
                    refs.push(s);
                }
            }
            Err(e) => invalid.push(InvalidRef {
                input: input.clone(),
                error: e.to_string(),
            }),
        }
    }
    let fields = p.fields.unwrap_or_default();
    let found = ctx
        .portal
        .entities_by_refs(&refs, &fields)
        .await
        .map_err(|e| ToolError::backstage("reading entities", &e))?;
    let mut entities = Vec::new();
    let mut missing = Vec::new();
    for (r, hit) in refs.iter().zip(found) {
        match hit {
            Some(mut e) => {
                shape::bound_strings(&mut e, shape::ENTITY_STRING_CHARS, "; use get_entity");
                entities.push(e);
            }
            None => missing.push(r.clone()),
        }
    }
    Ok(GetEntitiesOutput {
        entities,
        missing,
        invalid,
    })
}

// ---------------------------------------------------------------- get_related_entities

/// Arguments of `get_related_entities`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelatedParams {
    /// Start entity (lenient reference, as for get_entity).
    pub entity_ref: String,
    /// Kind to assume when `entityRef` has none.
    pub kind: Option<String>,
    /// Relation types to follow (default: all): ownedBy, ownerOf, dependsOn, dependencyOf,
    /// providesApi, apiProvidedBy, consumesApi, apiConsumedBy, partOf, hasPart, memberOf,
    /// hasMember, parentOf, childOf.
    pub relations: Option<Vec<String>>,
    /// How many hops to walk, 1 to 3 (default 1).
    #[schemars(range(min = 1, max = 3))]
    pub depth: Option<u8>,
    /// Most entities returned, 1 to 500 (default 100).
    #[schemars(range(min = 1, max = 500))]
    pub max_entities: Option<usize>,
}

/// One entity reached by the walk.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelatedNode {
    /// Reference.
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// Kind.
    pub kind: String,
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Description, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Hops from the start entity.
    pub depth: u8,
    /// True when the reference is not in the catalog.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// One relation followed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RelatedEdge {
    /// From.
    pub source: String,
    /// Relation type.
    #[serde(rename = "type")]
    pub relation: String,
    /// To.
    pub target: String,
}

/// Result of `get_related_entities`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelatedOutput {
    /// Start entity.
    pub root: String,
    /// Entities reached (not including the root), nearest first.
    pub entities: Vec<RelatedNode>,
    /// Relations followed.
    pub edges: Vec<RelatedEdge>,
    /// True when `maxEntities` stopped the walk early.
    pub truncated: bool,
}

/// The `get_related_entities` tool.
pub struct GetRelatedEntities;

impl CuratedTool for GetRelatedEntities {
    const FAMILY: &'static str = "catalog";
    const NAME: &'static str = RELATED;
    const TITLE: &'static str = "Walk entity relations";
    const DESCRIPTION: &'static str = "Walk the catalog graph from one entity along chosen relation types (ownedBy/ownerOf, dependsOn/dependencyOf, providesApi/apiProvidedBy, consumesApi/apiConsumedBy, partOf/hasPart, memberOf/hasMember, parentOf/childOf) up to 3 hops. Returns the entities reached with their depth and the edges followed; cycles are visited once and the result is bounded.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = RelatedParams;
    type Output = RelatedOutput;

    async fn run(ctx: ToolCtx, p: RelatedParams) -> Result<RelatedOutput, ToolError> {
        related(ctx, p).await
    }
}

fn canonical_relation(name: &str) -> Option<&'static str> {
    RELATION_TYPES
        .iter()
        .copied()
        .find(|t| t.eq_ignore_ascii_case(name.trim()))
}

pub(crate) async fn related(ctx: ToolCtx, p: RelatedParams) -> Result<RelatedOutput, ToolError> {
    let depth = p.depth.unwrap_or(1);
    if !(1..=3).contains(&depth) {
        return Err(ToolError::invalid(format!(
            "`depth` must be 1, 2 or 3, got {depth}"
        )));
    }
    let max = p.max_entities.unwrap_or(DEFAULT_RELATED);
    if !(1..=MAX_RELATED).contains(&max) {
        return Err(ToolError::invalid(format!(
            "`maxEntities` must be between 1 and {MAX_RELATED}, got {max}"
        )));
    }
    let wanted: Option<HashSet<&'static str>> = match &p.relations {
        None => None,
        Some(list) if list.is_empty() => None,
        Some(list) => {
            let mut set = HashSet::new();
            for r in list {
                match canonical_relation(r) {
                    Some(c) => {
                        set.insert(c);
                    }
                    None => {
                        return Err(ToolError::invalid(format!(
                            "unknown relation type `{r}`; use one of {}",
                            RELATION_TYPES.join(", ")
                        )));
                    }
                }
            }
            Some(set)
        }
    };
    let (root_ref, root) = resolve(&ctx, &p.entity_ref, p.kind.as_deref(), None).await?;
    let root_str = EntityRef::from_entity(&root)
        .map(|r| r.to_string_ref())
        .unwrap_or_else(|| root_ref.to_string_ref());
    let mut visited: HashSet<String> = HashSet::from([root_str.clone()]);
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut truncated = false;
    let mut frontier: Vec<Value> = vec![(*root).clone()];
    let fields: Vec<String> = [
        "kind",
        "metadata.name",
        "metadata.namespace",
        "metadata.title",
        "metadata.description",
        "relations",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    'walk: for level in 1..=depth {
        let mut next_refs: Vec<String> = Vec::new();
        for entity in &frontier {
            let Some(source) = shape::entity_ref_of(entity) else {
                continue;
            };
            for rel in entity
                .get("relations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(t), Some(target)) = (
                    rel.get("type").and_then(Value::as_str),
                    rel.get("targetRef").and_then(Value::as_str),
                ) else {
                    continue;
                };
                if wanted
                    .as_ref()
                    .is_some_and(|w| !w.iter().any(|x| x.eq_ignore_ascii_case(t)))
                {
                    continue;
                }
                edges.push(RelatedEdge {
                    source: source.clone(),
                    relation: t.to_string(),
                    target: target.to_string(),
                });
                if visited.insert(target.to_string()) {
                    if nodes.len() + next_refs.len() >= max {
                        truncated = true;
                        continue;
                    }
                    next_refs.push(target.to_string());
                }
            }
        }
        if next_refs.is_empty() {
            break;
        }
        let found = ctx
            .portal
            .entities_by_refs(&next_refs, &fields)
            .await
            .map_err(|e| ToolError::backstage("walking relations", &e))?;
        frontier = Vec::new();
        for (r, hit) in next_refs.iter().zip(found) {
            let node = match &hit {
                Some(e) => {
                    let s = shape::summarize(e, &[]);
                    RelatedNode {
                        entity_ref: r.clone(),
                        kind: s.kind,
                        title: s.title,
                        description: s.description,
                        depth: level,
                        missing: false,
                    }
                }
                None => RelatedNode {
                    entity_ref: r.clone(),
                    kind: r.split(':').next().unwrap_or_default().to_string(),
                    title: None,
                    description: None,
                    depth: level,
                    missing: true,
                },
            };
            nodes.push(node);
            if let Some(e) = hit {
                frontier.push(e);
            }
            if nodes.len() >= max && level < depth {
                truncated = truncated || !frontier.is_empty();
                break 'walk;
            }
        }
    }
    // Only keep edges whose ends are both in the result.
    let kept: HashSet<&str> = nodes
        .iter()
        .map(|n| n.entity_ref.as_str())
        .chain(std::iter::once(root_str.as_str()))
        .collect();
    let edges: Vec<RelatedEdge> = edges
        .into_iter()
        .filter(|e| kept.contains(e.source.as_str()) && kept.contains(e.target.as_str()))
        .collect();
    Ok(RelatedOutput {
        root: root_str,
        entities: nodes,
        edges,
        truncated,
    })
}

// ---------------------------------------------------------------- list_entity_facets

/// Arguments of `list_entity_facets`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FacetsParams {
    /// Fields to count, e.g. `["kind", "spec.type", "spec.owner", "metadata.tags", "spec.lifecycle"]`.
    pub facets: Vec<String>,
    /// Only count entities of this kind.
    pub kind: Option<String>,
    /// Raw Backstage filter expression(s) restricting which entities are counted.
    pub filter: Option<FilterArg>,
    /// Most values returned per facet, 1 to 500 (default 100), most frequent first.
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<usize>,
}

/// One value of a facet.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FacetValue {
    /// The value.
    pub value: String,
    /// How many entities have it.
    pub count: u64,
}

/// Counts of one field.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Facet {
    /// The field.
    pub field: String,
    /// Values, most frequent first.
    pub values: Vec<FacetValue>,
    /// How many distinct values exist.
    pub total_values: usize,
    /// True when `limit` cut the list.
    pub truncated: bool,
}

/// Result of `list_entity_facets`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FacetsOutput {
    /// One entry per requested field.
    pub facets: Vec<Facet>,
}

/// The `list_entity_facets` tool.
pub struct ListEntityFacets;

impl CuratedTool for ListEntityFacets {
    const FAMILY: &'static str = "catalog";
    const NAME: &'static str = FACETS;
    const TITLE: &'static str = "Count catalog values";
    const DESCRIPTION: &'static str = "List the distinct values of catalog fields with how many entities have each (e.g. kind, spec.type, spec.owner, spec.lifecycle, metadata.tags), optionally under a kind or filter. Use it to learn valid filter values before searching.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = FacetsParams;
    type Output = FacetsOutput;

    async fn run(ctx: ToolCtx, p: FacetsParams) -> Result<FacetsOutput, ToolError> {
        facets(ctx, p).await
    }
}

pub(crate) async fn facets(ctx: ToolCtx, p: FacetsParams) -> Result<FacetsOutput, ToolError> {
    let names: Vec<String> = p
        .facets
        .iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if names.is_empty() || names.len() > 10 {
        return Err(ToolError::invalid(
            "`facets` must name 1 to 10 fields, e.g. [\"kind\", \"spec.type\"]",
        ));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and 500, got {limit}"
        )));
    }
    let kind = match &p.kind {
        Some(k) => Some(format!("kind={}", filter_value("kind", k)?)),
        None => None,
    };
    let raw = p
        .filter
        .as_ref()
        .map(FilterArg::expressions)
        .unwrap_or_default();
    let filters: Vec<String> = match (raw.is_empty(), kind) {
        (true, None) => Vec::new(),
        (true, Some(k)) => vec![k],
        (false, None) => raw,
        (false, Some(k)) => raw.into_iter().map(|e| format!("{e},{k}")).collect(),
    };
    let got = ctx
        .portal
        .facets(&names, &filters)
        .await
        .map_err(|e| ToolError::backstage("counting catalog values", &e))?;
    let facets = names
        .iter()
        .map(|name| {
            let mut values: Vec<FacetValue> = got
                .get(name)
                .into_iter()
                .flatten()
                .map(|f| FacetValue {
                    value: f.value.clone(),
                    count: f.count,
                })
                .collect();
            values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            let total = values.len();
            values.truncate(limit);
            Facet {
                field: name.clone(),
                truncated: total > values.len(),
                total_values: total,
                values,
            }
        })
        .collect();
    Ok(FacetsOutput { facets })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(v: Value) -> SearchParams {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn structured_filters_and_raw_expressions_combine() {
        let p = params(json!({
            "kind": "Component", "type": "service", "owner": "payments-team",
            "lifecycle": "production", "tags": ["java", "grpc"], "system": "payments",
            "filter": ["metadata.namespace=default", "metadata.namespace=ops"]
        }));
        let f = combined_filters(&p).unwrap();
        let common = "kind=Component,spec.type=service,relations.ownedBy=group:default/payments-team,spec.lifecycle=production,relations.partOf=system:default/payments,metadata.tags=java,metadata.tags=grpc";
        assert_eq!(
            f,
            vec![
                format!("metadata.namespace=default,{common}"),
                format!("metadata.namespace=ops,{common}")
            ]
        );
        assert!(combined_filters(&params(json!({}))).unwrap().is_empty());
        assert_eq!(
            combined_filters(&params(json!({"filter": "kind=api"}))).unwrap(),
            vec!["kind=api".to_string()]
        );
        assert!(combined_filters(&params(json!({"owner": "a,b"}))).is_err());
    }

    #[test]
    fn relation_names_are_canonicalized() {
        assert_eq!(canonical_relation("OWNEDBY"), Some("ownedBy"));
        assert_eq!(canonical_relation("nope"), None);
    }

    #[test]
    fn unknown_arguments_are_rejected() {
        let r: Result<SearchParams, _> = serde_json::from_value(json!({"qeury": "x"}));
        assert!(r.is_err());
    }
}
