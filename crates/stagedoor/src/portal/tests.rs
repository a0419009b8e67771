//! Request coalescing of the portal's cached reads, against a recording fake Backstage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backstage_client::EntityRef;
use serde_json::json;

use super::Portal;
use crate::config::settings::{BackstageSettings, CacheSettings};

/// Concurrent callers in each test.
const N: usize = 32;

/// What the fake answers and what it saw.
#[derive(Default)]
struct Upstream {
    /// Status of every answer (200 unless a test sets it).
    status: Mutex<Option<StatusCode>>,
    /// Requests received.
    requests: AtomicUsize,
    /// The `Authorization` header of each request.
    authorizations: Mutex<Vec<String>>,
}

type Shared = Arc<Upstream>;

impl Upstream {
    fn seen(&self, headers: &HeaderMap) -> StatusCode {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        self.authorizations.lock().unwrap().push(auth);
        self.status.lock().unwrap().unwrap_or(StatusCode::OK)
    }
}

/// Answers slowly enough that every concurrent caller is waiting when the answer comes.
async fn slow() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

async fn by_name(
    State(up): State<Shared>,
    headers: HeaderMap,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Response {
    let status = up.seen(&headers);
    slow().await;
    if status != StatusCode::OK {
        return (
            status,
            axum::Json(json!({"error": {"name": "Error", "message": "upstream broke"}})),
        )
            .into_response();
    }
    axum::Json(json!({
        "apiVersion": "backstage.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {}
    }))
    .into_response()
}

async fn by_refs(
    State(up): State<Shared>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> Response {
    up.seen(&headers);
    slow().await;
    let items: Vec<_> = body["entityRefs"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| json!({"kind": "Component", "metadata": {"name": r}}))
                .collect()
        })
        .unwrap_or_default();
    axum::Json(json!({ "items": items })).into_response()
}

async fn spawn() -> (Shared, String) {
    let up: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
            get(by_name),
        )
        .route("/api/catalog/entities/by-refs", post(by_refs))
        .with_state(up.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (up, format!("http://{addr}"))
}

fn portal(base: &str) -> Portal {
    portal_with_ttl(base, Duration::from_secs(60))
}

fn portal_with_ttl(base: &str, ttl: Duration) -> Portal {
    let b = BackstageSettings {
        base_url: url::Url::parse(base).unwrap(),
        token: Some(crate::config::settings::Secret::new("service-token".into())),
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        retries: 0,
        max_response_bytes: 1 << 20,
    };
    let c = CacheSettings {
        ttl,
        max_entries: 100,
    };
    Portal::new(&b, &c).unwrap()
}

fn entity_ref() -> EntityRef {
    EntityRef {
        kind: "Component".into(),
        namespace: "default".into(),
        name: "payments".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_misses_make_one_request() {
    let (up, base) = spawn().await;
    let portal = Arc::new(portal(&base));
    let r = entity_ref();
    let calls = (0..N).map(|i| {
        let (portal, mut r) = (portal.clone(), r.clone());
        // Some callers spell the reference in another case: the same cache key.
        if i % 2 == 1 {
            r.name = r.name.to_uppercase();
        }
        tokio::spawn(async move { portal.entity(&r).await })
    });
    let results = futures::future::join_all(calls).await;
    for result in results {
        let entity = result.unwrap().unwrap();
        assert_eq!(entity["metadata"]["name"], "payments");
    }
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
    // Cached afterwards.
    portal.entity(&r).await.unwrap();
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_by_refs_make_one_request() {
    let (up, base) = spawn().await;
    let portal = Arc::new(portal(&base));
    let refs = vec!["component:default/a".to_string(), "api:default/b".into()];
    let fields = vec!["metadata.name".to_string()];
    let calls = (0..N).map(|_| {
        let (portal, refs, fields) = (portal.clone(), refs.clone(), fields.clone());
        tokio::spawn(async move { portal.entities_by_refs(&refs, &fields).await })
    });
    for result in futures::future::join_all(calls).await {
        let found = result.unwrap().unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[1].as_ref().unwrap()["metadata"]["name"],
            "api:default/b"
        );
    }
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_error_reaches_every_waiter_and_is_not_cached() {
    let (up, base) = spawn().await;
    *up.status.lock().unwrap() = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let portal = Arc::new(portal(&base));
    let r = entity_ref();
    let calls = (0..N).map(|_| {
        let (portal, r) = (portal.clone(), r.clone());
        tokio::spawn(async move { portal.entity(&r).await })
    });
    for result in futures::future::join_all(calls).await {
        let err = result.unwrap().unwrap_err();
        assert_eq!(err.status(), Some(500), "{err}");
        assert!(err.to_string().contains("upstream broke"), "{err}");
    }
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
    // Not cached: once Backstage recovers, the next call asks again and succeeds.
    *up.status.lock().unwrap() = None;
    let entity = portal.entity(&r).await.unwrap();
    assert_eq!(entity["metadata"]["name"], "payments");
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_of_different_identities_are_never_coalesced() {
    let (up, base) = spawn().await;
    let service = portal(&base);
    let alice = Arc::new(service.with_token("alice-token", 100));
    let bob = Arc::new(service.with_token("bob-token", 100));
    let r = entity_ref();
    let calls = (0..N).map(|i| {
        let p = if i % 2 == 0 {
            alice.clone()
        } else {
            bob.clone()
        };
        let r = r.clone();
        tokio::spawn(async move { p.entity(&r).await })
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap().unwrap();
    }
    // One request per identity, each with that identity's token.
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);
    let mut auths = up.authorizations.lock().unwrap().clone();
    auths.sort();
    assert_eq!(auths, ["Bearer alice-token", "Bearer bob-token"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_cache_off_calls_share_a_request_in_flight_but_nothing_is_kept() {
    let (up, base) = spawn().await;
    let portal = Arc::new(portal_with_ttl(&base, Duration::ZERO));
    let r = entity_ref();
    let calls = (0..N).map(|_| {
        let (portal, r) = (portal.clone(), r.clone());
        tokio::spawn(async move { portal.entity(&r).await })
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap().unwrap();
    }
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
    // The answer was not kept: the next call asks Backstage again.
    portal.entity(&r).await.unwrap();
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);
}
