//! A typed HTTP client for Backstage's REST APIs, with no knowledge of MCP.
//!
//! One [`BackstageClient`] holds one pooled keep-alive `reqwest` client (rustls with the
//! `ring` provider). Clones and [`BackstageClient::with_token`] share that pool.
//!
//! Guarantees:
//!
//! - **Credentials stay on the configured origin.** Every request URL is the base URL
//!   plus a path (the base path prefix is kept) and is checked to have the base URL's
//!   origin; redirects to another origin are not followed. The bearer token is never
//!   logged and [`ClientConfig`]'s `Debug` redacts it.
//! - **Bounded time.** Each attempt (connect, send, whole body) is bounded by
//!   [`ClientConfig::timeout`]. Only idempotent requests are retried, and only on connect
//!   failures and 502/503/504 (see [`BackstageError::is_retryable`]).
//! - **Bounded memory.** Response bodies are read with a size cap
//!   ([`ClientConfig::max_body_bytes`]); a larger body is a [`BackstageError::Decode`].
//!
//! # Layout
//!
//! - `config`: [`ClientConfig`] and its defaults.
//! - `error`: [`BackstageError`], the one error type of the crate.
//! - `client`: [`BackstageClient`], the generic JSON transport, retries and [`Probe`].
//! - `endpoint`: building request URLs under the base URL (origin and prefix checks).
//! - `response`: capped body reads, JSON decoding, Backstage error JSON.
//! - `retry`: the full-jitter exponential backoff.
//! - `actions`: the distributed Actions Registry API (list, invoke v1/v2).
//! - `catalog`: the catalog API (`by-query`, `by-name`, `by-refs`, `entity-facets`).
//! - `search`: the search API (`/api/search/query`).
//! - `scaffolder`: the scaffolder API (parameter schemas, tasks, events, cancel, dry run).
//! - `entity_ref`: [`EntityRef`], Backstage entity reference parsing and formatting.
//! - `techdocs`: the TechDocs API (site metadata, static files, the sync/build stream).

mod actions;
mod catalog;
mod client;
mod config;
mod endpoint;
mod entity_ref;
mod error;
mod response;
mod retry;
mod scaffolder;
mod search;
mod techdocs;

pub use actions::{
    Action, ActionAttributes, ActionList, ActionSchema, InvokeVersion, is_missing_route,
};
pub use catalog::{BY_REFS_CHUNK_SIZE, EntityPage, EntityQuery, FacetCount, SortOrder};
pub use client::{BackstageClient, Probe};
pub use config::{
    ClientConfig, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BASE_DELAY, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT, MAX_RETRY_DELAY,
};
pub use entity_ref::{DEFAULT_NAMESPACE, EntityRef, RefError};
pub use error::BackstageError;
pub use scaffolder::{
    DryRun, DryRunFile, DryRunResult, EVENTS_LONG_POLL, NewTask, ParameterSchema, ParameterStep,
    TASK_STATUSES, Task, TaskEvent, TaskList, TaskListQuery, is_final_status,
};
pub use search::{Highlight, SearchQuery, SearchResult, SearchResultSet};
pub use techdocs::{SyncOutcome, TECHDOCS_METADATA_FILE, TechDocsMetadata};
