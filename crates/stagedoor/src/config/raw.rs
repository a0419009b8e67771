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
    /// Who may call the HTTP transport.
    pub auth: Option<RawAuth>,
    /// The audit log of tool calls.
    pub audit: Option<RawAudit>,
    /// The Actions Registry bridge.
    pub actions: Option<super::actions::RawActions>,
    /// Which tool groups are served.
    pub tools: Option<super::actions::RawTools>,
    /// The official plugin's server settings (names, instructions, named servers).
    pub mcp_actions: Option<super::actions::RawMcpActions>,
    /// Backstage's `backend` block (only `backend.actions` is read).
    pub backend: Option<super::actions::RawBackend>,
}

/// `auth:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAuth {
    /// Static bearer tokens, each with a subject and optional restrictions.
    pub tokens: Option<Vec<RawToken>>,
    /// A YAML/JSON file holding a list of tokens (same shape), re-read when it changes.
    pub tokens_file: Option<String>,
    /// OAuth resource-server mode backed by Backstage's auth backend.
    pub oauth: Option<RawOAuth>,
}

/// One static token.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawToken {
    /// The secret bearer value.
    pub token: String,
    /// Who the token stands for (shown in logs and the audit log).
    pub subject: String,
    /// Servers it may use (default: all).
    pub servers: Option<Vec<String>>,
    /// Tool id globs it may list and call (default: all), e.g. `catalog:*`.
    pub tools: Option<Vec<String>>,
    /// Only read-only tools.
    pub read_only: Option<bool>,
}

/// `auth.oauth:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawOAuth {
    /// Turn OAuth on.
    pub enabled: Option<bool>,
    /// Issuer of accepted user tokens (default `<backstage.baseUrl>/api/auth`).
    pub issuer: Option<String>,
    /// Scopes advertised in metadata and challenges (default `openid`).
    pub scopes: Option<Vec<String>>,
    /// Public URL of this server (default: from the request's Host).
    pub public_url: Option<String>,
}

/// `audit:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawAudit {
    /// Write the audit log (default true when auth is on).
    pub enabled: Option<bool>,
    /// A file to append to, or `stderr` (default).
    pub path: Option<String>,
}

/// One `backend.auth.externalAccess` entry.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawExternalAccess {
    /// `static` (others, e.g. `legacy` or `jwks`, are ignored with a warning).
    #[serde(rename = "type")]
    pub kind: String,
    /// `{token, subject}` for static entries.
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
    /// Backstage's plugin/permission restrictions (not applicable to stagedoor; ignored).
    pub access_restrictions: Option<Vec<serde_json::Value>>,
}

/// `server.limits:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawLimits {
    /// Requests per minute per principal.
    pub requests_per_minute: Option<u32>,
    /// Requests a principal may burst above the steady rate.
    pub burst: Option<u32>,
    /// Requests in flight at once; more are shed with 503.
    pub max_concurrent_requests: Option<usize>,
    /// Longest time a request may take before 504.
    pub request_timeout: Option<String>,
    /// Open SSE streams per principal.
    pub max_sse_streams_per_principal: Option<usize>,
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
    /// How long to keep serving after SIGTERM with `/readyz` answering 503, before
    /// stopping, so a load balancer's health check takes the replica out first.
    pub drain_delay: Option<String>,
    /// Instructions sent to clients at initialization.
    pub instructions: Option<String>,
    /// Rate, concurrency, timeout and stream limits.
    pub limits: Option<RawLimits>,
    /// Serve only tools that change nothing (hides run_template, cancel_task, ...).
    pub read_only: Option<bool>,
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
