//! Loading a catalog from disk: the configured paths (files, or directories searched with
//! the include globs), `Location` entities followed through their relative targets (cycles
//! detected), each document validated and preprocessed as Backstage's processing pipeline
//! does, and problems collected with their file and line while the rest still loads.
//!
//! A reload reuses the previous snapshot's entities of every file whose bytes (and
//! placeholder files) did not change, and keeps serving the last good version of a file
//! that now fails to load.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde_json::{Map, Value};

use super::index::{self, Row};
use super::placeholder::{self, Scope};
use super::relations::{self, Edge};
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
    /// The entity, preprocessed and validated, without `relations`.
    pub value: Value,
    /// Lowercase `kind:namespace/name`.
    pub key: String,
    /// The file it came from (as shown).
    pub file: Arc<Path>,
    /// Canonical path of that file.
    pub canon: Arc<Path>,
    /// 1-based line of the document.
    pub line: usize,
    /// Relations it emits.
    pub edges: Vec<Edge>,
    /// Its search rows (without relations).
    pub rows: Vec<Row>,
    /// For a Location: the line of each target, in `target`-then-`targets` order.
    pub target_lines: Vec<usize>,
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
pub(crate) struct Loaded {
    pub candidates: Vec<Candidate>,
    pub problems: Vec<Problem>,
    pub files: HashMap<Arc<Path>, FileMeta>,
    pub read: Vec<PathBuf>,
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
struct LocationTargets {
    file: Arc<Path>,
    line: usize,
    kind: String,
    optional: bool,
    targets: Vec<(String, usize)>,
}

impl LocationTargets {
    fn of(c: &Candidate) -> Self {
        let spec = &c.value["spec"];
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
            .map(|(i, t)| {
                (
                    t.to_string(),
                    c.target_lines.get(i).copied().unwrap_or(c.line),
                )
            })
            .collect();
        Self {
            file: c.file.clone(),
            line: c.line,
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

struct Loader<'a> {
    opts: &'a LoadOptions,
    prev: Option<&'a Snapshot>,
    visited: HashSet<PathBuf>,
    out: Loaded,
}

/// Loads every configured path. `prev` is the snapshot being replaced, if any.
pub(crate) fn load(opts: &LoadOptions, prev: Option<&Snapshot>) -> Loaded {
    let mut l = Loader {
        opts,
        prev,
        visited: HashSet::new(),
        out: Loaded {
            candidates: Vec::new(),
            problems: Vec::new(),
            files: HashMap::new(),
            read: Vec::new(),
        },
    };
    for path in &opts.paths {
        l.root(path);
    }
    l.out
}

impl Loader<'_> {
    fn problem(&mut self, file: &Path, line: Option<usize>, message: impl Into<String>) {
        self.out.problems.push(Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        });
    }

    fn root(&mut self, path: &Path) {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) => {
                return self.problem(path, None, format!("cannot read the catalog path: {e}"));
            }
        };
        if meta.is_dir() {
            let Ok(root) = path.canonicalize() else {
                return self.problem(path, None, "cannot resolve the directory");
            };
            self.out.read.push(path.to_path_buf());
            for file in self.walk(path) {
                self.visit(&file, &location_ref(&file), &root, &mut Vec::new());
            }
        } else {
            let parent = path.parent().unwrap_or(Path::new("/"));
            let Ok(root) = parent.canonicalize() else {
                return self.problem(path, None, "cannot resolve the file's directory");
            };
            self.visit(path, &location_ref(path), &root, &mut Vec::new());
        }
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

    /// Loads one file (once), then follows the Locations it defines.
    fn visit(&mut self, file: &Path, origin: &str, root: &Path, chain: &mut Vec<PathBuf>) {
        let Ok(canon) = file.canonicalize() else {
            return self.problem(file, None, "cannot read the file: not found");
        };
        if !self.visited.insert(canon.clone()) {
            return;
        }
        let start = self.out.candidates.len();
        self.file(file, &canon, origin, root);
        chain.push(canon);
        let locations: Vec<LocationTargets> = self.out.candidates[start..]
            .iter()
            .filter(|c| c.value["kind"] == "Location")
            .map(LocationTargets::of)
            .collect();
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
            for (target, line) in &loc.targets {
                self.target(&loc.file, *line, target, loc.optional, origin, root, chain);
            }
        }
        chain.pop();
    }

    #[allow(clippy::too_many_arguments)]
    fn target(
        &mut self,
        loc_file: &Path,
        line: usize,
        target: &str,
        optional: bool,
        origin: &str,
        root: &Path,
        chain: &mut Vec<PathBuf>,
    ) {
        if target.ends_with('/') {
            return self.problem(
                loc_file,
                Some(line),
                format!("Location target `{target}` ends with a path separator"),
            );
        }
        if placeholder::is_url(target) || Path::new(target).is_absolute() {
            return self.problem(
                loc_file,
                Some(line),
                format!("Location target `{target}` is not followed: the local catalog reads only paths relative to the Location's file"),
            );
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
        if files.is_empty() {
            if !optional {
                self.problem(
                    loc_file,
                    Some(line),
                    format!(
                        "Location target `{target}` does not exist ({})",
                        joined.display()
                    ),
                );
            }
            return;
        }
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
            self.visit(&f, origin, root, chain);
        }
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

    /// Reads, parses and validates one file, or reuses the previous snapshot's entities of it.
    fn file(&mut self, file: &Path, canon: &Path, origin: &str, root: &Path) {
        let canon: Arc<Path> = Arc::from(canon);
        let shown: Arc<Path> = Arc::from(file);
        self.out.read.push(file.to_path_buf());
        let bytes = match read_capped(file, self.opts.max_file_bytes) {
            Ok(b) => b,
            Err(e) => {
                self.problem(file, None, e);
                self.keep_last_good(&canon, "the file cannot be read");
                return;
            }
        };
        let hash = hash_bytes(&bytes);
        if let Some(prev) = self.prev
            && let Some(meta) = prev.files.get(&canon)
            && meta.clean
            && meta.hash == hash
            && meta
                .deps
                .iter()
                .all(|(p, h)| std::fs::read(p).ok().map(|b| hash_bytes(&b)) == Some(*h))
        {
            self.out
                .read
                .extend(meta.deps.iter().map(|(p, _)| p.clone()));
            self.out.files.insert(canon.clone(), meta.clone());
            self.reuse(prev, &canon);
            return;
        }
        let problems_before = self.out.problems.len();
        let mut deps = Vec::new();
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(text) => yaml::documents(text),
            Err(_) => {
                self.problem(file, None, "the file is not UTF-8 text");
                Vec::new()
            }
        };
        let mut fresh = Vec::new();
        for doc in parsed {
            match doc {
                Parsed::Error { line, message } => {
                    self.problem(file, Some(line), format!("YAML syntax error: {message}"))
                }
                Parsed::Doc(d) => match self.entity(d, &shown, &canon, origin, root, &mut deps) {
                    Ok(c) => fresh.push(c),
                    Err(p) => self.out.problems.push(p),
                },
            }
        }
        let clean = self.out.problems.len() == problems_before;
        let deps: Vec<(PathBuf, u64)> = deps
            .into_iter()
            .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, hash_bytes(&b))))
            .collect();
        self.out.read.extend(deps.iter().map(|(p, _)| p.clone()));
        if !clean && self.keep_last_good(&canon, "it has problems") {
            return;
        }
        self.out.files.insert(canon, FileMeta { hash, deps, clean });
        self.out.candidates.extend(fresh);
    }

    /// Serves the previous clean version of a file that now fails; true if there was one.
    fn keep_last_good(&mut self, canon: &Arc<Path>, why: &str) -> bool {
        let Some(prev) = self.prev else { return false };
        let Some(meta) = prev.files.get(canon).filter(|m| m.clean) else {
            return false;
        };
        let mut meta = meta.clone();
        meta.clean = false;
        self.out.files.insert(canon.clone(), meta);
        if let Some(last) = self.out.problems.last_mut() {
            last.message.push_str(&format!(
                " (serving the last good version of this file because {why})"
            ));
        }
        self.reuse(prev, canon);
        true
    }

    /// Candidates rebuilt from the previous snapshot's entities of `canon`.
    fn reuse(&mut self, prev: &Snapshot, canon: &Arc<Path>) {
        for stored in prev.entities_of(canon) {
            let mut value = (*stored.value).clone();
            if let Some(obj) = value.as_object_mut() {
                obj.remove("relations");
            }
            let edges = relations::emit(&value).unwrap_or_default();
            let rows = index::rows(&value).unwrap_or_default();
            self.out.candidates.push(Candidate {
                key: stored.key.to_string(),
                file: stored.file.clone(),
                canon: canon.clone(),
                line: stored.line as usize,
                value,
                edges,
                rows,
                target_lines: Vec::new(),
            });
        }
    }

    /// Backstage's processing of one document: envelope, placeholders, location annotations,
    /// sorted reference lists, policies and kind validation, relations, search rows.
    fn entity(
        &mut self,
        doc: yaml::Document,
        file: &Arc<Path>,
        canon: &Arc<Path>,
        origin: &str,
        root: &Path,
        deps: &mut Vec<PathBuf>,
    ) -> Result<Candidate, Problem> {
        let yaml::Document {
            line,
            mut value,
            lines,
        } = doc;
        validate::envelope(&value).map_err(|i| problem_at(file, line, &lines, "", i))?;
        let label = format!("{}: ", short_ref(&value));
        let fail = |i: Invalid| problem_at(file, line, &lines, &label, i);
        let dir = canon.parent().unwrap_or(Path::new("/"));
        let scope = Scope {
            dir,
            root,
            max_bytes: self.opts.max_file_bytes,
        };
        deps.extend(placeholder::resolve(&mut value, &scope).map_err(fail)?);
        annotate(&mut value, &location_ref(file), origin);
        relations::sort_reference_lists(&mut value);
        validate::entity(&mut value).map_err(fail)?;
        let edges = relations::emit(&value).map_err(fail)?;
        let rows = index::rows(&value).map_err(|m| fail(Invalid::at(&["metadata"], m)))?;
        let target_lines = if value["kind"] == "Location" {
            let mut t = Vec::new();
            if value["spec"].get("target").is_some() {
                t.push(lines.at(&["spec", "target"]));
            }
            let n = value["spec"]
                .get("targets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            t.extend((0..n).map(|i| lines.at(&["spec", "targets", &i.to_string()])));
            t
        } else {
            Vec::new()
        };
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
        Ok(Candidate {
            value,
            key,
            file: file.clone(),
            canon: canon.clone(),
            line,
            edges,
            rows,
            target_lines,
        })
    }
}

/// A problem at the line of the invalid node (or of the document).
fn problem_at(file: &Path, line: usize, lines: &yaml::Lines, label: &str, i: Invalid) -> Problem {
    let at: Vec<&str> = i.path.iter().map(String::as_str).collect();
    Problem {
        file: file.to_path_buf(),
        line: Some(if at.is_empty() { line } else { lines.at(&at) }),
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
