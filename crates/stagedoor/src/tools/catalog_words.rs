//! `search_catalog` free text, word-wise and ranked, in both modes (see [`crate::words`]),
//! and the hints an empty result carries.
//!
//! - **Local catalog**: the snapshot's word index answers (filters, words, rank, page).
//! - **Backstage**: `by-query` takes one substring, so stagedoor asks Backstage for the
//!   entities containing the most selective word (the one with the fewest matches, found
//!   with one `limit=1` count per word when there are several), pages through them with
//!   Backstage's cursor (summary fields only, [`PAGE`] a page), keeps those where every word
//!   is a word prefix and ranks them the same way. Totals are exact; each page of results
//!   repeats the fetch (Backstage's own cursor would not rank). A word matched by more than
//!   [`MAX_CANDIDATES`] entities is refused with advice, rather than answered wrong. One
//!   difference remains: Backstage's search table keeps no value longer than 200
//!   characters, so words only found in a long description match locally but not there.
//!
//! Cursors: `words:` + base64 JSON (words, filters, offset, total), inside the tool's
//! own opaque cursor.

use std::sync::Arc;

use backstage_client::{EntityPage, EntityQuery};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{CatalogPage, SearchParams, combined_filters, summary_fields};
use super::shape::Cursor;
use super::{ToolCtx, ToolError};
use crate::words::{self, NAME_THRESHOLD, closest, corrected_query, query_words};

/// Entities fetched from Backstage per request while collecting candidates.
pub const PAGE: u32 = 500;
/// Most candidates collected from Backstage for one word search.
pub const MAX_CANDIDATES: u64 = 20_000;
const MARK: &str = "words:";

/// The state of a word search, carried by its cursor.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WordCursor {
    /// The query words.
    w: Vec<String>,
    /// Backstage filter expressions.
    f: Vec<String>,
    /// Offset of the next page.
    o: u64,
    /// Total of the first page.
    n: u64,
}

impl WordCursor {
    fn encode(&self) -> String {
        format!(
            "{MARK}{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
        )
    }

    fn decode(s: &str) -> Option<Result<Self, ToolError>> {
        let body = s.strip_prefix(MARK)?;
        Some(
            URL_SAFE_NO_PAD
                .decode(body)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| {
                    ToolError::invalid(
                        "the cursor is malformed. Repeat the search without `cursor` to start over.",
                    )
                }),
        )
    }
}

/// The page of a word search when `p` is one (free text given, or a word-search cursor);
/// `None` otherwise (the caller runs Backstage's query).
pub(crate) async fn page(
    ctx: &ToolCtx,
    p: &SearchParams,
    always: &[&str],
    limit: u32,
) -> Result<Option<CatalogPage>, ToolError> {
    let (state, extra) = match p.cursor.as_deref().map(str::trim) {
        Some(c) if !c.is_empty() => {
            let cursor = Cursor::decode(c)?;
            let Some(state) = WordCursor::decode(&cursor.b) else {
                return Ok(None);
            };
            (state?, p.fields.clone().unwrap_or(cursor.f))
        }
        _ => {
            let words = p.query.as_deref().map(query_words).unwrap_or_default();
            if words.is_empty() {
                return Ok(None);
            }
            let state = WordCursor {
                w: words,
                f: combined_filters(p)?,
                o: 0,
                n: 0,
            };
            (state, p.fields.clone().unwrap_or_default())
        }
    };
    let fields = summary_fields(&extra, always);
    let (items, total) = ranked(ctx, &state.f, &state.w, &fields, state.o, limit).await?;
    let total = if state.o == 0 { total } else { state.n };
    let next = state.o + items.len() as u64;
    let next_cursor = (next < total && !items.is_empty()).then(|| {
        Cursor {
            v: 1,
            b: WordCursor {
                o: next,
                n: total,
                ..state.clone()
            }
            .encode(),
            f: extra.clone(),
        }
        .encode()
    });
    Ok(Some(CatalogPage {
        page: Arc::new(EntityPage {
            items,
            total_items: total,
            next_cursor: None,
            prev_cursor: None,
        }),
        extra_fields: extra,
        next_cursor,
    }))
}

/// One ranked page (`offset`, `limit`) of the entities matching `filters` and every word,
/// and the total.
async fn ranked(
    ctx: &ToolCtx,
    filters: &[String],
    words: &[String],
    fields: &[String],
    offset: u64,
    limit: u32,
) -> Result<(Vec<Value>, u64), ToolError> {
    if let Some(local) = ctx.portal.local_catalog() {
        let page = local
            .search_words(filters, words, fields, offset as usize, limit as usize)
            .map_err(|e| ToolError::backstage("searching the catalog", &e))?;
        return Ok((page.items, page.total));
    }
    let mut hits = candidates(ctx, filters, words, fields).await?;
    let total = hits.len() as u64;
    let items = hits
        .drain(..)
        .skip(offset as usize)
        .take(limit as usize)
        .map(|(_, _, v)| v)
        .collect();
    Ok((items, total))
}

/// Over Backstage: every entity matching `filters` and every word, ranked.
async fn candidates(
    ctx: &ToolCtx,
    filters: &[String],
    words: &[String],
    fields: &[String],
) -> Result<Vec<(u32, (String, String), Value)>, ToolError> {
    let fetch = |term: String, cursor: Option<String>, limit: u32| EntityQuery {
        filters: if cursor.is_some() {
            Vec::new()
        } else {
            filters.to_vec()
        },
        fields: fields.to_vec(),
        limit: Some(limit),
        order_fields: Vec::new(),
        full_text_fields: if cursor.is_some() {
            Vec::new()
        } else {
            [
                "metadata.name",
                "metadata.title",
                "metadata.description",
                "metadata.tags",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        },
        full_text_term: cursor.is_none().then_some(term),
        cursor,
    };
    // The most selective word: fewest substring matches.
    let mut best = (u64::MAX, words.first().cloned().unwrap_or_default());
    if words.len() > 1 {
        for w in words {
            let page = ctx
                .portal
                .query_entities(&fetch(w.clone(), None, 1))
                .await
                .map_err(|e| ToolError::backstage("searching the catalog", &e))?;
            if page.total_items < best.0 {
                best = (page.total_items, w.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = ctx
            .portal
            .query_entities(&fetch(best.1.clone(), cursor.clone(), PAGE))
            .await
            .map_err(|e| ToolError::backstage("searching the catalog", &e))?;
        if page.total_items > MAX_CANDIDATES {
            return Err(ToolError::invalid(format!(
                "the word `{}` is in {} entities, more than the {MAX_CANDIDATES} a ranked search reads from Backstage; add a filter (kind, type, owner...) or a longer word",
                best.1, page.total_items
            )));
        }
        for item in &page.items {
            if let Some(score) = words::score(words, &words::entity_terms(item)) {
                out.push((score, sort_key(item), item.clone()));
            }
        }
        match &page.next_cursor {
            Some(c) if !page.items.is_empty() => cursor = Some(c.clone()),
            _ => break,
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(out)
}

/// (lowercase name, lowercase ref): the local catalog's tie order.
fn sort_key(e: &Value) -> (String, String) {
    let name = e["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    let kind = e["kind"].as_str().unwrap_or_default().to_lowercase();
    let ns = e["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_lowercase();
    let key = format!("{kind}:{ns}/{name}");
    (name, key)
}

/// What an empty `search_catalog` result would have matched.
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchHints {
    /// Each word of the query and how many entities it matches on its own (same filters).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub words_alone: Vec<WordCount>,
    /// The query with misspelled words corrected, when that finds entities.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_you_mean: Option<String>,
    /// Entity names close to the query.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub close_names: Vec<String>,
    /// Filters that match nothing, with values close to them or where their value occurs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
}

/// A word and its matches.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WordCount {
    /// The word.
    pub word: String,
    /// Entities it matches alone.
    pub matches: u64,
}

impl SearchHints {
    fn is_empty(&self) -> bool {
        self.words_alone.is_empty()
            && self.did_you_mean.is_none()
            && self.close_names.is_empty()
            && self.filters.is_empty()
    }
}

/// The facets whose values a structured filter is compared with.
const HINT_FACETS: [(&str, &str); 5] = [
    ("kind", "kind"),
    ("type", "spec.type"),
    ("lifecycle", "spec.lifecycle"),
    ("namespace", "metadata.namespace"),
    ("tags", "metadata.tags"),
];

/// Hints for a search that found nothing (`None` when there is nothing useful to say).
/// Best effort: a failing lookup gives fewer hints, never an error.
pub(crate) async fn hints(ctx: &ToolCtx, p: &SearchParams) -> Option<SearchHints> {
    let mut h = SearchHints::default();
    let facet_names: Vec<String> = HINT_FACETS
        .iter()
        .map(|(_, f)| f.to_string())
        .chain(["metadata.name".into(), "metadata.title".into()])
        .collect();
    let facets = ctx.portal.facets(&facet_names, &[]).await.ok()?;
    let values = |facet: &str| -> Vec<&str> {
        facets
            .get(facet)
            .map(|v| v.iter().map(|c| c.value.as_str()).collect())
            .unwrap_or_default()
    };
    // Structured filters whose value no entity has.
    let given: Vec<(&str, Vec<String>)> = vec![
        ("kind", p.kind.iter().cloned().collect()),
        ("type", p.entity_type.iter().cloned().collect()),
        ("lifecycle", p.lifecycle.iter().cloned().collect()),
        ("namespace", p.namespace.iter().cloned().collect()),
        ("tags", p.tags.clone().unwrap_or_default()),
    ];
    for (arg, wanted) in given {
        let Some((_, facet)) = HINT_FACETS.iter().find(|(a, _)| *a == arg) else {
            continue;
        };
        let known = values(facet);
        for v in wanted {
            let lv = v.trim().to_lowercase();
            if known.iter().any(|k| k.to_lowercase() == lv) {
                continue;
            }
            let elsewhere: Vec<&str> = HINT_FACETS
                .iter()
                .filter(|(a, f)| *a != arg && values(f).iter().any(|k| k.to_lowercase() == lv))
                .map(|(a, _)| *a)
                .collect();
            let close = closest(&lv, known.iter().copied(), 0.6, 3);
            let mut msg = format!("no entity has {arg} `{v}`");
            if !elsewhere.is_empty() {
                msg.push_str(&format!(
                    "; `{v}` is a value of {} (e.g. kind: component with type: service)",
                    elsewhere
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                if arg != "kind" {
                    msg = msg.replace(" (e.g. kind: component with type: service)", "");
                }
            }
            if !close.is_empty() {
                msg.push_str(&format!("; close {arg} values: {}", close.join(", ")));
            }
            h.filters.push(msg);
        }
    }
    let words = p.query.as_deref().map(query_words).unwrap_or_default();
    if !words.is_empty() {
        let filters = combined_filters(p).ok()?;
        let mut unmatched = Vec::new();
        for w in &words {
            let n = ranked(ctx, &filters, std::slice::from_ref(w), &[], 0, 0)
                .await
                .map(|(_, n)| n)
                .unwrap_or(0);
            unmatched.push(n == 0);
            if words.len() > 1 {
                h.words_alone.push(WordCount {
                    word: w.clone(),
                    matches: n,
                });
            }
        }
        let names: Vec<&str> = values("metadata.name")
            .into_iter()
            .chain(values("metadata.title"))
            .collect();
        let query = words.join("-");
        h.close_names = closest(&query, names.iter().copied(), NAME_THRESHOLD, 3);
        let vocabulary: Vec<String> = names.iter().flat_map(|n| words::tokenize(n)).collect();
        if let Some(q) = corrected_query(&words, &unmatched, || {
            Box::new(vocabulary.iter().map(String::as_str))
        }) {
            let found = ranked(ctx, &filters, &query_words(&q), &[], 0, 0)
                .await
                .map(|(_, n)| n)
                .unwrap_or(0);
            if found > 0 {
                h.did_you_mean = Some(q);
            }
        }
    }
    (!h.is_empty()).then_some(h)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::local::{CatalogConfig, LoadOptions, LocalCatalog, glob_set};
    use crate::portal::Portal;
    use crate::tools::CallCtx;

    fn ctx() -> ToolCtx {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/catalog-folder")
            .canonicalize()
            .unwrap();
        let catalog = LocalCatalog::load(CatalogConfig {
            load: LoadOptions {
                paths: vec![folder],
                include: glob_set(&["**/*.yaml".into()]).unwrap(),
                exclude: glob_set(&[]).unwrap(),
                max_file_bytes: 1 << 20,
            },
            watch: false,
            debounce: std::time::Duration::from_millis(50),
        });
        ToolCtx {
            portal: Arc::new(Portal::local(Arc::new(catalog))),
            actions: None,
            call: CallCtx::default(),
        }
    }

    async fn search(ctx: &ToolCtx, args: Value) -> Value {
        let p: SearchParams = serde_json::from_value(args).unwrap();
        serde_json::to_value(super::super::catalog::search(ctx.clone(), p).await.unwrap()).unwrap()
    }

    fn refs(v: &Value) -> Vec<&str> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ref"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn words_in_any_order_find_prefixes_ranked_with_exact_totals_and_cursors() {
        let ctx = ctx();
        // "payment" is a prefix of "payments"; words in any order; the name match ranks
        // above the template whose title is "New payments service".
        let r = search(&ctx, json!({"query": "service payment"})).await;
        assert_eq!(
            refs(&r),
            [
                "component:default/payments-service",
                "template:default/new-service"
            ]
        );
        assert_eq!(r["totalItems"], 2);
        // Name/title matches rank above description matches, exact above prefix.
        let r = search(&ctx, json!({"query": "payments"})).await;
        let all = refs(&r);
        assert_eq!(r["totalItems"], all.len());
        assert_eq!(all[0], "system:default/payments", "{all:?}");
        let desc = all
            .iter()
            .position(|r| *r == "component:default/refund-worker")
            .unwrap();
        let name = all
            .iter()
            .position(|r| *r == "component:default/payments-service")
            .unwrap();
        assert!(name < desc, "{all:?}");
        // Paging by 2 walks the same ranked list, with the same total on every page.
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut args = json!({"query": "payments", "limit": 2});
            if let Some(c) = &cursor {
                args["cursor"] = json!(c);
            }
            let page = search(&ctx, args).await;
            assert_eq!(page["totalItems"], all.len());
            paged.extend(refs(&page).into_iter().map(str::to_string));
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(paged, all);
        // Filters narrow the words.
        let r = search(&ctx, json!({"query": "pay", "kind": "API"})).await;
        assert_eq!(refs(&r), ["api:default/payments-api"]);
    }

    #[tokio::test]
    async fn an_empty_result_says_what_would_have_matched() {
        let ctx = ctx();
        let r = search(&ctx, json!({"query": "payment quantum"})).await;
        assert_eq!(r["totalItems"], 0);
        let h = &r["hints"];
        assert_eq!(h["wordsAlone"][0]["word"], "payment");
        assert!(h["wordsAlone"][0]["matches"].as_u64().unwrap() > 0, "{h}");
        assert_eq!(h["wordsAlone"][1]["matches"], 0, "{h}");
        let r = search(&ctx, json!({"query": "paymnets"})).await;
        assert_eq!(r["hints"]["didYouMean"], "payments", "{r}");
        let r = search(&ctx, json!({"query": "refund-wroker"})).await;
        assert_eq!(r["hints"]["closeNames"], json!(["refund-worker"]), "{r}");
        let r = search(&ctx, json!({"kind": "service"})).await;
        let f = r["hints"]["filters"][0].as_str().unwrap();
        assert!(
            f.contains("no entity has kind `service`") && f.contains("`type`"),
            "{f}"
        );
        // A result that finds something carries no hints.
        let r = search(&ctx, json!({"query": "payments"})).await;
        assert!(r.get("hints").is_none());
    }
}
