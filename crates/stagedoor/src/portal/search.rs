//! Backstage's search engine, as the `search` tool sees it. Not cached: the index changes on
//! its own schedule and a repeated query is cheap for Backstage.

use backstage_client::{BackstageError, SearchQuery, SearchResultSet};

use super::Portal;

impl Portal {
    /// One page of `/api/search/query`.
    /// Over a local catalog, its own document index answers (see `local::search`).
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchResultSet, BackstageError> {
        if let Some(local) = self.local_catalog() {
            let (local, q) = (local.clone(), q.clone());
            return tokio::task::spawn_blocking(move || local.search(&q))
                .await
                .map_err(|e| BackstageError::Api {
                    status: 500,
                    name: Some("Error".into()),
                    message: format!("the local search failed: {e}"),
                    url: crate::local::LOCAL_URL.into(),
                })?;
        }
        self.client()?.search(q).await
    }
}
