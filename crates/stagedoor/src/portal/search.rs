//! Backstage's search engine, as the `search` tool sees it. Not cached: the index changes on
//! its own schedule and a repeated query is cheap for Backstage.

use backstage_client::{BackstageError, SearchQuery, SearchResultSet};

use super::Portal;

impl Portal {
    /// One page of `/api/search/query`.
    pub async fn search(&self, q: &SearchQuery) -> Result<SearchResultSet, BackstageError> {
        self.client()?.search(q).await
    }
}
