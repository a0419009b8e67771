//! Transport faults a real Backstage cannot show, against a fake upstream on 127.0.0.1:
//! retries, error mapping, timeouts, body caps, redirects and where the token goes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backstage_client::{BackstageClient, BackstageError, ClientConfig};
use common::{Fake, client, config, dead_port, spawn};
use serde_json::json;
use tokio::time::Instant;

const PATH: &str = "/api/catalog/entity-facets";

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A route on `PATH` answering 503 for the first `failures` calls, then `{"ok":true}`.
async fn flaky(failures: usize) -> Fake {
    let calls = Arc::new(AtomicUsize::new(0));
    let handler = move || {
        let calls = Arc::clone(&calls);
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) < failures {
                (StatusCode::SERVICE_UNAVAILABLE, "upstream busy").into_response()
            } else {
                json_response(StatusCode::OK, json!({"ok": true}))
            }
        }
    };
    spawn(
        Router::new()
            .route(PATH, get(handler.clone()))
            .route("/api/post", post(handler)),
    )
    .await
}

#[tokio::test]
async fn get_is_retried_after_503_and_succeeds() {
    let fake = flaky(1).await;
    let c = client(config(fake.base("")));
    let value = c
        .get_json(PATH, &[])
        .await
        .expect("second attempt succeeds");
    assert_eq!(value, json!({"ok": true}));
    assert_eq!(fake.log.count(), 2);
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let fake = flaky(usize::MAX).await;
    let c = client(config(fake.base("")));
    let err = c.get_json(PATH, &[]).await.expect_err("always 503");
    assert_eq!(err.status(), Some(503));
    match &err {
        BackstageError::Api { message, name, .. } => {
            assert_eq!(message, "upstream busy");
            assert_eq!(name, &None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.log.count(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn non_idempotent_post_is_not_retried_on_503() {
    let fake = flaky(1).await;
    let c = client(config(fake.base("")));
    let err = c
        .post_json("/api/post", &json!({"x": 1}), false)
        .await
        .expect_err("503 surfaces");
    assert_eq!(err.status(), Some(503));
    assert_eq!(fake.log.count(), 1);
}

#[tokio::test]
async fn idempotent_post_is_retried_on_503() {
    let fake = flaky(1).await;
    let c = client(config(fake.base("")));
    let value = c
        .post_json("/api/post", &json!({"x": 1}), true)
        .await
        .expect("retried");
    assert_eq!(value, json!({"ok": true}));
    assert_eq!(fake.log.count(), 2);
}

#[tokio::test]
async fn server_error_json_is_parsed_and_not_retried() {
    let fake = spawn(Router::new().route(
        PATH,
        get(|| async {
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error":{"name":"MissingIndexError","message":"Missing index for software-catalog"},
                       "request":{"method":"GET","url":"/query"},"response":{"statusCode":500}}),
            )
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    match c.get_json(PATH, &[]).await {
        Err(BackstageError::Api {
            status,
            name,
            message,
            url,
        }) => {
            assert_eq!(status, 500);
            assert_eq!(name.as_deref(), Some("MissingIndexError"));
            assert_eq!(message, "Missing index for software-catalog");
            assert!(url.ends_with(PATH), "{url}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.log.count(), 1);
}

#[tokio::test]
async fn garbage_success_body_is_a_decode_error() {
    let fake = spawn(Router::new().route(
        PATH,
        get(|| async { (StatusCode::OK, "<html><body>Sign in</body></html>") }),
    ))
    .await;
    let c = client(config(fake.base("")));
    match c.get_json(PATH, &[]).await {
        Err(BackstageError::Decode { message, .. }) => {
            assert!(message.contains("not valid JSON"), "{message}");
            assert!(message.contains("Sign in"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.log.count(), 1, "decode errors are not retried");
}

#[tokio::test]
async fn truncated_json_is_a_decode_error() {
    let fake = spawn(Router::new().route(PATH, get(|| async { r#"{"facets":{"kind":[{"# }))).await;
    let c = client(config(fake.base("")));
    assert!(matches!(
        c.get_json(PATH, &[]).await,
        Err(BackstageError::Decode { .. })
    ));
}

#[tokio::test]
async fn slow_upstream_times_out_within_bounded_time_and_is_not_retried() {
    let fake = spawn(Router::new().route(
        PATH,
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{}"
        }),
    ))
    .await;
    let mut cfg = config(fake.base(""));
    cfg.timeout = Duration::from_millis(300);
    let c = client(cfg);
    let started = Instant::now();
    let err = c.get_json(PATH, &[]).await.expect_err("times out");
    let elapsed = started.elapsed();
    match err {
        BackstageError::Timeout { after, url } => {
            assert_eq!(after, Duration::from_millis(300));
            assert!(url.ends_with(PATH), "{url}");
        }
        other => panic!("{other:?}"),
    }
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert_eq!(fake.log.count(), 1, "timeouts are not retried");
}

#[tokio::test]
async fn stalled_body_counts_against_the_timeout() {
    let fake = spawn(Router::new().route(
        PATH,
        get(|| async {
            let stream = futures::stream::unfold(0u8, |step| async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(Bytes::from_static(b"{\"a\":")), 1)),
                    _ => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        None
                    }
                }
            });
            Body::from_stream(stream)
        }),
    ))
    .await;
    let mut cfg = config(fake.base(""));
    cfg.timeout = Duration::from_millis(300);
    let c = client(cfg);
    let started = Instant::now();
    let err = c.get_json(PATH, &[]).await.expect_err("times out");
    assert!(matches!(err, BackstageError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let base =
        url::Url::parse(&format!("http://127.0.0.1:{}/backstage", dead_port())).expect("url");
    let c = client(config(base));
    let started = Instant::now();
    match c.get_json(PATH, &[]).await {
        Err(e @ BackstageError::Connect { .. }) => {
            assert!(e.is_retryable());
            let text = e.to_string();
            assert!(text.contains("127.0.0.1"), "{text}");
            assert!(
                text.contains("/backstage/api/catalog/entity-facets"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Retries are quick (5 ms base backoff) and bounded.
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn oversized_body_is_a_decode_error() {
    let big = format!("{{\"data\":\"{}\"}}", "x".repeat(4096));
    let streamed = big.clone();
    let fake = spawn(
        Router::new()
            .route(PATH, get(move || async move { big }))
            // No Content-Length: exercises the streaming cap, not only the header check.
            .route(
                "/api/streamed",
                get(move || async move {
                    let chunks: Vec<Result<Bytes, std::io::Error>> = streamed
                        .into_bytes()
                        .chunks(512)
                        .map(|c| Ok(Bytes::copy_from_slice(c)))
                        .collect();
                    Body::from_stream(futures::stream::iter(chunks))
                }),
            ),
    )
    .await;
    let mut cfg = config(fake.base(""));
    cfg.max_body_bytes = 1024;
    let c = client(cfg);
    for path in [PATH, "/api/streamed"] {
        match c.get_json(path, &[]).await {
            Err(BackstageError::Decode { message, .. }) => {
                assert!(message.contains("1024"), "{path}: {message}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(fake.log.count(), 2, "not retried");
}

#[tokio::test]
async fn redirect_to_another_origin_is_not_followed_and_gets_no_token() {
    let other = spawn(Router::new().route("/steal", get(|| async { "{}" }))).await;
    let target = format!("http://{}/steal", other.addr);
    let fake = spawn(Router::new().route(
        PATH,
        get(move || {
            let target = target.clone();
            async move { (StatusCode::FOUND, [(header::LOCATION, target)]).into_response() }
        }),
    ))
    .await;
    let mut cfg = config(fake.base(""));
    cfg.token = Some("secret-token".into());
    let c = client(cfg);
    let err = c.get_json(PATH, &[]).await.expect_err("redirect refused");
    assert_eq!(err.status(), Some(302));
    let text = err.to_string();
    assert!(text.contains("not followed"), "{text}");
    assert!(!text.contains("secret-token"), "{text}");
    assert_eq!(other.log.count(), 0, "the other origin was never contacted");
    assert!(other.log.all().iter().all(|s| s.authorization.is_none()));
    assert_eq!(
        fake.log.all()[0].authorization.as_deref(),
        Some("Bearer secret-token")
    );
}

#[tokio::test]
async fn same_origin_redirect_is_followed_with_the_token() {
    let fake = spawn(
        Router::new()
            .route(
                "/old",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/new")]).into_response() }),
            )
            .route(
                "/new",
                get(|| async { json_response(StatusCode::OK, json!([1])) }),
            ),
    )
    .await;
    let mut cfg = config(fake.base(""));
    cfg.token = Some("tok".into());
    let c = client(cfg);
    assert_eq!(c.get_json("/old", &[]).await.expect("followed"), json!([1]));
    let seen = fake.log.all();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].path, "/new");
    assert_eq!(seen[1].authorization.as_deref(), Some("Bearer tok"));
}

#[tokio::test]
async fn base_path_prefix_is_honoured() {
    let fake = spawn(Router::new().route(
        "/backstage/api/catalog/entity-facets",
        get(|| async { json_response(StatusCode::OK, json!({"facets":{}})) }),
    ))
    .await;
    for prefix in ["/backstage", "/backstage/"] {
        let c = client(config(fake.base(prefix)));
        let value = c
            .get_json(
                PATH,
                &[("facet", "kind".into()), ("facet", "spec.type".into())],
            )
            .await
            .expect("prefix kept");
        assert_eq!(value, json!({"facets":{}}));
    }
    let seen = fake.log.all();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|s| s.path == "/backstage/api/catalog/entity-facets")
    );
    assert_eq!(seen[0].query.as_deref(), Some("facet=kind&facet=spec.type"));
}

#[tokio::test]
async fn authorization_header_goes_to_the_base_origin_and_follows_with_token() {
    let fake = spawn(Router::new().route(PATH, get(|| async { "{}" }))).await;
    let mut cfg = config(fake.base(""));
    cfg.token = Some("  static-token\n".into());
    let c = client(cfg);
    assert!(c.has_token());
    c.get_json(PATH, &[]).await.expect("ok");
    let user = c.with_token(Some("user-token".into()));
    user.get_json(PATH, &[]).await.expect("ok");
    let anonymous = c.with_token(None);
    assert!(!anonymous.has_token());
    anonymous.get_json(PATH, &[]).await.expect("ok");
    let auth: Vec<Option<String>> = fake
        .log
        .all()
        .into_iter()
        .map(|s| s.authorization)
        .collect();
    assert_eq!(
        auth,
        vec![
            Some("Bearer static-token".to_owned()),
            Some("Bearer user-token".to_owned()),
            None
        ]
    );
    assert_eq!(c.base_url(), user.base_url());
    let debug = format!("{c:?} {user:?}");
    assert!(
        !debug.contains("static-token") && !debug.contains("user-token"),
        "{debug}"
    );
}

#[tokio::test]
async fn paths_that_leave_the_base_are_refused_before_sending() {
    let fake = spawn(Router::new().route("/admin", get(|| async { "{}" }))).await;
    let mut cfg = config(fake.base("/backstage"));
    cfg.token = Some("tok".into());
    let c = client(cfg);
    for path in ["/../admin", "/api/%2e%2e/../../admin", "/api?x=1"] {
        assert!(
            matches!(c.get_json(path, &[]).await, Err(BackstageError::Config(_))),
            "{path}"
        );
    }
    assert_eq!(fake.log.count(), 0);
}

#[tokio::test]
async fn probe_reports_statuses_without_erroring_or_retrying() {
    let fake = spawn(
        Router::new()
            .route("/.backstage/health/v1/readiness", get(|| async { r#"{"status":"ok"}"# }))
            .route(
                "/api/catalog/entities",
                get(|| async {
                    json_response(
                        StatusCode::UNAUTHORIZED,
                        json!({"error":{"name":"AuthenticationError","message":"Missing credentials"}}),
                    )
                }),
            )
            .route("/busy", get(|| async { StatusCode::SERVICE_UNAVAILABLE })),
    )
    .await;
    let c = client(config(fake.base("")));
    let ok = c
        .probe("/.backstage/health/v1/readiness", &[])
        .await
        .expect("probe");
    assert_eq!(ok.status, 200);
    assert!(ok.is_success());
    assert_eq!((ok.error_name, ok.error_message), (None, None));
    assert!(ok.latency < Duration::from_secs(5));

    let denied = c.probe("/api/catalog/entities", &[]).await.expect("probe");
    assert_eq!(denied.status, 401);
    assert_eq!(denied.error_name.as_deref(), Some("AuthenticationError"));
    assert_eq!(denied.error_message.as_deref(), Some("Missing credentials"));

    let busy = c.probe("/busy", &[]).await.expect("probe");
    assert_eq!(busy.status, 503);
    assert_eq!(busy.error_message.as_deref(), Some("Service Unavailable"));
    assert_eq!(fake.log.count(), 3, "probes are single attempts");

    let dead = client(config(
        url::Url::parse(&format!("http://127.0.0.1:{}", dead_port())).expect("url"),
    ));
    assert!(matches!(
        dead.probe("/.backstage/health/v1/readiness", &[]).await,
        Err(BackstageError::Connect { .. })
    ));
}

#[tokio::test]
async fn https_base_url_uses_rustls() {
    // A TCP server that answers the TLS ClientHello with garbage: the handshake must fail
    // as a Connect error (proving the TLS stack is configured), not panic.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let base = url::Url::parse(&format!("https://127.0.0.1:{}/", addr.port())).expect("url");
    let mut cfg = config(base);
    cfg.max_retries = 0;
    let c = client(cfg);
    match c.get_json(PATH, &[]).await {
        Err(BackstageError::Connect { url, .. }) => assert!(url.starts_with("https://"), "{url}"),
        other => panic!("{other:?}"),
    }
    server.abort();
}

#[tokio::test]
async fn invalid_configurations_are_rejected() {
    let bad_urls = [
        "http://user:pw@backstage.test/",
        "ftp://backstage.test/",
        "http://backstage.test/?a=1",
    ];
    for raw in bad_urls {
        let cfg = ClientConfig::new(url::Url::parse(raw).expect("url"));
        match BackstageClient::new(cfg) {
            Err(BackstageError::Config(message)) => assert!(!message.contains("pw"), "{message}"),
            other => panic!("{raw}: {other:?}"),
        }
    }
    let mut cfg = ClientConfig::new(url::Url::parse("http://backstage.test").expect("url"));
    cfg.token = Some("a\nb".into());
    assert!(matches!(
        BackstageClient::new(cfg.clone()),
        Err(BackstageError::Config(_))
    ));
    cfg.token = None;
    cfg.timeout = Duration::ZERO;
    assert!(matches!(
        BackstageClient::new(cfg),
        Err(BackstageError::Config(_))
    ));
}

#[tokio::test]
async fn invalid_per_user_token_fails_without_sending() {
    let fake = spawn(Router::new().route(PATH, get(|| async { "{}" }))).await;
    let c = client(config(fake.base(""))).with_token(Some("bad\r\ntoken".into()));
    assert!(matches!(
        c.get_json(PATH, &[]).await,
        Err(BackstageError::Config(_))
    ));
    assert_eq!(fake.log.count(), 0);
}
