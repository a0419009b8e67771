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

use crate::portal::Portal;
use crate::tools::{self, CallCtx, Progress, ToolCtx, ToolDef};

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

/// Serves the curated tools over any rmcp transport. Cheap to clone.
#[derive(Clone)]
pub struct Handler {
    portal: Arc<Portal>,
    instructions: Arc<str>,
    tools: Arc<Vec<Tool>>,
}

impl Handler {
    /// A handler answering from `portal`.
    pub fn new(portal: Arc<Portal>, instructions: Option<&str>) -> Self {
        let local = portal.is_local();
        let default = if local {
            LOCAL_INSTRUCTIONS
        } else {
            DEFAULT_INSTRUCTIONS
        };
        Self {
            portal,
            instructions: instructions.unwrap_or(default).into(),
            tools: Arc::new(
                tools::definitions_for(local)
                    .into_iter()
                    .map(to_mcp_tool)
                    .collect(),
            ),
        }
    }
}

/// Builds the per-call context: the request's cancellation token, and a progress channel
/// forwarded in order as `notifications/progress` when the client sent a progress token.
fn call_ctx(context: &RequestContext<RoleServer>) -> CallCtx {
    let progress = context.meta.get_progress_token().map(|token| {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                let mut param = ProgressNotificationParam::new(token.clone(), p.progress);
                param.total = p.total;
                param.message = p.message;
                if let Err(e) = peer.notify_progress(param).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                    break;
                }
            }
        });
        tx
    });
    CallCtx {
        cancel: context.ct.clone(),
        progress,
    }
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

/// The `tools/list` payload over Backstage, as JSON (for the golden file).
pub fn tool_list_json() -> Value {
    tool_list_json_for(false)
}

/// The `tools/list` payload over a local catalog (`local`) or Backstage, as JSON.
pub fn tool_list_json_for(local: bool) -> Value {
    let tools: Vec<Tool> = tools::definitions_for(local)
        .into_iter()
        .map(to_mcp_tool)
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items((*self.tools).clone()))
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
        let ctx = ToolCtx {
            portal: self.portal.clone(),
            call: call_ctx(&context),
        };
        let Some(outcome) = tools::call(ctx, &name, args).await else {
            return Err(McpError::invalid_params(
                format!("Unknown tool: {name}"),
                None,
            ));
        };
        let elapsed_ms = started.elapsed().as_millis();
        let result = match outcome {
            Ok(value) => {
                tracing::info!(tool = %name, outcome = "ok", elapsed_ms, "tool call");
                CallToolResult::structured(value)
            }
            Err(e) => {
                tracing::info!(tool = %name, outcome = "error", status = e.status, elapsed_ms, "tool call");
                CallToolResult::error(vec![ContentBlock::text(e.message)])
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}
