//! The docs site behind an entity: which entity's docs to read, building the site through
//! Backstage's sync endpoint when none is published, and listing its pages.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use backstage_client::{BackstageError, EntityRef, SyncOutcome, TechDocsMetadata};
use serde_json::Value;
use tokio::time::Instant;

use super::html::{self, canonical_file};
use super::{BuildReport, PageInfo};
use crate::tools::resolve::resolve;
use crate::tools::{ToolCtx, ToolError};

/// The annotation that gives an entity a docs site.
const REF_ANNOTATION: &str = "backstage.io/techdocs-ref";
/// The annotation that points an entity at another entity's docs.
const ENTITY_ANNOTATION: &str = "backstage.io/techdocs-entity";
/// Where mkdocs' search plugin writes page titles (a fallback for the navigation).
const SEARCH_INDEX: &str = "search/search_index.json";
const DEFAULT_BUILD_TIMEOUT_S: u64 = 60;
const MAX_BUILD_TIMEOUT_S: u64 = 600;
/// Build log lines kept in a result.
const LOG_TAIL: usize = 15;

/// The entity whose docs `input` asks for: the entity itself when it has
/// `backstage.io/techdocs-ref`, or the one its `backstage.io/techdocs-entity` names.
pub(super) async fn docs_entity(
    ctx: &ToolCtx,
    input: &str,
    kind: Option<&str>,
    namespace: Option<&str>,
) -> Result<EntityRef, ToolError> {
    let (asked, entity) = resolve(ctx, input, kind, namespace).await?;
    let r = EntityRef::from_entity(&entity).unwrap_or(asked);
    let annotation = |e: &Value, key: &str| {
        e.pointer("/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    if annotation(&entity, REF_ANNOTATION).is_some() {
        return Ok(r);
    }
    if let Some(target) = annotation(&entity, ENTITY_ANNOTATION) {
        let target = EntityRef::parse(&target, None, Some(&r.namespace)).map_err(|e| {
            ToolError::invalid(format!(
                "{} points its docs at `{target}` ({ENTITY_ANNOTATION}), which is not a valid reference: {e}",
                r.to_string_ref()
            ))
        })?;
        return Ok(target);
    }
    Err(ToolError::invalid(format!(
        "{} has no TechDocs: it has no `{REF_ANNOTATION}` annotation. Entities with docs are found with search_catalog {{\"filter\": \"metadata.annotations.{REF_ANNOTATION}\"}}.",
        r.to_string_ref()
    )))
}

pub(super) fn build_budget(seconds: Option<u64>) -> Result<Duration, ToolError> {
    let s = seconds.unwrap_or(DEFAULT_BUILD_TIMEOUT_S);
    if !(5..=MAX_BUILD_TIMEOUT_S).contains(&s) {
        return Err(ToolError::invalid(format!(
            "`buildTimeoutSeconds` must be between 5 and {MAX_BUILD_TIMEOUT_S}, got {s}"
        )));
    }
    Ok(Duration::from_secs(s))
}

/// The site's metadata, building the site first when none exists (or when `refresh`).
pub(super) async fn ensure_site(
    ctx: &ToolCtx,
    r: &EntityRef,
    refresh: bool,
    budget: Duration,
) -> Result<(Arc<TechDocsMetadata>, Option<BuildReport>), ToolError> {
    let shown = r.to_string_ref();
    let reading = || format!("reading the TechDocs metadata of {shown}");
    if ctx.portal.is_local() {
        // Read from the mkdocs sources on every call: nothing to build or refresh.
        return match ctx.portal.techdocs_metadata(r).await {
            Ok(meta) => Ok((meta, None)),
            Err(e) => Err(ToolError::backstage(
                &format!("reading the docs of {shown}"),
                &e,
            )),
        };
    }
    if !refresh {
        match ctx.portal.techdocs_metadata(r).await {
            Ok(meta) => return Ok((meta, None)),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(ToolError::backstage(&reading(), &e)),
        }
    }
    let report = build(ctx, r, budget).await?;
    match ctx.portal.techdocs_metadata(r).await {
        Ok(meta) => Ok((meta, Some(report))),
        Err(e) if e.is_not_found() => Err(ToolError {
            message: if report.built_now {
                format!(
                    "Backstage built the docs of {shown} in {}, but the published site cannot be read yet. Try again in a few seconds.",
                    report.duration
                )
            } else {
                format!(
                    "The docs of {shown} are not built, and Backstage's sync did not build them: either it already checked this entity less than a minute ago (try again in a minute), or it is configured not to build docs itself (techdocs.builder: external, where CI publishes sites with techdocs-cli)."
                )
            },
            kind: crate::tool::ErrorKind::from_status(Some(404)),
        }),
        Err(e) => Err(ToolError::backstage(&reading(), &e)),
    }
}

/// Runs a sync, forwarding each build log line as progress; bounded by `budget` and by
/// the call's cancellation.
async fn build(ctx: &ToolCtx, r: &EntityRef, budget: Duration) -> Result<BuildReport, ToolError> {
    let shown = r.to_string_ref();
    let started = Instant::now();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(LOG_TAIL);
    let mut lines = 0usize;
    ctx.call.report(
        0.0,
        None,
        format!("Building the TechDocs site of {shown} (no published site yet)"),
    );
    let call = ctx.call.clone();
    let on_log = |line: &str| {
        let line = strip_ansi(line);
        lines += 1;
        call.report(lines as f64, None, line.clone());
        if tail.len() == LOG_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    };
    let outcome = tokio::select! {
        biased;
        () = ctx.call.cancel.cancelled() => {
            return Err(ToolError::invalid(format!(
                "Cancelled while Backstage was building the docs of {shown}; the build continues in Backstage."
            )));
        }
        outcome = ctx.portal.techdocs_sync(r, budget, on_log) => outcome,
    };
    let elapsed = started.elapsed();
    let duration =
        humantime::format_duration(Duration::from_millis(elapsed.as_millis() as u64)).to_string();
    let tail: Vec<String> = tail.into_iter().collect();
    match outcome {
        Ok(SyncOutcome::Finished { updated }) => Ok(BuildReport {
            built_now: updated,
            duration_ms: elapsed.as_millis() as u64,
            duration,
            log_lines: lines,
            log_tail: tail,
        }),
        Ok(SyncOutcome::Failed { message }) => Err(ToolError {
            message: format!(
                "Backstage could not build the docs of {shown} (after {duration}): {message}{}",
                if tail.is_empty() {
                    String::new()
                } else {
                    format!("\nLast build log lines:\n{}", tail.join("\n"))
                }
            ),
            kind: crate::tool::ErrorKind::from_status(None),
        }),
        Err(BackstageError::Timeout { .. }) => Err(ToolError {
            message: format!(
                "The docs of {shown} were still building after {}; Backstage keeps building in the background. Call again in a minute, or pass a larger `buildTimeoutSeconds`.{}",
                humantime::format_duration(budget),
                tail.last()
                    .map(|l| format!(" Last build log line: {l}"))
                    .unwrap_or_default()
            ),
            kind: crate::tool::ErrorKind::from_status(None),
        }),
        Err(e) => Err(ToolError::backstage(
            &format!("building the TechDocs site of {shown}"),
            &e,
        )),
    }
}

/// The site's pages: from the navigation of its home page, else from mkdocs' search index,
/// else from the file list; pages missing from the navigation come last.
pub(super) async fn site_pages(
    ctx: &ToolCtx,
    r: &EntityRef,
    meta: &TechDocsMetadata,
) -> (Vec<PageInfo>, &'static str) {
    let files: Vec<&String> = meta.files.iter().filter(|f| is_page_file(f)).collect();
    let has = |path: &str| meta.files.is_empty() || meta.files.iter().any(|f| f == path);
    let mut pages: Vec<PageInfo> = Vec::new();
    let mut source = "files";
    if has("index.html")
        && let Ok(index) = ctx
            .portal
            .techdocs_file(r, meta.build_timestamp, "index.html")
            .await
    {
        pages = html::nav_entries(&index, "index.html")
            .into_iter()
            .filter(|e| has(&e.path))
            .map(|e| PageInfo {
                path: e.path,
                title: Some(e.title).filter(|t| !t.is_empty()),
                section: (!e.sections.is_empty()).then(|| e.sections.join(" / ")),
            })
            .collect();
        if !pages.is_empty() {
            source = "navigation";
        }
    }
    let listed: HashSet<String> = pages.iter().map(|p| p.path.clone()).collect();
    let missing: Vec<&String> = files.into_iter().filter(|f| !listed.contains(*f)).collect();
    if (pages.is_empty() || !missing.is_empty()) && has(SEARCH_INDEX) {
        let titles = search_index_titles(ctx, r, meta).await;
        if pages.is_empty() && !titles.is_empty() {
            source = "searchIndex";
            pages = titles
                .iter()
                .filter(|(path, _)| has(path))
                .map(|(path, title)| PageInfo {
                    path: path.clone(),
                    title: Some(title.clone()),
                    section: None,
                })
                .collect();
        }
        let listed: HashSet<String> = pages.iter().map(|p| p.path.clone()).collect();
        for f in missing.iter().filter(|f| !listed.contains(**f)) {
            pages.push(PageInfo {
                path: (*f).clone(),
                title: titles.iter().find(|(p, _)| p == *f).map(|(_, t)| t.clone()),
                section: None,
            });
        }
    } else {
        pages.extend(missing.into_iter().map(|f| PageInfo {
            path: f.clone(),
            title: None,
            section: None,
        }));
    }
    (pages, source)
}

/// Whether a published file is a page (HTML, not the 404 page or theme assets).
fn is_page_file(f: &str) -> bool {
    f.to_ascii_lowercase().ends_with(".html") && f != "404.html" && !f.starts_with("assets/")
}

/// `(site file, title)` of each page in mkdocs' search index, in index order.
async fn search_index_titles(
    ctx: &ToolCtx,
    r: &EntityRef,
    meta: &TechDocsMetadata,
) -> Vec<(String, String)> {
    let Ok(text) = ctx
        .portal
        .techdocs_file(r, meta.build_timestamp, SEARCH_INDEX)
        .await
    else {
        return Vec::new();
    };
    let Ok(index) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for doc in index
        .get("docs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(location), Some(title)) = (
            doc.get("location").and_then(Value::as_str),
            doc.get("title").and_then(Value::as_str),
        ) else {
            continue;
        };
        if location.contains('#') {
            continue; // a section, not a page
        }
        let path = canonical_file(location);
        if !out.iter().any(|(p, _)| *p == path) {
            out.push((path, title.trim().to_string()));
        }
    }
    out
}

/// Milliseconds since the epoch as RFC 3339 (UTC, seconds precision).
pub(super) fn rfc3339(millis: u64) -> String {
    // Clamped to the year 9999, the last one RFC 3339 can write.
    let t = UNIX_EPOCH + Duration::from_millis(millis.min(253_402_300_799_000));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Removes ANSI escape sequences (Backstage colours its build log) and trims the line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[32minfo\u{1b}[39m: Step 1 of 3 "),
            "info: Step 1 of 3"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn timestamps_render_as_utc() {
        assert_eq!(rfc3339(1_795_244_802_255), "2026-11-21T07:06:42Z");
    }

    #[test]
    fn page_files_exclude_assets_and_404() {
        assert!(is_page_file("runbook/index.html"));
        assert!(!is_page_file("404.html"));
        assert!(!is_page_file("assets/x.html"));
        assert!(!is_page_file("search/search_index.json"));
    }

    #[test]
    fn build_budget_is_bounded() {
        assert_eq!(build_budget(None).ok(), Some(Duration::from_secs(60)));
        assert!(build_budget(Some(1)).is_err());
        assert!(build_budget(Some(601)).is_err());
    }
}
