//! Loading a catalog from disk: the configured paths (files, or directories searched with
//! the include globs), `Location` entities followed through their relative targets (cycles
//! detected), each document validated and preprocessed as Backstage's processing pipeline
//! does, and problems collected with their file and line while the rest still loads.
//!
//! Each file is *prepared* on its own (read, parsed, validated, its search rows computed)
//! — in parallel for the files of a directory or of one Location's targets — and then
//! merged in a fixed order, so the result does not depend on thread timing. A reload reuses
//! the previous snapshot's entities of every file whose bytes (and placeholder files) did not
//! change, and keeps serving the last good version of a file that now fails to load.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde_json::{Map, Value};

use super::index::{self, Row};
use super::placeholder::{self, Scope};
use super::relations::{self, Target};
use super::table::IndexBuilder;
use super::validate::{self, Invalid};
use super::yaml::{self, Parsed};
use super::{Problem, Snapshot};

/// How to find and read catalog files.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Files or directories given by the user (absolute).
    pub paths: Vec<PathBuf>,
    /// Globs (relative to a directory path) of the files to load from it.
    pub include: GlobSet,
    /// Globs of files and directories to skip inside directory paths.
    pub exclude: GlobSet,
    /// Largest file read.
    pub max_file_bytes: u64,
}

/// Compiles glob patterns into a set; an invalid pattern names itself.
pub fn glob_set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        let g = Glob::new(p).map_err(|e| format!("`{p}` is not a valid glob: {e}"))?;
        b.add(g);
    }
    b.build().map_err(|e| e.to_string())
}

/// A valid entity read from a file, before duplicates are resolved.
#[derive(Debug)]
pub(crate) struct Candidate {
    /// The entity, preprocessed and validated, without `relations`, as JSON text.
    pub json: String,
    /// Lowercase `kind:namespace/name`.
    pub key: String,
    /// Lowercase `metadata.name`.
    pub name: String,
    /// The file it came from (as shown).
    pub file: Arc<Path>,
    /// Canonical path of that file.
    pub canon: Arc<Path>,
    /// 1-based line of the document.
    pub line: usize,
    /// The references it makes (relations to emit).
    pub refs: Vec<Target>,
}

/// A candidate as prepared, with what only the merge step consumes.
#[derive(Debug)]
struct Prepared {
    candidate: Candidate,
    rows: Vec<Row>,
    location: Option<LocationTargets>,
}

/// What is remembered of a file between loads.
#[derive(Debug, Clone)]
pub(crate) struct FileMeta {
    hash: u64,
    deps: Vec<(PathBuf, u64)>,
    /// True when the file loaded without any problem (so it is a "last good" version).
    pub clean: bool,
}

/// The result of one load.
#[derive(Default)]
pub(crate) struct Loaded {
    pub candidates: Vec<Candidate>,
    pub builder: IndexBuilder,
    pub problems: Vec<Problem>,
    pub files: HashMap<Arc<Path>, FileMeta>,
    pub read: Vec<PathBuf>,
    pub elapsed: std::time::Duration,
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Lexically normalizes an absolute path (`a/./b/../c` → `a/c`), as Node's `path.normalize`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn location_ref(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// The targets of one Location entity, with the line of each.
#[derive(Debug)]
struct LocationTargets {
    file: Arc<Path>,
    line: usize,
    kind: String,
    optional: bool,
    targets: Vec<(String, usize)>,
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
struct FileOutcome {
    canon: Option<Arc<Path>>,
    prepared: Vec<Prepared>,
    problems: Vec<Problem>,
    meta: Option<FileMeta>,
    read: Vec<PathBuf>,
}

struct Loader<'a> {
    opts: &'a LoadOptions,
    prev: Option<&'a Snapshot>,
    visited: HashSet<PathBuf>,
    out: Loaded,
}

/// How many files are prepared at once (bounds the rows held in flight).
const BATCH: usize = 64;

/// Loads every configured path. `prev` is the snapshot being replaced, if any.
pub(crate) fn load(opts: &LoadOptions, prev: Option<&Snapshot>) -> Loaded {
    let mut l = Loader {
        opts,
        prev,
        visited: HashSet::new(),
        out: Loaded::default(),
    };
    let started = std::time::Instant::now();
    for path in &opts.paths {
        l.root(path);
    }
    l.out.elapsed = started.elapsed();
    l.out
}

fn problem(file: &Path, line: Option<usize>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

impl Loader<'_> {
    fn problem(&mut self, file: &Path, line: Option<usize>, message: impl Into<String>) {
        self.out.problems.push(problem(file, line, message));
    }

    fn root(&mut self, path: &Path) {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                return self.problem(path, None, format!("cannot read the catalog path: {e}"));
            }
        };
        let (dir, files) = if meta.is_dir() {
            self.out.read.push(path.to_path_buf());
            (path, self.walk(path))
        } else {
            (
                path.parent().unwrap_or(Path::new("/")),
                vec![path.to_path_buf()],
            )
        };
        let Ok(root) = dir.canonicalize() else {
            return self.problem(path, None, "cannot resolve the catalog directory");
        };
        let files = files
            .into_iter()
            .map(|f| {
                let origin = location_ref(&f);
                (f, origin)
            })
            .collect();
        self.visit_all(files, &root, &mut Vec::new());
    }

    /// Files under `dir` matching the include globs and not excluded, sorted.
    fn walk(&mut self, dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
                e.depth() == 0
                    || !(self.opts.exclude.is_match(rel)
                        || e.file_type().is_dir() && self.opts.exclude.is_match(rel.join("x")))
            });
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
                    if self.opts.include.is_match(rel) {
                        files.push(e.path().to_path_buf());
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let at = e.path().unwrap_or(dir).to_path_buf();
                    self.problem(&at, None, format!("cannot read: {e}"));
                }
            }
        }
        files
    }

    /// Prepares `files` in parallel batches, then visits each in order.
    fn visit_all(&mut self, files: Vec<(PathBuf, String)>, root: &Path, chain: &mut Vec<PathBuf>) {
        for batch in files.chunks(BATCH) {
            let todo: Vec<&(PathBuf, String)> = batch
                .iter()
                .filter(|(f, _)| {
                    f.canonicalize()
                        .map_or(true, |c| !self.visited.contains(&c))
                })
                .collect();
            let (opts, prev) = (self.opts, self.prev);
            let outcomes: Vec<FileOutcome> = todo
                .par_iter()
                .map(|(f, origin)| prepare(opts, prev, f, origin, root))
                .collect();
            for ((_, origin), outcome) in todo.into_iter().zip(outcomes) {
                self.visit(outcome, origin, root, chain);
            }
        }
    }

    /// Merges a prepared file (once), then follows the Locations it defines.
    fn visit(&mut self, outcome: FileOutcome, origin: &str, root: &Path, chain: &mut Vec<PathBuf>) {
        let Some(canon) = outcome.canon.clone() else {
            self.out.problems.extend(outcome.problems);
            return;
        };
        if !self.visited.insert(canon.to_path_buf()) {
            return;
        }
        let locations = self.merge(outcome, &canon);
        chain.push(canon.to_path_buf());
        for loc in locations {
            if loc.kind != "file" {
                self.problem(
                    &loc.file,
                    Some(loc.line),
                    format!(
                        "Location type `{}` is not followed by the local catalog (only `file` targets are read)",
                        loc.kind
                    ),
                );
                continue;
            }
            let mut next = Vec::new();
            for (target, line) in &loc.targets {
                for f in self.target_files(&loc.file, *line, target, loc.optional, root, chain) {
                    next.push((f, origin.to_string()));
                }
            }
            self.visit_all(next, root, chain);
        }
        chain.pop();
    }

    /// Takes a prepared file into the load: its rows into the index builder under
    /// provisional ids, its candidates, problems and metadata. Returns its Locations.
    fn merge(&mut self, outcome: FileOutcome, canon: &Arc<Path>) -> Vec<LocationTargets> {
        self.out.read.extend(outcome.read);
        self.out.problems.extend(outcome.problems);
        if let Some(meta) = outcome.meta {
            self.out.files.insert(canon.clone(), meta);
        }
        let mut locations = Vec::new();
        for p in outcome.prepared {
            let id = self.out.candidates.len() as u32;
            for row in &p.rows {
                self.out
                    .builder
                    .add(id, &row.key, row.value.as_deref(), row.original());
            }
            if let Some(l) = p.location {
                locations.push(l);
            }
            self.out.candidates.push(p.candidate);
        }
        locations
    }

    /// The files a Location target names, after the checks: relative, inside the root,
    /// existing (unless optional), and not a cycle.
    fn target_files(
        &mut self,
        loc_file: &Path,
        line: usize,
        target: &str,
        optional: bool,
        root: &Path,
        chain: &[PathBuf],
    ) -> Vec<PathBuf> {
        if target.ends_with('/') {
            self.problem(
                loc_file,
                Some(line),
                format!("Location target `{target}` ends with a path separator"),
            );
            return Vec::new();
        }
        if placeholder::is_url(target) || Path::new(target).is_absolute() {
            self.problem(
                loc_file,
                Some(line),
                format!("Location target `{target}` is not followed: the local catalog reads only paths relative to the Location's file"),
            );
            return Vec::new();
        }
        let dir = loc_file.parent().unwrap_or(Path::new("/"));
        let joined = normalize(&dir.join(target));
        let files = if target.contains(['*', '?', '[', '{']) {
            self.expand(&joined)
        } else if joined.exists() {
            vec![joined.clone()]
        } else {
            Vec::new()
        };
        if files.is_empty() && !optional {
            self.problem(
                loc_file,
                Some(line),
                format!(
                    "Location target `{target}` does not exist ({})",
                    joined.display()
                ),
            );
        }
        let mut out = Vec::new();
        for f in files {
            let canon = match f.canonicalize() {
                Ok(c) => c,
                Err(e) => {
                    self.problem(
                        loc_file,
                        Some(line),
                        format!("cannot read `{}`: {e}", f.display()),
                    );
                    continue;
                }
            };
            if !canon.starts_with(root) {
                self.problem(
                    loc_file,
                    Some(line),
                    format!("Location target `{target}` resolves outside the catalog root {}; not followed", root.display()),
                );
                continue;
            }
            if let Some(pos) = chain.iter().position(|c| *c == canon) {
                let cycle: Vec<String> = chain[pos..]
                    .iter()
                    .chain(std::iter::once(&canon))
                    .map(|p| p.display().to_string())
                    .collect();
                self.problem(
                    loc_file,
                    Some(line),
                    format!("Location cycle: {}; not followed again", cycle.join(" -> ")),
                );
                continue;
            }
            out.push(f);
        }
        out
    }

    /// Expands a glob target: walks from its literal directory prefix.
    fn expand(&mut self, pattern: &Path) -> Vec<PathBuf> {
        let mut base = PathBuf::new();
        for c in pattern.components() {
            if c.as_os_str()
                .to_string_lossy()
                .contains(['*', '?', '[', '{'])
            {
                break;
            }
            base.push(c.as_os_str());
        }
        let Ok(glob) = Glob::new(&pattern.to_string_lossy()).map(|g| g.compile_matcher()) else {
            return Vec::new();
        };
        if base.is_dir() {
            self.out.read.push(base.clone());
        }
        let mut out: Vec<PathBuf> = walkdir::WalkDir::new(&base)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && glob.is_match(e.path()))
            .map(|e| e.into_path())
            .collect();
        out.sort();
        out
    }
}

/// Reads, parses and validates one file — or reuses the previous snapshot's entities of it
/// when neither it nor its placeholder files changed. Pure: runs on any thread.
fn prepare(
    opts: &LoadOptions,
    prev: Option<&Snapshot>,
    file: &Path,
    origin: &str,
    root: &Path,
) -> FileOutcome {
    let mut o = FileOutcome {
        canon: None,
        prepared: Vec::new(),
        problems: Vec::new(),
        meta: None,
        read: Vec::new(),
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
