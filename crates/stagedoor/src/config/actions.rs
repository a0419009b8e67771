//! Configuration of the Actions Registry bridge, the named servers, their filters and the
//! tool groups: stagedoor's own `actions:` and `tools:` blocks, and the official plugin's
//! `mcpActions:` and `backend:` blocks so an app-config fragment pastes in unchanged.
//!
//! `backend:` accepts every key Backstage's `backend-defaults` defines; stagedoor reads
//! `backend.actions` (`pluginSources`, `filter`) and leaves the rest (`database`, `listen`,
//! `auth.externalAccess`, ...) to Backstage. A key Backstage does not define is still an
//! error, as is any unknown key in stagedoor's own blocks.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ConfigError;
use crate::filter::Filter;

/// `actions:` block (stagedoor's own).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawActions {
    /// Backstage plugin ids whose Actions Registry is bridged (e.g. `[catalog, scaffolder]`).
    pub plugin_sources: Option<Vec<String>>,
    /// How often the action lists are fetched again in the background (`0s`: never).
    pub refresh_interval: Option<String>,
    /// Tool names: `safe` (`[a-z0-9_]`, at most 64 characters) or `official`
    /// (`pluginId.action-name`, as the official plugin names them).
    pub tool_names: Option<String>,
}

/// `tools:` block: which groups of tools are served.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawTools {
    /// Serve stagedoor's curated tools (default true).
    pub curated: Option<bool>,
    /// Serve bridged Actions Registry actions (default true).
    pub bridged: Option<bool>,
}

/// `mcpActions:` block (the official plugin's keys).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawMcpActions {
    /// Name of the default server.
    pub name: Option<String>,
    /// Description of the default server.
    pub description: Option<String>,
    /// Instructions of the default server.
    pub instructions: Option<String>,
    /// `pluginId` prefix in bridged tool names (default true).
    pub namespaced_tool_names: Option<bool>,
    /// Named servers, served at `/mcp/<key>` and `/api/mcp-actions/v1/<key>`.
    pub servers: Option<std::collections::BTreeMap<String, RawNamedServer>>,
    /// The official plugin's span payload capture; accepted and ignored.
    pub tracing: Option<Value>,
}

/// `mcpActions.servers.<key>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawNamedServer {
    /// Server name (required, as in the official plugin).
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Instructions.
    pub instructions: Option<String>,
    /// Include/exclude rules (parsed in validation, so errors name the rule).
    pub filter: Option<Value>,
}

/// `backend:` block: Backstage's keys. Only `actions` is read; the rest is accepted.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)] // Backstage's keys, accepted and ignored
pub struct RawBackend {
    /// `backend.actions`: plugin sources and the global filter.
    pub actions: Option<RawBackendActions>,
    /// `backend.auth`: `externalAccess` static entries become inbound tokens.
    pub auth: Option<RawBackendAuth>,
    pub auditor: Option<Value>,
    pub base_url: Option<Value>,
    pub cache: Option<Value>,
    pub cors: Option<Value>,
    pub csp: Option<Value>,
    pub database: Option<Value>,
    pub health: Option<Value>,
    pub https: Option<Value>,
    pub lifecycle: Option<Value>,
    pub listen: Option<Value>,
    pub logger: Option<Value>,
    pub metrics: Option<Value>,
    pub packages: Option<Value>,
    pub rate_limit: Option<Value>,
    pub reading: Option<Value>,
    pub referrer: Option<Value>,
    pub server: Option<Value>,
    pub startup: Option<Value>,
    pub tracing: Option<Value>,
    pub trust_proxy: Option<Value>,
    pub working_directory: Option<Value>,
}

/// Backstage's top-level `backend` keys stagedoor accepts without reading them (their
/// `${VAR}`s are not substituted, so an unset variable in them is not an error).
pub const IGNORED_BACKEND_KEYS: [&str; 21] = [
    "auditor",
    "baseUrl",
    "cache",
    "cors",
    "csp",
    "database",
    "health",
    "https",
    "lifecycle",
    "listen",
    "logger",
    "metrics",
    "packages",
    "rateLimit",
    "reading",
    "referrer",
    "server",
    "startup",
    "tracing",
    "trustProxy",
    "workingDirectory",
];

/// `backend.actions`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawBackendActions {
    /// Plugin ids to bridge (merged with `actions.pluginSources`).
    pub plugin_sources: Option<Vec<String>>,
    /// The global include/exclude filter.
    pub filter: Option<Value>,
}

/// `backend.auth`: Backstage's keys, accepted.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(missing_docs)] // Backstage's keys
pub struct RawBackendAuth {
    /// Static entries become stagedoor's inbound tokens (see `auth:`).
    pub external_access: Option<Vec<super::raw::RawExternalAccess>>,
    pub keys: Option<Value>,
    pub dangerously_disable_default_auth_policy: Option<Value>,
    pub plugin_key_store: Option<Value>,
}

/// How bridged tools are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NameStyle {
    /// `[a-z0-9_]`, at most 64 characters: `catalog_get_catalog_entity`.
    Safe,
    /// The official plugin's names: `catalog.get-catalog-entity`.
    Official,
}

/// The Actions Registry bridge.
#[derive(Debug, Clone)]
pub struct ActionsSettings {
    /// Plugin ids to list actions from, in order, without duplicates.
    pub plugin_sources: Vec<String>,
    /// Background refresh period; zero means list once at startup only.
    pub refresh_interval: Duration,
    /// Naming style.
    pub tool_names: NameStyle,
    /// Prefix names with the plugin id.
    pub namespaced: bool,
    /// `backend.actions.filter`, applied to every server and both tool groups.
    pub filter: Filter,
}

/// Identity of one MCP server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Name in `serverInfo` (default `stagedoor`).
    pub name: Option<String>,
    /// Description in `serverInfo`.
    pub description: Option<String>,
    /// Instructions sent at initialization.
    pub instructions: Option<String>,
}

/// One `mcpActions.servers.<key>`.
#[derive(Debug, Clone)]
pub struct NamedServer {
    /// The key: `^[a-z0-9][a-z0-9-]*$`, the path segment it is served at.
    pub key: String,
    /// Identity.
    pub identity: ServerIdentity,
    /// Its filter (on top of the global one).
    pub filter: Filter,
}

/// Which servers exist and which tool groups they serve.
#[derive(Debug, Clone)]
pub struct ServersSettings {
    /// The default server at `/mcp` (and `/api/mcp-actions/v1`).
    pub default: ServerIdentity,
    /// Named servers, sorted by key.
    pub named: Vec<NamedServer>,
    /// Serve curated tools.
    pub curated: bool,
    /// Serve bridged actions.
    pub bridged: bool,
}

/// The raw blocks this module validates.
pub struct RawBlocks {
    /// `actions:`.
    pub actions: Option<RawActions>,
    /// `tools:`.
    pub tools: Option<RawTools>,
    /// `mcpActions:`.
    pub mcp_actions: Option<RawMcpActions>,
    /// `backend:`.
    pub backend: Option<RawBackend>,
    /// `server.instructions` (an alias of `mcpActions.instructions`).
    pub server_instructions: Option<String>,
}

/// Validates the bridge and server blocks.
pub fn validate(
    raw: RawBlocks,
    origin: &str,
    default_refresh: Duration,
) -> Result<(ActionsSettings, ServersSettings), ConfigError> {
    let err = |key: &str, msg: String| ConfigError::new(origin, Some(key), msg);
    let a = raw.actions.unwrap_or_default();
    let backend_actions = raw.backend.unwrap_or_default().actions.unwrap_or_default();
    let mcp = raw.mcp_actions.unwrap_or_default();

    let mut plugin_sources: Vec<String> = Vec::new();
    for (key, list) in [
        (
            "actions.pluginSources",
            a.plugin_sources.unwrap_or_default(),
        ),
        (
            "backend.actions.pluginSources",
            backend_actions.plugin_sources.unwrap_or_default(),
        ),
    ] {
        for (i, id) in list.into_iter().enumerate() {
            let id = id.trim().to_owned();
            if !is_plugin_id(&id) {
                return Err(err(
                    &format!("{key}[{i}]"),
                    format!(
                        "`{id}` is not a Backstage plugin id (lowercase letters, digits, `-` and `_`, e.g. `catalog`)"
                    ),
                ));
            }
            if !plugin_sources.contains(&id) {
                plugin_sources.push(id);
            }
        }
    }
    let refresh_interval = match a.refresh_interval.as_deref().map(str::trim) {
        None => default_refresh,
        Some(s) => humantime::parse_duration(s).map_err(|e| {
            err(
                "actions.refreshInterval",
                format!("`{s}` is not a duration like `60s` or `5m` ({e})"),
            )
        })?,
    };
    let tool_names = match a.tool_names.as_deref().map(str::trim) {
        None | Some("safe") => NameStyle::Safe,
        Some("official") => NameStyle::Official,
        Some(other) => {
            return Err(err(
                "actions.toolNames",
                format!("unknown style `{other}`; use `safe` or `official`"),
            ));
        }
    };
    let filter = parse_filter("backend.actions.filter", backend_actions.filter.as_ref())
        .map_err(|(k, m)| err(&k, m))?;

    let instructions = match (mcp.instructions, raw.server_instructions) {
        (Some(a), Some(b)) if a != b => {
            return Err(err(
                "mcpActions.instructions",
                "differs from server.instructions; set only one of them".into(),
            ));
        }
        (a, b) => a.or(b),
    };
    let default = ServerIdentity {
        name: mcp.name,
        description: mcp.description,
        instructions,
    };
    let mut named = Vec::new();
    for (key, s) in mcp.servers.unwrap_or_default() {
        let at = format!("mcpActions.servers.{key}");
        if !is_server_key(&key) {
            return Err(err(
                &at,
                format!(
                    "`{key}` is not a valid server key: use lowercase letters, digits and `-`, starting with a letter or digit (it becomes the path /mcp/{key})"
                ),
            ));
        }
        let Some(name) = s.name.filter(|n| !n.trim().is_empty()) else {
            return Err(err(
                &format!("{at}.name"),
                "is required (the server's name, as in the official plugin)".into(),
            ));
        };
        let filter = parse_filter(&format!("{at}.filter"), s.filter.as_ref())
            .map_err(|(k, m)| err(&k, m))?;
        named.push(NamedServer {
            key,
            identity: ServerIdentity {
                name: Some(name),
                description: s.description,
                instructions: s.instructions,
            },
            filter,
        });
    }
    let t = raw.tools.unwrap_or_default();
    Ok((
        ActionsSettings {
            plugin_sources,
            refresh_interval,
            tool_names,
            namespaced: mcp.namespaced_tool_names.unwrap_or(true),
            filter,
        },
        ServersSettings {
            default,
            named,
            curated: t.curated.unwrap_or(true),
            bridged: t.bridged.unwrap_or(true),
        },
    ))
}

fn parse_filter(key: &str, value: Option<&Value>) -> Result<Filter, (String, String)> {
    match value {
        None | Some(Value::Null) => Ok(Filter::default()),
        Some(v) => Filter::from_config(key, v),
    }
}

/// Backstage plugin ids: lowercase letters, digits and `-` (the URL segment `/api/<id>`).
fn is_plugin_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The official plugin's server key rule: `^[a-z0-9][a-z0-9-]*$`.
pub fn is_server_key(key: &str) -> bool {
    key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl ActionsSettings {
    /// The redacted view for `stagedoor check` (nothing secret here).
    pub fn view(&self) -> Value {
        serde_json::json!({
            "pluginSources": self.plugin_sources,
            "refreshInterval": humantime::format_duration(self.refresh_interval).to_string(),
            "toolNames": self.tool_names,
            "namespacedToolNames": self.namespaced,
            "filter": filter_view(&self.filter),
        })
    }
}

impl ServersSettings {
    /// The view for `stagedoor check`.
    pub fn view(&self) -> Value {
        let named: serde_json::Map<String, Value> = self
            .named
            .iter()
            .map(|s| {
                (
                    s.key.clone(),
                    serde_json::json!({
                        "name": s.identity.name,
                        "description": s.identity.description,
                        "filter": filter_view(&s.filter),
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "tools": {"curated": self.curated, "bridged": self.bridged},
            "default": {"name": self.default.name, "description": self.default.description},
            "servers": named,
        })
    }
}

fn filter_view(f: &Filter) -> Value {
    serde_json::json!({
        "include": f.include.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
        "exclude": f.exclude.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests;
