//! Graceful drain of the HTTP transport on a real socket: after the shutdown signal
//! readiness answers 503 while requests are still served for `server.drainDelay`, then the
//! server stops accepting and a request in flight still gets its answer before it exits.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use serde_json::json;
use stagedoor::config::{self, Overrides};
use stagedoor::mcp::Handler;
use stagedoor::portal::Portal;
use stagedoor::transport::{AppState, app, serve_http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// A Backstage whose entity answer waits until the test releases it.
struct Gate {
    arrived: mpsc::UnboundedSender<()>,
    release: Notify,
}

async fn by_name(
    State(gate): State<Arc<Gate>>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> axum::Json<serde_json::Value> {
    let released = gate.release.notified();
    gate.arrived.send(()).unwrap();
    released.await;
    axum::Json(json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "service"}
    }))
}

async fn spawn_backstage(gate: Arc<Gate>) -> String {
    let app = Router::new()
        .route(
            "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
            get(by_name),
        )
        .with_state(gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// One HTTP/1.1 exchange on a fresh connection: (status, body). `None` if refused.
async fn exchange(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         accept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-11-25\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.ok()?;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

const GET_ENTITY: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_entity","arguments":{"entityRef":"component:default/payments"}}}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_503_keeps_serving_then_finishes_requests_in_flight() {
    let (arrived_tx, mut arrived) = mpsc::unbounded_channel();
    let gate = Arc::new(Gate {
        arrived: arrived_tx,
        release: Notify::new(),
    });
    let base = spawn_backstage(gate.clone()).await;
    let env: BTreeMap<String, String> = [
        ("BACKSTAGE_BASE_URL".to_string(), base),
        ("BACKSTAGE_TOKEN".to_string(), "test-token".to_string()),
    ]
    .into();
    let mut settings = config::load(&[], &Overrides::default(), &env).unwrap();
    settings.server.drain_delay = Duration::from_secs(1);
    settings.server.shutdown_grace = Duration::from_secs(20);
    let portal =
        Arc::new(Portal::new(settings.backstage.as_ref().unwrap(), &settings.cache).unwrap());
    let handler = Handler::new(portal.clone(), None);
    let state = AppState::new(portal, &settings);
    let drain = state.drain.clone();
    let shutdown = CancellationToken::new();
    let router = app(handler, state, &settings.server, shutdown.clone());
    let addr = free_addr();
    let server = tokio::spawn(serve_http(router, addr, shutdown.clone(), drain));
    for _ in 0..200 {
        if exchange(addr, "GET", "/healthz", "").await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A tool call in flight at Backstage when the signal comes.
    let in_flight = tokio::spawn(async move { exchange(addr, "POST", "/mcp", GET_ENTITY).await });
    arrived.recv().await.unwrap();
    shutdown.cancel();

    // Readiness turns 503 at once; new requests are still served during the drain delay.
    let mut ready = None;
    for _ in 0..100 {
        let (status, body) = exchange(addr, "GET", "/readyz", "").await.unwrap();
        if status == 503 {
            ready = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ready = ready.expect("readiness never turned 503 after the signal");
    assert!(ready.contains("\"draining\""), "{ready}");
    let (status, listed) = exchange(addr, "POST", "/mcp", TOOLS_LIST).await.unwrap();
    assert_eq!(status, 200, "{listed}");
    assert!(listed.contains("get_entity"), "{listed}");

    // After the drain delay the server stops accepting connections ...
    let mut refused = false;
    for _ in 0..500 {
        if exchange(addr, "GET", "/healthz", "").await.is_none() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the server kept accepting after the drain delay");
    assert!(
        !server.is_finished(),
        "the server exited with a request in flight"
    );

    // ... and the request in flight still gets its whole answer.
    gate.release.notify_waiters();
    let (status, answer) = in_flight
        .await
        .unwrap()
        .expect("the call in flight was cut off");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("payments"), "{answer}");
    assert!(!answer.contains("\"isError\":true"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server did not exit once nothing was in flight")
        .unwrap()
        .unwrap();
}
