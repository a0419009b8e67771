//! The local catalog: `catalog-info.yaml` files read from disk and served with Backstage's
//! semantics, so the same tools work with no Backstage running.
//!
//! # Layout
//!
//! - `yaml`: files split into documents, parsed with line numbers.
//! - `placeholder`: `$text` / `$json` / `$yaml`, from relative local files only.
//! - `validate`: Backstage's entity policies; `kinds`: its kind validators.
//! - `relations`: the relations `BuiltinKindsEntityProcessor` emits, with its ref rules.
//! - `load`: configured paths, directory globs, `Location` targets (cycles reported),
//!   files prepared in parallel and merged in order.
//! - `prepare`: one file through Backstage's pipeline; last-good reuse on reload.
//! - `table`: the index's sorted string arenas and posting lists.
//! - `index`: search rows like `buildEntitySearch`, relations attached, the [`Snapshot`].
//! - `query`: filters, full text, order, cursors, projection, facets.
//! - `watch`: file watching with a debounced reload.
//! - `docs`: TechDocs sites produced from mkdocs sources next to the catalog files.
//! - `templates`: template parameter forms, as Backstage's scaffolder computes them.
//! - `words`: the word index of `search_catalog` free text.
//! - `search`: document search (the `search` tool) with tantivy, updated incrementally.
//!
//! A [`LocalCatalog`] holds the current [`Snapshot`]; a reload builds a new one off to the
//! side and swaps it in, so readers never wait for a load.

mod confine;
pub(crate) mod docs;
mod index;
mod kinds;
mod load;
mod placeholder;
mod prepare;
mod query;
mod relations;
mod search;
mod table;
mod templates;
mod validate;
pub mod watch;
mod words;
mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use backstage_client::{BackstageError, EntityPage, EntityQuery, EntityRef, FacetCount};
use serde_json::Value;

pub use index::Snapshot;
pub use load::{LoadOptions, glob_set, normalize as normalize_path};
/// Backstage's `fields` projection, shared with the tools so both modes project alike.
pub(crate) use query::project as project_fields;
pub use words::WordPage;

/// A problem found while loading: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or configured path) concerned.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Where the local catalog comes from and how it is kept fresh.
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    /// How to find and read files.
    pub load: LoadOptions,
    /// Watch files and reload on change.
    pub watch: bool,
    /// Quiet time after the last change before reloading.
    pub debounce: Duration,
}

/// What changed between two snapshots (refs, sorted).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Refs that appeared.
    pub added: Vec<String>,
    /// Refs that disappeared.
    pub removed: Vec<String>,
    /// Refs whose entity changed.
    pub changed: Vec<String>,
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The catalog served from local files.
#[derive(Debug)]
pub struct LocalCatalog {
    config: CatalogConfig,
    current: RwLock<Arc<Snapshot>>,
    reloads: AtomicU64,
    /// Canonical directories of the configured paths: files are read only inside them.
    roots: Vec<PathBuf>,
    /// Docs sites just read, by lowercase ref and build time (see `docs`).
    sites: moka::sync::Cache<(String, Option<u64>), Arc<docs::Site>>,
    /// Document search over entities and TechDocs sources (built at the first search).
    doc_index: search::DocIndex,
}

/// Docs sites kept between a metadata read and the page reads of the same tool call.
const SITES_KEPT: u64 = 64;
/// How long a kept docs site may serve page reads of its build.
const SITE_TTL: Duration = Duration::from_secs(60);

/// The `url` of errors the local catalog answers, in place of a Backstage URL.
pub const LOCAL_URL: &str = "local catalog";

/// The error a Backstage catalog would give for a rejected request (400 InputError).
fn input_error(message: String) -> BackstageError {
    BackstageError::Api {
        status: 400,
        name: Some("InputError".into()),
        message,
        url: LOCAL_URL.into(),
    }
}

impl LocalCatalog {
    /// Loads the catalog now (blocking file reads); problems are in the snapshot.
    pub fn load(config: CatalogConfig) -> Self {
        let snapshot = Snapshot::build(load::load(&config.load, None));
        let roots = config
            .load
            .paths
            .iter()
            .filter_map(|p| {
                let dir = if p.is_dir() { p.as_path() } else { p.parent()? };
                dir.canonicalize().ok()
            })
            .collect();
        Self {
            config,
            current: RwLock::new(Arc::new(snapshot)),
            reloads: AtomicU64::new(0),
            roots,
            sites: moka::sync::Cache::builder()
                .max_capacity(SITES_KEPT)
                .time_to_live(SITE_TTL)
                .build(),
            doc_index: search::DocIndex::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CatalogConfig {
        &self.config
    }

    /// The snapshot being served.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// How many reloads have happened since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Reads everything again (blocking), swaps the new snapshot in and says what changed.
    /// Unchanged files are not re-parsed; a file that now fails keeps its last good version.
    pub fn reload(&self) -> Changes {
        let prev = self.snapshot();
        let next = Arc::new(Snapshot::build(load::load(&self.config.load, Some(&prev))));
        let changes = diff(&prev, &next);
        match self.current.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        self.reloads.fetch_add(1, Ordering::Relaxed);
        changes
    }

    /// One page of a query, as `GET /api/catalog/entities/by-query` would answer.
    pub fn query_entities(&self, q: &EntityQuery) -> Result<EntityPage, BackstageError> {
        self.snapshot().query(q).map_err(input_error)
    }

    /// One entity by reference (case-insensitive); missing is a 404 like Backstage's.
    pub fn entity(&self, r: &EntityRef) -> Result<Arc<Value>, BackstageError> {
        self.snapshot()
            .stored(&r.to_string_ref())
            .map(|s| Arc::new(s.value()))
            .ok_or_else(|| BackstageError::Api {
                status: 404,
                name: Some("NotFoundError".into()),
                message: format!(
                    "No entity named '{}' found, with kind '{}' in namespace '{}'",
                    r.name, r.kind, r.namespace
                ),
                url: LOCAL_URL.into(),
            })
    }

    /// Entities matching the filters and every word of a free-text query, ranked (see
    /// [`crate::words`]); one page from `offset`.
    pub fn search_words(
        &self,
        filters: &[String],
        words: &[String],
        fields: &[String],
        offset: usize,
        limit: usize,
    ) -> Result<WordPage, BackstageError> {
        self.snapshot()
            .search_words(filters, words, fields, offset, limit)
            .map_err(input_error)
    }

    /// Entities by reference, aligned with `refs`.
    pub fn entities_by_refs(
        &self,
        refs: &[String],
        fields: &[String],
    ) -> Result<Vec<Option<Value>>, BackstageError> {
        self.snapshot().by_refs(refs, fields).map_err(input_error)
    }

    /// Facet counts.
    pub fn facets(
        &self,
        facets: &[String],
        filters: &[String],
    ) -> Result<BTreeMap<String, Vec<FacetCount>>, BackstageError> {
        self.snapshot().facets(facets, filters).map_err(input_error)
    }

    /// The file an entity was loaded from, and its line (for tools that read files next to
    /// an entity, such as TechDocs from `backstage.io/techdocs-ref: dir:.`).
    pub fn source_of(&self, r: &EntityRef) -> Option<(PathBuf, usize)> {
        let snap = self.snapshot();
        snap.stored(&r.to_string_ref())
            .map(|s| (s.file.to_path_buf(), s.line as usize))
    }
}

impl Snapshot {
    /// Entity counts per kind.
    pub fn kinds(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        if let Some(ki) = self.index.get("kind") {
            for (i, kind) in ki.originals.iter() {
                *out.entry(kind.to_string()).or_insert(0) += ki.original_ids.get(i).len();
            }
        }
        out
    }
}

/// How many skipped files are named in reports.
pub const SKIPPED_SHOWN: usize = 5;

impl Snapshot {
    /// The first few files skipped as not entities, as shown (see [`SKIPPED_SHOWN`]).
    pub fn skipped_shown(&self) -> Vec<String> {
        self.skipped
            .iter()
            .take(SKIPPED_SHOWN)
            .map(|(p, why)| format!("{}: {why}", shown(p)))
            .collect()
    }
}

/// Refs added, removed and changed between two snapshots.
pub fn diff(prev: &Snapshot, next: &Snapshot) -> Changes {
    let mut c = Changes::default();
    for s in next.all() {
        match prev.stored(&s.key) {
            None => c.added.push(s.key.to_string()),
            Some(p) if p.json != s.json => c.changed.push(s.key.to_string()),
            Some(_) => {}
        }
    }
    for s in prev.all() {
        if next.stored(&s.key).is_none() {
            c.removed.push(s.key.to_string());
        }
    }
    c.added.sort();
    c.removed.sort();
    c.changed.sort();
    c
}

/// The kinds the local catalog accepts.
pub fn known_kinds() -> Vec<&'static str> {
    validate::known_kinds().collect()
}

/// The display form of a path relative to the current directory, when it is inside it.
pub fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests;
