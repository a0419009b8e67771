//! The in-memory catalog: entities sorted as Backstage's `orderField=metadata.name` sorts
//! them, their relations, and an inverted index of search rows built exactly like
//! Backstage's `buildEntitySearch` (keys and values lowercased, arrays flattened, `path.item`
//! keys for string items, values over 200 characters kept only as "exists").

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use super::Problem;
use super::load::{Candidate, FileMeta, Loaded};
use super::table::KeyIndex;
use super::words::WordIndex;

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
/// index), with the original value kept for facets when it differs from the lowercase one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub key: String,
    pub value: Option<String>,
    pub original: Option<String>,
}

impl Row {
    /// The original value (for facets).
    pub(crate) fn original(&self) -> Option<&str> {
        self.original.as_deref().or(self.value.as_deref())
    }
}

/// `s.to_lowercase()`, without allocating when it is lowercase already.
fn lower(s: String) -> (String, Option<String>) {
    if s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        let l = s.to_lowercase();
        if l != s {
            return (l, Some(s));
        }
    }
    (s, None)
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
    let mut raw: Vec<(String, Option<String>)> = Vec::with_capacity(48);
    let mut seen_path_keys: HashSet<String> = HashSet::new();
    traverse("", entity, &mut raw, &mut seen_path_keys);
    let meta = &entity["metadata"];
    raw.push((
        "metadata.name".into(),
        meta["name"].as_str().map(str::to_string),
    ));
    let ns = meta["namespace"].as_str().map(str::to_string);
    let had_ns = ns.is_some();
    raw.push(("metadata.namespace".into(), ns));
    raw.push((
        "metadata.uid".into(),
        meta["uid"].as_str().map(str::to_string),
    ));
    if !had_ns {
        raw.push(("metadata.namespace".into(), Some("default".into())));
    }
    to_rows(raw)
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
            let mut p = String::with_capacity(path.len() + 24);
            for (k, v) in map {
                p.clear();
                if !path.is_empty() {
                    p.push_str(path);
                    p.push('.');
                }
                p.push_str(k);
                traverse(&p, v, out, seen);
            }
        }
    }
}

/// Lowercases, drops over-long keys, blanks over-long values and removes duplicate
/// (key, value) rows, keeping the first original; refuses keys that differ only in case, as
/// Backstage does.
fn to_rows(raw: Vec<(String, Option<String>)>) -> Result<Vec<Row>, String> {
    // (row, the key as written when it differs from the lowercase key)
    let mut out: Vec<(Row, Option<String>)> = Vec::with_capacity(raw.len());
    for (k, v) in raw {
        let (key, raw_key) = lower(k);
        let (value, original) = match v {
            Some(v) => {
                let (value, original) = lower(v);
                if js_len(&value) <= MAX_VALUE_LENGTH {
                    (Some(value), original)
                } else {
                    (None, None)
                }
            }
            None => (None, None),
        };
        out.push((
            Row {
                key,
                value,
                original,
            },
            raw_key,
        ));
    }
    // Stable: among equal (key, value) rows the first stays.
    out.sort_by(|(a, _), (b, _)| a.key.cmp(&b.key).then_with(|| a.value.cmp(&b.value)));
    let mut clashes: Vec<&str> = Vec::new();
    for w in out.windows(2) {
        let ((a, ar), (b, br)) = (&w[0], &w[1]);
        let (ar, br) = (
            ar.as_deref().unwrap_or(&a.key),
            br.as_deref().unwrap_or(&b.key),
        );
        if a.key == b.key && ar != br && clashes.last() != Some(&a.key.as_str()) {
            clashes.push(&a.key);
        }
    }
    if !clashes.is_empty() {
        return Err(format!(
            "the entity has keys that differ only in case: '{}'",
            clashes.join("', '")
        ));
    }
    let mut rows: Vec<Row> = out
        .into_iter()
        .map(|(r, _)| r)
        .filter(|r| js_len(&r.key) <= MAX_KEY_LENGTH)
        .collect();
    rows.dedup_by(|b, a| a.key == b.key && a.value == b.value);
    Ok(rows)
}

/// One entity of the catalog.
#[derive(Debug)]
pub(crate) struct Stored {
    /// The entity as served (`relations` included), as JSON text: compact, parsed on read.
    pub json: Box<str>,
    /// Lowercase `kind:namespace/name`.
    pub key: Box<str>,
    /// Lowercase `metadata.name` (the sort key).
    pub name: Box<str>,
    /// The file it came from.
    pub file: Arc<Path>,
    /// 1-based line of its document.
    pub line: u32,
}

impl Stored {
    /// The entity.
    pub(crate) fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }
}

/// A loaded catalog: immutable, replaced whole on reload.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) entities: Vec<Stored>,
    pub(crate) by_key: HashMap<Box<str>, u32>,
    pub(crate) index: HashMap<Box<str>, KeyIndex>,
    /// Words of names, titles, tags and descriptions, for free-text search.
    pub(crate) words: WordIndex,
    by_file: HashMap<Arc<Path>, Vec<u32>>,
    pub(crate) files: HashMap<Arc<Path>, FileMeta>,
    /// Every problem of the load, in the order found.
    pub problems: Vec<Problem>,
    /// Every file and directory read (what the watcher watches).
    pub read: Vec<PathBuf>,
    /// Files found in a directory path and not loaded, with why (no catalog entity in them).
    pub skipped: Vec<(PathBuf, String)>,
    /// References to entities the catalog does not hold (an owner, system, API, dependency
    /// or member no loaded entity provides): warnings, as Backstage leaves them dangling too.
    pub dangling: Vec<Problem>,
    /// When this snapshot was built.
    pub loaded_at: SystemTime,
    /// How long reading, parsing and validating took, then building the index.
    pub timings: (std::time::Duration, std::time::Duration),
}

impl Snapshot {
    /// An empty catalog.
    pub fn empty() -> Self {
        Self::build(Loaded::default())
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

    /// Approximate bytes held by entities and the index.
    pub fn heap_bytes(&self) -> usize {
        let entities: usize = self
            .entities
            .iter()
            .map(|s| s.json.len() + s.key.len() * 2 + s.name.len() + 64)
            .sum();
        let index: usize = self
            .index
            .iter()
            .map(|(k, v)| k.len() + 48 + v.bytes())
            .sum();
        entities + index + self.words.bytes()
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

    /// Resolves duplicates, computes relations, builds the index.
    pub(crate) fn build(loaded: Loaded) -> Self {
        let started = std::time::Instant::now();
        let Loaded {
            candidates,
            mut builder,
            mut problems,
            mut files,
            read,
            skipped,
            elapsed: prepare,
        } = loaded;
        // The first definition of a ref wins, as in Backstage (the later one conflicts).
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(candidates.len());
        let mut alive: Vec<usize> = Vec::with_capacity(candidates.len());
        for (i, c) in candidates.iter().enumerate() {
            if let Some(j) = first.get(c.key.as_str()) {
                let f = &candidates[*j];
                problems.push(Problem {
                    file: c.file.to_path_buf(),
                    line: Some(c.line),
                    message: format!(
                        "{}: duplicate entity, already defined at {}:{}; this definition is ignored",
                        c.key,
                        f.file.display(),
                        f.line
                    ),
                });
                if let Some(m) = files.get_mut(&c.canon) {
                    m.clean = false;
                }
                continue;
            }
            first.insert(&c.key, i);
            alive.push(i);
        }
        drop(first);
        alive.sort_unstable_by(|a, b| {
            let (a, b) = (&candidates[*a], &candidates[*b]);
            a.name.cmp(&b.name).then_with(|| a.key.cmp(&b.key))
        });
        // Provisional (candidate) id → final (sorted) id.
        let mut remap = vec![u32::MAX; candidates.len()];
        for (fin, prov) in alive.iter().enumerate() {
            remap[*prov] = fin as u32;
        }
        let by_key: HashMap<Box<str>, u32> = alive
            .iter()
            .enumerate()
            .map(|(fin, prov)| (candidates[*prov].key.as_str().into(), fin as u32))
            .collect();
        // Relations: each emitted pair lands on the source entity, if it is in the catalog.
        let mut rels: Vec<Vec<(&'static str, &str)>> = vec![Vec::new(); alive.len()];
        let mut dangling = Vec::new();
        for (fin, prov) in alive.iter().enumerate() {
            let c = &candidates[*prov];
            for (out, inc, target) in &c.refs {
                rels[fin].push((out, target));
                if let Some(j) = by_key.get(&**target) {
                    rels[*j as usize].push((inc, &c.key));
                } else {
                    dangling.push(Problem {
                        file: c.file.to_path_buf(),
                        line: Some(c.line),
                        message: format!(
                            "{}: {out} {target}, which is not in the catalog (a dangling reference; Backstage keeps it too)",
                            c.key
                        ),
                    });
                }
            }
        }
        for r in &mut rels {
            r.sort_unstable();
            r.dedup();
        }
        for (fin, prov) in alive.iter().enumerate() {
            let mut last = "";
            let mut key = String::new();
            for (t, target) in &rels[fin] {
                if *t != last {
                    key = format!("relations.{}", t.to_lowercase());
                    last = t;
                }
                builder.add(
                    *prov as u32,
                    &key,
                    Some(&target.to_lowercase()),
                    Some(target),
                );
            }
        }
        let index = builder.finish(&remap);
        let words = WordIndex::build(
            alive
                .iter()
                .enumerate()
                .map(|(fin, prov)| (fin as u32, candidates[*prov].terms.as_slice())),
        );
        let mut entities = Vec::with_capacity(alive.len());
        let mut by_file: HashMap<Arc<Path>, Vec<u32>> = HashMap::new();
        let rels: Vec<String> = rels.into_iter().map(|r| relations_json(&r)).collect();
        let mut candidates: Vec<Option<Candidate>> = candidates.into_iter().map(Some).collect();
        for (fin, (prov, r)) in alive.iter().zip(rels).enumerate() {
            let Some(c) = candidates[*prov].take() else {
                continue;
            };
            let mut json = c.json;
            if json.ends_with('}') {
                json.pop();
                if !json.ends_with('{') {
                    json.push(',');
                }
                json.push_str("\"relations\":");
                json.push_str(&r);
                json.push('}');
            }
            by_file.entry(c.canon.clone()).or_default().push(fin as u32);
            entities.push(Stored {
                json: json.into_boxed_str(),
                key: c.key.into_boxed_str(),
                name: c.name.into_boxed_str(),
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
            skipped,
            dangling,
            words,
            loaded_at: SystemTime::now(),
            timings: (prepare, started.elapsed()),
        }
    }
}

/// `[{"type":..,"targetRef":..}, ...]` as Backstage writes it.
fn relations_json(rels: &[(&'static str, &str)]) -> String {
    let mut out = String::from("[");
    for (i, (t, target)) in rels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"type\":");
        out.push_str(&Value::String((*t).to_string()).to_string());
        out.push_str(",\"targetRef\":");
        out.push_str(&Value::String((*target).to_string()).to_string());
        out.push('}');
    }
    out.push(']');
    out
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
