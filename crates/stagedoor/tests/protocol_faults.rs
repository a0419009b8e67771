//! In-process router tests of issue 17's protocol faults: Host validated before auth (no
//! spoofed Host reflected), duplicate Host refused, `/readyz` from a cached probe with no
//! internal detail in the answer.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use stagedoor::config::{self, Overrides};
use stagedoor::mcp::Handler;
use stagedoor::portal::Portal;
use stagedoor::transport::{AppState, app};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn router(base_url: &str, yaml: &str) -> axum::Router {
    let dir = std::env::temp_dir().join(format!(
        "stagedoor-faults-{}-{}",
        std::process::id(),
        base_url.len() + yaml.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("stagedoor.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("BACKSTAGE_BASE_URL".into(), base_url.into());
    env.insert("BACKSTAGE_TOKEN".into(), "test-token".into());
    let settings = config::load(&[file], &Overrides::default(), &env).unwrap();
    let portal =
        Arc::new(Portal::new(settings.backstage.as_ref().unwrap(), &settings.cache).unwrap());
    let handler = Handler::new(portal.clone(), None);
    app(
        handler,
        AppState::new(portal, &settings),
        &settings.server,
        CancellationToken::new(),
    )
}

/// A stand-in catalog that counts the requests it answers (Backstage cannot count for us).
async fn counting_catalog() -> (String, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]")
                    .await;
            });
        }
    });
    (url, hits)
}

fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    format!("http://127.0.0.1:{port}")
}

async fn body_text(res: axum::response::Response) -> String {
    String::from_utf8_lossy(&to_bytes(res.into_body(), 1 << 20).await.unwrap()).into_owned()
}

#[tokio::test]
async fn readiness_is_probed_at_most_once_per_interval() {
    let (url, hits) = counting_catalog().await;
    let r = router(&url, "{}\n");
    for _ in 0..20 {
        let res = r
            .clone()
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unreadiness_names_no_internal_url_or_error() {
    let url = dead_url();
    let r = router(&url, "{}\n");
    let res = r
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = body_text(res).await;
    let port = url.rsplit(':').next().unwrap();
    assert!(
        !text.contains(port) && !text.contains("127.0.0.1"),
        "{text}"
    );
}

fn post(host: &str) -> axum::http::request::Builder {
    Request::post("/mcp")
        .header("host", host)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
}

#[tokio::test]
async fn host_is_checked_before_auth_and_duplicates_are_refused() {
    let r = router(
        &dead_url(),
        "auth:\n  tokens:\n    - token: faults-test-token-0123456789\n      subject: ci\n",
    );
    // A spoofed Host without a token: refused for the Host, no challenge naming it.
    let res = r
        .clone()
        .oneshot(post("evil.example:7008").body(Body::from(INIT)).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("www-authenticate").is_none());
    assert!(!body_text(res).await.contains("evil.example"));
    // Two Host headers, the first allowed.
    let res = r
        .clone()
        .oneshot(
            post("127.0.0.1:7008")
                .header("host", "evil.example")
                .header("authorization", "Bearer faults-test-token-0123456789")
                .body(Body::from(INIT))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // The allowed Host still works.
    let res = r
        .oneshot(
            post("127.0.0.1:7008")
                .header("authorization", "Bearer faults-test-token-0123456789")
                .body(Body::from(INIT))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
