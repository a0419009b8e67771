//! The TechDocs calls against a fake Backstage: static files read as text whatever their
//! content type, metadata decoding, and the sync event stream (log, finish, error, broken
//! streams, and the time budget).

mod common;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backstage_client::{BackstageError, EntityRef, SyncOutcome};
use common::{client, config, spawn};
use futures::stream::{self, StreamExt};

fn payment() -> EntityRef {
    EntityRef::new("Component", "default", "payment-service")
}

/// What the local publisher does: HTML (and JSON) as `text/plain`.
fn plain(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn static_site() -> Router {
    Router::new().route(
        "/api/techdocs/static/docs/{ns}/{kind}/{name}/{*file}",
        get(
            |Path((ns, kind, name, file)): Path<(String, String, String, String)>| async move {
                match (ns.as_str(), kind.as_str(), name.as_str(), file.as_str()) {
                    ("default", "component", "payment-service", "techdocs_metadata.json") => plain(
                        StatusCode::OK,
                        r#"{"site_name":"Payment service","site_description":"Docs","build_timestamp":1795244802255,"files":["index.html","runbook/index.html"]}"#,
                    ),
                    ("default", "component", "payment-service", "runbook/index.html") => {
                        plain(StatusCode::OK, "<html><h1 id=\"runbook\">Runbook</h1></html>")
                    }
                    ("default", "component", "payment-service", "big.html") => {
                        plain(StatusCode::OK, include_str!("techdocs.rs"))
                    }
                    ("default", "component", "garbage", "techdocs_metadata.json") => {
                        plain(StatusCode::OK, "<!doctype html><p>login</p>")
                    }
                    _ => (
                        StatusCode::NOT_FOUND,
                        axum::Json(serde_json::json!({"error":{"name":"NotFoundError","message":"File Not Found"}})),
                    )
                        .into_response(),
                }
            },
        ),
    )
}

#[tokio::test]
async fn metadata_and_pages_are_read_as_text_under_the_entity_triplet() {
    let fake = spawn(static_site()).await;
    let mut cfg = config(fake.base(""));
    cfg.token = Some("secret".into());
    let c = client(cfg);
    let meta = c.techdocs_metadata(&payment()).await.expect("metadata");
    assert_eq!(meta.site_name.as_deref(), Some("Payment service"));
    assert_eq!(meta.build_timestamp, Some(1_795_244_802_255));
    assert_eq!(meta.files, vec!["index.html", "runbook/index.html"]);
    let page = c
        .techdocs_file(&payment(), "runbook/index.html")
        .await
        .expect("page");
    assert!(page.contains("<h1 id=\"runbook\">Runbook</h1>"), "{page}");
    let seen = fake.log.all();
    assert_eq!(
        seen[0].path,
        "/api/techdocs/static/docs/default/component/payment-service/techdocs_metadata.json"
    );
    assert_eq!(
        seen[1].path,
        "/api/techdocs/static/docs/default/component/payment-service/runbook/index.html"
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer secret"))
    );

    // A site never built is a 404, not retried; garbage metadata is a decode error.
    let missing = c
        .techdocs_metadata(&EntityRef::new("component", "default", "nope"))
        .await
        .expect_err("404");
    assert!(missing.is_not_found(), "{missing}");
    let garbage = c
        .techdocs_metadata(&EntityRef::new("component", "default", "garbage"))
        .await
        .expect_err("not JSON");
    assert!(
        matches!(garbage, BackstageError::Decode { .. }),
        "{garbage}"
    );
    // Paths cannot climb out of the site.
    let before = fake.log.count();
    for bad in ["../other/index.html", "a//b.html", "./x.html"] {
        assert!(
            matches!(
                c.techdocs_file(&payment(), bad).await,
                Err(BackstageError::Config(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(fake.log.count(), before, "refused paths were never sent");
}

#[tokio::test]
async fn pages_larger_than_the_body_cap_are_refused() {
    let fake = spawn(static_site()).await;
    let mut cfg = config(fake.base(""));
    cfg.max_body_bytes = 1024;
    let err = client(cfg)
        .techdocs_file(&payment(), "big.html")
        .await
        .expect_err("too big");
    assert!(
        matches!(&err, BackstageError::Decode { message, .. } if message.contains("max_body_bytes")),
        "{err}"
    );
}

/// A sync endpoint sending `events` (raw SSE text), then hanging when `hang`.
fn sync_app(events: &'static str, hang: bool) -> Router {
    Router::new().route(
        "/api/techdocs/sync/{ns}/{kind}/{name}",
        get(
            move |Path((_, _, name)): Path<(String, String, String)>, headers: HeaderMap| async move {
                if name == "missing" {
                    return (
                        StatusCode::NOT_FOUND,
                        axum::Json(serde_json::json!({"error":{"name":"NotFoundError","message":"Entity metadata UID missing"}})),
                    )
                        .into_response();
                }
                assert_eq!(
                    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
                    Some("text/event-stream")
                );
                // Split the events at odd places to exercise the parser's buffering.
                let chunks: Vec<Result<String, Infallible>> = events
                    .as_bytes()
                    .chunks(7)
                    .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
                    .collect();
                let body = stream::iter(chunks);
                let body = if hang {
                    Body::from_stream(body.chain(stream::pending()))
                } else {
                    Body::from_stream(body)
                };
                ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
            },
        ),
    )
}

async fn run_sync(
    events: &'static str,
    hang: bool,
    name: &str,
    budget: Duration,
) -> (Result<SyncOutcome, BackstageError>, Vec<String>) {
    let fake = spawn(sync_app(events, hang)).await;
    let c = client(config(fake.base("")));
    let mut lines = Vec::new();
    let outcome = c
        .techdocs_sync(&EntityRef::new("component", "default", name), budget, |l| {
            lines.push(l.to_string())
        })
        .await;
    (outcome, lines)
}

#[tokio::test]
async fn sync_forwards_log_lines_and_ends_on_finish() {
    let (outcome, lines) = run_sync(
        "event: log\ndata: \"INFO    -  Building page index.md\"\n\n: keep-alive\n\nevent: log\ndata: \"two\\nlines\"\n\nevent: finish\ndata: {\"updated\":true}\n\n",
        true,
        "payment-service",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(outcome.ok(), Some(SyncOutcome::Finished { updated: true }));
    assert_eq!(
        lines,
        vec!["INFO    -  Building page index.md", "two", "lines"]
    );
    let (outcome, _) = run_sync(
        "event: finish\ndata: {\"updated\":false}\n\n",
        false,
        "x",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(outcome.ok(), Some(SyncOutcome::Finished { updated: false }));
}

#[tokio::test]
async fn sync_reports_build_errors_and_broken_streams() {
    let (outcome, lines) = run_sync(
        "event: log\ndata: \"Step 1 of 3\"\n\nevent: error\ndata: \"Failed to generate docs: mkdocs exited 1\"\n\n",
        false,
        "x",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        outcome.ok(),
        Some(SyncOutcome::Failed {
            message: "Failed to generate docs: mkdocs exited 1".into()
        })
    );
    assert_eq!(lines, vec!["Step 1 of 3"]);

    let (outcome, _) = run_sync(
        "event: log\ndata: \"x\"\n\n",
        false,
        "x",
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(&outcome, Err(BackstageError::Decode { message, .. }) if message.contains("without a finish")),
        "{outcome:?}"
    );

    let (outcome, _) = run_sync("", false, "missing", Duration::from_secs(5)).await;
    let err = outcome.expect_err("404");
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.api_name(), Some("NotFoundError"));
}

#[tokio::test]
async fn sync_is_bounded_by_its_budget() {
    let started = std::time::Instant::now();
    let (outcome, lines) = run_sync(
        "event: log\ndata: \"still going\"\n\n",
        true,
        "x",
        Duration::from_millis(600),
    )
    .await;
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(BackstageError::Timeout { after, .. }) if after == Duration::from_millis(600)),
        "{outcome:?}"
    );
    assert_eq!(lines, vec!["still going"]);
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "{took:?}"
    );
}
