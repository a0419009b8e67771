//! MCP transports: stdio, and Streamable HTTP at `/mcp` with `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::settings::ServerSettings;
use crate::mcp::Handler;
use crate::portal::Portal;
use crate::tools::connection;

/// Serves MCP on stdin/stdout until stdin closes or `shutdown` fires.
pub async fn serve_stdio(handler: Handler, shutdown: CancellationToken) -> anyhow::Result<()> {
    let running = handler
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("stdio session failed to start: {e}"))?;
    let cancel = running.cancellation_token();
    tokio::select! {
        r = running.waiting() => {
            match r {
                Ok(reason) => tracing::info!(?reason, "stdio session ended"),
                Err(e) => tracing::warn!(error = %e, "stdio session ended with an error"),
            }
        }
        () = shutdown.cancelled() => {
            tracing::info!("shutting down stdio session");
            cancel.cancel();
        }
    }
    Ok(())
}

/// State shared by the HTTP routes.
#[derive(Clone)]
pub struct AppState {
    /// For `/readyz`.
    pub portal: Arc<Portal>,
}

/// Loopback origins accepted by default (local browser tools such as the MCP Inspector UI).
pub const DEFAULT_ALLOWED_ORIGINS: [&str; 3] =
    ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// The Host values accepted: configured ones, or loopback names plus the listen address.
pub fn allowed_hosts(settings: &ServerSettings) -> Vec<String> {
    if !settings.allowed_hosts.is_empty() {
        return settings.allowed_hosts.clone();
    }
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let ip = settings.listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        hosts.push(ip.to_string());
    }
    hosts
}

/// Builds the HTTP application: `/mcp`, `/healthz`, `/readyz`.
pub fn app(
    handler: Handler,
    state: AppState,
    settings: &ServerSettings,
    shutdown: CancellationToken,
) -> Router {
    let origins: Vec<String> = if settings.allowed_origins.is_empty() {
        DEFAULT_ALLOWED_ORIGINS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        settings.allowed_origins.clone()
    };
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(allowed_hosts(settings))
        .with_allowed_origins(origins)
        .enforce_origin_validation()
        .with_max_request_body_bytes(settings.max_request_body_bytes)
        .with_cancellation_token(shutdown.child_token())
        .with_legacy_session_mode(settings.sessions)
        .with_json_response(!settings.sessions);
    let factory = move || Ok(handler.clone());
    let mcp = if settings.sessions {
        Router::new().nest_service(
            "/mcp",
            StreamableHttpService::new(factory, Arc::new(LocalSessionManager::default()), config),
        )
    } else {
        Router::new().nest_service(
            "/mcp",
            StreamableHttpService::new(factory, Arc::new(NeverSessionManager::default()), config),
        )
    };
    mcp.merge(
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(state),
    )
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if let Some(catalog) = state.portal.local_catalog() {
        let snap = catalog.snapshot();
        return (
            StatusCode::OK,
            axum::Json(json!({"status": "ready", "catalog": {
                "entities": snap.len(), "files": snap.file_count(), "problems": snap.problems.len()
            }})),
        );
    }
    match connection::probe(&state.portal, 0).await {
        Ok(p) if p.is_success() && p.json_body => (
            StatusCode::OK,
            axum::Json(
                json!({"status": "ready", "backstage": {"status": p.status, "latencyMs": p.latency.as_millis() as u64}}),
            ),
        ),
        Ok(p) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"status": "unready", "reason": format!("Backstage catalog answered {}", p.status)}),
            ),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unready", "reason": e.to_string()})),
        ),
    }
}

/// Binds `addr` and serves `app` until `shutdown` fires, then drains for at most `grace`.
pub async fn serve_http(
    app: Router,
    addr: SocketAddr,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "serving MCP over Streamable HTTP at http://{local}/mcp");
    let signal = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        signal.cancelled().await;
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        r = &mut server => return r.map_err(|e| anyhow::anyhow!("HTTP server failed: {e}")),
        () = shutdown.cancelled() => {}
    }
    match tokio::time::timeout(grace, server).await {
        Ok(r) => r.map_err(|e| anyhow::anyhow!("HTTP server failed: {e}")),
        Err(_) => {
            tracing::warn!(grace = ?grace, "requests still running after the shutdown grace period; stopping anyway");
            Ok(())
        }
    }
}
