//! The in-memory catalog: entities sorted as Backstage's `orderField=metadata.name` sorts
//! them, their relations, and an inverted index of search rows built exactly like
//! Backstage's `buildEntitySearch` (keys and values lowercased, arrays flattened, `path.item`
//! keys for string items, values over 200 characters kept only as "exists").

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::Problem;
use super::load::{Candidate, FileMeta, Loaded};

const SPECIAL_KEYS: [&str; 7] = [
    "attachments",
    "relations",
    "status",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.etag",
];
const MAX_KEY_LENGTH: usize = 200;
const MAX_VALUE_LENGTH: usize = 200;

/// One search row: a lowercase key and its lowercase value (`None`: null, or too long to
/// index), with the original value kept for facets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub key: String,
    pub value: Option<String>,
    pub original: Option<String>,
}

/// `String(value)` of JavaScript for a JSON scalar.
pub(crate) fn js_number(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 {
                format!("{f:.0}")
            } else {
                f.to_string()
            }
        }
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The search rows of an entity (without relations), or Backstage's error for keys that
/// differ only in case.
pub(crate) fn rows(entity: &Value) -> Result<Vec<Row>, String> {
    let mut raw: Vec<(String, Option<String>)> = Vec::new();
    let mut seen_path_keys: HashSet<String> = HashSet::new();
    traverse("", entity, &mut raw, &mut seen_path_keys);
    let meta = &entity["metadata"];
    raw.push((
        "metadata.name".into(),
        meta["name"].as_str().map(str::to_string),
    ));
    let ns = meta["namespace"].as_str().map(str::to_string);
    raw.push(("metadata.namespace".into(), ns.clone()));
    raw.push((
        "metadata.uid".into(),
        meta["uid"].as_str().map(str::to_string),
    ));
    if ns.is_none() {
        raw.push(("metadata.namespace".into(), Some("default".into())));
    }
    let keys: HashSet<&str> = raw.iter().map(|(k, _)| k.as_str()).collect();
    let lower: HashSet<String> = keys.iter().map(|k| k.to_lowercase()).collect();
    if keys.len() != lower.len() {
        let mut by_lower: HashMap<String, Vec<&str>> = HashMap::new();
        for k in &keys {
            by_lower.entry(k.to_lowercase()).or_default().push(k);
        }
        let mut bad: Vec<String> = by_lower
            .into_iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, _)| k)
            .collect();
        bad.sort();
        return Err(format!(
            "the entity has keys that differ only in case: '{}'",
            bad.join("', '")
        ));
    }
    Ok(to_rows(raw))
}

fn traverse(
    path: &str,
    current: &Value,
    out: &mut Vec<(String, Option<String>)>,
    seen: &mut HashSet<String>,
) {
    if SPECIAL_KEYS.contains(&path) {
        return;
    }
    match current {
        Value::Null => out.push((path.to_string(), None)),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            out.push((path.to_string(), Some(js_number(current))));
        }
        Value::Array(items) => {
            for item in items {
                traverse(path, item, out, seen);
                if let Value::String(s) = item {
                    let path_key = format!("{path}.{s}");
                    if seen.insert(path_key.to_lowercase()) {
                        out.push((path_key, Some("true".into())));
                    }
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                traverse(&p, v, out, seen);
            }
        }
    }
}

/// Lowercases, drops over-long keys, blanks over-long values and removes duplicates.
fn to_rows(raw: Vec<(String, Option<String>)>) -> Vec<Row> {
    let mut seen: HashSet<(String, Option<String>)> = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        let key = k.to_lowercase();
        if js_len(&key) > MAX_KEY_LENGTH {
            continue;
        }
        let row = match v {
            Some(original) => {
                let value = original.to_lowercase();
                if js_len(&value) <= MAX_VALUE_LENGTH {
                    Row {
                        key,
                        value: Some(value),
                        original: Some(original),
                    }
                } else {
                    Row {
                        key,
                        value: None,
                        original: None,
                    }
                }
            }
            None => Row {
                key,
                value: None,
                original: None,
            },
        };
        if seen.insert((row.key.clone(), row.value.clone())) {
            out.push(row);
        }
    }
    out
}

/// One entity of the catalog.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The entity as served, `relations` included.
    pub value: Arc<Value>,
    /// Lowercase `kind:namespace/name`.
    pub key: Box<str>,
    /// Lowercase `metadata.name` (the sort key).
    pub name: Box<str>,
    /// The file it came from.
    pub file: Arc<Path>,
    /// 1-based line of its document.
    pub line: u32,
}

/// Every row of one key: which entities have it, by value and by original value.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    /// Entities with any row for the key (null values included), ascending.
    pub present: Vec<u32>,
    /// Lowercase value → entities, ascending.
    pub values: HashMap<Box<str>, Vec<u32>>,
    /// Original value → entities, ascending (for facets).
    pub originals: HashMap<Box<str>, Vec<u32>>,
}

/// A loaded catalog: immutable, replaced whole on reload.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) entities: Vec<Stored>,
    pub(crate) by_key: HashMap<Box<str>, u32>,
    pub(crate) index: HashMap<Box<str>, KeyIndex>,
    by_file: HashMap<Arc<Path>, Vec<u32>>,
    pub(crate) files: HashMap<Arc<Path>, FileMeta>,
    /// Every problem of the load, in the order found.
    pub problems: Vec<Problem>,
    /// Every file and directory read (what the watcher watches).
    pub read: Vec<PathBuf>,
    /// When this snapshot was built.
    pub loaded_at: SystemTime,
}

impl Snapshot {
    /// An empty catalog.
    pub fn empty() -> Self {
        Self::build(Loaded {
            candidates: Vec::new(),
            problems: Vec::new(),
            files: HashMap::new(),
            read: Vec::new(),
        })
    }

    /// How many entities are served.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// True when no entity is served.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// How many catalog files were loaded.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The entity with this lowercase ref.
    pub(crate) fn stored(&self, key: &str) -> Option<&Stored> {
        self.by_key.get(key).map(|i| &self.entities[*i as usize])
    }

    /// The entities loaded from one file (canonical path), in line order.
    pub(crate) fn entities_of(&self, canon: &Path) -> impl Iterator<Item = &Stored> {
        self.by_file
            .get(canon)
            .into_iter()
            .flatten()
            .map(|i| &self.entities[*i as usize])
    }

    /// Every entity, in name order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Stored> {
        self.entities.iter()
    }

    /// Resolves duplicates, computes relations and builds the index.
    pub(crate) fn build(loaded: Loaded) -> Self {
        let Loaded {
            candidates,
            mut problems,
            mut files,
            read,
        } = loaded;
        // The first definition of a ref wins, as in Backstage (the later one conflicts).
        let mut first: HashMap<String, (Arc<Path>, usize)> = HashMap::new();
        let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for c in candidates {
            if let Some((file, line)) = first.get(&c.key) {
                problems.push(Problem {
                    file: c.file.to_path_buf(),
                    line: Some(c.line),
                    message: format!(
                        "{}: duplicate entity, already defined at {}:{line}; this definition is ignored",
                        c.key,
                        file.display()
                    ),
                });
                if let Some(m) = files.get_mut(&c.canon) {
                    m.clean = false;
                }
                continue;
            }
            first.insert(c.key.clone(), (c.file.clone(), c.line));
            kept.push(c);
        }
        let mut relations: HashMap<String, BTreeSet<(&'static str, String)>> = HashMap::new();
        for c in &kept {
            for e in &c.edges {
                relations
                    .entry(e.source.clone())
                    .or_default()
                    .insert((e.kind, e.target.clone()));
            }
        }
        let mut kept: Vec<(String, Candidate)> = kept
            .into_iter()
            .map(|c| (sort_name_of(&c.value), c))
            .collect();
        kept.sort_by(|(an, a), (bn, b)| an.cmp(bn).then_with(|| a.key.cmp(&b.key)));
        let mut entities = Vec::with_capacity(kept.len());
        let mut by_key = HashMap::with_capacity(kept.len());
        let mut by_file: HashMap<Arc<Path>, Vec<u32>> = HashMap::new();
        let mut index: HashMap<Box<str>, KeyIndex> = HashMap::new();
        for (i, (name, c)) in kept.into_iter().enumerate() {
            let i = i as u32;
            let rels = relations.remove(&c.key).unwrap_or_default();
            let mut rows = c.rows;
            let mut seen: HashSet<(String, String)> = HashSet::new();
            for (t, target) in &rels {
                let key = format!("relations.{}", t.to_lowercase());
                let value = target.to_lowercase();
                if seen.insert((key.clone(), value.clone())) {
                    rows.push(Row {
                        key,
                        value: Some(value),
                        original: Some(target.clone()),
                    });
                }
            }
            for row in rows {
                let ki = index.entry(row.key.into_boxed_str()).or_default();
                if ki.present.last() != Some(&i) {
                    ki.present.push(i);
                }
                if let (Some(v), Some(o)) = (row.value, row.original) {
                    push_unique(ki.values.entry(v.into_boxed_str()).or_default(), i);
                    push_unique(ki.originals.entry(o.into_boxed_str()).or_default(), i);
                }
            }
            let mut value = c.value;
            let rel_values: Vec<Value> = rels
                .into_iter()
                .map(|(t, target)| {
                    let mut m = Map::new();
                    m.insert("type".into(), Value::String(t.to_string()));
                    m.insert("targetRef".into(), Value::String(target));
                    Value::Object(m)
                })
                .collect();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("relations".into(), Value::Array(rel_values));
            }
            by_key.insert(c.key.clone().into_boxed_str(), i);
            by_file.entry(c.canon.clone()).or_default().push(i);
            entities.push(Stored {
                value: Arc::new(value),
                key: c.key.into_boxed_str(),
                name: name.into_boxed_str(),
                file: c.file,
                line: c.line as u32,
            });
        }
        for list in by_file.values_mut() {
            list.sort_by_key(|i| entities[*i as usize].line);
        }
        Self {
            entities,
            by_key,
            index,
            by_file,
            files,
            problems,
            read,
            loaded_at: SystemTime::now(),
        }
    }
}

fn push_unique(list: &mut Vec<u32>, i: u32) {
    if list.last() != Some(&i) {
        list.push(i);
    }
}

fn sort_name_of(v: &Value) -> String {
    v["metadata"]["name"]
        .as_str()
        .map(str::to_lowercase)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keyed(rows: &[Row]) -> Vec<(String, Option<String>)> {
        rows.iter()
            .map(|r| (r.key.clone(), r.value.clone()))
            .collect()
    }

    #[test]
    fn rows_follow_build_entity_search() {
        let e = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "Web", "namespace": "default", "tags": ["Java", "java", "go"],
                         "annotations": {"Backstage.io/X": "Y"}, "description": "d".repeat(201)},
            "spec": {"replicas": 3.0, "on": true, "gone": null, "links": [{"url": "U"}]},
            "relations": [{"type": "x", "targetRef": "y"}], "status": {"a": 1}});
        let r = keyed(&rows(&e).unwrap());
        let has = |k: &str, v: Option<&str>| r.contains(&(k.to_string(), v.map(str::to_string)));
        assert!(has("kind", Some("component")));
        assert!(has("metadata.name", Some("web")));
        assert!(has("metadata.tags", Some("java")));
        assert!(has("metadata.tags.java", Some("true")));
        assert!(has("metadata.tags", Some("go")));
        assert!(has("metadata.annotations.backstage.io/x", Some("y")));
        assert!(
            has("metadata.description", None),
            "long values are kept as exists-only"
        );
        assert!(has("spec.replicas", Some("3")));
        assert!(has("spec.on", Some("true")));
        assert!(has("spec.gone", None));
        assert!(has("spec.links.url", Some("u")));
        assert!(has("metadata.uid", None));
        assert!(
            !r.iter()
                .any(|(k, _)| k.starts_with("relations") || k.starts_with("status"))
        );
        // "Java" and "java" are one row after lowercasing.
        assert_eq!(r.iter().filter(|(k, _)| k == "metadata.tags").count(), 2);
    }

    #[test]
    fn keys_differing_only_in_case_are_rejected() {
        let e =
            json!({"kind": "A", "metadata": {"name": "a", "annotations": {"X": "1", "x": "2"}}});
        assert!(rows(&e).unwrap_err().contains("metadata.annotations.x"));
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js_number(&json!(1000.0)), "1000");
        assert_eq!(js_number(&json!(1.5)), "1.5");
        assert_eq!(js_number(&json!(-7)), "-7");
        assert_eq!(js_number(&json!(false)), "false");
    }
}
