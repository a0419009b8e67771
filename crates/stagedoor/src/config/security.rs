//! Validated security settings: inbound tokens, OAuth resource-server mode, limits and the
//! audit log.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;

use super::ConfigError;
use super::raw::{RawAudit, RawAuth, RawExternalAccess, RawLimits, RawToken};
use super::settings::Secret;

/// Shortest static token `check` does not warn about.
pub const MIN_TOKEN_CHARS: usize = 24;

/// Default requests per minute per principal.
pub const REQUESTS_PER_MINUTE: u32 = 600;
/// Default burst per principal.
pub const BURST: u32 = 60;
/// Default requests in flight before load shedding.
pub const MAX_CONCURRENT_REQUESTS: usize = 64;
/// Default request timeout (long enough for a waited scaffolder run).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Default open SSE streams per principal.
pub const MAX_SSE_STREAMS: usize = 8;

/// One inbound static token and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The bearer value.
    pub token: Secret,
    /// Who it stands for.
    pub subject: String,
    /// Servers it may use; empty = all.
    pub servers: Vec<String>,
    /// Tool id globs it may use; empty = all.
    pub tools: Vec<String>,
    /// Only read-only tools.
    pub read_only: bool,
}

/// OAuth resource-server settings.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Issuer of accepted user tokens (Backstage's auth backend).
    pub issuer: String,
    /// Scopes advertised.
    pub scopes: Vec<String>,
    /// Public base URL of this server, if fixed.
    pub public_url: Option<Url>,
}

/// Who may call the HTTP transport.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Static tokens from config (and `backend.auth.externalAccess`).
    pub tokens: Vec<StaticToken>,
    /// A tokens file re-read on change.
    pub tokens_file: Option<PathBuf>,
    /// OAuth mode.
    pub oauth: Option<OAuthSettings>,
    /// Problems worth a warning (not errors).
    pub warnings: Vec<String>,
}

impl AuthSettings {
    /// True when any inbound authentication is configured.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty() || self.tokens_file.is_some() || self.oauth.is_some()
    }
}

/// Limits on the HTTP surface.
#[derive(Debug, Clone)]
pub struct LimitsSettings {
    /// Requests per minute per principal.
    pub requests_per_minute: u32,
    /// Burst per principal.
    pub burst: u32,
    /// Requests in flight before 503.
    pub max_concurrent_requests: usize,
    /// Request timeout (504 after).
    pub request_timeout: Duration,
    /// Open SSE streams per principal.
    pub max_sse_streams_per_principal: usize,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            requests_per_minute: REQUESTS_PER_MINUTE,
            burst: BURST,
            max_concurrent_requests: MAX_CONCURRENT_REQUESTS,
            request_timeout: REQUEST_TIMEOUT,
            max_sse_streams_per_principal: MAX_SSE_STREAMS,
        }
    }
}

/// Where audit lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSink {
    /// Standard error.
    Stderr,
    /// Appended to a file.
    File(PathBuf),
}

/// Validates a parsed token entry.
pub fn token(raw: &RawToken, key: &str, origin: &str) -> Result<StaticToken, ConfigError> {
    let err = |k: &str, m: &str| ConfigError::new(origin, Some(&format!("{key}.{k}")), m);
    let value = raw.token.trim();
    if value.is_empty() {
        return Err(err("token", "is empty"));
    }
    if value.contains(char::is_whitespace) {
        return Err(err("token", "contains whitespace"));
    }
    if raw.subject.trim().is_empty() {
        return Err(err("subject", "is empty; name who the token stands for"));
    }
    let tools = raw.tools.clone().unwrap_or_default();
    for g in &tools {
        globset::Glob::new(g)
            .map_err(|e| err("tools", &format!("`{g}` is not a valid glob: {e}")))?;
    }
    Ok(StaticToken {
        token: Secret::new(value.to_string()),
        subject: raw.subject.trim().to_string(),
        servers: raw.servers.clone().unwrap_or_default(),
        tools,
        read_only: raw.read_only.unwrap_or(false),
    })
}

/// Validates the `auth:` and `backend.auth` blocks.
pub fn auth(
    raw: Option<RawAuth>,
    external: Option<Vec<RawExternalAccess>>,
    backstage_base: Option<&Url>,
    origin: &str,
) -> Result<AuthSettings, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out = AuthSettings::default();
    for (i, t) in raw.tokens.iter().flatten().enumerate() {
        out.tokens
            .push(token(t, &format!("auth.tokens.{i}"), origin)?);
    }
    let external = external.unwrap_or_default();
    for (i, e) in external.iter().enumerate() {
        let key = format!("backend.auth.externalAccess.{i}");
        if e.kind != "static" {
            out.warnings.push(format!(
                "{key}: type `{}` is not used by stagedoor (only `static` entries become tokens)",
                e.kind
            ));
            continue;
        }
        let opts = e.options.clone().unwrap_or_default();
        let get = |k: &str| {
            opts.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let t = RawToken {
            token: get("token"),
            subject: get("subject"),
            ..Default::default()
        };
        out.tokens
            .push(token(&t, &format!("{key}.options"), origin)?);
        if e.access_restrictions.is_some() {
            out.warnings.push(format!(
                "{key}: accessRestrictions are Backstage plugin permissions; stagedoor ignores them (use auth.tokens[].tools)"
            ));
        }
    }
    for t in &out.tokens {
        if t.token.expose().chars().count() < MIN_TOKEN_CHARS {
            out.warnings.push(format!(
                "the token of `{}` is short ({} characters); use at least {MIN_TOKEN_CHARS} random characters",
                t.subject,
                t.token.expose().chars().count()
            ));
        }
    }
    if let Some(d) = super::tokens_file::duplicate(&out.tokens, "token") {
        return Err(ConfigError::new(origin, Some("auth.tokens"), d));
    }
    out.tokens_file = raw.tokens_file.map(PathBuf::from);
    if let Some(path) = &out.tokens_file {
        // The file must exist and be valid at start; later changes are watched.
        super::tokens_file::load(path).map_err(|e| {
            ConfigError::new(
                origin,
                Some("auth.tokensFile"),
                format!("{}: {e}", path.display()),
            )
        })?;
    }
    if let Some(o) = raw.oauth.filter(|o| o.enabled.unwrap_or(true)) {
        let issuer = match (o.issuer, backstage_base) {
            (Some(i), _) => {
                Url::parse(&i).map_err(|e| {
                    ConfigError::new(
                        origin,
                        Some("auth.oauth.issuer"),
                        format!("`{i}` is not a URL: {e}"),
                    )
                })?;
                i.trim_end_matches('/').to_string()
            }
            (None, Some(base)) => format!("{}/api/auth", base.as_str().trim_end_matches('/')),
            (None, None) => {
                return Err(ConfigError::new(
                    origin,
                    Some("auth.oauth"),
                    "OAuth needs Backstage: set backstage.baseUrl (its auth backend issues the tokens)",
                ));
            }
        };
        let public_url = match o.public_url {
            Some(u) => Some(Url::parse(&u).map_err(|e| {
                ConfigError::new(
                    origin,
                    Some("auth.oauth.publicUrl"),
                    format!("`{u}` is not a URL: {e}"),
                )
            })?),
            None => None,
        };
        out.oauth = Some(OAuthSettings {
            issuer,
            scopes: o.scopes.unwrap_or_else(|| vec!["openid".into()]),
            public_url,
        });
    }
    Ok(out)
}

/// Validates `server.limits`.
pub fn limits(raw: Option<RawLimits>, origin: &str) -> Result<LimitsSettings, ConfigError> {
    let raw = raw.unwrap_or_default();
    let d = LimitsSettings::default();
    let positive = |v: Option<u64>, key: &str| -> Result<(), ConfigError> {
        if v == Some(0) {
            return Err(ConfigError::new(
                origin,
                Some(key),
                "must be more than zero",
            ));
        }
        Ok(())
    };
    positive(
        raw.requests_per_minute.map(u64::from),
        "server.limits.requestsPerMinute",
    )?;
    positive(raw.burst.map(u64::from), "server.limits.burst")?;
    positive(
        raw.max_concurrent_requests.map(|v| v as u64),
        "server.limits.maxConcurrentRequests",
    )?;
    positive(
        raw.max_sse_streams_per_principal.map(|v| v as u64),
        "server.limits.maxSseStreamsPerPrincipal",
    )?;
    let request_timeout = match raw.request_timeout.as_deref() {
        Some(s) => humantime::parse_duration(s.trim()).map_err(|e| {
            ConfigError::new(
                origin,
                Some("server.limits.requestTimeout"),
                format!("`{s}` is not a duration like `300s` ({e})"),
            )
        })?,
        None => d.request_timeout,
    };
    if request_timeout.is_zero() {
        return Err(ConfigError::new(
            origin,
            Some("server.limits.requestTimeout"),
            "is zero; give a positive duration like `300s`",
        ));
    }
    Ok(LimitsSettings {
        requests_per_minute: raw.requests_per_minute.unwrap_or(d.requests_per_minute),
        burst: raw.burst.unwrap_or(d.burst),
        max_concurrent_requests: raw
            .max_concurrent_requests
            .unwrap_or(d.max_concurrent_requests),
        request_timeout,
        max_sse_streams_per_principal: raw
            .max_sse_streams_per_principal
            .unwrap_or(d.max_sse_streams_per_principal),
    })
}

/// Validates `audit:`; on by default when inbound auth is configured.
pub fn audit(raw: Option<RawAudit>, auth_enabled: bool) -> Option<AuditSink> {
    let raw = raw.unwrap_or_default();
    if !raw.enabled.unwrap_or(auth_enabled || raw.path.is_some()) {
        return None;
    }
    Some(match raw.path.as_deref().map(str::trim) {
        None | Some("") | Some("stderr") | Some("-") => AuditSink::Stderr,
        Some(p) => AuditSink::File(PathBuf::from(p)),
    })
}

/// A redacted description of the security settings for `stagedoor check`.
pub fn redacted_view(
    auth: &AuthSettings,
    limits: &LimitsSettings,
    audit: &Option<AuditSink>,
) -> Value {
    json!({
        "auth": {
            "tokens": auth.tokens.iter().map(|t| json!({
                "subject": t.subject,
                "token": t.token.redacted(),
                "servers": t.servers,
                "tools": t.tools,
                "readOnly": t.read_only,
            })).collect::<Vec<_>>(),
            "tokensFile": auth.tokens_file.as_ref().map(|p| p.display().to_string()),
            "oauth": auth.oauth.as_ref().map(|o| json!({
                "issuer": o.issuer,
                "scopes": o.scopes,
                "publicUrl": o.public_url.as_ref().map(Url::as_str),
            })),
        },
        "limits": {
            "requestsPerMinute": limits.requests_per_minute,
            "burst": limits.burst,
            "maxConcurrentRequests": limits.max_concurrent_requests,
            "requestTimeout": humantime::format_duration(limits.request_timeout).to_string(),
            "maxSseStreamsPerPrincipal": limits.max_sse_streams_per_principal,
        },
        "audit": match audit {
            None => Value::Null,
            Some(AuditSink::Stderr) => json!("stderr"),
            Some(AuditSink::File(p)) => json!(p.display().to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_access_static_entries_become_tokens() {
        let mut opts = serde_json::Map::new();
        opts.insert("token".into(), json!("a-long-enough-static-token-value"));
        opts.insert("subject".into(), json!("mcp-clients"));
        let external = Some(vec![
            RawExternalAccess {
                kind: "static".into(),
                options: Some(opts),
                access_restrictions: None,
            },
            RawExternalAccess {
                kind: "jwks".into(),
                ..Default::default()
            },
        ]);
        let a = auth(None, external, None, "t").unwrap();
        assert_eq!(a.tokens.len(), 1);
        assert_eq!(a.tokens[0].subject, "mcp-clients");
        assert!(a.warnings.iter().any(|w| w.contains("jwks")));
        assert!(a.enabled());
    }

    #[test]
    fn short_tokens_warn_and_bad_globs_fail() {
        let raw = RawAuth {
            tokens: Some(vec![RawToken {
                token: "short".into(),
                subject: "s".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let a = auth(Some(raw), None, None, "t").unwrap();
        assert!(a.warnings.iter().any(|w| w.contains("short")));
        let raw = RawAuth {
            tokens: Some(vec![RawToken {
                token: "x".repeat(30),
                subject: "s".into(),
                tools: Some(vec!["catalog:[".into()]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let e = auth(Some(raw), None, None, "f.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("auth.tokens.0.tools"), "{e}");
    }

    #[test]
    fn oauth_issuer_defaults_to_backstage_auth() {
        let raw = RawAuth {
            oauth: Some(crate::config::raw::RawOAuth {
                enabled: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let base = Url::parse("http://127.0.0.1:7007/").unwrap();
        let a = auth(Some(raw.clone()), None, Some(&base), "t").unwrap();
        assert_eq!(a.oauth.unwrap().issuer, "http://127.0.0.1:7007/api/auth");
        assert!(auth(Some(raw), None, None, "t").is_err());
    }

    #[test]
    fn audit_defaults_follow_auth() {
        assert_eq!(audit(None, false), None);
        assert_eq!(audit(None, true), Some(AuditSink::Stderr));
        let raw = RawAudit {
            path: Some("/tmp/a.log".into()),
            ..Default::default()
        };
        assert_eq!(
            audit(Some(raw), false),
            Some(AuditSink::File("/tmp/a.log".into()))
        );
    }
}
