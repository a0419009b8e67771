//! The portal the tools answer from: Backstage over REST, with a bounded TTL cache of reads.
//!
//! Tools ask the portal, never the HTTP client directly, so caching and (later) per-principal
//! credentials live in one place. Each tool family keeps its Backstage calls in its own file
//! here (`impl Portal` blocks), using the shared [`Portal::cached`] helper.

mod actions;
mod scaffolder;

pub use actions::{ActionSourceStatus, ActionsStatus};

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use backstage_client::{
    BackstageClient, BackstageError, ClientConfig, EntityPage, EntityQuery, EntityRef, FacetCount,
    ParameterSchema, Probe,
};
use moka::future::Cache;
use serde_json::Value;

use crate::config::settings::{BackstageSettings, CacheSettings};

mod search;
mod techdocs;

type Facets = BTreeMap<String, Vec<FacetCount>>;

/// Backstage, as the tools see it.
pub struct Portal {
    client: BackstageClient,
    token: Option<String>,
    ttl: Duration,
    entities: Cache<EntityRef, Arc<Value>>,
    queries: Cache<String, Arc<EntityPage>>,
    facets: Cache<String, Arc<Facets>>,
    techdocs: techdocs::TechDocsCaches,
    template_schemas: Cache<EntityRef, Arc<ParameterSchema>>,
    by_refs: Cache<String, Arc<Vec<Option<Value>>>>,
    /// Per plugin: the actions invoke API version known to answer.
    invoke_versions: RwLock<HashMap<String, backstage_client::InvokeVersion>>,
    /// The bridge's latest discovery report.
    actions_status: RwLock<Option<Arc<ActionsStatus>>>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("base_url", &self.client.base_url().as_str())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
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
        Ok(Self::build(client, token, cache.ttl, cache.max_entries))
    }

    /// The one place a portal and all its caches are made.
    fn build(
        client: BackstageClient,
        token: Option<String>,
        ttl_setting: Duration,
        entries: u64,
    ) -> Self {
        let ttl = ttl_setting.max(Duration::from_millis(1));
        Self {
            client,
            token,
            ttl: ttl_setting,
            entities: new_cache(entries, ttl),
            queries: new_cache(entries / 4, ttl),
            facets: new_cache(256, ttl),
            techdocs: techdocs::TechDocsCaches::new(ttl, entries),
            template_schemas: new_cache(256, ttl),
            by_refs: new_cache(entries / 4, ttl),
            invoke_versions: RwLock::default(),
            actions_status: RwLock::default(),
        }
    }

    /// The same Backstage with another bearer token (a user's), sharing the connection pool
    /// but with caches of its own, since what Backstage returns depends on who asks.
    pub fn with_token(&self, token: &str, cache_entries: u64) -> Self {
        Self::build(
            self.client.with_token(Some(token.to_string())),
            Some(token.to_string()),
            self.ttl,
            cache_entries,
        )
    }

    /// The underlying client (for probes and diagnostics).
    pub fn client(&self) -> &BackstageClient {
        &self.client
    }

    /// The configured token (for diagnostics that describe it; never logged).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The configured Backstage base URL.
    pub fn base_url(&self) -> &url::Url {
        self.client.base_url()
    }

    /// Returns the cached value for `key`, or runs `fetch` and caches its success.
    pub(crate) async fn cached<K, V, F>(
        &self,
        cache: &Cache<K, Arc<V>>,
        key: K,
        fetch: F,
    ) -> Result<Arc<V>, BackstageError>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
        F: Future<Output = Result<V, BackstageError>>,
    {
        if self.ttl.is_zero() {
            return fetch.await.map(Arc::new);
        }
        if let Some(hit) = cache.get(&key).await {
            return Ok(hit);
        }
        let value = Arc::new(fetch.await?);
        cache.insert(key, value.clone()).await;
        Ok(value)
    }

    /// One page of `/api/catalog/entities/by-query`.
    pub async fn query_entities(&self, q: &EntityQuery) -> Result<Arc<EntityPage>, BackstageError> {
        let key = format!("{q:?}");
        self.cached(&self.queries, key, self.client.query_entities(q))
            .await
    }

    /// One entity by reference; a missing entity is `BackstageError::Api { status: 404 }`.
    pub async fn entity(&self, r: &EntityRef) -> Result<Arc<Value>, BackstageError> {
        let key = EntityRef {
            kind: r.kind.to_ascii_lowercase(),
            namespace: r.namespace.to_ascii_lowercase(),
            name: r.name.to_ascii_lowercase(),
        };
        self.cached(&self.entities, key, self.client.get_entity_by_ref(r))
            .await
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
        let key = format!("{refs:?}|{fields:?}");
        let found = self
            .cached(
                &self.by_refs,
                key,
                self.client.get_entities_by_refs(refs, fields),
            )
            .await?;
        Ok((*found).clone())
    }

    /// Distinct values and counts of catalog fields.
    pub async fn facets(
        &self,
        facets: &[String],
        filters: &[String],
    ) -> Result<Arc<Facets>, BackstageError> {
        let key = format!("{facets:?}|{filters:?}");
        self.cached(
            &self.facets,
            key,
            self.client.entity_facets(facets, filters),
        )
        .await
    }

    /// Probes a path; see [`BackstageClient::probe`].
    pub async fn probe(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Probe, BackstageError> {
        self.client.probe(path, query).await
    }
}
