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
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;

use super::placeholder;
use super::prepare::{FileOutcome, LocationTargets, location_ref, prepare, problem};
use super::relations::Target;
use super::table::IndexBuilder;
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
    /// Its words for free-text search.
    pub terms: Vec<(String, crate::words::Tier)>,
}

/// What is remembered of a file between loads.
#[derive(Debug, Clone)]
pub(crate) struct FileMeta {
    pub(super) hash: u64,
    pub(super) deps: Vec<(PathBuf, u64)>,
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
    /// Files found in a directory and not loaded, with why (they hold no catalog entity).
    pub skipped: Vec<(PathBuf, String)>,
    pub elapsed: std::time::Duration,
}

/// A file to visit: its path, the origin location of its entities, and whether it was
/// found by walking a directory (then it is loaded only if it holds catalog entities).
type Visit = (PathBuf, String, bool);

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
    if l.out.candidates.is_empty()
        && l.out.problems.is_empty()
        && let Some(first) = opts.paths.first()
    {
        let skipped = l.out.skipped.len();
        l.problem(
            first,
            None,
            format!(
                "the catalog is empty: no entity was loaded from {} file(s){}; a directory path loads the YAML files in it that hold Backstage entities (apiVersion backstage.io/..., kind ...), narrowed by catalog.include/exclude",
                l.out.files.len(),
                if skipped > 0 {
                    format!(" ({skipped} YAML file(s) skipped as not entities)")
                } else {
                    String::new()
                }
            ),
        );
    }
    l.out.elapsed = started.elapsed();
    l.out
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
        let dir = if meta.is_dir() {
            path
        } else {
            path.parent().unwrap_or(Path::new("/"))
        };
        let Ok(root) = dir.canonicalize() else {
            return self.problem(path, None, "cannot resolve the catalog directory");
        };
        let files: Vec<Visit> = if meta.is_dir() {
            self.out.read.push(path.to_path_buf());
            let found = self.walk(path);
            // Files another file's Location reaches are loaded through it (so their
            // entities carry its origin, exactly as when that file is given); they come last,
            // for what no Location reaches after all (a cycle of Locations).
            let reached = reached_by_locations(&found, &root, self.opts.max_file_bytes);
            let (inner, tops): (Vec<PathBuf>, Vec<PathBuf>) = found
                .into_iter()
                .partition(|f| f.canonicalize().is_ok_and(|c| reached.contains(&c)));
            tops.into_iter()
                .chain(inner)
                .map(|f| {
                    let origin = location_ref(&f);
                    (f, origin, true)
                })
                .collect()
        } else {
            vec![(path.to_path_buf(), location_ref(path), false)]
        };
        self.visit_all(files, &root, &mut Vec::new());
    }

    /// Files under `dir` matching the include globs and not excluded, sorted.
    fn walk(&mut self, dir: &Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut outside = Vec::new();
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
                if e.depth() > 0 && !super::confine::walk_keeps(e, &root) {
                    outside.push(e.path().to_path_buf());
                    return false;
                }
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
        for link in outside {
            self.problem(
                &link,
                None,
                format!(
                    "symlink resolves outside the catalog root {}; not followed",
                    root.display()
                ),
            );
        }
        files
    }

    /// Prepares `files` in parallel batches, then visits each in order.
    fn visit_all(&mut self, files: Vec<Visit>, root: &Path, chain: &mut Vec<PathBuf>) {
        for batch in files.chunks(BATCH) {
            let todo: Vec<&Visit> = batch
                .iter()
                .filter(|(f, _, _)| {
                    f.canonicalize()
                        .map_or(true, |c| !self.visited.contains(&c))
                })
                .collect();
            let (opts, prev) = (self.opts, self.prev);
            let outcomes: Vec<FileOutcome> = todo
                .par_iter()
                .map(|(f, origin, sniff)| prepare(opts, prev, f, origin, root, *sniff))
                .collect();
            for ((_, origin, _), outcome) in todo.into_iter().zip(outcomes) {
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
        if let Some(skipped) = outcome.skipped {
            self.out.read.extend(outcome.read);
            self.out.skipped.push(skipped);
            return;
        }
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
                    next.push((f, origin.to_string(), false));
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
            self.expand(&joined, root)
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
            let canon = match super::confine::resolve_inside(&f, &[root]) {
                Ok(c) => c,
                Err(super::confine::Refused::Unresolved(e)) => {
                    self.problem(
                        loc_file,
                        Some(line),
                        format!("cannot read `{}`: {e}", f.display()),
                    );
                    continue;
                }
                Err(super::confine::Refused::Outside(_)) => {
                    self.problem(
                        loc_file,
                        Some(line),
                        format!("Location target `{target}` resolves outside the catalog root {}; not followed", root.display()),
                    );
                    continue;
                }
            };
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
    fn expand(&mut self, pattern: &Path, root: &Path) -> Vec<PathBuf> {
        let files = glob_files(pattern, root);
        let base: PathBuf = pattern
            .components()
            .take_while(|c| {
                !c.as_os_str()
                    .to_string_lossy()
                    .contains(['*', '?', '[', '{'])
            })
            .collect();
        if base.is_dir() {
            self.out.read.push(base);
        }
        files
    }
}

/// The canonical paths of the files that Location entities among `files` target (files
/// without the word `Location` are not parsed). Quiet: the load reports bad targets.
fn reached_by_locations(files: &[PathBuf], root: &Path, max: u64) -> HashSet<PathBuf> {
    let lists: Vec<Vec<PathBuf>> = files
        .par_iter()
        .map(|f| {
            let small = std::fs::metadata(f).is_ok_and(|m| m.len() <= max);
            let Some(bytes) = small.then(|| std::fs::read(f).ok()).flatten() else {
                return Vec::new();
            };
            if memchr::memmem::find(&bytes, b"Location").is_none() {
                return Vec::new();
            }
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return Vec::new();
            };
            let dir = f.parent().unwrap_or(Path::new("/"));
            let mut out = Vec::new();
            for doc in super::yaml::documents(text) {
                let super::yaml::Parsed::Doc(d) = doc else {
                    continue;
                };
                if d.value["kind"] != "Location" {
                    continue;
                }
                let spec = &d.value["spec"];
                let targets = spec
                    .get("target")
                    .and_then(serde_json::Value::as_str)
                    .into_iter()
                    .chain(
                        spec.get("targets")
                            .and_then(serde_json::Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(serde_json::Value::as_str),
                    );
                for t in targets {
                    if placeholder::is_url(t) || Path::new(t).is_absolute() {
                        continue;
                    }
                    let joined = normalize(&dir.join(t));
                    if t.contains(['*', '?', '[', '{']) {
                        out.extend(glob_files(&joined, root));
                    } else {
                        out.push(joined);
                    }
                }
            }
            out.into_iter()
                .filter_map(|p| p.canonicalize().ok())
                .filter(|c| c.starts_with(root))
                .collect()
        })
        .collect();
    lists.into_iter().flatten().collect()
}

/// The files a glob pattern (an absolute path) matches, walking from its literal prefix and
/// never through a symlink that leaves `root`.
fn glob_files(pattern: &Path, root: &Path) -> Vec<PathBuf> {
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
        .filter_entry(|e| super::confine::walk_keeps(e, root))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && glob.is_match(e.path()))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    out
}
