//! Preparing one catalog file, as Backstage's processing pipeline treats each document:
//! read (size-capped) and split into YAML documents, then per entity the envelope check,
//! placeholders, the managed-by annotations, sorted reference lists, policies and kind
//! validation, relations and search rows. A file whose bytes (and placeholder files) did
//! not change reuses the previous snapshot's entities; a file that now fails keeps serving
//! its last good version. Everything here is pure, so files are prepared on any thread.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::index::{self, Row};
use super::load::{Candidate, FileMeta, LoadOptions};
use super::placeholder::{self, Scope};
use super::relations;
use super::validate::{self, Invalid};
use super::yaml::{self, Parsed};
use super::{Problem, Snapshot};

/// A candidate as prepared, with what only the merge step consumes.
#[derive(Debug)]
pub(super) struct Prepared {
    pub candidate: Candidate,
    pub rows: Vec<Row>,
    pub location: Option<LocationTargets>,
}

/// The targets of one Location entity, with the line of each.
#[derive(Debug)]
pub(super) struct LocationTargets {
    pub file: Arc<Path>,
    pub line: usize,
    pub kind: String,
    pub optional: bool,
    pub targets: Vec<(String, usize)>,
}

impl LocationTargets {
    fn of(value: &Value, file: &Arc<Path>, line: usize, target_lines: &[usize]) -> Self {
        let spec = &value["spec"];
        let targets = spec
            .get("target")
            .and_then(Value::as_str)
            .into_iter()
            .chain(
                spec.get("targets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            )
            .enumerate()
            .map(|(i, t)| (t.to_string(), target_lines.get(i).copied().unwrap_or(line)))
            .collect();
        Self {
            file: file.clone(),
            line,
            kind: spec
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("file")
                .to_string(),
            optional: spec.get("presence").and_then(Value::as_str) == Some("optional"),
            targets,
        }
    }
}

/// One file, prepared: everything the merge step needs.
pub(super) struct FileOutcome {
    pub canon: Option<Arc<Path>>,
    pub prepared: Vec<Prepared>,
    pub problems: Vec<Problem>,
    pub meta: Option<FileMeta>,
    pub read: Vec<PathBuf>,
    /// Why a file found in a directory was not loaded (it holds no catalog entity).
    pub skipped: Option<(PathBuf, String)>,
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// `file:<path>`, as Backstage's location annotations write a file location.
pub(super) fn location_ref(path: &Path) -> String {
    format!("file:{}", path.display())
}

pub(super) fn problem(file: &Path, line: Option<usize>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Reads, parses and validates one file — or reuses the previous snapshot's entities of it
/// when neither it nor its placeholder files changed. Pure: runs on any thread.
///
/// `sniff` is set for files found by walking a directory: such a file is loaded only when
/// it holds catalog entities (see [`entity_file`]); otherwise it is skipped, with the reason.
pub(super) fn prepare(
    opts: &LoadOptions,
    prev: Option<&Snapshot>,
    file: &Path,
    origin: &str,
    root: &Path,
    sniff: bool,
) -> FileOutcome {
    let mut o = FileOutcome {
        canon: None,
        prepared: Vec::new(),
        problems: Vec::new(),
        meta: None,
        read: Vec::new(),
        skipped: None,
    };
    let canon: Arc<Path> = match file.canonicalize() {
        Ok(c) => Arc::from(c),
        Err(_) => {
            o.problems
                .push(problem(file, None, "cannot read the file: not found"));
            return o;
        }
    };
    o.canon = Some(canon.clone());
    o.read.push(file.to_path_buf());
    let bytes = match read_capped(file, opts.max_file_bytes) {
        Ok(b) => b,
        Err(e) => {
            o.problems.push(problem(file, None, e));
            keep_last_good(&mut o, prev, &canon, "the file cannot be read");
            return o;
        }
    };
    let hash = hash_bytes(&bytes);
    if let Some(prev) = prev
        && let Some(meta) = prev.files.get(&canon)
        && meta.clean
        && meta.hash == hash
        && meta
            .deps
            .iter()
            .all(|(p, h)| std::fs::read(p).ok().map(|b| hash_bytes(&b)) == Some(*h))
        && let Some(prepared) = reuse(prev, &canon, Some(origin))
    {
        o.read.extend(meta.deps.iter().map(|(p, _)| p.clone()));
        o.meta = Some(meta.clone());
        o.prepared = prepared;
        return o;
    }
    let shown: Arc<Path> = Arc::from(file);
    let mut deps = Vec::new();
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) => yaml::documents(text),
        Err(_) => {
            o.problems
                .push(problem(file, None, "the file is not UTF-8 text"));
            Vec::new()
        }
    };
    // A file that held entities in the last load is kept (broken mid-edit, it still is one).
    let loaded_before = prev.is_some_and(|p| p.files.contains_key(&canon));
    let conventional = file
        .file_name()
        .is_some_and(|n| n == "catalog-info.yaml" || n == "catalog-info.yml");
    if sniff
        && !loaded_before
        && let Err(why) = entity_file(&bytes, &parsed, conventional)
    {
        o.problems.clear();
        o.skipped = Some((file.to_path_buf(), why));
        return o;
    }
    let mut fresh = Vec::new();
    for doc in parsed {
        match doc {
            Parsed::Error { line, message } => {
                o.problems.push(problem(
                    file,
                    Some(line),
                    format!("YAML syntax error: {message}"),
                ));
            }
            Parsed::Doc(d) => match entity(opts, d, &shown, &canon, origin, root, &mut deps) {
                Ok(p) => fresh.push(p),
                Err(p) => o.problems.push(p),
            },
        }
    }
    let clean = o.problems.is_empty();
    let deps: Vec<(PathBuf, u64)> = deps
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, hash_bytes(&b))))
        .collect();
    o.read.extend(deps.iter().map(|(p, _)| p.clone()));
    if !clean && keep_last_good(&mut o, prev, &canon, "it has problems") {
        return o;
    }
    o.meta = Some(FileMeta { hash, deps, clean });
    o.prepared = fresh;
    o
}

/// The `apiVersion` group of Backstage's catalog model: `backstage.io` or a subdomain of
/// it (`scaffolder.backstage.io`).
fn catalog_api_version(v: &str) -> bool {
    let group = v.split('/').next().unwrap_or_default();
    v.contains('/') && (group == "backstage.io" || group.ends_with(".backstage.io"))
}

/// Whether a file found in a directory holds catalog entities: some document is a mapping
/// with a catalog `apiVersion` and a `kind` (a file with a syntax error counts when a line
/// starts with such an `apiVersion`, so the error is reported). Template skeletons, whose
/// entity names are `${{ ... }}` expressions, do not count. A `conventional` file
/// (`catalog-info.yaml`) counts unless it is a skeleton. `Err` says why it is skipped.
pub(super) fn entity_file(
    bytes: &[u8],
    parsed: &[Parsed],
    conventional: bool,
) -> Result<(), String> {
    let mut skeleton = false;
    for doc in parsed {
        match doc {
            Parsed::Doc(d) => {
                let v = &d.value;
                if v["apiVersion"].as_str().is_some_and(catalog_api_version)
                    && v["kind"].is_string()
                {
                    if v["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.contains("${{"))
                    {
                        skeleton = true;
                    } else {
                        return Ok(());
                    }
                }
            }
            Parsed::Error { .. } => {
                let text = String::from_utf8_lossy(bytes);
                let declares = text.lines().any(|l| {
                    l.strip_prefix("apiVersion:").is_some_and(|v| {
                        catalog_api_version(v.trim().trim_matches(|c| c == '"' || c == '\''))
                    })
                });
                if declares && !text.contains("${{") {
                    return Ok(());
                }
            }
        }
    }
    if conventional && !skeleton {
        return Ok(());
    }
    Err(if skeleton {
        "a template skeleton (entity names are ${{ }} expressions)".into()
    } else {
        "no catalog entity (no document has a backstage.io apiVersion and a kind)".into()
    })
}

/// Serves the previous clean version of a file that now fails; true if there was one.
fn keep_last_good(
    o: &mut FileOutcome,
    prev: Option<&Snapshot>,
    canon: &Arc<Path>,
    why: &str,
) -> bool {
    let Some(prev) = prev else { return false };
    let Some(meta) = prev.files.get(canon).filter(|m| m.clean) else {
        return false;
    };
    let Some(prepared) = reuse(prev, canon, None) else {
        return false;
    };
    let mut meta = meta.clone();
    meta.clean = false;
    o.meta = Some(meta);
    if let Some(last) = o.problems.last_mut() {
        last.message.push_str(&format!(
            " (serving the last good version of this file because {why})"
        ));
    }
    o.prepared = prepared;
    true
}

/// The previous snapshot's entities of `canon`, prepared again (relations stripped, rows
/// recomputed). `None` when they were loaded under another origin than `origin`.
fn reuse(prev: &Snapshot, canon: &Arc<Path>, origin: Option<&str>) -> Option<Vec<Prepared>> {
    let mut out = Vec::new();
    for stored in prev.entities_of(canon) {
        let mut value = stored.value();
        if let Some(origin) = origin
            && value["metadata"]["annotations"]["backstage.io/managed-by-origin-location"] != origin
        {
            return None;
        }
        if let Some(obj) = value.as_object_mut() {
            obj.remove("relations");
        }
        let refs = relations::emit(&value).unwrap_or_default();
        let rows = index::rows(&value).unwrap_or_default();
        let line = stored.line as usize;
        let location = (value["kind"] == "Location")
            .then(|| LocationTargets::of(&value, &stored.file, line, &[]));
        out.push(Prepared {
            candidate: Candidate {
                json: compact_json(&value),
                key: stored.key.to_string(),
                name: stored.name.to_string(),
                file: stored.file.clone(),
                canon: canon.clone(),
                line,
                refs,
                terms: crate::words::entity_terms(&value),
            },
            rows,
            location,
        });
    }
    Some(out)
}

/// Backstage's processing of one document: envelope, placeholders, location annotations,
/// sorted reference lists, policies and kind validation, relations, search rows.
fn entity(
    opts: &LoadOptions,
    mut doc: yaml::Document,
    file: &Arc<Path>,
    canon: &Arc<Path>,
    origin: &str,
    root: &Path,
    deps: &mut Vec<PathBuf>,
) -> Result<Prepared, Problem> {
    let line = doc.line;
    let mut value = std::mem::take(&mut doc.value);
    validate::envelope(&value).map_err(|i| problem_at(file, &doc, "", i))?;
    let label = format!("{}: ", short_ref(&value));
    let fail = |i: Invalid| problem_at(file, &doc, &label, i);
    let dir = canon.parent().unwrap_or(Path::new("/"));
    let scope = Scope {
        dir,
        root,
        max_bytes: opts.max_file_bytes,
    };
    deps.extend(placeholder::resolve(&mut value, &scope).map_err(fail)?);
    annotate(&mut value, &location_ref(file), origin);
    relations::sort_reference_lists(&mut value);
    validate::entity(&mut value).map_err(fail)?;
    let refs = relations::emit(&value).map_err(fail)?;
    let rows = index::rows(&value).map_err(|m| fail(Invalid::at(&["metadata"], m)))?;
    let location = (value["kind"] == "Location").then(|| {
        let lines = doc.lines();
        let mut t = Vec::new();
        if value["spec"].get("target").is_some() {
            t.push(lines.at(&["spec", "target"]));
        }
        let n = value["spec"]
            .get("targets")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        t.extend((0..n).map(|i| lines.at(&["spec", "targets", &i.to_string()])));
        LocationTargets::of(&value, file, line, &t)
    });
    let key = relations::Ref {
        kind: value["kind"].as_str().unwrap_or_default().to_string(),
        namespace: value["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string(),
        name: value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
    .key();
    let name = value["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    Ok(Prepared {
        candidate: Candidate {
            json: compact_json(&value),
            key,
            name,
            file: file.clone(),
            canon: canon.clone(),
            line,
            refs,
            terms: crate::words::entity_terms(&value),
        },
        rows,
        location,
    })
}

/// A problem at the line of the invalid node (or of the document).
fn problem_at(file: &Path, doc: &yaml::Document, label: &str, i: Invalid) -> Problem {
    let at: Vec<&str> = i.path.iter().map(String::as_str).collect();
    Problem {
        file: file.to_path_buf(),
        line: Some(if at.is_empty() {
            doc.line
        } else {
            doc.lines().at(&at)
        }),
        message: format!("{label}{}", i.message),
    }
}

/// `kind:name` of a document that passed the envelope check, for messages.
fn short_ref(value: &Value) -> String {
    let kind = value["kind"].as_str().unwrap_or_default();
    let ns = value["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = value["metadata"]["name"].as_str().unwrap_or_default();
    format!("{}:{ns}/{name}", kind.to_lowercase())
}

/// `AnnotateLocationEntityProcessor`: the managed-by annotations, merged under the entity's
/// own (which win), first in `metadata` as lodash's merge leaves them.
fn annotate(entity: &mut Value, location: &str, origin: &str) {
    let Some(meta) = entity.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let mut annotations = Map::new();
    annotations.insert(
        "backstage.io/managed-by-location".into(),
        Value::String(location.into()),
    );
    annotations.insert(
        "backstage.io/managed-by-origin-location".into(),
        Value::String(origin.into()),
    );
    if let Some(Value::Object(own)) = meta.remove("annotations") {
        for (k, v) in own {
            annotations.insert(k, v);
        }
    }
    let mut out = Map::with_capacity(meta.len() + 1);
    out.insert("annotations".into(), Value::Object(annotations));
    out.extend(std::mem::take(meta));
    *meta = out;
}

/// The entity as JSON text, with no spare capacity (held until the snapshot is built).
fn compact_json(value: &Value) -> String {
    let mut s = serde_json::to_string(value).unwrap_or_default();
    s.shrink_to_fit();
    s
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if meta.len() > max {
        return Err(format!(
            "the file is {} bytes, more than catalog.maxFileBytes ({max}); skipped",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))
}
