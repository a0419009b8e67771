//! The portal the tools answer from: Backstage over REST (with a bounded TTL cache of reads),
//! or a local catalog read from files.
//!
//! Tools ask the portal, never the HTTP client directly, so caching, the choice of source and
//! (later) per-principal credentials live in one place.
//!
//! # The seam between Backstage and the local catalog
//!
//! A [`Portal`] has one [`Source`]. The four catalog methods the tools use —
//! [`Portal::query_entities`], [`Portal::entity`], [`Portal::entities_by_refs`] and
//! [`Portal::facets`] — answer from either source with the same types and the same errors
//! (a missing entity is a 404 `NotFoundError`, a bad filter a 400 `InputError`), so a tool
//! built on them works in both modes unchanged and registers with `needs_backstage = false`.
//!
//! A tool family adds its calls as an `impl Portal` block in `portal/<family>.rs`:
//! - Data that lives in catalog entities (API definitions in `spec.definition`, `Template`
//!   entities and their `spec.parameters`) should be read through the four catalog methods:
//!   it is then served from local files for free.
//! - Data that needs a Backstage REST API calls `self.client()?` — in local mode that is a
//!   [`BackstageError::Config`] saying the call needs a live Backstage. Such tools register
//!   with `needs_backstage = true` and are not listed in local mode.
//! - Data that a local catalog can read from files next to an entity (TechDocs from
//!   `backstage.io/techdocs-ref: dir:.` → `mkdocs.yml` + Markdown) matches on
//!   [`Portal::local`]: [`LocalCatalog::source_of`] gives the file an entity came from.
//!
//! Reads from Backstage go through [`Portal::cached`]; the local catalog is in memory and is
//! never cached here, so an edited file shows on the next call.

mod actions;
pub mod health;
mod scaffolder;
mod search;
mod techdocs;
#[cfg(test)]
mod tests;

pub use actions::{ActionSourceStatus, ActionsState, ActionsStatus};

use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use backstage_client::{
    BackstageClient, BackstageError, ClientConfig, EntityPage, EntityQuery, EntityRef, FacetCount,
    ParameterSchema, Probe,
};
use moka::future::Cache;
use serde_json::Value;

use crate::config::settings::{BackstageSettings, CacheSettings};
use crate::local::LocalCatalog;

type Facets = BTreeMap<String, Vec<FacetCount>>;

/// Where the portal's answers come from.
pub enum Source {
    /// A Backstage backend over REST.
    Backstage {
        /// The pooled client.
        client: BackstageClient,
        /// The configured token (for diagnostics that describe it; never logged).
        token: Option<String>,
    },
    /// Catalog files on disk.
    Local(Arc<LocalCatalog>),
}

/// Backstage (or a local catalog), as the tools see it.
pub struct Portal {
    source: Source,
    ttl: Duration,
    entities: Cache<EntityRef, Arc<Value>>,
    queries: Cache<String, Arc<EntityPage>>,
    facets: Cache<String, Arc<Facets>>,
    techdocs: techdocs::TechDocsCaches,
    template_schemas: Cache<EntityRef, Arc<ParameterSchema>>,
    by_refs: Cache<String, Arc<Vec<Option<Value>>>>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Portal");
        match &self.source {
            Source::Backstage { client, .. } => d.field("base_url", &client.base_url().as_str()),
            Source::Local(c) => d.field("local_paths", &c.config().load.paths),
        };
        d.field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

fn new_cache<K, V>(capacity: u64, ttl: Duration) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity.max(1))
        .time_to_live(ttl)
        .build()
}

/// The cache key of an entity: Backstage compares references case-insensitively.
fn cache_key(r: &EntityRef) -> EntityRef {
    EntityRef {
        kind: r.kind.to_ascii_lowercase(),
        namespace: r.namespace.to_ascii_lowercase(),
        name: r.name.to_ascii_lowercase(),
    }
}

/// The error of a Backstage-only call made in local mode.
fn needs_backstage() -> BackstageError {
    BackstageError::Config(
        "this needs a live Backstage, and stagedoor is serving a local catalog (catalog.paths / --catalog); set backstage.baseUrl instead to use it".into(),
    )
}

impl Portal {
    /// Builds the portal and its pooled client. Nothing is dialed yet.
    pub fn new(b: &BackstageSettings, cache: &CacheSettings) -> Result<Self, BackstageError> {
        let mut config = ClientConfig::new(b.base_url.clone());
        config.token = b.token.as_ref().map(|t| t.expose().to_string());
        config.timeout = b.timeout;
        config.connect_timeout = b.connect_timeout;
        config.max_retries = b.retries;
        config.max_body_bytes = b.max_response_bytes;
        config.user_agent = format!("stagedoor/{}", env!("CARGO_PKG_VERSION"));
        let client = BackstageClient::new(config)?;
        let token = b.token.as_ref().map(|t| t.expose().to_string());
        Ok(Self::build(
            Source::Backstage { client, token },
            cache.ttl,
            cache.max_entries,
        ))
    }

    /// A portal over a local catalog (no cache: the catalog is in memory).
    pub fn local(catalog: Arc<LocalCatalog>) -> Self {
        Self::build(Source::Local(catalog), Duration::ZERO, 1)
    }

    /// The one place a portal and all its caches are made.
    fn build(source: Source, ttl_setting: Duration, entries: u64) -> Self {
        let ttl = ttl_setting.max(Duration::from_millis(1));
        Self {
            source,
            ttl: ttl_setting,
            entities: new_cache(entries, ttl),
            queries: new_cache(entries / 4, ttl),
            facets: new_cache(256, ttl),
            techdocs: techdocs::TechDocsCaches::new(ttl, entries),
            template_schemas: new_cache(256, ttl),
            by_refs: new_cache(entries / 4, ttl),
        }
    }

    /// The same Backstage with another bearer token (a user's), sharing the connection pool
    /// but with caches of its own, since what Backstage returns depends on who asks. A local
    /// catalog has no credentials: the same catalog is returned.
    pub fn with_token(&self, token: &str, cache_entries: u64) -> Self {
        let source = match &self.source {
            Source::Backstage { client, .. } => Source::Backstage {
                client: client.with_token(Some(token.to_string())),
                token: Some(token.to_string()),
            },
            Source::Local(c) => Source::Local(c.clone()),
        };
        Self::build(source, self.ttl, cache_entries)
    }

    /// Where answers come from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The local catalog, in local mode.
    pub fn local_catalog(&self) -> Option<&Arc<LocalCatalog>> {
        match &self.source {
            Source::Local(c) => Some(c),
            Source::Backstage { .. } => None,
        }
    }

    /// True when serving a local catalog (tools that need Backstage are then not listed).
    pub fn is_local(&self) -> bool {
        matches!(self.source, Source::Local(_))
    }

    /// The Backstage client; in local mode an error saying the call needs a live Backstage.
    pub fn client(&self) -> Result<&BackstageClient, BackstageError> {
        match &self.source {
            Source::Backstage { client, .. } => Ok(client),
            Source::Local(_) => Err(needs_backstage()),
        }
    }

    /// The configured token (for diagnostics that describe it; never logged).
    pub fn token(&self) -> Option<&str> {
        match &self.source {
            Source::Backstage { token, .. } => token.as_deref(),
            Source::Local(_) => None,
        }
    }

    /// The configured Backstage base URL (`None` in local mode).
    pub fn base_url(&self) -> Option<&url::Url> {
        match &self.source {
            Source::Backstage { client, .. } => Some(client.base_url()),
            Source::Local(_) => None,
        }
    }

    /// Returns the cached value for `key`, or runs `fetch` and caches its success.
    ///
    /// Concurrent misses of one key are coalesced: one caller runs `fetch`, the others wait
    /// for its answer (moka's `try_get_with`), so N identical calls make one Backstage
    /// request. An error is handed to every waiter and never cached. Each portal (one per
    /// user token, see [`Portal::with_token`]) has caches of its own, so callers are only
    /// ever coalesced with callers of the same identity.
    ///
    /// With the cache off (`cache.ttl: 0`) identical calls still share a request in flight,
    /// but the answer is dropped as soon as it arrives: nothing is reused afterwards.
    pub(crate) async fn cached<K, V, F>(
        &self,
        cache: &Cache<K, Arc<V>>,
        key: K,
        fetch: F,
    ) -> Result<Arc<V>, BackstageError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Send + Sync + 'static,
        F: Future<Output = Result<V, BackstageError>>,
    {
        let shared = cache
            .try_get_with(key.clone(), async move { fetch.await.map(Arc::new) })
            .await
            .map_err(Arc::unwrap_or_clone);
        if self.ttl.is_zero() {
            cache.invalidate(&key).await;
        }
        shared
    }

    /// One page of `/api/catalog/entities/by-query`.
    pub async fn query_entities(&self, q: &EntityQuery) -> Result<Arc<EntityPage>, BackstageError> {
        match &self.source {
            Source::Local(c) => c.query_entities(q).map(Arc::new),
            Source::Backstage { client, .. } => {
                let key = format!("{q:?}");
                self.cached(&self.queries, key, client.query_entities(q))
                    .await
            }
        }
    }

    /// One entity by reference; a missing entity is `BackstageError::Api { status: 404 }`.
    pub async fn entity(&self, r: &EntityRef) -> Result<Arc<Value>, BackstageError> {
        match &self.source {
            Source::Local(c) => c.entity(r),
            Source::Backstage { client, .. } => {
                self.cached(&self.entities, cache_key(r), client.get_entity_by_ref(r))
                    .await
            }
        }
    }

    /// Many entities by reference in one call, aligned with `refs` (`None` = missing).
    pub async fn entities_by_refs(
        &self,
        refs: &[String],
        fields: &[String],
    ) -> Result<Vec<Option<Value>>, BackstageError> {
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        match &self.source {
            Source::Local(c) => c.entities_by_refs(refs, fields),
            Source::Backstage { client, .. } => {
                let key = format!("{refs:?}|{fields:?}");
                let found = self
                    .cached(
                        &self.by_refs,
                        key,
                        client.get_entities_by_refs(refs, fields),
                    )
                    .await?;
                Ok((*found).clone())
            }
        }
    }

    /// Distinct values and counts of catalog fields.
    pub async fn facets(
        &self,
        facets: &[String],
        filters: &[String],
    ) -> Result<Arc<Facets>, BackstageError> {
        match &self.source {
            Source::Local(c) => c.facets(facets, filters).map(Arc::new),
            Source::Backstage { client, .. } => {
                let key = format!("{facets:?}|{filters:?}");
                self.cached(&self.facets, key, client.entity_facets(facets, filters))
                    .await
            }
        }
    }

    /// Probes a path; see [`BackstageClient::probe`].
    pub async fn probe(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Probe, BackstageError> {
        self.client()?.probe(path, query).await
    }
}
