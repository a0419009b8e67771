//! In-process tests of the HTTP surface: health, readiness, Host/Origin validation, body
//! limit and the stateless Streamable HTTP behaviour, without binding a port.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use stagedoor::config::{self, Overrides};
use stagedoor::mcp::Handler;
use stagedoor::portal::Portal;
use stagedoor::transport::{AppState, app};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

mod support;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// A dead port: nothing listens, so readiness must fail fast.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn router(extra: &[(&str, &str)]) -> axum::Router {
    router_with(extra, |_| {})
}

fn router_with(
    extra: &[(&str, &str)],
    tweak: impl FnOnce(&mut stagedoor::config::settings::ServerSettings),
) -> axum::Router {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("BACKSTAGE_BASE_URL".into(), dead_url());
    env.insert("BACKSTAGE_TOKEN".into(), "test-token".into());
    env.insert("REQUEST_TIMEOUT_MS".into(), "500".into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    let settings = config::load(&[], &Overrides::default(), &env).unwrap();
    let mut server = settings.server.clone();
    server.max_request_body_bytes = 4096;
    tweak(&mut server);
    let portal =
        Arc::new(Portal::new(settings.backstage.as_ref().unwrap(), &settings.cache).unwrap());
    let handler = Handler::new(portal.clone(), None);
    let mut settings = settings;
    settings.server = server.clone();
    app(
        handler,
        AppState::new(portal, &settings),
        &server,
        CancellationToken::new(),
    )
}

fn post() -> axum::http::request::Builder {
    Request::post("/mcp")
        .header("host", "127.0.0.1:7008")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

#[tokio::test]
async fn health_is_up_and_readiness_reports_backstage_down() {
    let r = router(&[]);
    let res = r
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = r
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], "unready");
}

#[tokio::test]
async fn initialize_is_answered_statelessly_without_a_session() {
    let res = router(&[])
        .oneshot(post().body(Body::from(INIT)).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers().get("mcp-session-id").is_none(),
        "stateless mode must not issue sessions"
    );
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("\"serverInfo\"") && text.contains("stagedoor"),
        "{text}"
    );
}

#[tokio::test]
async fn foreign_host_and_origin_are_forbidden() {
    let r = router(&[]);
    let res = r
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header("host", "evil.example")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(Body::from(INIT))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = r
        .clone()
        .oneshot(
            post()
                .header("origin", "http://evil.example")
                .body(Body::from(INIT))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = r
        .oneshot(
            post()
                .header("origin", "http://localhost:6274")
                .body(Body::from(INIT))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a loopback browser origin is allowed by default"
    );
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"search_catalog","arguments":{{"query":"{}"}}}}}}"#,
        "x".repeat(10_000)
    );
    let res = router(&[])
        .oneshot(post().body(Body::from(big.clone())).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn tool_failure_is_an_is_error_result_not_a_protocol_error() {
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_entity","arguments":{"entityRef":"component:default/web"}}}"#;
    let res = router(&[])
        .oneshot(
            post()
                .header("mcp-protocol-version", "2025-11-25")
                .body(Body::from(call))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("\"isError\":true"), "{text}");
    assert!(text.contains("could not connect to Backstage"), "{text}");
}

#[tokio::test]
async fn get_on_the_stateless_endpoint_is_not_allowed() {
    let res = router(&[])
        .oneshot(
            Request::get("/mcp")
                .header("host", "127.0.0.1:7008")
                .header("accept", "text/event-stream")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn sessions_can_be_turned_on_for_legacy_clients() {
    let r = router_with(&[], |s| s.sessions = true);
    let res = r
        .clone()
        .oneshot(post().body(Body::from(INIT)).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let session = res
        .headers()
        .get("mcp-session-id")
        .expect("session mode issues a session id")
        .to_str()
        .unwrap()
        .to_string();
    assert!(!session.is_empty());
    // A request naming a session the server never issued is refused.
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    let res = r
        .oneshot(
            post()
                .header("mcp-session-id", "not-a-real-session")
                .header("mcp-protocol-version", "2025-11-25")
                .body(Body::from(list))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// A router for a configuration given as YAML (plus the dead Backstage of `router`).
fn router_from_yaml(yaml: &str) -> axum::Router {
    let env: BTreeMap<String, String> = [
        ("BACKSTAGE_BASE_URL".to_string(), dead_url()),
        ("REQUEST_TIMEOUT_MS".to_string(), "500".to_string()),
    ]
    .into();
    let settings = support::settings(yaml, &env);
    let (portal, registry) = support::parts(&settings);
    support::router(&settings, portal, registry)
}

async fn tool_names(r: &axum::Router, path: &str) -> (StatusCode, Vec<String>) {
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    let res = r
        .clone()
        .oneshot(
            Request::post(path)
                .header("host", "127.0.0.1:7008")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .body(Body::from(list))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let names = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["result"]["tools"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    (status, names)
}

#[tokio::test]
async fn named_servers_answer_at_both_paths_with_their_own_view() {
    let r = router_from_yaml(
        "mcpActions:\n  name: portal\n  servers:\n    lookup:\n      name: Lookup\n      filter:\n        include: [{id: 'catalog:get_*'}]\n",
    );
    let (status, all) = tool_names(&r, "/mcp").await;
    assert_eq!(status, StatusCode::OK);
    assert!(all.contains(&"check_connection".to_string()), "{all:?}");
    let (_, official) = tool_names(&r, "/api/mcp-actions/v1").await;
    assert_eq!(official, all, "the official path serves the default server");
    for path in ["/mcp/lookup", "/api/mcp-actions/v1/lookup"] {
        let (status, names) = tool_names(&r, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            names,
            ["get_entity", "get_entities", "get_related_entities"],
            "{path}"
        );
    }
    for path in ["/mcp/nope", "/api/mcp-actions/v1/nope", "/mcp/lookup/x"] {
        let (status, _) = tool_names(&r, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // Each server introduces itself by its configured name.
    let res = r
        .oneshot(
            Request::post("/mcp/lookup")
                .header("host", "127.0.0.1:7008")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(Body::from(INIT))
                .unwrap(),
        )
        .await
        .unwrap();
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["result"]["serverInfo"]["name"], "Lookup", "{v}");
}

#[tokio::test]
async fn curated_tools_can_be_hidden() {
    let r = router_from_yaml("tools:\n  curated: false\n");
    let (status, names) = tool_names(&r, "/mcp").await;
    assert_eq!(status, StatusCode::OK);
    assert!(names.is_empty(), "{names:?}");
}

#[tokio::test]
async fn a_foreign_host_on_the_oauth_metadata_is_refused_with_a_json_body() {
    let r = router_from_yaml("auth:\n  oauth:\n    enabled: true\n");
    let get = |host: &'static str| {
        Request::get("/.well-known/oauth-protected-resource/mcp")
            .header("host", host)
            .body(Body::empty())
            .unwrap()
    };
    let ok = r.clone().oneshot(get("127.0.0.1:7008")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK, "the metadata route exists");
    let res = r.oneshot(get("evil.example")).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(
        v["error"]["code"],
        403,
        "{}",
        String::from_utf8_lossy(&body)
    );
}
