//! The search API: `GET /api/search/query`.
//!
//! Wire facts (search-backend 2.x, see `backstage-testbed.md`): the query string is built the
//! way Backstage's own client builds it with `qs` — `term`, `types[0]=..`, `filters[field]=..`
//! (`filters[field][0]=..` for a list), `pageCursor`, `pageLimit` (at most
//! `search.maxPageLimit`, 100 by default). An unknown type is a 400 `InputError`; a type whose
//! index has not been built yet (including "all types") is a 500 `MissingIndexError`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::client::BackstageClient;
use crate::error::BackstageError;

const QUERY_PATH: &str = "/api/search/query";

/// A `GET /api/search/query` request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    /// The search term (may be empty: then every document matches).
    pub term: String,
    /// Document types, e.g. `software-catalog`, `techdocs`; empty = all types.
    pub types: Vec<String>,
    /// Field filters, e.g. `kind` → `"Component"`. Strings, numbers, booleans, or lists of them.
    pub filters: BTreeMap<String, Value>,
    /// A `nextPageCursor` / `previousPageCursor` from a previous answer.
    pub page_cursor: Option<String>,
    /// Page size; Backstage's default (25 for the Lunr engine) when absent.
    pub page_limit: Option<u32>,
}

impl SearchQuery {
    /// The query-string pairs of this request, in wire order (pure). Filter values that are
    /// objects or `null` are skipped: Backstage's engines cannot filter on them.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let mut pairs = vec![("term".to_string(), self.term.clone())];
        for (i, t) in self.types.iter().enumerate() {
            pairs.push((format!("types[{i}]"), t.clone()));
        }
        for (field, value) in &self.filters {
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(s) = scalar(item) {
                            pairs.push((format!("filters[{field}][{i}]"), s));
                        }
                    }
                }
                other => {
                    if let Some(s) = scalar(other) {
                        pairs.push((format!("filters[{field}]"), s));
                    }
                }
            }
        }
        if let Some(c) = &self.page_cursor {
            pairs.push(("pageCursor".to_string(), c.clone()));
        }
        if let Some(l) = self.page_limit {
            pairs.push(("pageLimit".to_string(), l.to_string()));
        }
        pairs
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One search answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResultSet {
    /// The hits of this page, best first.
    pub results: Vec<SearchResult>,
    /// Total number of hits, when the engine knows it.
    #[serde(default)]
    pub number_of_results: Option<u64>,
    /// Cursor of the next page, if any.
    #[serde(default)]
    pub next_page_cursor: Option<String>,
    /// Cursor of the previous page, if any.
    #[serde(default)]
    pub previous_page_cursor: Option<String>,
}

/// One hit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchResult {
    /// Document type, e.g. `software-catalog` or `techdocs`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The document as indexed: at least `title`, `text`, `location`; collators add more
    /// (`kind`, `namespace`, `name`, `path`, `owner`, ...).
    pub document: Value,
    /// 1-based rank across pages.
    #[serde(default)]
    pub rank: Option<u64>,
    /// Highlighted fields, when the engine highlights.
    #[serde(default)]
    pub highlight: Option<Highlight>,
}

/// Highlighted fields of a hit: matches are wrapped in `pre_tag` … `post_tag`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Highlight {
    /// Marker before a match (a random tag per engine instance).
    pub pre_tag: String,
    /// Marker after a match.
    pub post_tag: String,
    /// Field name → highlighted text.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl BackstageClient {
    /// `GET /api/search/query` with [`SearchQuery::query_pairs`].
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchResultSet, BackstageError> {
        let owned = q.query_pairs();
        let pairs: Vec<(&str, String)> =
            owned.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let value = self.get_json(QUERY_PATH, &pairs).await?;
        serde_json::from_value(value).map_err(|e| BackstageError::Decode {
            url: format!(
                "{}{}",
                self.base_url().as_str().trim_end_matches('/'),
                QUERY_PATH
            ),
            message: format!("unexpected JSON shape: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn pairs_follow_qs_conventions() {
        let q = SearchQuery {
            term: "payments".into(),
            types: vec!["software-catalog".into(), "techdocs".into()],
            filters: BTreeMap::from([
                ("kind".to_string(), json!("Component")),
                (
                    "lifecycle".to_string(),
                    json!(["production", "experimental"]),
                ),
                ("weird".to_string(), json!({"nested": 1})),
                ("n".to_string(), json!(3)),
            ]),
            page_cursor: Some("MQ==".into()),
            page_limit: Some(10),
        };
        let pairs: Vec<(String, String)> = q.query_pairs();
        let flat: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            flat,
            vec![
                ("term", "payments"),
                ("types[0]", "software-catalog"),
                ("types[1]", "techdocs"),
                ("filters[kind]", "Component"),
                ("filters[lifecycle][0]", "production"),
                ("filters[lifecycle][1]", "experimental"),
                ("filters[n]", "3"),
                ("pageCursor", "MQ=="),
                ("pageLimit", "10"),
            ]
        );
    }

    #[test]
    fn empty_query_sends_an_empty_term() {
        assert_eq!(
            SearchQuery::default().query_pairs(),
            vec![("term".to_string(), String::new())]
        );
    }

    #[test]
    fn result_sets_decode_like_the_testbed() -> Result<(), serde_json::Error> {
        let set: SearchResultSet = serde_json::from_value(json!({
            "numberOfResults": 12,
            "nextPageCursor": "MQ==",
            "results": [{
                "type": "techdocs",
                "document": {"title": "Idempotency", "text": "t", "location": "/docs/default/component/payment-service/architecture/#idempotency",
                             "kind": "component", "namespace": "default", "name": "payment-service", "path": "architecture/#idempotency"},
                "rank": 1,
                "highlight": {"preTag": "<x>", "postTag": "</x>", "fields": {"title": "<x>Idempotency</x>"}}
            }, {"type": "software-catalog", "document": {"title": "P", "text": "", "location": "/catalog/default/system/payments"}}]
        }))?;
        assert_eq!(set.results.len(), 2);
        assert_eq!(set.results[0].doc_type, "techdocs");
        assert_eq!(
            set.results[0]
                .highlight
                .as_ref()
                .map(|h| h.pre_tag.as_str()),
            Some("<x>")
        );
        assert_eq!(set.results[1].rank, None);
        assert_eq!(set.next_page_cursor.as_deref(), Some("MQ=="));
        assert_eq!(set.previous_page_cursor, None);
        Ok(())
    }
}
