//! The MCP face of stagedoor: the one module that speaks rmcp's types.
//!
//! rmcp changes shape between majors; keeping it behind this module means a new major touches
//! one file. Transports ([`crate::transport`]) serve a [`Handler`] per server; tools, the
//! bridge and the server registry stay protocol-free.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListPromptsRequestMethod, ListPromptsResult, ListResourceTemplatesRequestMethod,
    ListResourceTemplatesResult, ListResourcesRequestMethod, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, ServerCapabilities,
    ServerConfig, SubscriptionFilter, Tool, ToolAnnotations,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;

use crate::audit::{AuditLog, AuditRecord};
use crate::auth::Principal;
use crate::bridge::BridgedTool;
use crate::portal::Portal;
use crate::servers::{Registry, ServedTool, View};
use crate::tool::{CallCtx, Progress, ToolCtx, ToolDef};
use crate::tools;

/// Default instructions sent to clients at initialization.
pub const DEFAULT_INSTRUCTIONS: &str = "stagedoor answers from a Backstage developer portal. \
Start with search_catalog to find entities (services, APIs, systems, teams), then get_entity for \
detail and relations, get_related_entities to walk ownership and dependencies, and \
list_entity_facets to learn valid filter values. If a call fails, check_connection says why.";

/// Default instructions when serving a local catalog.
pub const LOCAL_INSTRUCTIONS: &str = "stagedoor answers from a local software catalog \
(catalog-info.yaml files read from disk, with Backstage's semantics). Start with search_catalog to \
find entities (services, APIs, systems, teams), then get_entity for detail and relations, \
get_related_entities to walk ownership and dependencies, and list_entity_facets to learn valid \
filter values. If an entity seems missing, check_catalog lists the files read and every problem \
with its file and line.";

/// Serves one MCP server (the default one or a named one) over any rmcp transport. Cheap
/// to clone; clones share the server's state (tool list cache, session peers).
#[derive(Clone)]
pub struct Handler {
    portal: Arc<Portal>,
    registry: Arc<Registry>,
    index: usize,
    shared: Arc<Shared>,
    /// Per-user views of the portal (user tokens forwarded to Backstage), by token.
    user_portals: moka::sync::Cache<String, Arc<Portal>>,
    audit: Option<Arc<AuditLog>>,
}

/// Users whose portal views (and caches) are kept at once.
const USER_PORTALS: u64 = 1_000;
/// Cached Backstage answers per user view.
const USER_CACHE_ENTRIES: u64 = 500;
/// How long a finished call waits for its queued progress notifications to go out.
const PROGRESS_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// What every clone of one server's handler shares.
struct Shared {
    instructions: Option<String>,
    /// `tools/list` in MCP form, for one view generation.
    listed: Mutex<Option<(u64, Arc<Vec<Tool>>)>>,
    /// Peers of session clients (stdio, legacy HTTP sessions), told when the list changes.
    peers: Arc<Mutex<Vec<Peer<RoleServer>>>>,
    notifier: OnceLock<()>,
}

impl Handler {
    /// A handler answering from `portal` with every curated tool and no bridge.
    pub fn new(portal: Arc<Portal>, instructions: Option<&str>) -> Self {
        let local = portal.is_local();
        Self::with_registry(portal, Registry::curated_only(instructions, local))
    }

    /// The default server of `registry`.
    pub fn with_registry(portal: Arc<Portal>, registry: Arc<Registry>) -> Self {
        Self::at(portal, registry, 0)
    }

    fn at(portal: Arc<Portal>, registry: Arc<Registry>, index: usize) -> Self {
        let server = &registry.servers()[index];
        // The default instructions walk through the curated tools; other servers (and a
        // default server without curated tools) say only what they were configured to say.
        let instructions = match (&server.identity.instructions, &server.key) {
            (Some(i), _) => Some(i.clone()),
            (None, None) if registry.serves_curated() && portal.is_local() => {
                Some(LOCAL_INSTRUCTIONS.to_owned())
            }
            (None, None) if registry.serves_curated() => Some(DEFAULT_INSTRUCTIONS.to_owned()),
            (None, _) => None,
        };
        Self {
            portal,
            registry,
            index,
            shared: Arc::new(Shared {
                instructions,
                listed: Mutex::default(),
                peers: Arc::default(),
                notifier: OnceLock::new(),
            }),
            user_portals: moka::sync::Cache::builder()
                .max_capacity(USER_PORTALS)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            audit: None,
        }
    }

    /// Writes an audit line per tool call.
    pub fn with_audit(mut self, audit: Option<Arc<AuditLog>>) -> Self {
        self.audit = audit;
        self
    }

    /// The handler of the named server `key` (`None`: the default server).
    pub fn for_server(&self, key: Option<&str>) -> Option<Self> {
        let index = self.registry.index_of(key)?;
        let mut h = Self::at(self.portal.clone(), self.registry.clone(), index);
        h.user_portals = self.user_portals.clone();
        h.audit = self.audit.clone();
        Some(h)
    }

    /// This server's key for logs, the audit log and token restrictions.
    fn server_key(&self) -> &str {
        self.registry.servers()[self.index]
            .key
            .as_deref()
            .unwrap_or("default")
    }

    /// The principal of a request: set by the HTTP auth layer; stdio is local.
    fn principal(context: &RequestContext<RoleServer>) -> Principal {
        context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<Principal>())
            .cloned()
            .unwrap_or(Principal::Local)
    }

    /// The portal a principal's calls use: a user's own token, or the configured one.
    fn portal_for(&self, principal: &Principal) -> Arc<Portal> {
        match principal.backstage_token() {
            Some(token) => self.user_portals.get_with(token.to_string(), || {
                Arc::new(self.portal.with_token(token, USER_CACHE_ENTRIES))
            }),
            None => self.portal.clone(),
        }
    }

    /// Why the principal may not see or call a tool ([`crate::access`]), as the text the
    /// caller reads, or `None` when it may.
    fn refusal(&self, principal: &Principal, tool: &ServedTool) -> Option<String> {
        self.registry
            .access()
            .refusal(principal, self.server_key(), &tool.facts())
            .map(|r| r.message(tool.name()))
    }

    /// The registry this handler serves from.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The tools of this server in MCP form (cached per view generation).
    fn mcp_tools(&self, view: &View) -> Arc<Vec<Tool>> {
        let mut cached = self.shared.listed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((generation, tools)) = cached.as_ref()
            && *generation == view.generation
        {
            return Arc::clone(tools);
        }
        let tools: Arc<Vec<Tool>> = Arc::new(view.tools.iter().map(served_to_mcp_tool).collect());
        *cached = Some((view.generation, Arc::clone(&tools)));
        tools
    }

    /// Starts (once per server) the task that tells session clients when this server's
    /// tool list changed.
    fn ensure_notifier(&self) {
        let Some(mut rx) = self.registry.subscribe() else {
            return;
        };
        if self.shared.notifier.set(()).is_err() {
            return;
        }
        let registry = self.registry.clone();
        let index = self.index;
        let peers = self.shared.peers.clone();
        tokio::spawn(async move {
            // The baseline is the first complete discovery: clients that listed while it ran
            // waited for it, so it is no change to them.
            let mut last = registry.view_listed(index).await;
            while rx.changed().await.is_ok() {
                let now = registry.view(index);
                if now.same_tools(&last) {
                    continue;
                }
                last = now;
                let live: Vec<Peer<RoleServer>> = {
                    let mut guard = peers.lock().unwrap_or_else(|p| p.into_inner());
                    guard.retain(|p| !p.is_transport_closed());
                    guard.clone()
                };
                for peer in live {
                    if let Err(e) = peer.notify_tool_list_changed().await {
                        tracing::debug!(error = %e, "tools/list_changed not delivered");
                    }
                }
            }
        });
    }
}

/// Builds the per-call context: the request's cancellation token, and a progress channel
/// forwarded in order as `notifications/progress` when the client sent a progress token.
/// The returned handle ends once every queued notification was sent (after the context and
/// its clones are dropped); the response waits for it, or a client may see the result
/// before the last progress lines and drop them as late.
fn call_ctx(
    context: &RequestContext<RoleServer>,
) -> (CallCtx, Option<tokio::task::JoinHandle<()>>) {
    let mut forwarder = None;
    let progress = context.meta.get_progress_token().map(|token| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let peer = context.peer.clone();
        forwarder = Some(tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let mut param = ProgressNotificationParam::new(token.clone(), p.progress);
                param.total = p.total;
                param.message = p.message;
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                    break;
                }
            }
        }));
        tx
    });
    let ctx = CallCtx {
        cancel: context.ct.clone(),
        progress,
    };
    (ctx, forwarder)
}

/// Converts a tool definition into its MCP form.
pub fn to_mcp_tool(d: &ToolDef) -> Tool {
    let mut tool = Tool::new(
        Cow::Owned(d.name.clone()),
        Cow::Owned(d.description.clone()),
        Arc::new(d.input_schema.clone()),
    );
    tool.title = Some(d.title.clone());
    tool.output_schema = Some(Arc::new(d.output_schema.clone()));
    let a = d.attributes;
    let mut ann = ToolAnnotations::with_title(d.title.clone())
        .read_only(a.read_only)
        .open_world(false);
    if !a.read_only {
        ann = ann.destructive(a.destructive).idempotent(a.idempotent);
    } else {
        ann = ann.destructive(false).idempotent(true);
    }
    tool.annotations = Some(ann);
    tool
}

/// Converts a bridged action into its MCP form: the action's input schema verbatim, its
/// output schema when it is an object schema, and its attributes as hints, exactly as
/// Backstage resolved them (as the official plugin does).
pub fn bridged_to_mcp_tool(b: &BridgedTool) -> Tool {
    let description = b.action.description.trim();
    let description = if description.is_empty() {
        b.action.title.clone()
    } else {
        description.to_owned()
    };
    let mut tool = Tool::new(
        Cow::Owned(b.name.clone()),
        Cow::Owned(description),
        Arc::new(b.input_schema.clone()),
    );
    let title = (!b.action.title.is_empty()).then(|| b.action.title.clone());
    tool.title = title.clone();
    tool.output_schema = b.output_schema.clone().map(Arc::new);
    let a = b.attributes;
    let mut ann = ToolAnnotations::new()
        .read_only(a.read_only)
        .destructive(a.destructive)
        .idempotent(a.idempotent)
        .open_world(false);
    ann.title = title;
    tool.annotations = Some(ann);
    tool
}

/// The MCP form of a served tool.
pub fn served_to_mcp_tool(t: &ServedTool) -> Tool {
    match t {
        ServedTool::Curated(e) => to_mcp_tool(&e.def),
        ServedTool::Bridged(b) => bridged_to_mcp_tool(b),
    }
}

/// The `tools/list` payload of the curated tools served with Backstage, as JSON (for the
/// golden file).
pub fn tool_list_json() -> Value {
    tool_list_json_for(false)
}

/// The curated `tools/list` payload over a local catalog (`local`) or Backstage, as JSON.
pub fn tool_list_json_for(local: bool) -> Value {
    let tools: Vec<Tool> = tools::definitions_for(local)
        .into_iter()
        .map(to_mcp_tool)
        .collect();
    serde_json::to_value(tools).unwrap_or(Value::Null)
}

/// A view's `tools/list` payload, as JSON.
pub fn view_json(view: &View) -> Vec<Value> {
    view.tools
        .iter()
        .map(|t| serde_json::to_value(served_to_mcp_tool(t)).unwrap_or(Value::Null))
        .collect()
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let identity = &self.registry.servers()[self.index].identity;
        let mut info = Implementation::new(
            identity.name.clone().unwrap_or_else(|| "stagedoor".into()),
            env!("CARGO_PKG_VERSION"),
        );
        info.title = Some(match &self.registry.servers()[self.index].key {
            None => "stagedoor: Backstage over MCP".into(),
            Some(key) => format!("stagedoor: Backstage over MCP ({key})"),
        });
        info.description = identity.description.clone();
        let capabilities = if self.registry.dynamic() {
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build()
        } else {
            ServerCapabilities::builder().enable_tools().build()
        };
        let config = ServerConfig::new(capabilities).with_server_info(info);
        match &self.shared.instructions {
            Some(i) => config.with_instructions(i.clone()),
            None => config,
        }
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if !self.registry.dynamic() {
            return;
        }
        self.ensure_notifier();
        let mut peers = self.shared.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.retain(|p| !p.is_transport_closed());
        peers.push(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        if !self.registry.dynamic() {
            return None;
        }
        let _ = requested;
        Some(SubscriptionFilter::builder().tools_list_changed().build())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let Some(mut rx) = self.registry.subscribe() else {
            context.cancelled().await;
            return Ok(());
        };
        let mut last = self.registry.view_listed(self.index).await;
        loop {
            tokio::select! {
                () = context.cancelled() => return Ok(()),
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let now = self.registry.view(self.index);
                    if now.same_tools(&last) {
                        continue;
                    }
                    last = now;
                    if let Err(e) = context.sink().notify_tool_list_changed().await {
                        tracing::debug!(error = %e, "tools/list_changed not delivered to a subscription");
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let view = self.registry.view_listed(self.index).await;
        let principal = Self::principal(&context);
        let all = self.mcp_tools(&view);
        let visible: Vec<Tool> = view
            .tools
            .iter()
            .zip(all.iter())
            .filter(|(served, _)| self.refusal(&principal, served).is_none())
            .map(|(_, tool)| tool.clone())
            .collect();
        Ok(ListToolsResult::with_all_items(visible))
    }

    // Prompts and resources are not declared, so their list methods are "not found" rather
    // than rmcp's default empty lists (a server must not handle what it does not declare).
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Err(McpError::method_not_found::<ListPromptsRequestMethod>())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Err(McpError::method_not_found::<ListResourcesRequestMethod>())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Err(McpError::method_not_found::<
            ListResourceTemplatesRequestMethod,
        >())
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.registry
            .view(self.index)
            .find(name)
            .map(served_to_mcp_tool)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let args = request.arguments.unwrap_or_default();
        let started = Instant::now();
        let principal = Self::principal(&context);
        let view = self.registry.view_listed(self.index).await;
        let Some(tool) = view.find(&name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            ));
        };
        let audit = |outcome: &str, status: Option<u16>| {
            if let Some(log) = &self.audit {
                log.record(&AuditRecord {
                    principal: &principal.key(),
                    server: self.server_key(),
                    tool: tool.id(),
                    outcome,
                    duration: started.elapsed(),
                    backstage_status: status,
                    arguments: &args,
                });
            }
        };
        // Refused as a tool result (read-only mode, token restrictions), so the model reads why.
        if let Some(why) = self.refusal(&principal, tool) {
            tracing::warn!(tool = %name, principal = %principal.key(), "tool call refused");
            audit("denied", None);
            return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text(why),
            ])));
        }
        let (call, progress_sent) = call_ctx(&context);
        let ctx = ToolCtx {
            portal: self.portal_for(&principal),
            actions: self.registry.bridge().map(|b| Arc::clone(b.actions())),
            call,
        };
        let Some(outcome) = self.registry.call(&view, ctx, &name, args.clone()).await else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            ));
        };
        if let Some(sent) = progress_sent
            && tokio::time::timeout(PROGRESS_DRAIN, sent).await.is_err()
        {
            tracing::debug!(tool = %name, "progress notifications still queued; answering anyway");
        }
        let elapsed_ms = started.elapsed().as_millis();
        let result = match outcome {
            Ok(value) => {
                tracing::info!(tool = %name, principal = %principal.key(), outcome = "ok", elapsed_ms, "tool call");
                audit("ok", None);
                if value.is_object() {
                    CallToolResult::structured(value)
                } else {
                    // structuredContent must be an object; other outputs go as JSON text.
                    CallToolResult::success(vec![ContentBlock::text(value.to_string())])
                }
            }
            Err(e) => {
                tracing::info!(tool = %name, principal = %principal.key(), outcome = "error", status = e.status(), elapsed_ms, "tool call");
                audit("error", e.status());
                CallToolResult::error(vec![ContentBlock::text(e.message)])
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}
