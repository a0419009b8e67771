//! TechDocs reads: a site's metadata and its published files (both cached), and the sync
//! that builds a site (never cached; a finished sync drops the cached metadata). In local
//! mode the site is produced from the entity's mkdocs sources on every read (off the async
//! threads, since it walks and reads files), and there is nothing to sync.

use std::sync::Arc;
use std::time::Duration;

use backstage_client::{BackstageError, EntityRef, SyncOutcome, TechDocsMetadata};
use moka::future::Cache;

use super::{Portal, Source, cache_key as key, new_cache};

/// Bytes of published files kept in the cache (pages are weighed by their length).
const FILE_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// A file of one build of one site: entity (lowercased), build timestamp, file path.
type FileKey = (EntityRef, Option<u64>, String);

/// The TechDocs caches of a [`Portal`].
pub(crate) struct TechDocsCaches {
    metadata: Cache<EntityRef, Arc<TechDocsMetadata>>,
    files: Cache<FileKey, Arc<String>>,
}

impl TechDocsCaches {
    /// Caches living for `ttl`; metadata bounded by entry count, files by bytes.
    pub(crate) fn new(ttl: Duration, max_entries: u64) -> Self {
        Self {
            metadata: new_cache(max_entries / 4, ttl),
            files: Cache::builder()
                .weigher(|_: &FileKey, text: &Arc<String>| {
                    u32::try_from(text.len()).unwrap_or(u32::MAX)
                })
                .max_capacity(FILE_CACHE_BYTES)
                .time_to_live(ttl)
                .build(),
        }
    }
}

impl Portal {
    /// `techdocs_metadata.json` of `r`'s site; a site never built is a 404.
    pub async fn techdocs_metadata(
        &self,
        r: &EntityRef,
    ) -> Result<Arc<TechDocsMetadata>, BackstageError> {
        if let Source::Local(c) = &self.source {
            let (c, r) = (c.clone(), r.clone());
            return blocking(move || c.techdocs_metadata(&r)).await;
        }
        self.cached(
            &self.techdocs.metadata,
            key(r),
            self.client()?.techdocs_metadata(r),
        )
        .await
    }

    /// One published file of `r`'s site as text. `build` (the metadata's build timestamp)
    /// is part of the cache key, so a rebuilt site is never answered from an older build.
    pub async fn techdocs_file(
        &self,
        r: &EntityRef,
        build: Option<u64>,
        file: &str,
    ) -> Result<Arc<String>, BackstageError> {
        if let Source::Local(c) = &self.source {
            let (c, r, file) = (c.clone(), r.clone(), file.to_string());
            return blocking(move || c.techdocs_file(&r, build, &file)).await;
        }
        self.cached(
            &self.techdocs.files,
            (key(r), build, file.to_string()),
            self.client()?.techdocs_file(r, file),
        )
        .await
    }

    /// Builds `r`'s site if missing or stale (see `BackstageClient::techdocs_sync`),
    /// passing each build log line to `on_log`. A finished sync drops the cached metadata,
    /// so the next read sees the new build.
    pub async fn techdocs_sync<F>(
        &self,
        r: &EntityRef,
        budget: Duration,
        on_log: F,
    ) -> Result<SyncOutcome, BackstageError>
    where
        F: FnMut(&str) + Send,
    {
        let outcome = self.client()?.techdocs_sync(r, budget, on_log).await;
        if matches!(outcome, Ok(SyncOutcome::Finished { .. })) {
            self.techdocs.metadata.invalidate(&key(r)).await;
        }
        outcome
    }
}

/// Runs a file-reading local catalog call on the blocking pool.
async fn blocking<T, F>(f: F) -> Result<Arc<T>, BackstageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, BackstageError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map(Arc::new),
        Err(e) => Err(BackstageError::Config(format!(
            "reading local docs failed: {e}"
        ))),
    }
}
