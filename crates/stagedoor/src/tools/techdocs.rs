//! TechDocs tools: a docs site's metadata and pages (building it on demand), and one page as
//! clean Markdown, paginated and optionally narrowed to one section.

mod dom;
mod html;
mod paging;
mod site;

use backstage_client::{EntityRef, TechDocsMetadata};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::html::Heading;
use self::paging::{PageCursor, parse_page_path, slice_chars};
use self::site::{build_budget, docs_entity, ensure_site, rfc3339, site_pages};
use super::{Attributes, ToolCtx, ToolError};
use crate::tool::{CuratedTool, Needs};

/// Name of the site tool.
pub const GET_TECHDOCS: &str = "get_techdocs";
/// Name of the page tool.
pub const GET_PAGE: &str = "get_techdocs_page";

const DEFAULT_PAGE_LIMIT: usize = 200;
const MAX_PAGE_LIMIT: usize = 1000;
const DEFAULT_MAX_CHARS: usize = 20_000;
const MIN_MAX_CHARS: usize = 500;
const MAX_MAX_CHARS: usize = 100_000;
/// Pages or anchors named in an error message.
const LISTED_IN_ERRORS: usize = 40;

// ---------------------------------------------------------------- shared output types

/// A build this call triggered through Backstage's sync endpoint.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    /// True when Backstage built and published the site during this call; false when it
    /// found the site current.
    pub built_now: bool,
    /// How long the sync took, in milliseconds.
    pub duration_ms: u64,
    /// The same, human-readable (e.g. `1s 240ms`).
    pub duration: String,
    /// How many build log lines Backstage sent.
    pub log_lines: usize,
    /// The last build log lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
}

/// One heading of a page.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct HeadingInfo {
    /// The anchor: pass it as `section` to read just this part.
    pub anchor: String,
    /// 1 for a page title, 2 for its sections, ...
    pub level: u8,
    /// Heading text.
    pub title: String,
}

impl From<&Heading> for HeadingInfo {
    fn from(h: &Heading) -> Self {
        Self {
            anchor: h.anchor.clone(),
            level: h.level,
            title: h.title.clone(),
        }
    }
}

// ---------------------------------------------------------------- get_techdocs

/// Arguments of `get_techdocs`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetTechDocsParams {
    /// Entity whose docs to read: `component:default/payment-service`, `component:payment-service`, or `payment-service`.
    pub entity_ref: String,
    /// Kind to assume when `entityRef` has none.
    pub kind: Option<String>,
    /// Namespace to assume when `entityRef` has none (default `default`).
    pub namespace: Option<String>,
    /// Ask Backstage to rebuild the site if its sources changed, even when a site exists
    /// (default false: a site is only built when none exists yet).
    pub refresh: Option<bool>,
    /// Longest wait for a build, 5 to 600 seconds (default 60). Backstage keeps building after it.
    #[schemars(range(min = 5, max = 600))]
    pub build_timeout_seconds: Option<u64>,
    /// Most pages listed, 1 to 1000 (default 200).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
    /// `nextCursor` of a previous call, for the next pages.
    pub cursor: Option<String>,
}

/// One page of a docs site.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PageInfo {
    /// Site path: pass it as `path` to get_techdocs_page.
    pub path: String,
    /// Title from the site's navigation (or search index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Navigation sections the page sits in, outermost first, joined with ` / `.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
}

/// Result of `get_techdocs`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetTechDocsOutput {
    /// The entity whose site this is (the one asked for, or the one its
    /// `backstage.io/techdocs-entity` annotation points to).
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// `site_name` of the site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// `site_description` of the site.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_description: Option<String>,
    /// When the site was built, milliseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_timestamp: Option<u64>,
    /// The same as an RFC 3339 UTC time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub built_at: Option<String>,
    /// The source etag recorded at build time, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Pages in navigation order (then pages missing from the navigation).
    pub pages: Vec<PageInfo>,
    /// How many pages the site has.
    pub total_pages: usize,
    /// Pass as `cursor` for the next pages; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Where order and titles came from: `navigation`, `searchIndex` or `files`.
    pub page_source: String,
    /// Present when this call triggered a build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildReport>,
}

/// The `get_techdocs` tool.
pub struct GetTechdocs;

impl CuratedTool for GetTechdocs {
    const FAMILY: &'static str = "techdocs";
    const NAME: &'static str = GET_TECHDOCS;
    const TITLE: &'static str = "Get an entity's TechDocs site";
    const DESCRIPTION: &'static str = "Get the TechDocs site of a catalog entity: site name, description, build time and its pages in navigation order (path and title). If no site has been built yet, Backstage builds it now (progress notifications carry the build log) and the result says how long that took. Read a page with get_techdocs_page. Entities without the backstage.io/techdocs-ref annotation have no docs.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = GetTechDocsParams;
    type Output = GetTechDocsOutput;

    async fn run(ctx: ToolCtx, p: GetTechDocsParams) -> Result<GetTechDocsOutput, ToolError> {
        get_techdocs(ctx, p).await
    }
}

pub(crate) async fn get_techdocs(
    ctx: ToolCtx,
    p: GetTechDocsParams,
) -> Result<GetTechDocsOutput, ToolError> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE_LIMIT);
    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_PAGE_LIMIT}, got {limit}"
        )));
    }
    let start = match p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => decode_list_cursor(c)?,
        None => 0,
    };
    let budget = build_budget(p.build_timeout_seconds)?;
    let r = docs_entity(
        &ctx,
        &p.entity_ref,
        p.kind.as_deref(),
        p.namespace.as_deref(),
    )
    .await?;
    let (meta, build) = ensure_site(&ctx, &r, p.refresh.unwrap_or(false), budget).await?;
    let (pages, source) = site_pages(&ctx, &r, &meta).await;
    let total = pages.len();
    let end = start.saturating_add(limit).min(total);
    let next_cursor = (end < total).then(|| encode_list_cursor(end));
    Ok(GetTechDocsOutput {
        entity_ref: r.to_string_ref(),
        site_name: meta.site_name.clone(),
        site_description: meta.site_description.clone(),
        build_timestamp: meta.build_timestamp,
        built_at: meta.build_timestamp.map(rfc3339),
        etag: meta.etag.clone(),
        pages: pages
            .get(start.min(total)..end)
            .unwrap_or_default()
            .to_vec(),
        total_pages: total,
        next_cursor,
        page_source: source.into(),
        build,
    })
}

fn encode_list_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("techdocs-pages:{offset}"))
}

fn decode_list_cursor(c: &str) -> Result<usize, ToolError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("techdocs-pages:")?.parse().ok())
        .ok_or_else(|| {
            ToolError::invalid(
                "The cursor is not one get_techdocs issued. Call get_techdocs again without `cursor`.",
            )
        })
}

// ---------------------------------------------------------------- get_techdocs_page

/// Arguments of `get_techdocs_page`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetPageParams {
    /// Entity whose docs to read (lenient reference, as for get_techdocs).
    pub entity_ref: String,
    /// Kind to assume when `entityRef` has none.
    pub kind: Option<String>,
    /// Namespace to assume when `entityRef` has none (default `default`).
    pub namespace: Option<String>,
    /// Page path as get_techdocs lists it (`runbook/index.html`); `runbook/`, `runbook`,
    /// `runbook.md` or a Backstage docs URL work too, and a `#anchor` selects that section.
    /// Default: the home page.
    pub path: Option<String>,
    /// Anchor of a heading (see `headings`): return only that heading's section, up to the
    /// next heading of the same or a higher level.
    pub section: Option<String>,
    /// Most characters of Markdown returned per call, 500 to 100000 (default 20000).
    #[schemars(range(min = 500, max = 100_000))]
    pub max_chars: Option<usize>,
    /// `nextCursor` of a previous call, to continue the same page (`path` and `section` are
    /// then taken from the cursor).
    pub cursor: Option<String>,
    /// Longest wait if the site must be built first, 5 to 600 seconds (default 60).
    #[schemars(range(min = 5, max = 600))]
    pub build_timeout_seconds: Option<u64>,
}

/// Result of `get_techdocs_page`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetPageOutput {
    /// The entity whose site this is.
    #[serde(rename = "ref")]
    pub entity_ref: String,
    /// Site path of the page.
    pub path: String,
    /// Page title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The section returned, when one was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The page (or section) as Markdown, from character `offset`. Relative links point at
    /// site paths (`runbook/index.html#alerts`) usable as `path`.
    pub markdown: String,
    /// Character offset of `markdown` in the whole page (or section).
    pub offset: usize,
    /// Characters in the whole page (or section).
    pub total_chars: usize,
    /// Pass as `cursor` for the rest; absent when `markdown` reaches the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Every heading of the page with its anchor (usable as `section`).
    pub headings: Vec<HeadingInfo>,
    /// Present when this call had to build the site first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildReport>,
}

/// The `get_techdocs_page` tool.
pub struct GetTechdocsPage;

impl CuratedTool for GetTechdocsPage {
    const FAMILY: &'static str = "techdocs";
    const NAME: &'static str = GET_PAGE;
    const TITLE: &'static str = "Read a TechDocs page";
    const DESCRIPTION: &'static str = "Read one page of an entity's TechDocs as clean Markdown (navigation and theme chrome removed; headings, lists, code blocks with their language, tables and links kept). Long pages come in slices with a nextCursor and the total length, never cut silently; `section` returns one heading's section. Paths come from get_techdocs; a wrong path or anchor lists the valid ones.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::AnyPortal;
    type Params = GetPageParams;
    type Output = GetPageOutput;

    async fn run(ctx: ToolCtx, p: GetPageParams) -> Result<GetPageOutput, ToolError> {
        get_page(ctx, p).await
    }
}

pub(crate) async fn get_page(ctx: ToolCtx, p: GetPageParams) -> Result<GetPageOutput, ToolError> {
    let budget = build_budget(p.build_timeout_seconds)?;
    let cursor = match p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Some(PageCursor::decode(c)?),
        None => None,
    };
    let max = cursor
        .as_ref()
        .map_or(p.max_chars.unwrap_or(DEFAULT_MAX_CHARS), |c| c.m);
    if !(MIN_MAX_CHARS..=MAX_MAX_CHARS).contains(&max) {
        return Err(ToolError::invalid(format!(
            "`maxChars` must be between {MIN_MAX_CHARS} and {MAX_MAX_CHARS}, got {max}"
        )));
    }
    let r = docs_entity(
        &ctx,
        &p.entity_ref,
        p.kind.as_deref(),
        p.namespace.as_deref(),
    )
    .await?;
    let shown = r.to_string_ref();
    if let Some(c) = &cursor
        && c.r != shown
    {
        return Err(ToolError::invalid(format!(
            "This cursor belongs to the docs of {}, not {shown}. Pass the same `entityRef` as the first call, or drop `cursor`.",
            c.r
        )));
    }
    let (meta, build) = ensure_site(&ctx, &r, false, budget).await?;
    let (file, section, offset) = match &cursor {
        Some(c) => {
            if c.b != meta.build_timestamp {
                return Err(ToolError::invalid(format!(
                    "The docs of {shown} were rebuilt since this cursor was issued. Read `{}` again without `cursor`.",
                    c.p
                )));
            }
            (c.p.clone(), c.s.clone(), c.o)
        }
        None => {
            let parsed = parse_page_path(p.path.as_deref().unwrap_or(""), &r)?;
            let file = pick_file(&ctx, &r, &meta, &parsed.candidates, p.path.as_deref()).await?;
            let section = p
                .section
                .clone()
                .or(parsed.fragment)
                .map(|s| s.trim().trim_start_matches('#').to_string())
                .filter(|s| !s.is_empty());
            (file, section, 0)
        }
    };
    let html = match ctx
        .portal
        .techdocs_file(&r, meta.build_timestamp, &file)
        .await
    {
        Ok(html) => html,
        Err(e) if e.is_not_found() => {
            return Err(page_not_found(&ctx, &r, &meta, &file).await);
        }
        Err(e) => {
            return Err(ToolError::backstage(
                &format!("reading page {file} of the docs of {shown}"),
                &e,
            ));
        }
    };
    let page = html::page_to_markdown(&html, &file, section.as_deref()).map_err(|unknown| {
        ToolError::invalid(format!(
            "No heading with anchor `{}` on {file} of {shown}. Available anchors: {}.",
            section.as_deref().unwrap_or_default(),
            list_anchors(&unknown.available)
        ))
    })?;
    let total_chars = page.markdown.chars().count();
    let (slice, next) = slice_chars(&page.markdown, offset, max);
    let next_cursor = next.map(|o| {
        PageCursor {
            v: 1,
            r: shown.clone(),
            p: file.clone(),
            s: section.clone(),
            o,
            m: max,
            b: meta.build_timestamp,
        }
        .encode()
    });
    Ok(GetPageOutput {
        entity_ref: shown,
        path: file,
        title: page.title,
        section,
        markdown: slice.to_string(),
        offset,
        total_chars,
        next_cursor,
        headings: page.headings.iter().map(HeadingInfo::from).collect(),
        build,
    })
}

/// The site file `candidates` stand for: the first one the site has.
async fn pick_file(
    ctx: &ToolCtx,
    r: &EntityRef,
    meta: &TechDocsMetadata,
    candidates: &[String],
    asked: Option<&str>,
) -> Result<String, ToolError> {
    let html_candidates: Vec<&String> = candidates
        .iter()
        .filter(|c| c.to_ascii_lowercase().ends_with(".html"))
        .collect();
    if meta.files.is_empty() {
        // Sites published by old tooling have no file list: let the fetch decide.
        if let Some(first) = html_candidates.first() {
            return Ok((*first).clone());
        }
    }
    if let Some(hit) = html_candidates.iter().find(|c| meta.files.contains(c)) {
        return Ok((*hit).clone());
    }
    Err(page_not_found(ctx, r, meta, asked.unwrap_or("")).await)
}

/// "No such page", listing the pages the site has.
async fn page_not_found(
    ctx: &ToolCtx,
    r: &EntityRef,
    meta: &TechDocsMetadata,
    asked: &str,
) -> ToolError {
    let (pages, _) = site_pages(ctx, r, meta).await;
    let listed: Vec<String> = pages
        .iter()
        .take(LISTED_IN_ERRORS)
        .map(|p| match &p.title {
            Some(t) => format!("{} ({t})", p.path),
            None => p.path.clone(),
        })
        .collect();
    let more = pages.len().saturating_sub(listed.len());
    let mut msg = format!(
        "No page `{asked}` in the docs of {}. Available pages: {}",
        r.to_string_ref(),
        if listed.is_empty() {
            "none".to_string()
        } else {
            listed.join(", ")
        }
    );
    if more > 0 {
        msg.push_str(&format!(" … and {more} more (see get_techdocs)"));
    }
    msg.push('.');
    ToolError {
        message: msg,
        kind: crate::tool::ErrorKind::from_status(Some(404)),
    }
}

fn list_anchors(headings: &[Heading]) -> String {
    if headings.is_empty() {
        return "none (the page has no headings with anchors)".into();
    }
    let mut listed: Vec<String> = headings
        .iter()
        .take(LISTED_IN_ERRORS)
        .map(|h| format!("{} ({})", h.anchor, h.title))
        .collect();
    if headings.len() > LISTED_IN_ERRORS {
        listed.push(format!("… {} more", headings.len() - LISTED_IN_ERRORS));
    }
    listed.join(", ")
}

// ---------------------------------------------------------------- helpers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_cursors_round_trip() {
        assert_eq!(decode_list_cursor(&encode_list_cursor(200)).ok(), Some(200));
        assert!(decode_list_cursor("garbage").is_err());
    }
}
