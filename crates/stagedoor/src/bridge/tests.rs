//! The bridge against a fake Actions Registry on 127.0.0.1: discovery, change detection,
//! failing sources, v2 → v1 fallback, and local validation that sends nothing.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::*;
use crate::config::actions::NameStyle;
use crate::config::settings::{BackstageSettings, CacheSettings};
use crate::filter::Filter;

#[derive(Default)]
struct Fake {
    /// Per plugin: the listing answer (status, body).
    lists: HashMap<String, (u16, Value)>,
    /// Whether the v2 invoke route exists.
    v2: bool,
    /// (method, path, body) of every request.
    seen: Vec<(String, String, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

fn action(plugin: &str, name: &str, read_only: bool) -> Value {
    json!({
        "id": format!("{plugin}:{name}"), "name": name, "title": name, "description": format!("Does {name}."),
        "pluginId": plugin,
        "attributes": {"destructive": !read_only, "idempotent": read_only, "readOnly": read_only},
        "schema": {
            "input": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
                      "additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#"},
            "output": {"type": "object", "properties": {}, "additionalProperties": true}
        }
    })
}

async fn list(State(s): State<Shared>, Path(plugin): Path<String>) -> Response {
    let mut f = s.lock().unwrap();
    f.seen
        .push(("GET".into(), format!("/api/{plugin}/list"), Value::Null));
    match f.lists.get(&plugin) {
        Some((200, body)) => (StatusCode::OK, axum::Json(body.clone())).into_response(),
        Some((404, _)) | None => StatusCode::NOT_FOUND.into_response(),
        Some((status, _)) => (
            StatusCode::from_u16(*status).unwrap(),
            axum::Json(json!({"error": {"name": "Error", "message": "boom"}})),
        )
            .into_response(),
    }
}

async fn invoke(
    State(s): State<Shared>,
    Path((plugin, version, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let mut f = s.lock().unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.seen.push((
        "POST".into(),
        format!("/api/{plugin}/{version}/{id}"),
        body.clone(),
    ));
    if version == "v2" && !f.v2 {
        return StatusCode::NOT_FOUND.into_response();
    }
    let input = if version == "v2" {
        body["input"].clone()
    } else {
        body
    };
    if input["name"] == "nope" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"name": "InputError", "message": "No entity found with name \"nope\""}})),
        )
            .into_response();
    }
    axum::Json(json!({"output": {"version": version, "input": input}})).into_response()
}

async fn spawn(fake: Shared) -> String {
    let app = Router::new()
        .route("/api/{plugin}/.backstage/actions/v1/actions", get(list))
        .route(
            "/api/{plugin}/.backstage/actions/{version}/actions/{id}/invoke",
            post(invoke),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn portal(base: &str) -> Arc<Portal> {
    let b = BackstageSettings {
        base_url: url::Url::parse(base).unwrap(),
        token: None,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        retries: 0,
        max_response_bytes: 1 << 20,
    };
    let c = CacheSettings {
        ttl: Duration::from_secs(60),
        max_entries: 100,
    };
    Arc::new(Portal::new(&b, &c).unwrap())
}

fn settings(sources: &[&str]) -> ActionsSettings {
    ActionsSettings {
        plugin_sources: sources.iter().map(|s| s.to_string()).collect(),
        refresh_interval: Duration::ZERO,
        tool_names: NameStyle::Safe,
        namespaced: true,
        filter: Filter::default(),
    }
}

async fn setup(sources: &[&str]) -> (Shared, Arc<Portal>, Arc<Bridge>) {
    let fake: Shared = Arc::default();
    {
        let mut f = fake.lock().unwrap();
        f.v2 = true;
        f.lists.insert(
            "catalog".into(),
            (200, json!({"actions": [action("catalog", "get-entity", true), action("catalog", "drop-it", false)]})),
        );
        f.lists.insert(
            "scaffolder".into(),
            (
                200,
                json!({"actions": [action("scaffolder", "list-actions", true)]}),
            ),
        );
    }
    let base = spawn(fake.clone()).await;
    let portal = portal(&base);
    let bridge = Bridge::new(
        portal.clone(),
        &settings(sources),
        ["search_catalog".to_string()].into(),
    );
    (fake, portal, bridge)
}

/// A call through `portal` (the caller's view of Backstage).
fn ctx(portal: &Arc<Portal>) -> ToolCtx {
    ToolCtx {
        portal: portal.clone(),
        actions: None,
        call: crate::tool::CallCtx::default(),
    }
}

fn names(d: &Discovery) -> Vec<String> {
    d.tools.iter().map(|t| t.name.clone()).collect()
}

fn args(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[tokio::test]
async fn discovers_names_and_publishes_only_changes() {
    let (fake, _portal, bridge) = setup(&["catalog", "scaffolder"]).await;
    assert!(!bridge.current().listed);
    let mut rx = bridge.subscribe();
    let d = bridge.refresh().await;
    assert!(d.listed);
    assert_eq!(
        names(&d),
        [
            "catalog_get_entity",
            "catalog_drop_it",
            "scaffolder_list_actions"
        ]
    );
    assert!(rx.has_changed().unwrap());
    rx.borrow_and_update();
    let status = bridge.actions().status().unwrap();
    assert!(status.listed && status.actions == 3);
    assert_eq!(status.sources["catalog"].actions, 2);

    // The same listing again: nothing published, same generation, same tools.
    let again = bridge.refresh().await;
    assert_eq!(again.generation, d.generation);
    assert!(!rx.has_changed().unwrap());

    // A new action: published, unchanged actions keep their compiled tool.
    fake.lock().unwrap().lists.insert(
        "scaffolder".into(),
        (200, json!({"actions": [action("scaffolder", "list-actions", true), action("scaffolder", "dry-run", true)]})),
    );
    let changed = bridge.refresh().await;
    assert_eq!(changed.generation, d.generation + 1);
    assert!(rx.has_changed().unwrap());
    assert!(Arc::ptr_eq(&changed.tools[0], &d.tools[0]));
    assert_eq!(names(&changed).len(), 4);
}

#[tokio::test]
async fn a_failing_source_hides_nothing_else() {
    let (fake, _portal, bridge) = setup(&["catalog", "scaffolder", "nope"]).await;
    let d = bridge.refresh().await;
    assert_eq!(
        d.tools.len(),
        3,
        "the unknown plugin adds nothing and hides nothing"
    );
    let status = bridge.actions().status().unwrap();
    let nope = &status.sources["nope"];
    assert!(!nope.ok);
    assert!(nope.error.as_deref().unwrap().contains("404"), "{nope:?}");

    // A transient failure keeps the last good listing (stale); the others are untouched.
    fake.lock()
        .unwrap()
        .lists
        .insert("catalog".into(), (503, Value::Null));
    let d = bridge.refresh().await;
    assert_eq!(d.tools.len(), 3);
    let catalog = &bridge.actions().status().unwrap().sources["catalog"];
    assert!(
        !catalog.ok && catalog.stale && catalog.actions == 2,
        "{catalog:?}"
    );

    // A plugin that is gone (404) stops contributing.
    fake.lock().unwrap().lists.remove("catalog");
    let d = bridge.refresh().await;
    assert_eq!(names(&d), ["scaffolder_list_actions"]);
}

#[tokio::test]
async fn malformed_and_non_object_actions_are_skipped_and_reported() {
    let (fake, _portal, bridge) = setup(&["catalog"]).await;
    let mut weird = action("catalog", "weird", true);
    weird["schema"]["input"] = json!({"type": "string"});
    fake.lock().unwrap().lists.insert(
        "catalog".into(),
        (200, json!({"actions": [action("catalog", "get-entity", true), weird, {"id": "catalog:bad", "name": 7}]})),
    );
    let d = bridge.refresh().await;
    assert_eq!(names(&d), ["catalog_get_entity"]);
    let s = &bridge.actions().status().unwrap().sources["catalog"];
    assert_eq!(s.skipped.len(), 2, "{s:?}");
}

#[tokio::test]
async fn invokes_v2_falls_back_to_v1_once_and_remembers() {
    let (fake, portal, bridge) = setup(&["catalog"]).await;
    let d = bridge.refresh().await;
    let tool = &d.tools[0];
    let call = ctx(&portal);

    let out = bridge
        .call(tool, args(json!({"name": "a"})), &call)
        .await
        .unwrap();
    assert_eq!(out, json!({"version": "v2", "input": {"name": "a"}}));

    // An older backend: v2 is a missing route. The first call tries v2, then v1; later
    // calls go straight to v1.
    let (fake_old, portal_old, bridge_old) = setup(&["catalog"]).await;
    let call_old = ctx(&portal_old);
    fake_old.lock().unwrap().v2 = false;
    let d_old = bridge_old.refresh().await;
    let before = fake_old.lock().unwrap().seen.len();
    let out = bridge_old
        .call(&d_old.tools[0], args(json!({"name": "a"})), &call_old)
        .await
        .unwrap();
    assert_eq!(out, json!({"version": "v1", "input": {"name": "a"}}));
    let out = bridge_old
        .call(&d_old.tools[0], args(json!({"name": "b"})), &call_old)
        .await
        .unwrap();
    assert_eq!(out["version"], "v1");
    let seen: Vec<String> = fake_old.lock().unwrap().seen[before..]
        .iter()
        .map(|(_, p, _)| p.clone())
        .collect();
    assert_eq!(
        seen,
        [
            "/api/catalog/v2/catalog:get-entity",
            "/api/catalog/v1/catalog:get-entity",
            "/api/catalog/v1/catalog:get-entity"
        ]
    );
    assert_eq!(
        bridge_old.actions().status().unwrap().sources["catalog"]
            .invoke_api
            .as_deref(),
        Some("v1")
    );
    assert_eq!(
        bridge.actions().status().unwrap().sources["catalog"]
            .invoke_api
            .as_deref(),
        Some("v2")
    );

    // A Backstage error on v2 is the action's answer: no fallback, name and message kept.
    let before = fake.lock().unwrap().seen.len();
    let err = bridge
        .call(tool, args(json!({"name": "nope"})), &call)
        .await
        .unwrap_err();
    assert_eq!(
        err.message,
        "InputError: No entity found with name \"nope\""
    );
    assert_eq!(fake.lock().unwrap().seen.len(), before + 1);
}

#[tokio::test]
async fn invalid_arguments_never_reach_backstage() {
    let (fake, portal, bridge) = setup(&["catalog"]).await;
    let d = bridge.refresh().await;
    let before = fake.lock().unwrap().seen.len();
    let err = bridge
        .call(
            &d.tools[0],
            args(json!({"name": 3, "other": true})),
            &ctx(&portal),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("2 problems"), "{}", err.message);
    assert!(err.message.contains("`/name`"), "{}", err.message);
    assert!(err.message.contains("other"), "{}", err.message);
    assert_eq!(
        fake.lock().unwrap().seen.len(),
        before,
        "no request was sent"
    );
}
