//! Actions Registry calls against a fake upstream speaking the wire shapes measured on a real
//! Backstage (list, v2 and v1 invoke, Backstage error bodies, missing routes).

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use backstage_client::{BackstageError, InvokeVersion, is_missing_route};
use common::{client, config, spawn};
use serde_json::{Map, Value, json};

fn input(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn lists_actions_and_skips_malformed_entries() {
    let fake = spawn(Router::new().route(
        "/api/catalog/.backstage/actions/v1/actions",
        get(|| async {
            Json(json!({"actions": [
                {"id": "catalog:get-catalog-entity", "name": "get-catalog-entity",
                 "title": "Get", "description": "d", "pluginId": "catalog",
                 "attributes": {"destructive": false, "idempotent": true, "readOnly": true},
                 "schema": {"input": {"type": "object"}, "output": {"type": "object"}}},
                {"id": "catalog:broken", "name": 42},
                {"id": "catalog:no-plugin-id", "name": "no-plugin-id"}
            ]}))
        }),
    ))
    .await;
    let mut cfg = config(fake.base(""));
    cfg.token = Some("tok".into());
    let list = client(cfg).list_actions("catalog").await.expect("list");
    assert_eq!(list.actions.len(), 2);
    assert_eq!(list.actions[0].id, "catalog:get-catalog-entity");
    assert!(list.actions[0].attributes.read_only);
    assert_eq!(
        list.actions[1].plugin_id, "catalog",
        "defaults to the source"
    );
    assert_eq!(list.skipped.len(), 1);
    assert!(
        list.skipped[0].starts_with("catalog:broken"),
        "{:?}",
        list.skipped
    );
    let seen = fake.log.all();
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer tok"));
}

#[tokio::test]
async fn a_missing_plugin_is_a_missing_route() {
    let fake = spawn(Router::new()).await;
    let err = client(config(fake.base("")))
        .list_actions("nope")
        .await
        .expect_err("no such plugin");
    assert!(is_missing_route(&err), "{err:?}");
    let garbage = spawn(Router::new().route(
        "/api/x/.backstage/actions/v1/actions",
        get(|| async { Json(json!({"items": []})) }),
    ))
    .await;
    let err = client(config(garbage.base("")))
        .list_actions("x")
        .await
        .expect_err("wrong shape");
    assert!(matches!(err, BackstageError::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn invokes_v2_with_input_and_secrets_and_v1_with_the_raw_input() {
    let bodies: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let (b2, b1) = (bodies.clone(), bodies.clone());
    let fake = spawn(
        Router::new()
            .route(
                "/api/catalog/.backstage/actions/v2/actions/{id}/invoke",
                post(move |body: Bytes| async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    b2.lock().expect("lock").push(("v2".into(), v.clone()));
                    Json(json!({"output": {"echo": v}}))
                }),
            )
            .route(
                "/api/catalog/.backstage/actions/v1/actions/{id}/invoke",
                post(move |body: Bytes| async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    b1.lock().expect("lock").push(("v1".into(), v.clone()));
                    Json(json!({"output": [1, 2]}))
                }),
            ),
    )
    .await;
    let c = client(config(fake.base("")));
    let secrets = input(json!({"token": "s"}));
    let out = c
        .invoke_action(
            "catalog",
            "catalog:get-catalog-entity",
            InvokeVersion::V2,
            &input(json!({"name": "a"})),
            Some(&secrets),
            true,
        )
        .await
        .expect("v2");
    assert_eq!(
        out,
        json!({"echo": {"input": {"name": "a"}, "secrets": {"token": "s"}}})
    );
    let out = c
        .invoke_action(
            "catalog",
            "catalog:get-catalog-entity",
            InvokeVersion::V1,
            &input(json!({"name": "a"})),
            None,
            true,
        )
        .await
        .expect("v1");
    assert_eq!(out, json!([1, 2]));
    let seen = fake.log.all();
    assert_eq!(
        seen[0].path,
        "/api/catalog/.backstage/actions/v2/actions/catalog:get-catalog-entity/invoke"
    );
    assert_eq!(
        bodies.lock().expect("lock")[1],
        ("v1".into(), json!({"name": "a"}))
    );
    let err = c
        .invoke_action(
            "catalog",
            "catalog:x",
            InvokeVersion::V1,
            &Map::new(),
            Some(&secrets),
            true,
        )
        .await
        .expect_err("v1 has no secrets");
    assert!(matches!(err, BackstageError::Config(_)));
}

#[tokio::test]
async fn backstage_errors_keep_name_and_message_and_are_not_retried() {
    let fake = spawn(Router::new().route(
        "/api/catalog/.backstage/actions/v2/actions/{id}/invoke",
        post(|| async {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"name": "InputError", "message": "No entity found with name \"nope\""},
                            "request": {"method": "POST", "url": "/x"}, "response": {"statusCode": 400}})),
            )
                .into_response()
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let err = c
        .invoke_action(
            "catalog",
            "catalog:get-catalog-entity",
            InvokeVersion::V2,
            &input(json!({"name": "nope"})),
            None,
            true,
        )
        .await
        .expect_err("InputError");
    assert_eq!(err.status(), Some(400));
    assert_eq!(err.api_name(), Some("InputError"));
    assert!(!is_missing_route(&err));
    assert!(err.to_string().contains("No entity found"), "{err}");
    assert_eq!(fake.log.count(), 1);
    // An answer without `output` is not silently accepted.
    let odd = spawn(Router::new().route(
        "/api/p/.backstage/actions/v2/actions/{id}/invoke",
        post(|| async { Json(json!({"result": 1})) }),
    ))
    .await;
    let err = client(config(odd.base("")))
        .invoke_action("p", "p:a", InvokeVersion::V2, &Map::new(), None, false)
        .await
        .expect_err("no output");
    assert!(matches!(err, BackstageError::Decode { .. }), "{err:?}");
}
