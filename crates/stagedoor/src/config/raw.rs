//! The raw configuration: what a YAML file (or the environment) may say, before validation.
//!
//! Every field is optional so that each layer can be partial; [`super::settings`] turns the
//! merged layers into validated [`super::Settings`]. Unknown keys are errors.

use serde::{Deserialize, Serialize};

/// The whole configuration file, as written (camelCase keys, like Backstage's app-config).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawConfig {
    /// How to reach Backstage.
    pub backstage: Option<RawBackstage>,
    /// How stagedoor serves MCP.
    pub server: Option<RawServer>,
    /// Response caching toward Backstage.
    pub cache: Option<RawCache>,
    /// Logging (always to stderr).
    pub logging: Option<RawLogging>,
    /// A local catalog served instead of Backstage.
    pub catalog: Option<RawCatalog>,
}

/// `backstage:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBackstage {
    /// Base URL of the Backstage backend, e.g. `https://backstage.example.com`.
    pub base_url: Option<String>,
    /// Bearer token sent to Backstage (a static external-access token or a user token).
    pub token: Option<String>,
    /// Per-request timeout (`10s`, `500ms`).
    pub timeout: Option<String>,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Option<String>,
    /// Extra attempts for idempotent requests on connect errors and 502/503/504.
    pub retries: Option<u32>,
    /// Largest response body accepted from Backstage, in bytes.
    pub max_response_bytes: Option<usize>,
}

/// `server:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawServer {
    /// `stdio` or `http`.
    pub transport: Option<String>,
    /// Listen address for `http`, e.g. `127.0.0.1:7008`.
    pub listen: Option<String>,
    /// Keep legacy (`initialize`) clients in server-side sessions instead of serving statelessly.
    pub sessions: Option<bool>,
    /// Accepted `Host` header values (hostnames or `host:port`).
    pub allowed_hosts: Option<Vec<String>>,
    /// Accepted browser `Origin` values; any other Origin is refused with 403.
    pub allowed_origins: Option<Vec<String>>,
    /// Largest accepted request body, in bytes.
    pub max_request_body_bytes: Option<usize>,
    /// How long in-flight requests may take to finish on shutdown.
    pub shutdown_grace: Option<String>,
    /// Instructions sent to clients at initialization.
    pub instructions: Option<String>,
}

/// `cache:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCache {
    /// How long a Backstage answer may be reused (`0s` turns caching off).
    pub ttl: Option<String>,
    /// Most entries kept.
    pub max_entries: Option<u64>,
}

/// `logging:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawLogging {
    /// A tracing filter such as `info` or `stagedoor=debug,info`.
    pub level: Option<String>,
    /// `text` or `json`.
    pub format: Option<String>,
}

/// `catalog:` block: catalog files served without Backstage.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawCatalog {
    /// Catalog files or directories (relative paths are relative to the working directory).
    pub paths: Option<Vec<String>>,
    /// Globs of the files loaded from a directory path.
    pub include: Option<Vec<String>>,
    /// Globs of files and directories skipped inside directory paths.
    pub exclude: Option<Vec<String>>,
    /// Watch the files and reload on change.
    pub watch: Option<bool>,
    /// Quiet time after a change before reloading (`250ms`).
    pub debounce: Option<String>,
    /// Largest catalog or placeholder file read, in bytes.
    pub max_file_bytes: Option<u64>,
}
