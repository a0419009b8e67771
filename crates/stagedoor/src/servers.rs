//! The MCP servers stagedoor serves and the tools each one shows.
//!
//! The default server (`/mcp`, `/api/mcp-actions/v1`) and each named server
//! (`mcpActions.servers.<key>` at `/mcp/<key>`, `/api/mcp-actions/v1/<key>`) show a view of
//! the same tools: the curated tools and the bridged actions (each group can be turned off
//! with `tools.curated` / `tools.bridged`), kept by the global `backend.actions.filter`, then
//! by the server's own filter ([`Access::serves`]). Views are rebuilt only when the bridged
//! list changes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::watch;

pub use crate::access::Group;
use crate::access::{Access, ToolFacts};
use crate::bridge::{Bridge, BridgedTool, Discovery};
use crate::config::actions::{ServerIdentity, ServersSettings};
use crate::filter::{Filter, Rule};
use crate::tool::Needs;
use crate::tool::{Attributes, ToolCtx, ToolEntry, ToolOutcome};
use crate::tools;

/// A served tool: a curated entry or a bridged action.
#[derive(Clone)]
pub enum ServedTool {
    /// A curated tool.
    Curated(&'static ToolEntry),
    /// A bridged action.
    Bridged(Arc<BridgedTool>),
}

impl ServedTool {
    /// The stable id (`catalog:search_catalog`, `catalog:get-catalog-entity`).
    pub fn id(&self) -> &str {
        match self {
            Self::Curated(e) => &e.def.id,
            Self::Bridged(b) => b.id(),
        }
    }

    /// The MCP tool name.
    pub fn name(&self) -> &str {
        match self {
            Self::Curated(e) => &e.def.name,
            Self::Bridged(b) => &b.name,
        }
    }

    /// Effects.
    pub fn attributes(&self) -> Attributes {
        match self {
            Self::Curated(e) => e.def.attributes,
            Self::Bridged(b) => b.attributes,
        }
    }

    /// The group.
    pub fn group(&self) -> Group {
        match self {
            Self::Curated(_) => Group::Curated,
            Self::Bridged(_) => Group::Bridged,
        }
    }

    /// What access decisions look at.
    pub fn facts(&self) -> ToolFacts<'_> {
        ToolFacts {
            id: self.id(),
            attributes: self.attributes(),
            group: self.group(),
            needs: match self {
                Self::Curated(e) => e.needs,
                // The Actions Registry is a Backstage API.
                Self::Bridged(_) => Needs::Backstage,
            },
        }
    }

    /// A one-line summary for listings.
    pub fn summary(&self) -> String {
        match self {
            Self::Curated(e) => e.def.summary().to_owned(),
            Self::Bridged(b) => {
                let d = b.action.description.trim();
                let line = d
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("");
                if line.is_empty() {
                    b.action.title.clone()
                } else {
                    line.to_owned()
                }
            }
        }
    }

    fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Curated(a), Self::Curated(b)) => std::ptr::eq(*a, *b),
            (Self::Bridged(a), Self::Bridged(b)) => {
                Arc::ptr_eq(a, b) || (a.name == b.name && a.action == b.action)
            }
            _ => false,
        }
    }
}

/// The tools one server shows, in listing order (curated first).
pub struct View {
    /// The bridged generation this view was built from.
    pub generation: u64,
    /// The tools.
    pub tools: Vec<ServedTool>,
    by_name: HashMap<String, usize>,
}

impl View {
    /// Looks a tool up by name.
    pub fn find(&self, name: &str) -> Option<&ServedTool> {
        self.by_name.get(name).map(|&i| &self.tools[i])
    }

    /// Whether two views list the same tools (same names, same definitions).
    pub fn same_tools(&self, other: &View) -> bool {
        self.tools.len() == other.tools.len()
            && self
                .tools
                .iter()
                .zip(&other.tools)
                .all(|(a, b)| a.same_as(b))
    }
}

/// One server: identity, filter and its current view.
pub struct Server {
    /// `None` for the default server, else the key of `mcpActions.servers.<key>`.
    pub key: Option<String>,
    /// Name, description and instructions.
    pub identity: ServerIdentity,
    /// The server's own filter (the global one applies too).
    pub filter: Filter,
    view: Mutex<Option<Arc<View>>>,
}

/// Every server, the tool groups and the bridge they draw from. Cheap to share (`Arc`).
pub struct Registry {
    servers: Vec<Server>,
    /// Who sees what: groups, needs, filters, read-only mode.
    access: Access,
    bridge: Option<Arc<Bridge>>,
    list_wait: Duration,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "servers",
                &self.servers.iter().map(|s| &s.key).collect::<Vec<_>>(),
            )
            .field("bridge", &self.bridge)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Only the default server, with every curated tool and no bridge (tests, simple setups).
    pub fn curated_only(instructions: Option<&str>, local: bool) -> Arc<Self> {
        Arc::new(Self {
            servers: vec![Server {
                key: None,
                identity: ServerIdentity {
                    instructions: instructions.map(str::to_owned),
                    ..ServerIdentity::default()
                },
                filter: Filter::default(),
                view: Mutex::default(),
            }],
            access: Access::curated_only(local),
            bridge: None,
            list_wait: Duration::ZERO,
        })
    }

    /// The registry of `settings` under the rules of `access`, drawing bridged tools from
    /// `bridge` (bridged tools are served only when there is one). `list_wait` bounds how
    /// long a `tools/list` waits for the first discovery.
    pub fn new(
        settings: &ServersSettings,
        mut access: Access,
        bridge: Option<Arc<Bridge>>,
        list_wait: Duration,
    ) -> Arc<Self> {
        access.bridged &= bridge.is_some();
        let mut servers = vec![Server {
            key: None,
            identity: settings.default.clone(),
            filter: Filter::default(),
            view: Mutex::default(),
        }];
        servers.extend(settings.named.iter().map(|n| Server {
            key: Some(n.key.clone()),
            identity: n.identity.clone(),
            filter: n.filter.clone(),
            view: Mutex::default(),
        }));
        Arc::new(Self {
            servers,
            access,
            bridge,
            list_wait,
        })
    }

    /// Names of curated tools (reserved for the bridge's naming).
    pub fn curated_names() -> HashSet<String> {
        tools::registry()
            .iter()
            .map(|e| e.def.name.clone())
            .collect()
    }

    /// The servers: index 0 is the default one.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// The index of the server with `key` (`None` = default).
    pub fn index_of(&self, key: Option<&str>) -> Option<usize> {
        self.servers.iter().position(|s| s.key.as_deref() == key)
    }

    /// Whether curated tools are served (`tools.curated`).
    pub fn serves_curated(&self) -> bool {
        self.access.curated
    }

    /// The access rules every server's view and every caller's refusal come from.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The bridge, when bridged tools are served.
    pub fn bridge(&self) -> Option<&Arc<Bridge>> {
        self.bridge.as_ref().filter(|_| self.access.bridged)
    }

    /// Whether the tool list can change while serving (bridged tools are served).
    pub fn dynamic(&self) -> bool {
        self.bridge().is_some()
    }

    /// A receiver of bridged-list changes, when the list can change.
    pub fn subscribe(&self) -> Option<watch::Receiver<Arc<Discovery>>> {
        self.bridge().map(|b| b.subscribe())
    }

    fn discovery(&self) -> Arc<Discovery> {
        match self.bridge() {
            Some(b) => b.current(),
            None => Arc::new(Discovery::default()),
        }
    }

    /// The current view of server `index`, waiting (boundedly) for the first discovery.
    pub async fn view_listed(&self, index: usize) -> Arc<View> {
        if let Some(b) = self.bridge()
            && !b.current().listed
        {
            b.wait_listed(self.list_wait).await;
        }
        self.view(index)
    }

    /// The current view of server `index` (no waiting).
    pub fn view(&self, index: usize) -> Arc<View> {
        let discovery = self.discovery();
        let server = &self.servers[index.min(self.servers.len() - 1)];
        let mut cached = server.view.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cached.as_ref()
            && v.generation == discovery.generation
        {
            return Arc::clone(v);
        }
        let view = Arc::new(self.build(server, &discovery));
        *cached = Some(Arc::clone(&view));
        view
    }

    fn build(&self, server: &Server, discovery: &Discovery) -> View {
        let mut tools = self.candidates(discovery);
        tools.retain(|t| self.access.serves(&server.filter, &t.facts()));
        let by_name = tools
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name().to_owned(), i))
            .collect();
        View {
            generation: discovery.generation,
            tools,
            by_name,
        }
    }

    /// Every curated tool and every discovered action, before any access rule.
    fn candidates(&self, discovery: &Discovery) -> Vec<ServedTool> {
        tools::registry()
            .iter()
            .map(ServedTool::Curated)
            .chain(discovery.tools.iter().cloned().map(ServedTool::Bridged))
            .collect()
    }

    /// Filter rules (global and per server) that match no tool, for startup warnings.
    pub fn unmatched_rules(&self) -> Vec<&Rule> {
        // Every tool of every enabled group that this portal can serve, before filters.
        let all: Vec<ServedTool> = self
            .candidates(&self.discovery())
            .into_iter()
            .filter(|t| self.access.offers(&t.facts()))
            .collect();
        let pairs: Vec<(&str, Attributes)> = all.iter().map(|t| (t.id(), t.attributes())).collect();
        let mut out = self.access.global.unmatched(&pairs);
        for s in &self.servers {
            out.extend(s.filter.unmatched(&pairs));
        }
        out
    }

    /// Runs a tool of `view` by name. `None` means the server has no such tool.
    pub async fn call(
        &self,
        view: &View,
        ctx: ToolCtx,
        name: &str,
        args: Map<String, Value>,
    ) -> Option<ToolOutcome> {
        match view.find(name)? {
            ServedTool::Curated(entry) => Some(entry.call(ctx, args).await),
            ServedTool::Bridged(tool) => {
                let bridge = self.bridge.as_ref()?;
                Some(bridge.call(tool, args, &ctx).await)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::actions::NamedServer;

    fn access(global: Filter, curated: bool) -> Access {
        Access {
            read_only: false,
            curated,
            bridged: true,
            local: false,
            global,
        }
    }

    fn settings(named: Vec<NamedServer>, curated: bool) -> ServersSettings {
        ServersSettings {
            default: ServerIdentity::default(),
            named,
            curated,
            bridged: true,
        }
    }

    fn filter(v: Value) -> Filter {
        Filter::from_config("f", &v).unwrap_or_else(|(k, m)| panic!("{k}: {m}"))
    }

    fn names(view: &View) -> Vec<&str> {
        view.tools.iter().map(ServedTool::name).collect()
    }

    #[test]
    fn views_apply_the_global_then_the_server_filter_to_curated_tools() {
        let registry = Registry::new(
            &settings(
                vec![NamedServer {
                    key: "catalog".into(),
                    identity: ServerIdentity::default(),
                    filter: filter(serde_json::json!({"include": [{"id": "catalog:*"}]})),
                }],
                true,
            ),
            access(
                filter(serde_json::json!({"exclude": [{"id": "catalog:get_entities"}]})),
                true,
            ),
            None,
            Duration::ZERO,
        );
        let all = registry.view(0);
        assert!(all.find("check_connection").is_some());
        assert!(
            all.find("get_entities").is_none(),
            "global filter applies to the default server"
        );
        let catalog = registry.view(registry.index_of(Some("catalog")).unwrap_or(0));
        assert!(catalog.find("check_connection").is_none());
        assert!(catalog.find("search_catalog").is_some());
        assert!(names(&catalog).iter().all(|n| *n != "get_entities"));
        assert!(Arc::ptr_eq(&catalog, &registry.view(1)), "views are cached");
        let unmatched: Vec<String> = registry
            .unmatched_rules()
            .iter()
            .map(|r| r.label.clone())
            .collect();
        assert!(unmatched.is_empty(), "{unmatched:?}");
    }

    #[test]
    fn curated_group_can_be_hidden() {
        let registry = Registry::new(
            &settings(vec![], false),
            access(Filter::default(), false),
            None,
            Duration::ZERO,
        );
        assert!(registry.view(0).tools.is_empty());
        assert!(!registry.dynamic());
    }
}
