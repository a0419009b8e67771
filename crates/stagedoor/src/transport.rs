//! MCP transports: stdio, and Streamable HTTP with `/healthz` and `/readyz`.
//!
//! Over HTTP the default server answers at `/mcp` and, for clients configured for the
//! official plugin, at `/api/mcp-actions/v1`; each named server `<key>` answers at
//! `/mcp/<key>` and `/api/mcp-actions/v1/<key>`. Each is its own Streamable HTTP service
//! with its own tool view.

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

use crate::auth::AuthState;
use crate::config::settings::ServerSettings;
use crate::drain::Drain;
use crate::mcp::Handler;
use crate::portal::Portal;

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
    /// Authentication, rate and stream limits of `/mcp`.
    pub auth: Arc<AuthState>,
    /// OAuth discovery routes (`/.well-known/...`), in OAuth mode.
    pub discovery: Option<Router>,
    /// The cached Backstage probe behind `/readyz`.
    pub readiness: Arc<crate::readiness::Readiness>,
    /// Readiness and requests in flight during a graceful shutdown.
    pub drain: Arc<Drain>,
}

impl AppState {
    /// State with authentication as configured in `settings`.
    pub fn new(portal: Arc<Portal>, settings: &crate::config::Settings) -> Self {
        let auth = AuthState::new(
            &settings.auth,
            &settings.server.limits,
            portal.client().ok(),
        );
        let discovery =
            settings
                .auth
                .oauth
                .as_ref()
                .zip(portal.client().ok())
                .map(|(o, client)| {
                    crate::auth::metadata::routes(auth.clone(), o.issuer.clone(), client)
                });
        Self {
            portal,
            auth,
            discovery,
            readiness: Arc::default(),
            drain: Drain::new(settings.server.drain_delay, settings.server.shutdown_grace),
        }
    }
}

/// Refuses requests whose Host is not an allowed one (for routes outside rmcp's own check).
async fn check_host(
    State(hosts): State<Arc<Vec<String>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut values = req.headers().get_all(axum::http::header::HOST).iter();
    let host = values.next().and_then(|h| h.to_str().ok()).unwrap_or("");
    if values.next().is_some() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": {"code": 400, "message": "Bad Request: more than one Host header"}}),
            ),
        )
            .into_response();
    }
    let name = match host.rsplit_once(':') {
        Some((n, p)) if p.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if hosts.iter().any(|h| h == host || h == name) {
        next.run(req).await
    } else {
        (
            StatusCode::FORBIDDEN,
            axum::Json(
                json!({"error": {"code": 403, "message": "Forbidden: Host header is not allowed"}}),
            ),
        )
            .into_response()
    }
}

/// Maps the limit layers' errors: overload → 503, timeout → 504.
async fn limit_error(err: tower::BoxError) -> axum::response::Response {
    if err.is::<tower::load_shed::error::Overloaded>() {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": {"code": 503, "message": "server busy; retry shortly"}})),
        )
            .into_response();
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        r
    } else if err.is::<tower::timeout::error::Elapsed>() {
        (
            StatusCode::GATEWAY_TIMEOUT,
            axum::Json(json!({"error": {"code": 504, "message": "request took too long"}})),
        )
            .into_response()
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": {"code": 500, "message": "internal error"}})),
        )
            .into_response()
    }
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

/// The path prefix under which a client configured for the official plugin finds servers.
pub const OFFICIAL_PREFIX: &str = "/api/mcp-actions/v1";

/// Builds the HTTP application: every server (see the module docs), `/healthz`, `/readyz`.
/// When `shutdown` fires the application starts draining (see [`crate::drain`]): readiness
/// answers 503 and requests keep being served; [`serve_http`] stops the server.
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
        // Not the shutdown signal: requests in flight must finish (see `serve_http`).
        .with_cancellation_token(state.drain.streams_token())
        .with_legacy_session_mode(settings.sessions)
        .with_json_response(!settings.sessions);
    let mut keys: Vec<Option<String>> = vec![None];
    keys.extend(
        handler
            .registry()
            .servers()
            .iter()
            .filter_map(|s| s.key.clone())
            .map(Some),
    );
    let mut mcp = Router::new();
    for key in keys {
        let Some(server) = handler.for_server(key.as_deref()) else {
            continue;
        };
        let paths = match &key {
            None => ["/mcp".to_string(), OFFICIAL_PREFIX.to_string()],
            Some(k) => [format!("/mcp/{k}"), format!("{OFFICIAL_PREFIX}/{k}")],
        };
        // One service (and one session manager) per server, mounted at both paths.
        let factory = move || Ok(server.clone());
        mcp = if settings.sessions {
            mount(
                mcp,
                &paths,
                StreamableHttpService::new(
                    factory,
                    Arc::new(LocalSessionManager::default()),
                    config.clone(),
                ),
            )
        } else {
            mount(
                mcp,
                &paths,
                StreamableHttpService::new(
                    factory,
                    Arc::new(NeverSessionManager::default()),
                    config.clone(),
                ),
            )
        };
    }
    let limits = &settings.limits;
    // Outermost first: the whole body is read (bounded in size and time), then the caller
    // authenticated, and only then a concurrency slot taken.
    let mcp = mcp
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(limit_error))
                .load_shed()
                .concurrency_limit(limits.max_concurrent_requests)
                .timeout(limits.request_timeout),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            crate::auth::layer,
        ))
        .layer(axum::middleware::from_fn_with_state(
            crate::listener::body::BodyLimits::new(settings.max_request_body_bytes),
            crate::listener::body::guard,
        ))
        // Host first: no challenge or error ever reflects a spoofed Host.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(allowed_hosts(settings)),
            check_host,
        ))
        // Outermost: every request is counted in flight for the graceful drain.
        .layer(axum::middleware::from_fn_with_state(
            state.drain.clone(),
            crate::drain::track,
        ));
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let drain = state.drain.clone();
        runtime.spawn(async move {
            shutdown.cancelled().await;
            drain.start();
        });
    }
    let mut app = mcp.merge(
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(state.clone()),
    );
    if let Some(discovery) = state.discovery {
        let hosts = Arc::new(allowed_hosts(settings));
        app = app.merge(discovery.layer(axum::middleware::from_fn_with_state(hosts, check_host)));
    }
    app
}

/// Routes every path in `paths` to `service`.
fn mount<S>(mut router: Router, paths: &[String], service: S) -> Router
where
    S: tower::Service<axum::extract::Request, Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: IntoResponse + 'static,
    S::Future: Send + 'static,
{
    for path in paths {
        router = router.route_service(path, service.clone());
    }
    router
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, axum::Json(json!({"status": "ok"})))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.drain.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "draining", "reason": "shutting down"})),
        );
    }
    if let Some(catalog) = state.portal.local_catalog() {
        let snap = catalog.snapshot();
        return (
            StatusCode::OK,
            axum::Json(json!({"status": "ready", "catalog": {
                "entities": snap.len(), "files": snap.file_count(), "problems": snap.problems.len()
            }})),
        );
    }
    let (status, body) = state.readiness.answer(&state.portal).await;
    (status, axum::Json(body))
}

/// Binds `addr` and serves `app` until `shutdown` fires, then drains (see [`crate::drain`]):
/// keeps serving for the drain delay (readiness 503), stops accepting, lets the requests in
/// flight finish within the grace period, then ends the MCP streams still open.
pub async fn serve_http(
    app: Router,
    addr: SocketAddr,
    shutdown: CancellationToken,
    drain: Arc<Drain>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "serving MCP over Streamable HTTP at http://{local}/mcp");
    let stop_accepting = CancellationToken::new();
    // The listener's own bound on finishing connections comes after the drain's deadline.
    let server = crate::listener::serve(
        listener,
        app,
        crate::listener::ConnLimits::default(),
        stop_accepting.clone(),
        drain.grace() + Duration::from_secs(1),
    );
    let mut server = std::pin::pin!(server);
    tokio::select! {
        r = &mut server => return r,
        () = shutdown.cancelled() => {}
    }
    drain.start();
    if !drain.delay().is_zero() {
        tokio::select! {
            r = &mut server => return r,
            () = tokio::time::sleep(drain.delay()) => {}
        }
    }
    stop_accepting.cancel();
    let grace = drain.grace();
    let deadline = tokio::time::Instant::now() + grace;
    tracing::info!(in_flight = drain.in_flight(), grace = ?grace, "stopped accepting; finishing requests in flight");
    tokio::select! {
        r = &mut server => { drain.end_streams(); return r; }
        () = drain.idle() => {}
        () = tokio::time::sleep_until(deadline) => {
            tracing::warn!(in_flight = drain.in_flight(), grace = ?grace, "requests still running after the shutdown grace period; stopping anyway");
        }
    }
    // A request accepted just before the server stopped accepting may not be counted yet:
    // give it a moment (stateless servers usually finish here), then end the event streams
    // still open (and whatever still runs after the grace period).
    tokio::select! {
        r = &mut server => { drain.end_streams(); return r; }
        () = tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + Duration::from_millis(250))) => {}
    }
    drain.end_streams();
    let after = deadline.max(tokio::time::Instant::now() + Duration::from_secs(1));
    match tokio::time::timeout_at(after, server).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(
                "connections still open after the shutdown grace period; exiting anyway"
            );
            Ok(())
        }
    }
}
