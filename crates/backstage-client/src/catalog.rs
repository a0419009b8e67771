//! The catalog API: `entities/by-query`, `entities/by-name`, `entities/by-refs`, `entity-facets`.
//!
//! Wire facts (see `backstage-testbed.md` and peers §9): `filter` is repeatable (commas
//! AND inside one param, separate params OR), `fields` and `fullTextFilterFields` are
//! comma-joined, `orderField=<field>,<asc|desc>` repeats, and a cursor request carries only
//! `cursor` (+ `fields`, `limit`) because the filters live inside the cursor.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::BackstageClient;
use crate::entity_ref::EntityRef;
use crate::error::BackstageError;

/// Largest number of refs sent in one `by-refs` call; longer inputs are split.
pub const BY_REFS_CHUNK_SIZE: usize = 500;

const BY_QUERY_PATH: &str = "/api/catalog/entities/by-query";
const BY_REFS_PATH: &str = "/api/catalog/entities/by-refs";
const FACETS_PATH: &str = "/api/catalog/entity-facets";

/// Sort direction of an `orderField`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl SortOrder {
    /// The wire form: `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// A `GET /api/catalog/entities/by-query` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityQuery {
    /// Each element is ONE `filter` param, e.g. `kind=component,spec.type=service`
    /// (commas AND inside one; separate elements OR). Blank elements are skipped.
    pub filters: Vec<String>,
    /// Fields to return (`fields`, comma-joined), e.g. `metadata.name`; empty = all.
    pub fields: Vec<String>,
    /// Page size; without it the catalog uses its default page size.
    pub limit: Option<u32>,
    /// `orderField=<field>,asc|desc`, in priority order.
    pub order_fields: Vec<(String, SortOrder)>,
    /// `fullTextFilterTerm`. Skipped when blank.
    pub full_text_term: Option<String>,
    /// `fullTextFilterFields` (comma-joined). Without it the catalog searches the sort
    /// field or `metadata.uid`, so a name search should pass e.g. `metadata.name`.
    pub full_text_fields: Vec<String>,
    /// A `nextCursor`/`prevCursor` from a previous page. When set, ONLY `cursor`,
    /// `fields` and `limit` are sent: the other criteria live inside the cursor.
    pub cursor: Option<String>,
}

impl EntityQuery {
    /// The query-string pairs of this request, in wire order (pure; repeated keys kept).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(cursor) = &self.cursor {
            pairs.push(("cursor", cursor.clone()));
        } else {
            for filter in self.filters.iter().filter(|f| !f.trim().is_empty()) {
                pairs.push(("filter", filter.clone()));
            }
        }
        if !self.fields.is_empty() {
            pairs.push(("fields", self.fields.join(",")));
        }
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        if self.cursor.is_some() {
            return pairs;
        }
        for (field, order) in &self.order_fields {
            pairs.push(("orderField", format!("{field},{}", order.as_str())));
        }
        if let Some(term) = self
            .full_text_term
            .as_ref()
            .filter(|t| !t.trim().is_empty())
        {
            pairs.push(("fullTextFilterTerm", term.clone()));
            if !self.full_text_fields.is_empty() {
                pairs.push(("fullTextFilterFields", self.full_text_fields.join(",")));
            }
        }
        pairs
    }
}

/// One page of `by-query` results.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityPage {
    /// The entities (only the requested `fields` when given).
    pub items: Vec<Value>,
    /// Total matches across all pages (`totalItems`).
    pub total_items: u64,
    /// Cursor of the next page, if any (`pageInfo.nextCursor`).
    pub next_cursor: Option<String>,
    /// Cursor of the previous page, if any (`pageInfo.prevCursor`).
    pub prev_cursor: Option<String>,
}

/// One value of a facet and how many entities have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FacetCount {
    /// The facet value, e.g. `Component`.
    pub value: String,
    /// Number of entities with that value.
    pub count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPage {
    items: Vec<Value>,
    #[serde(default)]
    total_items: u64,
    #[serde(default)]
    page_info: RawPageInfo,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPageInfo {
    next_cursor: Option<String>,
    prev_cursor: Option<String>,
}

#[derive(Deserialize)]
struct RawItems {
    items: Vec<Value>,
}

#[derive(Deserialize)]
struct RawFacets {
    facets: BTreeMap<String, Vec<FacetCount>>,
}

impl BackstageClient {
    /// `GET /api/catalog/entities/by-query` with [`EntityQuery::query_pairs`].
    pub async fn query_entities(&self, q: &EntityQuery) -> Result<EntityPage, BackstageError> {
        let value = self.get_json(BY_QUERY_PATH, &q.query_pairs()).await?;
        let raw: RawPage = self.decode(BY_QUERY_PATH, value)?;
        Ok(EntityPage {
            items: raw.items,
            total_items: raw.total_items,
            next_cursor: raw.page_info.next_cursor,
            prev_cursor: raw.page_info.prev_cursor,
        })
    }

    /// `GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}` (each segment
    /// percent-encoded). A missing entity is `BackstageError::Api { status: 404, .. }`.
    pub async fn get_entity_by_ref(&self, r: &EntityRef) -> Result<Value, BackstageError> {
        let url = self.url_for_segments(
            &[
                "api",
                "catalog",
                "entities",
                "by-name",
                &r.kind,
                &r.namespace,
                &r.name,
            ],
            &[],
        )?;
        let shown = url.to_string();
        let value = self.request_json(Method::GET, url, None, true).await?;
        if !value.is_object() {
            return Err(BackstageError::Decode {
                url: shown,
                message: "expected an entity object".into(),
            });
        }
        Ok(value)
    }

    /// `POST /api/catalog/entities/by-refs {entityRefs, fields}` (a read, so retried).
    /// The result is aligned with `refs`; a ref that does not exist is `None`. Inputs
    /// longer than [`BY_REFS_CHUNK_SIZE`] are sent in several calls.
    pub async fn get_entities_by_refs(
        &self,
        refs: &[String],
        fields: &[String],
    ) -> Result<Vec<Option<Value>>, BackstageError> {
        let mut out = Vec::with_capacity(refs.len());
        for chunk in refs.chunks(BY_REFS_CHUNK_SIZE) {
            let mut body = json!({ "entityRefs": chunk });
            if !fields.is_empty() {
                body["fields"] = json!(fields);
            }
            let value = self.post_json(BY_REFS_PATH, &body, true).await?;
            let raw: RawItems = self.decode(BY_REFS_PATH, value)?;
            if raw.items.len() != chunk.len() {
                return Err(BackstageError::Decode {
                    url: self.shown(BY_REFS_PATH),
                    message: format!(
                        "expected {} items aligned with the requested refs, got {}",
                        chunk.len(),
                        raw.items.len()
                    ),
                });
            }
            out.extend(raw.items.into_iter().map(|item| match item {
                Value::Null => None,
                entity => Some(entity),
            }));
        }
        Ok(out)
    }

    /// `GET /api/catalog/entity-facets?facet=..&filter=..`: value counts per facet
    /// (e.g. `kind`, `spec.lifecycle`). No facets → an empty map without a request.
    pub async fn entity_facets(
        &self,
        facets: &[String],
        filters: &[String],
    ) -> Result<BTreeMap<String, Vec<FacetCount>>, BackstageError> {
        if facets.is_empty() {
            return Ok(BTreeMap::new());
        }
        let value = self
            .get_json(FACETS_PATH, &facet_query_pairs(facets, filters))
            .await?;
        let raw: RawFacets = self.decode(FACETS_PATH, value)?;
        Ok(raw.facets)
    }

    /// Deserializes a decoded JSON document into the expected shape.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        value: Value,
    ) -> Result<T, BackstageError> {
        serde_json::from_value(value).map_err(|e| BackstageError::Decode {
            url: self.shown(path),
            message: format!("unexpected JSON shape: {e}"),
        })
    }

    /// A URL for messages: base URL + path.
    fn shown(&self, path: &str) -> String {
        format!("{}{}", self.base_url().as_str().trim_end_matches('/'), path)
    }
}

/// The query pairs of an `entity-facets` request (pure).
fn facet_query_pairs(facets: &[String], filters: &[String]) -> Vec<(&'static str, String)> {
    facets
        .iter()
        .map(|f| ("facet", f.clone()))
        .chain(
            filters
                .iter()
                .filter(|f| !f.trim().is_empty())
                .map(|f| ("filter", f.clone())),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&'static str, String)]) -> Vec<&'static str> {
        pairs.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn empty_query_sends_nothing() {
        assert!(EntityQuery::default().query_pairs().is_empty());
    }

    #[test]
    fn filters_repeat_and_fields_join() {
        let q = EntityQuery {
            filters: vec![
                "kind=component,spec.type=service".into(),
                "  ".into(),
                "kind=api".into(),
            ],
            fields: vec!["metadata.name".into(), "spec.owner".into()],
            limit: Some(3),
            ..EntityQuery::default()
        };
        assert_eq!(
            q.query_pairs(),
            vec![
                ("filter", "kind=component,spec.type=service".to_owned()),
                ("filter", "kind=api".to_owned()),
                ("fields", "metadata.name,spec.owner".to_owned()),
                ("limit", "3".to_owned()),
            ]
        );
    }

    #[test]
    fn order_fields_repeat_with_direction() {
        let q = EntityQuery {
            order_fields: vec![
                ("metadata.name".into(), SortOrder::Asc),
                ("metadata.namespace".into(), SortOrder::Desc),
            ],
            ..EntityQuery::default()
        };
        assert_eq!(
            q.query_pairs(),
            vec![
                ("orderField", "metadata.name,asc".to_owned()),
                ("orderField", "metadata.namespace,desc".to_owned()),
            ]
        );
    }

    #[test]
    fn full_text_uses_the_real_param_names() {
        let q = EntityQuery {
            full_text_term: Some("payments".into()),
            full_text_fields: vec!["metadata.name".into(), "metadata.title".into()],
            ..EntityQuery::default()
        };
        assert_eq!(
            q.query_pairs(),
            vec![
                ("fullTextFilterTerm", "payments".to_owned()),
                (
                    "fullTextFilterFields",
                    "metadata.name,metadata.title".to_owned()
                ),
            ]
        );
        let blank = EntityQuery {
            full_text_term: Some(" ".into()),
            full_text_fields: vec!["metadata.name".into()],
            ..EntityQuery::default()
        };
        assert!(blank.query_pairs().is_empty());
    }

    #[test]
    fn cursor_request_carries_only_cursor_fields_and_limit() {
        let q = EntityQuery {
            filters: vec!["kind=component".into()],
            fields: vec!["metadata.name".into()],
            limit: Some(20),
            order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
            full_text_term: Some("pay".into()),
            full_text_fields: vec!["metadata.name".into()],
            cursor: Some("eyJvcmRlckZpZWxkcyI6".into()),
        };
        let pairs = q.query_pairs();
        assert_eq!(keys(&pairs), vec!["cursor", "fields", "limit"]);
        assert_eq!(pairs[0].1, "eyJvcmRlckZpZWxkcyI6");
        let bare = EntityQuery {
            cursor: Some("c".into()),
            filters: vec!["kind=api".into()],
            ..EntityQuery::default()
        };
        assert_eq!(bare.query_pairs(), vec![("cursor", "c".to_owned())]);
    }

    #[test]
    fn full_query_has_every_param_once_in_order() {
        let q = EntityQuery {
            filters: vec!["kind=component".into()],
            fields: vec!["metadata.name".into()],
            limit: Some(5),
            order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
            full_text_term: Some("pay".into()),
            full_text_fields: vec!["metadata.name".into()],
            cursor: None,
        };
        assert_eq!(
            keys(&q.query_pairs()),
            vec![
                "filter",
                "fields",
                "limit",
                "orderField",
                "fullTextFilterTerm",
                "fullTextFilterFields"
            ]
        );
    }

    #[test]
    fn facet_pairs_repeat() {
        let pairs = facet_query_pairs(
            &["kind".into(), "spec.lifecycle".into()],
            &["kind=component".into(), "".into()],
        );
        assert_eq!(
            pairs,
            vec![
                ("facet", "kind".to_owned()),
                ("facet", "spec.lifecycle".to_owned()),
                ("filter", "kind=component".to_owned()),
            ]
        );
    }

    #[test]
    fn page_shapes_decode_like_the_testbed() -> Result<(), serde_json::Error> {
        let raw: RawPage = serde_json::from_value(json!({
            "items":[{"metadata":{"name":"catalog-service"}}],
            "totalItems":5,
            "pageInfo":{"nextCursor":"eyJ"}
        }))?;
        assert_eq!(raw.total_items, 5);
        assert_eq!(raw.page_info.next_cursor.as_deref(), Some("eyJ"));
        assert_eq!(raw.page_info.prev_cursor, None);
        let facets: RawFacets = serde_json::from_value(json!({
            "facets":{"kind":[{"value":"API","count":5}],"spec.lifecycle":[]}
        }))?;
        assert_eq!(
            facets.facets.get("kind"),
            Some(&vec![FacetCount {
                value: "API".into(),
                count: 5
            }])
        );
        Ok(())
    }
}
