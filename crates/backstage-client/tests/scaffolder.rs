//! Scaffolder calls against a fake upstream speaking the wire shapes of scaffolder-backend 4.2.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use backstage_client::{DryRun, EntityRef, NewTask, TaskListQuery};
use common::{client, config, spawn};
use serde_json::{Map, Value, json};

/// A handler answering 503 `failures` times, then `ok`.
fn flaky(failures: usize, ok: Value) -> (Arc<AtomicUsize>, Router) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = move || {
        let counter = counter.clone();
        let ok = ok.clone();
        async move {
            if counter.fetch_add(1, Ordering::SeqCst) < failures {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": {"name": "Unavailable", "message": "busy"}})),
                )
                    .into_response()
            } else {
                (StatusCode::CREATED, Json(ok)).into_response()
            }
        }
    };
    let router = Router::new()
        .route("/api/scaffolder/v2/tasks", post(handler.clone()))
        .route("/api/scaffolder/v2/tasks/{id}/cancel", post(handler));
    (calls, router)
}

#[tokio::test]
async fn creating_a_task_is_never_retried() {
    let (calls, app) = flaky(1, json!({"id": "t-1"}));
    let fake = spawn(app).await;
    let c = client(config(fake.base("")));
    let task = NewTask {
        template_ref: "template:default/hello-world".into(),
        values: Map::new(),
        secrets: None,
    };
    let err = c.create_task(&task).await.expect_err("503 surfaces");
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a task POST must not be repeated"
    );
    // The next call succeeds and returns the id.
    assert_eq!(c.create_task(&task).await.expect("created"), "t-1");
}

#[tokio::test]
async fn cancelling_is_retried_because_it_is_idempotent() {
    let (calls, app) = flaky(1, json!({"status": "cancelled"}));
    let fake = spawn(app).await;
    let c = client(config(fake.base("")));
    c.cancel_task("t-9").await.expect("cancelled after a retry");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let seen = fake.log.all();
    assert!(
        seen.iter()
            .all(|s| s.path == "/api/scaffolder/v2/tasks/t-9/cancel" && s.method == "POST")
    );
}

#[tokio::test]
async fn ids_and_refs_are_percent_encoded_segments() {
    let fake = spawn(Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"name": "NotFoundError", "message": "nope"}})),
        )
    }))
    .await;
    let c = client(config(fake.base("/backstage")));
    let err = c.get_task("../../catalog x").await.expect_err("404");
    assert!(err.is_not_found());
    let r = EntityRef {
        kind: "template".into(),
        namespace: "default".into(),
        name: "hello world".into(),
    };
    let _ = c.template_parameter_schema(&r).await;
    let paths: Vec<String> = fake.log.all().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        vec![
            "/backstage/api/scaffolder/v2/tasks/..%2F..%2Fcatalog%20x",
            "/backstage/api/scaffolder/v2/templates/default/template/hello%20world/parameter-schema",
        ]
    );
}

#[tokio::test]
async fn parameter_schema_and_task_list_decode() {
    let fake = spawn(
        Router::new()
            .route(
                "/api/scaffolder/v2/templates/default/template/hello-world/parameter-schema",
                get(|| async {
                    Json(json!({"title": "Hello", "steps": [{"title": "Greeting", "schema": {"required": ["name"]}}]}))
                }),
            )
            .route(
                "/api/scaffolder/v2/tasks",
                get(|| async {
                    Json(json!({"tasks": [{"id": "a", "status": "completed", "spec": {}, "createdAt": "2026-01-01"}], "totalTasks": 7}))
                }),
            ),
    )
    .await;
    let c = client(config(fake.base("")));
    let r = EntityRef::parse("template:default/hello-world", None, None).expect("ref");
    let schema = c.template_parameter_schema(&r).await.expect("schema");
    assert_eq!(schema.title, "Hello");
    assert_eq!(schema.steps[0].schema, json!({"required": ["name"]}));
    let list = c
        .list_tasks(&TaskListQuery {
            status: vec!["completed".into()],
            limit: Some(1),
            offset: Some(3),
            newest_first: true,
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(list.total_tasks, 7);
    assert_eq!(list.tasks[0].created_by, None);
    let q = fake.log.all()[1].query.clone().unwrap_or_default();
    assert_eq!(
        q,
        "status=completed&order=desc%3Acreated_at&limit=1&offset=3"
    );
}

#[tokio::test]
async fn a_long_poll_with_no_news_is_an_empty_answer_within_the_wait() {
    let fake = spawn(Router::new().route(
        "/api/scaffolder/v2/tasks/{id}/events",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Json(json!([]))
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let started = std::time::Instant::now();
    let events = c
        .task_events("t", Some(4), Duration::from_millis(300))
        .await
        .expect("no news is not an error");
    assert!(events.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.log.all()[0].query.as_deref(), Some("after=4"));
}

#[tokio::test]
async fn the_repeated_completion_event_is_dropped() {
    // Backstage always adds the completion event when `after` is given, even an old one.
    let fake = spawn(Router::new().route(
        "/api/scaffolder/v2/tasks/{id}/events",
        get(|| async {
            Json(json!([
                {"id": 7, "type": "completion", "body": {"message": "done"}, "taskId": "t", "isTaskRecoverable": false},
                {"id": 9, "type": "log", "body": {"message": "late"}},
                {"id": 8, "type": "log", "body": {"message": "x", "stepId": "s", "status": "completed"}}
            ]))
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let events = c
        .task_events("t", Some(7), Duration::from_secs(2))
        .await
        .expect("events");
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![8, 9]);
    let all = c
        .task_events("t", None, Duration::from_secs(2))
        .await
        .expect("events");
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].event_type, "completion");
}

#[tokio::test]
async fn dry_run_sends_the_template_and_is_not_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let fake = spawn(Router::new().route(
        "/api/scaffolder/v2/dry-run",
        post(move |Json(body): Json<Value>| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                assert_eq!(body["template"]["kind"], "Template");
                assert_eq!(body["values"], json!({"name": "x"}));
                assert_eq!(body["directoryContents"], json!([]));
                assert!(body.get("secrets").is_none());
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": {"message": "busy"}})),
                )
            }
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let mut values = Map::new();
    values.insert("name".into(), json!("x"));
    let err = c
        .dry_run(&DryRun {
            template: json!({"kind": "Template"}),
            values,
            secrets: None,
            directory_contents: Vec::new(),
        })
        .await
        .expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
