//! Every default value of the configuration, named and documented once.

use std::time::Duration;

/// Host the HTTP transport binds when none is given: loopback only.
pub const LISTEN_HOST: &str = "127.0.0.1";
/// Port the HTTP transport binds when none is given (Backstage's 7007, plus one).
pub const LISTEN_PORT: u16 = 7008;
/// Per-request timeout toward Backstage (the Node server's `REQUEST_TIMEOUT_MS` default).
pub const BACKSTAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP/TLS connect timeout toward Backstage.
pub const BACKSTAGE_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Extra attempts for idempotent requests that failed to connect or got 502/503/504.
pub const BACKSTAGE_RETRIES: u32 = 2;
/// Largest response body accepted from Backstage.
pub const BACKSTAGE_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// How long a Backstage answer is reused (the Node server's `CACHE_TTL_SECONDS` default).
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// Most cached Backstage answers kept.
pub const CACHE_MAX_ENTRIES: u64 = 10_000;
/// Largest MCP request body accepted over HTTP.
pub const MAX_REQUEST_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long in-flight requests may run after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a stopping HTTP server keeps serving with readiness 503 before it stops
/// accepting: none (set it above a load balancer's health-check interval behind one).
pub const DRAIN_DELAY: Duration = Duration::ZERO;
/// Log filter when neither config nor `RUST_LOG` says otherwise.
pub const LOG_LEVEL: &str = "info";
/// How often bridged action lists are fetched again in the background.
pub const ACTIONS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Files considered in a directory catalog path: every YAML file (one that holds no catalog
/// entity is skipped and counted).
pub const CATALOG_INCLUDE: [&str; 2] = ["**/*.yaml", "**/*.yml"];
/// Skipped inside directory catalog paths: dependencies, VCS and hidden directories, and
/// scaffolder template skeletons (their `catalog-info.yaml` holds `${{ values }}` templating).
pub const CATALOG_EXCLUDE: [&str; 4] = [
    "**/node_modules/**",
    "**/.*/**",
    "**/skeleton/**",
    "**/target/**",
];
/// Quiet time after a catalog file changes before it is reloaded.
pub const CATALOG_DEBOUNCE: Duration = Duration::from_millis(250);
/// Largest catalog or placeholder file read.
pub const CATALOG_MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
