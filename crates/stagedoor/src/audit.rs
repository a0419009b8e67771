//! The audit log: one JSON line per tool call, with every secret redacted from the arguments.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::config::security::AuditSink;

/// Replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Where lines go; a mutex keeps each line whole.
pub struct AuditLog {
    out: Mutex<Box<dyn Write + Send>>,
    known_secrets: Vec<String>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

/// One tool call, as audited.
#[derive(Debug, Clone)]
pub struct AuditRecord<'a> {
    /// Principal key (`static:<subject>`, `user:<ref>`, `local`).
    pub principal: &'a str,
    /// Server key (`default` for `/mcp`).
    pub server: &'a str,
    /// Tool id.
    pub tool: &'a str,
    /// `ok`, `error` or `denied`.
    pub outcome: &'a str,
    /// How long the call took.
    pub duration: Duration,
    /// Backstage's HTTP status, when a Backstage call failed.
    pub backstage_status: Option<u16>,
    /// The call's arguments (redacted before writing).
    pub arguments: &'a Map<String, Value>,
}

impl AuditLog {
    /// Opens the sink. `known_secrets` (e.g. configured tokens) are redacted wherever they appear.
    pub fn open(sink: &AuditSink, known_secrets: Vec<String>) -> std::io::Result<Self> {
        let out: Box<dyn Write + Send> = match sink {
            AuditSink::Stderr => Box::new(std::io::stderr()),
            AuditSink::File(path) => Box::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map(|f: File| std::io::LineWriter::new(f))?,
            ),
        };
        Ok(Self {
            out: Mutex::new(out),
            known_secrets,
        })
    }

    /// Writes one record. Failures to write are logged, never propagated.
    pub fn record(&self, r: &AuditRecord<'_>) {
        let mut args = Value::Object(r.arguments.clone());
        redact(&mut args, &self.known_secrets);
        let line = json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "kind": "tool_call",
            "principal": r.principal,
            "server": r.server,
            "tool": r.tool,
            "outcome": r.outcome,
            "durationMs": u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            "backstageStatus": r.backstage_status,
            "arguments": args,
        });
        let mut out = match self.out.lock() {
            Ok(o) => o,
            Err(p) => p.into_inner(),
        };
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "token",
        "secret",
        "password",
        "passwd",
        "authorization",
        "apikey",
        "credential",
        "privatekey",
        "cookie",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Whether a string looks like a credential: a JWT, a bearer header, or a long opaque token.
pub fn looks_like_secret(s: &str) -> bool {
    let t = s.trim();
    if t.len() >= 8 && t.to_ascii_lowercase().starts_with("bearer ") {
        return true;
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() == 3 && t.starts_with("eyJ") && parts.iter().all(|p| !p.is_empty()) {
        return true;
    }
    // Long runs of token characters with both letters and digits and no spaces.
    t.len() >= 32
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=+/".contains(c))
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars().any(|c| c.is_ascii_alphabetic())
        && !t.contains("--")
}

/// Redacts secrets in place: values under secret-looking keys, strings that look like
/// credentials, and any occurrence of a known secret.
pub fn redact(value: &mut Value, known: &[String]) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v, known);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, known)),
        Value::String(s) => {
            if looks_like_secret(s) {
                *s = REDACTED.into();
            } else {
                for secret in known.iter().filter(|k| k.len() >= 4) {
                    if s.contains(secret.as_str()) {
                        *s = s.replace(secret.as_str(), REDACTED);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_everywhere() {
        let mut v = json!({
            "entityRef": "component:default/web",
            "secrets": {"GITHUB_TOKEN": "ghp_abc"},
            "values": {"apiKey": "k", "name": "web", "note": "uses mytoken123 inside"},
            "list": ["eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl", "Bearer abcdefgh"],
            "opaque": "0123456789abcdefghijklmnopqrstuvwxyzABCD",
        });
        redact(&mut v, &["mytoken123".to_string()]);
        let text = v.to_string();
        for leaked in [
            "ghp_abc",
            "\"k\"",
            "mytoken123",
            "eyJhbGci",
            "Bearer abc",
            "0123456789abcdef",
        ] {
            assert!(!text.contains(leaked), "{leaked} leaked: {text}");
        }
        assert_eq!(v["entityRef"], "component:default/web");
        assert_eq!(v["values"]["name"], "web");
    }

    #[test]
    fn ordinary_values_are_kept() {
        for s in [
            "payment-service",
            "component:default/payment-service",
            "a sentence with words",
            "2024-01-01",
        ] {
            assert!(!looks_like_secret(s), "{s}");
        }
    }

    #[test]
    fn records_are_json_lines() {
        let dir = std::env::temp_dir().join(format!("stagedoor-audit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        let log =
            AuditLog::open(&AuditSink::File(path.clone()), vec!["sekrit-token".into()]).unwrap();
        let mut args = Map::new();
        args.insert("q".into(), json!("sekrit-token"));
        log.record(&AuditRecord {
            principal: "static:ci",
            server: "default",
            tool: "catalog:search_catalog",
            outcome: "ok",
            duration: Duration::from_millis(12),
            backstage_status: None,
            arguments: &args,
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let line: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["tool"], "catalog:search_catalog");
        assert_eq!(line["durationMs"], 12);
        assert!(!text.contains("sekrit-token"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
