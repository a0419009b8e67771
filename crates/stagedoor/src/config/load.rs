//! Reading configuration layers: YAML files, `${VAR}` substitution, the standalone Node
//! server's environment variables, and layering (later wins).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::ConfigError;
use super::raw::RawConfig;

/// Where configuration reads environment variables from.
///
/// Production uses [`ProcessEnv`]; tests pass a map so they never touch the process
/// environment.
pub trait Env {
    /// The value of `key`, if set (empty values count as set).
    fn get(&self, key: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key).cloned()
    }
}

/// One configuration layer, with the name of where it came from for error messages.
#[derive(Debug, Clone)]
pub struct Layer {
    /// A file path, `environment` or `command line`.
    pub origin: String,
    /// The layer's content as a JSON tree (YAML parsed, variables substituted).
    pub value: Value,
}

/// Reads and parses one YAML file, substituting `${VAR}` and `${VAR:-default}` in every
/// string value. The layer is checked for unknown keys and wrong types on its own, so an
/// error names the file it is in.
pub fn read_file(path: &Path, env: &dyn Env) -> Result<Layer, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&origin, None, format!("cannot read the file: {e}")))?;
    parse_yaml(&origin, &text, env)
}

/// Parses YAML text into a checked layer (see [`read_file`]).
pub fn parse_yaml(origin: &str, text: &str, env: &dyn Env) -> Result<Layer, ConfigError> {
    let parsed: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::new(
                origin,
                None,
                format!("not valid YAML: {}", super::yaml_error::describe(&e)),
            )
        })?
    };
    let mut value = match parsed {
        Value::Null => Value::Object(Map::new()),
        v @ Value::Object(_) => v,
        other => {
            return Err(ConfigError::new(
                origin,
                None,
                format!(
                    "the top level must be a mapping of keys, found {}",
                    kind_name(&other)
                ),
            ));
        }
    };
    substitute(&mut value, env, origin, &mut Vec::new())?;
    let layer = Layer {
        origin: origin.to_string(),
        value,
    };
    check_layer(&layer)?;
    Ok(layer)
}

/// The layer made of the standalone Node server's environment variables
/// (`BACKSTAGE_BASE_URL`, `BACKSTAGE_TOKEN`, `MCP_TRANSPORT`, `HOST`, `PORT`,
/// `CACHE_TTL_SECONDS`, `REQUEST_TIMEOUT_MS`).
pub fn env_layer(env: &dyn Env) -> Result<Layer, ConfigError> {
    const ORIGIN: &str = "environment";
    let mut backstage = Map::new();
    let mut server = Map::new();
    let mut cache = Map::new();
    if let Some(v) = non_empty(env, "BACKSTAGE_BASE_URL") {
        backstage.insert("baseUrl".into(), Value::String(v));
    }
    if let Some(v) = non_empty(env, "BACKSTAGE_TOKEN") {
        backstage.insert("token".into(), Value::String(v));
    }
    if let Some(v) = non_empty(env, "REQUEST_TIMEOUT_MS") {
        let ms: u64 = v.trim().parse().map_err(|_| {
            ConfigError::new(
                ORIGIN,
                Some("REQUEST_TIMEOUT_MS"),
                format!("expected a whole number of milliseconds, got `{v}`"),
            )
        })?;
        backstage.insert("timeout".into(), Value::String(format!("{ms}ms")));
    }
    if let Some(v) = non_empty(env, "CACHE_TTL_SECONDS") {
        let s: u64 = v.trim().parse().map_err(|_| {
            ConfigError::new(
                ORIGIN,
                Some("CACHE_TTL_SECONDS"),
                format!("expected a whole number of seconds, got `{v}`"),
            )
        })?;
        cache.insert("ttl".into(), Value::String(format!("{s}s")));
    }
    if let Some(v) = non_empty(env, "MCP_TRANSPORT") {
        server.insert("transport".into(), Value::String(v));
    }
    let host = non_empty(env, "HOST");
    let port = non_empty(env, "PORT");
    if host.is_some() || port.is_some() {
        let host = host.unwrap_or_else(|| super::defaults::LISTEN_HOST.to_string());
        let port = match port {
            Some(p) => p,
            None => super::defaults::LISTEN_PORT.to_string(),
        };
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host
        };
        server.insert("listen".into(), Value::String(format!("{host}:{port}")));
    }
    let mut root = Map::new();
    for (key, block) in [
        ("backstage", backstage),
        ("server", server),
        ("cache", cache),
    ] {
        if !block.is_empty() {
            root.insert(key.into(), Value::Object(block));
        }
    }
    let layer = Layer {
        origin: ORIGIN.into(),
        value: Value::Object(root),
    };
    check_layer(&layer)?;
    Ok(layer)
}

fn non_empty(env: &dyn Env, key: &str) -> Option<String> {
    env.get(key).filter(|v| !v.trim().is_empty())
}

/// Deep-merges `upper` over `lower`: mappings merge key by key, anything else replaces.
pub fn merge(lower: &mut Value, upper: Value) {
    match (lower, upper) {
        (Value::Object(lo), Value::Object(up)) => {
            for (k, v) in up {
                match lo.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        lo.insert(k, v);
                    }
                }
            }
        }
        (lo, up) => *lo = up,
    }
}

/// Deserializes a merged tree into [`RawConfig`], naming the key path and suggesting the
/// closest known key when a key is unknown.
pub fn to_raw(origin: &str, value: Value) -> Result<RawConfig, ConfigError> {
    serde_path_to_error::deserialize::<_, RawConfig>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let (key, message) = explain_serde_error(&path, &message);
        ConfigError::new(origin, key.as_deref(), message)
    })
}

fn check_layer(layer: &Layer) -> Result<(), ConfigError> {
    to_raw(&layer.origin, layer.value.clone()).map(|_| ())
}

/// Turns serde's messages into ours: the full key path, and a did-you-mean for unknown keys.
fn explain_serde_error(path: &str, message: &str) -> (Option<String>, String) {
    let parent = if path == "." || path.is_empty() {
        None
    } else {
        Some(path.to_string())
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (unknown, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|s| !s.is_empty())
            .collect();
        // serde_path_to_error's path already ends at the unknown key.
        let key = parent.unwrap_or_else(|| unknown.to_string());
        let mut msg = format!("unknown key `{unknown}`");
        if let Some(best) = did_you_mean(unknown, &expected) {
            msg.push_str(&format!(" (did you mean `{best}`?)"));
        }
        if !expected.is_empty() {
            msg.push_str(&format!("; known keys here: {}", expected.join(", ")));
        }
        return (Some(key), msg);
    }
    (parent, message.to_string())
}

/// The known key closest to `unknown`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(unknown: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = unknown.to_ascii_lowercase();
    known
        .iter()
        .map(|k| {
            let score = if k.to_ascii_lowercase() == lower {
                1.0
            } else {
                strsim::jaro_winkler(&lower, &k.to_ascii_lowercase())
            };
            (score, *k)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` in every string of the tree; `$${` stays a
/// literal `${`. A variable that is unset and has no default is an error naming the key.
fn substitute(
    value: &mut Value,
    env: &dyn Env,
    origin: &str,
    path: &mut Vec<String>,
) -> Result<(), ConfigError> {
    match value {
        Value::String(s) => {
            if s.contains('$') {
                *s = substitute_str(s, env).map_err(|msg| {
                    let key = path.join(".");
                    ConfigError::new(origin, Some(key.as_str()).filter(|p| !p.is_empty()), msg)
                })?;
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                substitute(item, env, origin, path)?;
                path.pop();
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                if !is_ignored_subtree(path) {
                    substitute(v, env, origin, path)?;
                }
                path.pop();
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Backstage keys stagedoor accepts without reading (`backend.database`, `backend.auth`,
/// `mcpActions.tracing`, ...): their `${VAR}`s are left alone, so a pasted app-config
/// fragment does not need Backstage's environment.
fn is_ignored_subtree(path: &[String]) -> bool {
    match path {
        [b, k] if b == "backend" => super::actions::IGNORED_BACKEND_KEYS.contains(&k.as_str()),
        // backend.auth.externalAccess is read (static entries become tokens); the rest is not.
        [b, a, k] if b == "backend" && a == "auth" => k != "externalAccess",
        [m, t] if m == "mcpActions" && t == "tracing" => true,
        _ => false,
    }
}

/// Substitutes variables in one string (see [`substitute`]).
pub fn substitute_str(input: &str, env: &dyn Env) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            return Err(format!(
                "unterminated `${{` in `{input}` (write `$${{` for a literal `${{`)"
            ));
        };
        let body = &body_start[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{body}}}` is not a valid variable reference"));
        }
        match (env.get(name).filter(|v| !v.is_empty()), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => {
                return Err(format!(
                    "environment variable `{name}` is not set (give a default with `${{{name}:-value}}`)"
                ));
            }
        }
        rest = &body_start[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests;
