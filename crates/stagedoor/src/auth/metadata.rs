//! OAuth discovery for clients: protected-resource metadata (RFC 9728) naming Backstage's
//! auth backend as the authorization server, and that server's metadata re-served for clients
//! that look for it on the MCP server's host.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backstage_client::BackstageClient;
use serde_json::json;

use super::AuthState;

/// Where Backstage's auth backend serves its OpenID configuration, relative to the base URL.
pub const OPENID_CONFIGURATION_PATH: &str = "/api/auth/.well-known/openid-configuration";

#[derive(Clone)]
struct MetaState {
    auth: Arc<AuthState>,
    issuer: String,
    client: BackstageClient,
}

/// The discovery routes, for OAuth mode. The scopes they name come from `auth`
/// ([`AuthState::scopes`]).
pub fn routes(auth: Arc<AuthState>, issuer: String, client: &BackstageClient) -> Router {
    let state = MetaState {
        auth,
        issuer,
        client: client.with_token(None),
    };
    Router::new()
        .route("/.well-known/oauth-protected-resource", get(root_resource))
        .route(
            "/.well-known/oauth-protected-resource/{*path}",
            get(path_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route(
            "/.well-known/openid-configuration",
            get(authorization_server),
        )
        .with_state(state)
}

async fn resource_document(state: &MetaState, headers: &HeaderMap, path: &str) -> Response {
    let base = state.auth.public_base(headers);
    let scopes = state.auth.scopes().await;
    axum::Json(json!({
        "resource": format!("{base}{path}"),
        "authorization_servers": [state.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "stagedoor",
        "resource_documentation": "https://github.com/stagedoor/stagedoor#readme",
    }))
    .into_response()
}

async fn root_resource(State(state): State<MetaState>, headers: HeaderMap) -> Response {
    resource_document(&state, &headers, "/mcp").await
}

async fn path_resource(
    State(state): State<MetaState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/{}", path.trim_start_matches('/'));
    if path != "/mcp" && !path.starts_with("/mcp/") && !path.starts_with("/api/mcp-actions/") {
        return (StatusCode::NOT_FOUND, "no MCP endpoint at that path").into_response();
    }
    resource_document(&state, &headers, &path).await
}

async fn authorization_server(State(state): State<MetaState>) -> Response {
    match state.client.get_json(OPENID_CONFIGURATION_PATH, &[]).await {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({"error": "authorization server metadata unavailable", "detail": e.to_string()})),
        )
            .into_response(),
    }
}
