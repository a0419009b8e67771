//! Catalog queries with Backstage's semantics, answered from a [`Snapshot`].
//!
//! - Filters (`parseEntityFilterString`): inside one filter, statements are grouped by key;
//!   several values of one key are ORed, different keys ANDed; separate filters are ORed;
//!   `key` alone means the key exists; matching is case-insensitive on keys and values.
//! - Full text (`fullTextFilterTerm`): SQL `LIKE '%term%'` on the lowercase values of the
//!   given fields (default: the sort field, else `metadata.uid`).
//! - Order: the first `orderField` only; entities without a value for it are left out (and
//!   not counted), ties broken by ref. Without an order field, name order.
//! - Pages: an opaque cursor carrying the query, the last row and the total of the first page.
//! - `fields`: Backstage's projection, where a path segment that is not a key is joined with
//!   the next one (so `metadata.annotations.backstage.io/techdocs-ref` works).

use std::collections::BTreeMap;

use backstage_client::{EntityPage, EntityQuery, FacetCount, SortOrder};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fixedbitset::FixedBitSet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::index::Snapshot;
use super::table::KeyIndex;

const DEFAULT_LIMIT: u32 = 200;

/// One statement group of a filter: a lowercase key and its lowercase values (`None`: exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Clause {
    key: String,
    values: Option<Vec<String>>,
}

/// Parses filter strings; `None` when no filter restricts anything.
pub(super) fn parse_filters(filters: &[String]) -> Result<Option<Vec<Vec<Clause>>>, String> {
    let mut out = Vec::new();
    for f in filters {
        let mut clauses: Vec<(String, Option<Vec<String>>)> = Vec::new();
        for statement in f.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = match statement.find('=') {
                None => (statement, None),
                Some(i) => (statement[..i].trim(), Some(statement[i + 1..].trim())),
            };
            if key.is_empty() {
                return Err(format!(
                    "Invalid filter, '{statement}' is not a valid statement (expected a string on the form a=b or a= or a)"
                ));
            }
            let slot = match clauses.iter().position(|(k, _)| k == key) {
                Some(p) => &mut clauses[p].1,
                None => {
                    clauses.push((key.to_string(), None));
                    &mut clauses.last_mut().expect("just pushed").1
                }
            };
            if let Some(v) = value {
                slot.get_or_insert_with(Vec::new).push(v.to_lowercase());
            }
        }
        if !clauses.is_empty() {
            out.push(
                clauses
                    .into_iter()
                    .map(|(key, values)| Clause {
                        key: key.to_lowercase(),
                        values,
                    })
                    .collect(),
            );
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// SQL `LIKE` (`%` any run, `_` any one character) on already-lowercase text.
fn like(text: &str, pattern: &str) -> bool {
    if !pattern.contains(['%', '_']) {
        return text.contains(pattern);
    }
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = format!("%{pattern}%").chars().collect();
    // Classic wildcard matching with backtracking on the last `%`.
    let (mut ti, mut pi) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

/// The cursor of the local catalog (opaque to clients; wrapped again by the tools).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LocalCursor {
    f: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tf: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<(String, SortOrder)>,
    after: (String, String),
    n: u64,
}

fn set_of(ki: Option<&KeyIndex>, values: Option<&[String]>, n: usize) -> FixedBitSet {
    let mut set = FixedBitSet::with_capacity(n);
    let Some(ki) = ki else { return set };
    match values {
        None => set.extend(ki.present.iter().map(|i| *i as usize)),
        Some(values) => {
            for v in values {
                if let Some(i) = ki.values.find(v) {
                    set.extend(ki.value_ids.get(i).iter().map(|i| *i as usize));
                }
            }
        }
    }
    set
}

impl Snapshot {
    pub(super) fn filter_set(&self, filters: &Option<Vec<Vec<Clause>>>) -> FixedBitSet {
        let n = self.entities.len();
        let Some(filters) = filters else {
            let mut all = FixedBitSet::with_capacity(n);
            all.insert_range(..);
            return all;
        };
        let mut any = FixedBitSet::with_capacity(n);
        for clauses in filters {
            let mut all: Option<FixedBitSet> = None;
            for c in clauses {
                let s = set_of(self.index.get(c.key.as_str()), c.values.as_deref(), n);
                all = Some(match all {
                    None => s,
                    Some(mut a) => {
                        a.intersect_with(&s);
                        a
                    }
                });
            }
            if let Some(a) = all {
                any.union_with(&a);
            }
        }
        any
    }

    fn text_set(&self, term: &str, fields: &[String]) -> FixedBitSet {
        let mut set = FixedBitSet::with_capacity(self.entities.len());
        let plain = !term.contains(['%', '_', '\0']);
        for f in fields {
            let Some(ki) = self.index.get(f.as_str()) else {
                continue;
            };
            let hits: Vec<usize> = if plain {
                ki.values.containing(term)
            } else {
                ki.values
                    .iter()
                    .filter(|(_, v)| like(v, term))
                    .map(|(i, _)| i)
                    .collect()
            };
            for i in hits {
                set.extend(ki.value_ids.get(i).iter().map(|i| *i as usize));
            }
        }
        set
    }

    /// One page of `by-query`.
    pub(crate) fn query(&self, q: &EntityQuery) -> Result<EntityPage, String> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT) as usize;
        check_fields(&q.fields)?;
        let cursor = match &q.cursor {
            Some(c) => Some(decode(c)?),
            None => None,
        };
        let (filters, term, text_fields, order) = match &cursor {
            Some(c) => (c.f.clone(), c.t.clone(), c.tf.clone(), c.o.clone()),
            None => (
                q.filters.clone(),
                q.full_text_term
                    .as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_lowercase),
                q.full_text_fields
                    .iter()
                    .map(|f| f.to_lowercase())
                    .collect(),
                q.order_fields.first().map(|(f, o)| (f.to_lowercase(), *o)),
            ),
        };
        let parsed = parse_filters(&filters).map_err(|e| e.to_string())?;
        let mut matches = self.filter_set(&parsed);
        if let Some(term) = &term {
            let fields = if text_fields.is_empty() {
                vec![
                    order
                        .as_ref()
                        .map_or("metadata.uid".to_string(), |(f, _)| f.clone()),
                ]
            } else {
                text_fields.clone()
            };
            matches.intersect_with(&self.text_set(term, &fields));
        }
        // Ordering: (sort value, ref) for every match that has a sort value.
        let desc = matches!(order, Some((_, SortOrder::Desc)));
        let sort_field = order.as_ref().map(|(f, _)| f.as_str());
        let mut rows: Vec<(&str, &str, usize)> = match sort_field {
            None | Some("metadata.name") => matches
                .ones()
                .map(|i| (&*self.entities[i].name, &*self.entities[i].key, i))
                .collect(),
            Some(field) => {
                let mut best: BTreeMap<usize, &str> = BTreeMap::new();
                if let Some(ki) = self.index.get(field) {
                    for (vi, v) in ki.values.iter() {
                        for i in ki.value_ids.get(vi) {
                            let i = *i as usize;
                            if matches.contains(i) {
                                let slot = best.entry(i).or_insert(v);
                                if (v < *slot) != desc {
                                    *slot = v;
                                }
                            }
                        }
                    }
                }
                let mut r: Vec<_> = best
                    .into_iter()
                    .map(|(i, v)| (v, &*self.entities[i].key, i))
                    .collect();
                r.sort();
                r
            }
        };
        if desc {
            rows.reverse();
        }
        let total = match &cursor {
            Some(c) => c.n,
            None => rows.len() as u64,
        };
        let start = match &cursor {
            None => 0,
            Some(c) => {
                let after = (c.after.0.as_str(), c.after.1.as_str());
                rows.partition_point(|(v, k, _)| {
                    if desc {
                        (*v, *k) >= after
                    } else {
                        (*v, *k) <= after
                    }
                })
            }
        };
        let page: Vec<&(&str, &str, usize)> = rows[start..].iter().take(limit + 1).collect();
        let has_more = limit > 0 && page.len() > limit;
        let page = &page[..page.len().min(limit)];
        let items = page
            .iter()
            .map(|(_, _, i)| project(&self.entities[*i].value(), &q.fields))
            .collect();
        let next_cursor = match (has_more, page.last()) {
            (true, Some((v, k, _))) => Some(encode(&LocalCursor {
                f: filters,
                t: term,
                tf: text_fields,
                o: order,
                after: (v.to_string(), k.to_string()),
                n: total,
            })),
            _ => None,
        };
        Ok(EntityPage {
            items,
            total_items: total,
            next_cursor,
            prev_cursor: None,
        })
    }

    /// `by-refs`: entities aligned with `refs` (matched case-insensitively), projected.
    pub(crate) fn by_refs(
        &self,
        refs: &[String],
        fields: &[String],
    ) -> Result<Vec<Option<Value>>, String> {
        check_fields(fields)?;
        Ok(refs
            .iter()
            .map(|r| {
                self.stored(&r.to_lowercase())
                    .map(|s| project(&s.value(), fields))
            })
            .collect())
    }

    /// `entity-facets`: per facet, each original value and how many matching entities have it,
    /// sorted by value.
    pub(crate) fn facets(
        &self,
        facets: &[String],
        filters: &[String],
    ) -> Result<BTreeMap<String, Vec<FacetCount>>, String> {
        let parsed = parse_filters(filters)?;
        let set = parsed.as_ref().map(|_| self.filter_set(&parsed));
        let mut out = BTreeMap::new();
        for facet in facets {
            let mut values: Vec<FacetCount> = Vec::new();
            if let Some(ki) = self.index.get(facet.to_lowercase().as_str()) {
                for (oi, original) in ki.originals.iter() {
                    let list = ki.original_ids.get(oi);
                    let count = match &set {
                        None => list.len(),
                        Some(s) => list.iter().filter(|i| s.contains(**i as usize)).count(),
                    };
                    if count > 0 {
                        values.push(FacetCount {
                            value: original.to_string(),
                            count: count as u64,
                        });
                    }
                }
            }
            out.insert(facet.clone(), values);
        }
        Ok(out)
    }
}

fn check_fields(fields: &[String]) -> Result<(), String> {
    match fields.iter().find(|f| f.contains('[')) {
        Some(f) => Err(format!(
            "Invalid field \"{f}\", array type fields are not supported"
        )),
        None => Ok(()),
    }
}

fn encode(c: &LocalCursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode(s: &str) -> Result<LocalCursor, String> {
    URL_SAFE_NO_PAD
        .decode(s.trim())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| "Malformed cursor, could not be parsed".to_string())
}

/// Backstage's `fields` projection (`parseEntityTransformParams`). No fields: the whole entity.
pub(crate) fn project(entity: &Value, fields: &[String]) -> Value {
    let fields: Vec<&str> = fields
        .iter()
        .flat_map(|f| f.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        return entity.clone();
    }
    let mut out = Value::Object(Map::new());
    for field in fields {
        let mut parts: Vec<String> = field.split('.').map(str::to_string).collect();
        let mut path: Vec<String> = Vec::new();
        let mut cur = Some(entity);
        let mut found = None;
        for i in 0..parts.len() {
            let part = parts[i].clone();
            let next = cur.and_then(|c| child(c, &part));
            match next {
                Some(n) => {
                    path.push(part);
                    cur = Some(n);
                    if i + 1 == parts.len() {
                        found = Some(n);
                    }
                }
                None if i + 1 < parts.len() => parts[i + 1] = format!("{part}.{}", parts[i + 1]),
                None => break,
            }
        }
        if let Some(v) = found {
            set_path(&mut out, &path, v.clone());
        }
    }
    out
}

fn child<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

fn is_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// `lodash.set`: creates objects (or arrays, for index keys) along the way.
fn set_path(root: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut cur = root;
    for (i, p) in parents.iter().enumerate() {
        let next_is_index = is_index(&path[i + 1]);
        let fresh = || {
            if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        };
        cur = match cur {
            Value::Object(m) => m.entry(p.clone()).or_insert_with(fresh),
            Value::Array(a) => {
                let idx = p.parse::<usize>().unwrap_or(0);
                if a.len() <= idx {
                    a.resize(idx + 1, Value::Null);
                }
                if a[idx].is_null() {
                    a[idx] = fresh();
                }
                &mut a[idx]
            }
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let idx = last.parse::<usize>().unwrap_or(0);
            if a.len() <= idx {
                a.resize(idx + 1, Value::Null);
            }
            a[idx] = value;
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
