//! The MCP face of stagedoor: the one module that speaks rmcp's types.
//!
//! rmcp changes shape between majors; keeping it behind this module means a new major touches
//! one file. Transports ([`crate::transport`]) serve a [`Handler`]; tools stay protocol-free.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListPromptsRequestMethod, ListPromptsResult, ListResourceTemplatesRequestMethod,
    ListResourceTemplatesResult, ListResourcesRequestMethod, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::audit::{AuditLog, AuditRecord};
use crate::auth::Principal;
use crate::portal::Portal;
use crate::tools::{self, CallCtx, Progress, ToolCtx, ToolDef, ToolPolicy};

/// Default instructions sent to clients at initialization.
pub const DEFAULT_INSTRUCTIONS: &str = "stagedoor answers from a Backstage developer portal. \
Start with search_catalog to find entities (services, APIs, systems, teams), then get_entity for \
detail and relations, get_related_entities to walk ownership and dependencies, and \
list_entity_facets to learn valid filter values. For an entity's documentation, get_techdocs \
lists its pages and get_techdocs_page reads one as Markdown. To create something from a software \
template: list_templates, get_template (fields and how to fill pickers), validate_template_values, \
then run_template (wait: true follows the task) and get_task_status. If a call fails, check_connection \
says why.";

/// Serves the curated tools over any rmcp transport. Cheap to clone.
#[derive(Clone)]
pub struct Handler {
    portal: Arc<Portal>,
    instructions: Arc<str>,
    policy: Arc<ToolPolicy>,
    tools: Arc<Vec<Tool>>,
    /// Per-user views of the portal (user tokens forwarded to Backstage), by token.
    user_portals: moka::sync::Cache<String, Arc<Portal>>,
    audit: Option<Arc<AuditLog>>,
    server: Arc<str>,
}

/// Users whose portal views (and caches) are kept at once.
const USER_PORTALS: u64 = 1_000;
/// Cached Backstage answers per user view.
const USER_CACHE_ENTRIES: u64 = 500;

impl Handler {
    /// A handler answering from `portal` with the tools `policy` exposes.
    pub fn new(portal: Arc<Portal>, instructions: Option<&str>, policy: ToolPolicy) -> Self {
        let tools = tools::policy::exposed(&policy)
            .into_iter()
            .map(|e| to_mcp_tool(&e.def))
            .collect();
        let instructions: Arc<str> = match instructions {
            Some(i) => i.into(),
            None if policy.read_only => format!(
                "{DEFAULT_INSTRUCTIONS} This server is read-only: templates can be listed, \
                 inspected, validated and dry-run, but not run, and tasks cannot be cancelled."
            )
            .into(),
            None => DEFAULT_INSTRUCTIONS.into(),
        };
        Self {
            portal,
            instructions,
            policy: Arc::new(policy),
            tools: Arc::new(tools),
            user_portals: moka::sync::Cache::builder()
                .max_capacity(USER_PORTALS)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
            audit: None,
            server: "default".into(),
        }
    }

    /// Writes an audit line per tool call.
    pub fn with_audit(mut self, audit: Option<Arc<AuditLog>>) -> Self {
        self.audit = audit;
        self
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

    /// Whether the principal may see and call a tool.
    fn allowed(&self, principal: &Principal, name: &str) -> bool {
        let Some(r) = principal.restrictions() else {
            return true;
        };
        if !r.allows_server(&self.server) {
            return false;
        }
        tools::find(name).is_some_and(|e| r.allows_tool(&e.def.id, e.def.attributes.read_only))
    }
}

/// How long a finished call waits for its queued progress notifications to go out.
const PROGRESS_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Builds the per-call context: the request's cancellation token, and a progress channel
/// forwarded in order as `notifications/progress` when the client sent a progress token.
/// The returned handle ends once every queued notification was sent (after the context and
/// its clones are dropped); the response must wait for it, or a client may see the result
/// before the last progress lines and drop them as late.
fn call_ctx(context: &RequestContext<RoleServer>) -> (CallCtx, Option<JoinHandle<()>>) {
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

/// The `tools/list` payload of every tool, as JSON (the golden file).
pub fn tool_list_json() -> Value {
    tool_list_json_for(&ToolPolicy::default())
}

/// The `tools/list` payload a server with `policy` sends, as JSON (`stagedoor tools --json`).
pub fn tool_list_json_for(policy: &ToolPolicy) -> Value {
    let tools: Vec<Tool> = tools::policy::exposed(policy)
        .into_iter()
        .map(|e| to_mcp_tool(&e.def))
        .collect();
    serde_json::to_value(tools).unwrap_or(Value::Null)
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut info = Implementation::new("stagedoor", env!("CARGO_PKG_VERSION"));
        info.title = Some("stagedoor: Backstage over MCP".into());
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(info)
            .with_instructions(self.instructions.to_string())
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let principal = Self::principal(&context);
        let visible: Vec<Tool> = self
            .tools
            .iter()
            .filter(|t| self.allowed(&principal, &t.name))
            .cloned()
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
        self.tools.iter().find(|t| t.name == name).cloned()
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
        let Some(entry) = tools::find(&name) else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            ));
        };
        let audit = |outcome: &str, status: Option<u16>| {
            if let Some(log) = &self.audit {
                log.record(&AuditRecord {
                    principal: &principal.key(),
                    server: &self.server,
                    tool: &entry.def.id,
                    outcome,
                    duration: started.elapsed(),
                    backstage_status: status,
                    arguments: &args,
                });
            }
        };
        // A tool the server policy hides (e.g. read-only mode) is refused as a tool result,
        // so the model reads why.
        if let Some(why) = self.policy.refusal(&entry.def) {
            tracing::info!(tool = %name, outcome = "refused", "tool call");
            audit("denied", None);
            return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text(why),
            ])));
        }
        if !self.allowed(&principal, &name) {
            tracing::warn!(tool = %name, principal = %principal.key(), "tool call refused by token restrictions");
            audit("denied", None);
            return Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                ContentBlock::text(format!(
                    "Forbidden: the credentials used may not call {name}. Ask for a token whose restrictions include it."
                )),
            ])));
        }
        let (call, progress_sent) = call_ctx(&context);
        let ctx = ToolCtx {
            portal: self.portal_for(&principal),
            call,
        };
        let outcome = entry.call(ctx, args.clone()).await;
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
                CallToolResult::structured(value)
            }
            Err(e) => {
                tracing::info!(tool = %name, principal = %principal.key(), outcome = "error", status = e.status, elapsed_ms, "tool call");
                audit("error", e.status);
                CallToolResult::error(vec![ContentBlock::text(e.message)])
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}
