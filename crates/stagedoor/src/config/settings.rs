//! Validated settings: typed URLs, durations and addresses, built from the merged raw layers.
//! Nothing binds or dials before this step has succeeded.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;
use url::Url;

use super::ConfigError;
use super::defaults;
use super::raw::RawConfig;

/// A secret string: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// A redacted description safe to print: length and kind only.
    pub fn redacted(&self) -> String {
        format!("<redacted, {} chars>", self.0.chars().count())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Which MCP transport `serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Newline-delimited JSON-RPC on stdin/stdout.
    Stdio,
    /// Streamable HTTP at `/mcp`.
    Http,
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stdio" => Ok(Self::Stdio),
            "http" | "streamable-http" | "streamablehttp" => Ok(Self::Http),
            other => Err(format!(
                "unknown transport `{other}`; use `stdio` or `http`"
            )),
        }
    }
}

/// How to reach Backstage.
#[derive(Debug, Clone)]
pub struct BackstageSettings {
    /// Base URL of the backend (no trailing slash semantics: paths are joined onto it).
    pub base_url: Url,
    /// Bearer token, if any.
    pub token: Option<Secret>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Extra attempts for idempotent requests.
    pub retries: u32,
    /// Largest accepted response body.
    pub max_response_bytes: usize,
}

/// How stagedoor serves MCP.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The transport of `serve`.
    pub transport: Transport,
    /// Listen address of the HTTP transport.
    pub listen: SocketAddr,
    /// Server-side sessions for legacy clients (default: stateless).
    pub sessions: bool,
    /// Accepted Host values; empty means the listen address plus loopback names.
    pub allowed_hosts: Vec<String>,
    /// Accepted Origin values; any other Origin gets 403.
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body.
    pub max_request_body_bytes: usize,
    /// Drain time on shutdown.
    pub shutdown_grace: Duration,
    /// Serving time after the shutdown signal with readiness 503, before stopping.
    pub drain_delay: Duration,
    /// Instructions sent to clients.
    pub instructions: Option<String>,
    /// Rate, concurrency, timeout and stream limits.
    pub limits: super::security::LimitsSettings,
    /// Only tools that change nothing are listed and callable.
    pub read_only: bool,
}

/// Backstage response caching.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// Time to live; zero disables the cache.
    pub ttl: Duration,
    /// Most entries kept.
    pub max_entries: u64,
}

/// A local catalog served instead of Backstage.
#[derive(Debug, Clone)]
pub struct CatalogSettings {
    /// Files or directories, absolute.
    pub paths: Vec<std::path::PathBuf>,
    /// Globs of the files loaded from a directory.
    pub include: Vec<String>,
    /// Globs skipped inside directories.
    pub exclude: Vec<String>,
    /// Reload on change.
    pub watch: bool,
    /// Quiet time before a reload.
    pub debounce: Duration,
    /// Largest file read.
    pub max_file_bytes: u64,
}

impl CatalogSettings {
    /// The local catalog's configuration (globs compiled; they were validated already).
    pub fn to_config(&self) -> crate::local::CatalogConfig {
        let empty = globset::GlobSet::empty;
        crate::local::CatalogConfig {
            load: crate::local::LoadOptions {
                paths: self.paths.clone(),
                include: crate::local::glob_set(&self.include).unwrap_or_else(|_| empty()),
                exclude: crate::local::glob_set(&self.exclude).unwrap_or_else(|_| empty()),
                max_file_bytes: self.max_file_bytes,
            },
            watch: self.watch,
            debounce: self.debounce,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LoggingSettings {
    /// tracing filter directive.
    pub level: String,
    /// Output format.
    pub format: LogFormat,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Backstage connection; `None` when no base URL was given anywhere.
    pub backstage: Option<BackstageSettings>,
    /// Serving.
    pub server: ServerSettings,
    /// Caching.
    pub cache: CacheSettings,
    /// Logging.
    pub logging: LoggingSettings,
    /// Who may call the HTTP transport.
    pub auth: super::security::AuthSettings,
    /// Where audit lines go, if anywhere.
    pub audit: Option<super::security::AuditSink>,
    /// The Actions Registry bridge.
    pub actions: super::actions::ActionsSettings,
    /// Servers (default and named) and tool groups.
    pub servers: super::actions::ServersSettings,
    /// The local catalog; when set, it is served instead of Backstage.
    pub catalog: Option<CatalogSettings>,
    /// Things worth one INFO line at start (a setting that is ignored, and why).
    pub notes: Vec<String>,
}

impl Settings {
    /// Warnings about a valid but risky configuration (printed by `check` and at start).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.auth.warnings.clone();
        let ip = self.server.listen.ip();
        if self.server.transport == Transport::Http && !ip.is_loopback() && !self.auth.enabled() {
            w.push(format!(
                "the HTTP listener {} is not on loopback and no auth is configured: anyone who can reach it can use your Backstage credentials; configure auth.tokens or auth.oauth",
                self.server.listen
            ));
        }
        w
    }

    /// Validates merged raw configuration. `origin` names the layers for messages.
    pub fn from_raw(raw: RawConfig, origin: &str) -> Result<Self, ConfigError> {
        let err = |key: &str, msg: String| ConfigError::new(origin, Some(key), msg);
        let b = raw.backstage.unwrap_or_default();
        let local = raw
            .catalog
            .as_ref()
            .and_then(|c| c.paths.as_ref())
            .is_some_and(|p| !p.is_empty());
        let mut notes = Vec::new();
        let backstage = match b.base_url.as_deref().map(str::trim) {
            None | Some("") => {
                if b.token.is_some() {
                    // A catalog path means local mode: a token exported for another day
                    // (e.g. BACKSTAGE_TOKEN in the shell) has nothing to be sent to.
                    if !local {
                        return Err(err(
                            "backstage.baseUrl",
                            "a token is configured but no base URL; set backstage.baseUrl or BACKSTAGE_BASE_URL to serve that Backstage, or give catalog files with --catalog PATH (or catalog.paths) to serve a local catalog".into(),
                        ));
                    }
                    notes.push(
                        "a Backstage token is configured without a base URL; serving the local catalog, the token is not used".into(),
                    );
                }
                None
            }
            Some(url) => {
                let base_url = parse_base_url(url).map_err(|m| err("backstage.baseUrl", m))?;
                let token = match b.token {
                    Some(t) if t.trim().is_empty() => {
                        return Err(err(
                            "backstage.token",
                            "is empty; remove it or give the token".into(),
                        ));
                    }
                    Some(t) if t.trim() != t || t.contains(char::is_whitespace) => {
                        return Err(err(
                            "backstage.token",
                            "contains whitespace; a bearer token is one word (check for a stray newline)".into(),
                        ));
                    }
                    Some(t) => Some(Secret::new(t)),
                    None => None,
                };
                Some(BackstageSettings {
                    base_url,
                    token,
                    timeout: positive_duration(b.timeout.as_deref(), defaults::BACKSTAGE_TIMEOUT)
                        .map_err(|m| err("backstage.timeout", m))?,
                    connect_timeout: positive_duration(
                        b.connect_timeout.as_deref(),
                        defaults::BACKSTAGE_CONNECT_TIMEOUT,
                    )
                    .map_err(|m| err("backstage.connectTimeout", m))?,
                    retries: match b.retries {
                        Some(r) if r > 10 => {
                            return Err(err(
                                "backstage.retries",
                                format!("{r} is too many; use 0 to 10"),
                            ));
                        }
                        Some(r) => r,
                        None => defaults::BACKSTAGE_RETRIES,
                    },
                    max_response_bytes: b
                        .max_response_bytes
                        .unwrap_or(defaults::BACKSTAGE_MAX_RESPONSE_BYTES),
                })
            }
        };
        if backstage.as_ref().is_some_and(|bs| bs.timeout.is_zero()) {
            return Err(err("backstage.timeout", "must be more than zero".into()));
        }

        let external_access = raw
            .backend
            .as_ref()
            .and_then(|b| b.auth.as_ref())
            .and_then(|a| a.external_access.clone());
        let (actions, servers) = super::actions::validate(
            super::actions::RawBlocks {
                actions: raw.actions,
                tools: raw.tools,
                mcp_actions: raw.mcp_actions,
                backend: raw.backend,
                server_instructions: raw.server.as_ref().and_then(|s| s.instructions.clone()),
            },
            origin,
            defaults::ACTIONS_REFRESH_INTERVAL,
        )?;

        let s = raw.server.unwrap_or_default();
        let transport = match s.transport.as_deref() {
            Some(t) => t.parse().map_err(|m| err("server.transport", m))?,
            None => Transport::Stdio,
        };
        let listen = match s.listen.as_deref() {
            Some(l) => parse_listen(l).map_err(|m| err("server.listen", m))?,
            None => SocketAddr::new(IpAddr::from([127, 0, 0, 1]), defaults::LISTEN_PORT),
        };
        let server = ServerSettings {
            transport,
            listen,
            sessions: s.sessions.unwrap_or(false),
            allowed_hosts: s.allowed_hosts.unwrap_or_default(),
            allowed_origins: validate_origins(s.allowed_origins.unwrap_or_default())
                .map_err(|m| err("server.allowedOrigins", m))?,
            max_request_body_bytes: match s.max_request_body_bytes {
                Some(0) => {
                    return Err(err(
                        "server.maxRequestBodyBytes",
                        "must be more than zero".into(),
                    ));
                }
                Some(n) => n,
                None => defaults::MAX_REQUEST_BODY_BYTES,
            },
            shutdown_grace: duration(s.shutdown_grace.as_deref(), defaults::SHUTDOWN_GRACE)
                .map_err(|m| err("server.shutdownGrace", m))?,
            drain_delay: duration(s.drain_delay.as_deref(), defaults::DRAIN_DELAY)
                .map_err(|m| err("server.drainDelay", m))?,
            instructions: servers.default.instructions.clone(),
            limits: super::security::limits(s.limits, origin)?,
            read_only: s.read_only.unwrap_or(false),
        };

        let c = raw.cache.unwrap_or_default();
        let cache = CacheSettings {
            ttl: duration(c.ttl.as_deref(), defaults::CACHE_TTL)
                .map_err(|m| err("cache.ttl", m))?,
            max_entries: c.max_entries.unwrap_or(defaults::CACHE_MAX_ENTRIES),
        };

        let l = raw.logging.unwrap_or_default();
        let logging = LoggingSettings {
            level: match l.level {
                None => defaults::LOG_LEVEL.to_string(),
                Some(level) => {
                    // A bare word would be taken as a target name: only level names may
                    // stand alone (`info`, `warn,stagedoor=debug`).
                    let bare_ok = level.split(',').map(str::trim).all(|d| {
                        d.contains('=')
                            || ["off", "error", "warn", "info", "debug", "trace"]
                                .contains(&d.to_ascii_lowercase().as_str())
                    });
                    if !bare_ok || tracing_subscriber::EnvFilter::try_new(&level).is_err() {
                        return Err(err(
                            "logging.level",
                            format!(
                                "`{level}` is not a level (off, error, warn, info, debug, trace) or a RUST_LOG-style filter such as `info,stagedoor=debug`"
                            ),
                        ));
                    }
                    level
                }
            },
            format: match l.format.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(err(
                        "logging.format",
                        format!("unknown format `{other}`; use `text` or `json`"),
                    ));
                }
            },
        };
        let auth = super::security::auth(
            raw.auth,
            external_access,
            backstage.as_ref().map(|b| &b.base_url),
            origin,
        )?;
        let audit = super::security::audit(raw.audit, auth.enabled());
        let catalog = catalog_settings(raw.catalog.unwrap_or_default(), &err)?;
        Ok(Self {
            backstage,
            server,
            cache,
            logging,
            auth,
            audit,
            actions,
            servers,
            catalog,
            notes,
        })
    }

    /// The effective configuration as YAML-ready data, with every secret redacted.
    pub fn redacted_view(&self) -> serde_json::Value {
        let backstage = self.backstage.as_ref().map(|b| {
            serde_json::json!({
                "baseUrl": b.base_url.as_str(),
                "token": b.token.as_ref().map(Secret::redacted),
                "timeout": humantime::format_duration(b.timeout).to_string(),
                "connectTimeout": humantime::format_duration(b.connect_timeout).to_string(),
                "retries": b.retries,
                "maxResponseBytes": b.max_response_bytes,
            })
        });
        serde_json::json!({
            "backstage": backstage,
            "server": {
                "transport": self.server.transport,
                "listen": self.server.listen.to_string(),
                "sessions": self.server.sessions,
                "allowedHosts": self.server.allowed_hosts,
                "allowedOrigins": self.server.allowed_origins,
                "maxRequestBodyBytes": self.server.max_request_body_bytes,
                "shutdownGrace": humantime::format_duration(self.server.shutdown_grace).to_string(),
                "drainDelay": humantime::format_duration(self.server.drain_delay).to_string(),
                "instructions": self.server.instructions,
                "readOnly": self.server.read_only,
            },
            "cache": {
                "ttl": humantime::format_duration(self.cache.ttl).to_string(),
                "maxEntries": self.cache.max_entries,
            },
            "logging": {"level": self.logging.level, "format": self.logging.format},
            "security": super::security::redacted_view(&self.auth, &self.server.limits, &self.audit),
            "actions": self.actions.view(),
            "mcpServers": self.servers.view(),
            "catalog": self.catalog.as_ref().map(|c| serde_json::json!({
                "paths": c.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "include": c.include,
                "exclude": c.exclude,
                "watch": c.watch,
                "debounce": humantime::format_duration(c.debounce).to_string(),
                "maxFileBytes": c.max_file_bytes,
            })),
        })
    }
}

fn catalog_settings(
    c: super::raw::RawCatalog,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<CatalogSettings>, ConfigError> {
    let paths = c.paths.unwrap_or_default();
    if paths.is_empty() {
        return Ok(None);
    }
    let cwd = std::env::current_dir().map_err(|e| {
        err(
            "catalog.paths",
            format!("cannot read the working directory: {e}"),
        )
    })?;
    let mut abs = Vec::new();
    for p in paths {
        if p.trim().is_empty() {
            return Err(err("catalog.paths", "contains an empty path".into()));
        }
        let path = crate::local::normalize_path(&cwd.join(p.trim()));
        if !path.exists() {
            return Err(err(
                "catalog.paths",
                format!("`{p}` does not exist (looked for {})", path.display()),
            ));
        }
        abs.push(path);
    }
    let include = c.include.unwrap_or_else(|| {
        defaults::CATALOG_INCLUDE
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    let exclude = c.exclude.unwrap_or_else(|| {
        defaults::CATALOG_EXCLUDE
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    crate::local::glob_set(&include).map_err(|m| err("catalog.include", m))?;
    crate::local::glob_set(&exclude).map_err(|m| err("catalog.exclude", m))?;
    Ok(Some(CatalogSettings {
        paths: abs,
        include,
        exclude,
        watch: c.watch.unwrap_or(true),
        debounce: duration(c.debounce.as_deref(), defaults::CATALOG_DEBOUNCE)
            .map_err(|m| err("catalog.debounce", m))?,
        max_file_bytes: match c.max_file_bytes {
            Some(0) => return Err(err("catalog.maxFileBytes", "must be more than zero".into())),
            Some(n) => n,
            None => defaults::CATALOG_MAX_FILE_BYTES,
        },
    }))
}

fn parse_base_url(input: &str) -> Result<Url, String> {
    let url = Url::parse(input).map_err(|e| {
        format!(
            "`{input}` is not an absolute URL ({e}); expected e.g. `https://backstage.example.com`"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{input}` has scheme `{}`; only http and https are supported",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; put the token in backstage.token".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{input}` must not have a query or fragment"));
    }
    if url.host_str().is_none() {
        return Err(format!("`{input}` has no host"));
    }
    Ok(url)
}

fn parse_listen(input: &str) -> Result<SocketAddr, String> {
    let input = input.trim();
    if let Ok(addr) = input.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = input.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{input}` has an invalid port"))?;
        return Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
    }
    match input.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("`{input}` resolves to no address")),
        Err(_) => Err(format!(
            "`{input}` is not an address like `127.0.0.1:7008` or `[::1]:7008`"
        )),
    }
}

fn validate_origins(origins: Vec<String>) -> Result<Vec<String>, String> {
    for o in &origins {
        if o == "null" {
            continue;
        }
        let url = Url::parse(o).map_err(|_| {
            format!("`{o}` is not an origin like `https://app.example.com` or `http://localhost:*`")
        })?;
        if url.host_str().is_none() {
            return Err(format!("`{o}` has no host"));
        }
    }
    Ok(origins)
}

/// Like [`duration`], refusing zero.
pub(crate) fn positive_duration(
    input: Option<&str>,
    default: Duration,
) -> Result<Duration, String> {
    match duration(input, default)? {
        d if d.is_zero() => Err(format!(
            "`{}` is zero; give a positive duration like `10s`",
            input.unwrap_or_default().trim()
        )),
        d => Ok(d),
    }
}

fn duration(input: Option<&str>, default: Duration) -> Result<Duration, String> {
    match input.map(str::trim) {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration like `10s` or `500ms` ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawBackstage, RawServer};

    fn with_backstage(b: RawBackstage) -> RawConfig {
        RawConfig {
            backstage: Some(b),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_are_safe() {
        let s = Settings::from_raw(RawConfig::default(), "test").unwrap();
        assert!(s.backstage.is_none());
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:7008");
        assert_eq!(s.server.transport, Transport::Stdio);
        assert!(!s.server.sessions);
    }

    #[test]
    fn base_url_is_validated() {
        for bad in ["ftp://x", "not a url", "http://u:p@h", "http://h/?q=1"] {
            let raw = with_backstage(RawBackstage {
                base_url: Some(bad.into()),
                ..Default::default()
            });
            let e = Settings::from_raw(raw, "f.yaml").unwrap_err().to_string();
            assert!(e.contains("backstage.baseUrl"), "{bad}: {e}");
        }
    }

    #[test]
    fn token_is_redacted_everywhere() {
        let raw = with_backstage(RawBackstage {
            base_url: Some("http://127.0.0.1:7007".into()),
            token: Some("super-secret-token".into()),
            ..Default::default()
        });
        let s = Settings::from_raw(raw, "t").unwrap();
        let shown = format!("{s:?} {}", s.redacted_view());
        assert!(!shown.contains("super-secret-token"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn catalog_paths_are_checked_and_defaulted() {
        use crate::config::raw::RawCatalog;
        let with = |c: RawCatalog| RawConfig {
            catalog: Some(c),
            ..Default::default()
        };
        assert!(
            Settings::from_raw(with(RawCatalog::default()), "t")
                .unwrap()
                .catalog
                .is_none()
        );
        let here = env!("CARGO_MANIFEST_DIR").to_string();
        let s = Settings::from_raw(
            with(RawCatalog {
                paths: Some(vec![here.clone()]),
                ..Default::default()
            }),
            "t",
        )
        .unwrap();
        let c = s.catalog.unwrap();
        assert!(c.watch && c.paths[0].is_absolute());
        assert_eq!(c.include, ["**/*.yaml", "**/*.yml"]);
        assert!(c.exclude.iter().any(|g| g.contains("skeleton")));
        let e = Settings::from_raw(
            with(RawCatalog {
                paths: Some(vec!["/no/such/dir".into()]),
                ..Default::default()
            }),
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.yaml: catalog.paths") && e.contains("does not exist"),
            "{e}"
        );
        let e = Settings::from_raw(
            with(RawCatalog {
                paths: Some(vec![here.clone()]),
                include: Some(vec!["a/{b".into()]),
                ..Default::default()
            }),
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("catalog.include"), "{e}");
        let e = Settings::from_raw(
            with(RawCatalog {
                paths: Some(vec![here]),
                debounce: Some("soon".into()),
                ..Default::default()
            }),
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("catalog.debounce"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let raw = RawConfig {
            server: Some(RawServer {
                listen: Some("nowhere".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = Settings::from_raw(raw, "s.yaml").unwrap_err().to_string();
        assert!(e.contains("s.yaml: server.listen"), "{e}");
        let raw = with_backstage(RawBackstage {
            base_url: Some("http://h".into()),
            timeout: Some("forever".into()),
            ..Default::default()
        });
        let e = Settings::from_raw(raw, "s.yaml").unwrap_err().to_string();
        assert!(e.contains("backstage.timeout"), "{e}");
        let raw = with_backstage(RawBackstage {
            token: Some("t".into()),
            ..Default::default()
        });
        assert!(Settings::from_raw(raw, "s").is_err());
    }
}
