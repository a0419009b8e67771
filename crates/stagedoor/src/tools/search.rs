//! The `search` tool: Backstage's search engine (`/api/search/query`) across the catalog,
//! TechDocs and whatever else the portal indexes, each hit pointing at the entity or
//! TechDocs page the next tool call should read.

use std::collections::BTreeMap;

use backstage_client::{BackstageError, EntityRef, SearchQuery, SearchResult};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::catalog::GET_ENTITY;
use super::shape::{self, decode_opaque, encode_opaque};
use super::{Attributes, ToolCtx, ToolError};
use crate::tool::{CuratedTool, Needs};

/// Name of the tool.
pub const SEARCH: &str = "search";
/// The TechDocs page tool a TechDocs hit points at.
pub const TECHDOCS_PAGE: &str = "get_techdocs_page";

const DEFAULT_LIMIT: u32 = 10;
/// Backstage's default `search.maxPageLimit`.
const MAX_LIMIT: u32 = 100;
/// Longest snippet per hit, in characters.
const SNIPPET_CHARS: usize = 300;
/// Longest title per hit.
const TITLE_CHARS: usize = 200;
/// Most filters accepted.
const MAX_FILTERS: usize = 20;
const RESTART: &str = "Repeat the search without `cursor` to start over.";

/// Arguments of `search`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchParams {
    /// Words to search for (Backstage's search engine: stemmed, typo-tolerant). Empty matches
    /// every document.
    pub term: String,
    /// Document types to search, e.g. `["software-catalog"]`, `["techdocs"]` (default: all types
    /// the portal indexes).
    pub types: Option<Vec<String>>,
    /// Field filters on the indexed documents, e.g. `{"kind": "Component"}` or
    /// `{"lifecycle": "production"}`. A list of values (`{"kind": ["API", "System"]}`) is passed
    /// on as is; how it filters depends on the search engine (Backstage's default in-memory
    /// engine only prefers matching documents).
    pub filters: Option<Map<String, Value>>,
    /// Hits per page, 1 to 100 (default 10).
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// `nextCursor` of a previous page; the term, types, filters and limit are carried by it.
    pub cursor: Option<String>,
}

/// One hit.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// Document type: `software-catalog`, `techdocs`, ...
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Title of the document (a TechDocs hit's title is the page or section heading).
    pub title: String,
    /// A short extract; matched words are wrapped in `**`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// Where the document lives in the Backstage UI, e.g. `/catalog/default/component/web`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub location: String,
    /// 1-based rank across pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<u64>,
    /// The entity the hit is about, `kind:namespace/name` (for get_entity, or the site of a
    /// TechDocs page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_ref: Option<String>,
    /// TechDocs: the page within the entity's site, e.g. `architecture/` (empty = home page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// TechDocs: the heading anchor inside the page, e.g. `idempotency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The tool that reads what this hit points at: `get_techdocs_page` (with `entityRef`,
    /// `path`, `section`) or `get_entity` (with `entityRef`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_tool: Option<String>,
}

/// Result of `search`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchOutput {
    /// Hits of this page, best first.
    pub items: Vec<SearchHit>,
    /// Total hits, when the search engine reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_items: Option<u64>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The `search` tool.
pub struct Search;

impl CuratedTool for Search {
    const FAMILY: &'static str = "search";
    const NAME: &'static str = SEARCH;
    const TITLE: &'static str = "Search the developer portal";
    const DESCRIPTION: &'static str = "Full-text search over everything Backstage's search engine indexes: catalog entities (type software-catalog), TechDocs pages and sections (techdocs), and other document types the portal adds. Filter by `types` and field `filters`; page with `cursor`. Each hit has its type, title, a short extract with matches in **bold**, its location, and the entityRef (plus TechDocs path and section) to pass to the tool named in nextTool (get_entity or get_techdocs_page).";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = SearchParams;
    type Output = SearchOutput;

    async fn run(ctx: ToolCtx, p: SearchParams) -> Result<SearchOutput, ToolError> {
        search(ctx, p).await
    }
}

/// What a page request needs besides Backstage's own page cursor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SearchCursor {
    v: u8,
    /// Backstage's `nextPageCursor`.
    b: String,
    t: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    y: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    f: BTreeMap<String, Value>,
    l: u32,
}

fn checked_filters(raw: Option<Map<String, Value>>) -> Result<BTreeMap<String, Value>, ToolError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_FILTERS {
        return Err(ToolError::invalid(format!(
            "at most {MAX_FILTERS} `filters` are accepted, got {}",
            raw.len()
        )));
    }
    let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let ok = scalar(&v)
            || v.as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(scalar));
        if k.trim().is_empty() || !ok {
            return Err(ToolError::invalid(format!(
                "filter `{k}` must be a field name with a string, number or boolean value, or a non-empty list of them"
            )));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn build_query(p: SearchParams) -> Result<SearchQuery, ToolError> {
    if let Some(c) = p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        let c: SearchCursor = decode_opaque(c, RESTART)?;
        if c.v != 1 || c.b.is_empty() || !(1..=MAX_LIMIT).contains(&c.l) {
            return Err(shape::bad_cursor(RESTART));
        }
        return Ok(SearchQuery {
            term: c.t,
            types: c.y,
            filters: c.f,
            page_cursor: Some(c.b),
            page_limit: Some(c.l),
        });
    }
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let types: Vec<String> = p
        .types
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    Ok(SearchQuery {
        term: p.term.trim().to_string(),
        types,
        filters: checked_filters(p.filters)?,
        page_cursor: None,
        page_limit: Some(limit),
    })
}

fn failure(q: &SearchQuery, err: &BackstageError) -> ToolError {
    if err.api_name() == Some("MissingIndexError") {
        let detail = match err {
            BackstageError::Api { message, .. } => format!(" ({message})"),
            _ => String::new(),
        };
        return ToolError {
            message: format!(
                "The search index is not built yet{detail}: Backstage builds it on a schedule shortly after it starts, and a document type appears once its collator has run. Retry in a minute; meanwhile search_catalog answers from the catalog directly."
            ),
            kind: crate::tool::ErrorKind::from_status(err.status()),
        };
    }
    let mut e = ToolError::backstage("searching", err);
    match err.status() {
        Some(400) if !q.types.is_empty() => e.message.push_str(
            " Check `types`: each must be a document type this Backstage indexes (commonly software-catalog and techdocs).",
        ),
        Some(s) if s >= 500 && !q.filters.is_empty() => e.message.push_str(
            " A filter on a field the search engine does not index can cause this; retry without `filters`.",
        ),
        _ => {}
    }
    e
}

async fn search(ctx: ToolCtx, p: SearchParams) -> Result<SearchOutput, ToolError> {
    let q = build_query(p)?;
    let set = ctx.portal.search(&q).await.map_err(|e| failure(&q, &e))?;
    let next_cursor = set.next_page_cursor.as_ref().map(|b| {
        encode_opaque(&SearchCursor {
            v: 1,
            b: b.clone(),
            t: q.term.clone(),
            y: q.types.clone(),
            f: q.filters.clone(),
            l: q.page_limit.unwrap_or(DEFAULT_LIMIT),
        })
    });
    Ok(SearchOutput {
        items: set.results.iter().map(hit).collect(),
        total_items: set.number_of_results,
        next_cursor,
    })
}

fn doc_str<'a>(doc: &'a Value, key: &str) -> Option<&'a str> {
    doc.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

/// `/catalog/:ns/:kind/:name` or `/docs/:ns/:kind/:name/<page>`: the entity and the rest.
fn from_location(location: &str) -> Option<(EntityRef, String)> {
    let path = location.split(['?', '#']).next().unwrap_or("");
    let mut parts = path.trim_start_matches('/').splitn(5, '/');
    let root = parts.next()?;
    if root != "catalog" && root != "docs" {
        return None;
    }
    let (ns, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
    let rest = parts.next().unwrap_or("").to_string();
    let r = EntityRef::parse(
        &format!(
            "{}:{}/{}",
            percent_decode(kind),
            percent_decode(ns),
            percent_decode(name)
        ),
        None,
        None,
    )
    .ok()?;
    Some((r, rest))
}

/// The entity a document is about: its `kind`/`namespace`/`name` fields, else its location.
fn entity_of(doc: &Value) -> Option<String> {
    if let (Some(kind), Some(name)) = (doc_str(doc, "kind"), doc_str(doc, "name")) {
        let ns = doc_str(doc, "namespace").unwrap_or("default");
        if let Ok(r) = EntityRef::parse(&format!("{kind}:{ns}/{name}"), None, None) {
            return Some(r.to_string_ref());
        }
    }
    from_location(doc_str(doc, "location")?).map(|(r, _)| r.to_string_ref())
}

/// A TechDocs hit's page path and section: the document's `path` (`architecture/#x`), else
/// what follows the entity in its location.
fn techdocs_page(doc: &Value) -> (String, Option<String>) {
    let raw = doc_str(doc, "path").map(str::to_string).or_else(|| {
        let loc = doc_str(doc, "location")?;
        let (_, rest) = from_location(loc)?;
        let anchor = loc.split_once('#').map(|(_, a)| format!("#{a}"));
        Some(format!("{rest}{}", anchor.unwrap_or_default()))
    });
    let raw = raw.unwrap_or_default();
    match raw.split_once('#') {
        Some((page, section)) => (
            page.to_string(),
            Some(section.to_string()).filter(|s| !s.is_empty()),
        ),
        None => (raw, None),
    }
}

/// The text to show: the highlighted extract around the first match when the engine
/// highlights, else the start of the text; whitespace collapsed, at most [`SNIPPET_CHARS`].
fn snippet(r: &SearchResult) -> String {
    let highlighted = r.highlight.as_ref().and_then(|h| {
        let text = h.fields.get("text")?;
        Some(
            text.replace(h.pre_tag.as_str(), "**")
                .replace(h.post_tag.as_str(), "**"),
        )
    });
    let has_marks = highlighted.is_some();
    let text =
        highlighted.unwrap_or_else(|| doc_str(&r.document, "text").unwrap_or("").to_string());
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let total = text.chars().count();
    if total <= SNIPPET_CHARS {
        return text;
    }
    let first = if has_marks {
        text.find("**")
            .map(|b| text[..b].chars().count())
            .unwrap_or(0)
    } else {
        0
    };
    let start = first
        .saturating_sub(SNIPPET_CHARS / 3)
        .min(total - SNIPPET_CHARS);
    let body: String = text.chars().skip(start).take(SNIPPET_CHARS).collect();
    let prefix = if start > 0 { "…" } else { "" };
    let suffix = if start + SNIPPET_CHARS < total {
        "…"
    } else {
        ""
    };
    format!("{prefix}{body}{suffix}")
}

fn hit(r: &SearchResult) -> SearchHit {
    let doc = &r.document;
    let entity_ref = entity_of(doc);
    let techdocs = r.doc_type == "techdocs";
    let (path, section) = if techdocs {
        let (p, s) = techdocs_page(doc);
        (Some(p), s)
    } else {
        (None, None)
    };
    let next_tool = match (&entity_ref, techdocs) {
        (Some(_), true) => Some(TECHDOCS_PAGE.to_string()),
        (Some(_), false) => Some(GET_ENTITY.to_string()),
        (None, _) => None,
    };
    SearchHit {
        doc_type: r.doc_type.clone(),
        title: shape::truncate_chars(doc_str(doc, "title").unwrap_or(""), TITLE_CHARS),
        text: snippet(r),
        location: doc_str(doc, "location").unwrap_or("").to_string(),
        rank: r.rank,
        entity_ref,
        path,
        section,
        next_tool,
    }
}

#[cfg(test)]
mod tests;
