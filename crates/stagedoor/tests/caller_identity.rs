//! Every Backstage call runs as the caller: a signed-in user's bridged actions and
//! `check_connection` carry the user's own token, a static-token caller's carry the
//! configured service token, and the bridge's discovery report is the same for both.
//!
//! The Backstage here is a recording fake on 127.0.0.1 (it serves the JWKS, one plugin's
//! actions and the plugin probes) because the point is the `Authorization` header of every
//! request stagedoor sends, which a real Backstage does not report back. The end-to-end
//! suite checks the same against the testbed.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request as AxumRequest, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use tower::ServiceExt;

mod support;

/// A P-256 key generated for these tests only (the public half is in `jwks`).
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxcBAbSpG/Njn6ASv
cdEG5i8U9kTHNf2Qf7BiuIFqtc6hRANCAASvYk9N+EE+s8PqYO0L+mfqR/RGMMm4
LiBeulyZaqbcuF5b8oc/eEf9+1xRLaI10FG0yiVP4aylyXnMdoALKjcw
-----END PRIVATE KEY-----
";

const SERVICE_TOKEN: &str = "service-token-for-backstage";
const STATIC_CALLER: &str = "static-caller-token";

/// Every request the fake saw: (path, Authorization header).
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn jwks() -> Value {
    json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": "r2JPTfhBPrPD6mDtC_pn6kf0RjDJuC4gXrpcmWqm3Lg",
        "y": "Xlvyhz94R_37XFEtojXQUbTKJU_hrKXJecx2gAsqNzA"
    }]})
}

fn who_am_i() -> Value {
    json!({"actions": [{
        "id": "auth:who-am-i", "name": "who-am-i", "title": "Who am I",
        "description": "Returns the caller.", "pluginId": "auth",
        "attributes": {"destructive": false, "idempotent": true, "readOnly": true},
        "schema": {
            "input": {"type": "object", "properties": {}, "additionalProperties": false},
            "output": {"type": "object", "properties": {}, "additionalProperties": true}
        }
    }]})
}

async fn fake_backstage(State(seen): State<Seen>, req: AxumRequest) -> axum::response::Response {
    let path = req.uri().path().to_string();
    let auth = header(req.headers());
    seen.lock().unwrap().push((path.clone(), auth.clone()));
    let body = match path.as_str() {
        "/api/auth/.well-known/jwks.json" => jwks(),
        "/api/auth/.backstage/actions/v1/actions" => who_am_i(),
        p if p.ends_with("/invoke") => json!({"output": {"authorization": auth}}),
        "/api/catalog/entity-facets" => json!({"facets": {"kind": []}}),
        _ => json!({"items": []}),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn header(h: &HeaderMap) -> Option<String> {
    h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn spawn_fake(seen: Seen) -> String {
    let app = Router::new().fallback(fake_backstage).with_state(seen);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn user_token(base: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("k1".into());
    h.typ = Some("vnd.backstage.user".into());
    let claims = json!({
        "iss": format!("{base}/api/auth"), "sub": "user:default/guest", "aud": "backstage",
        "iat": now, "exp": now + 600
    });
    encode(
        &h,
        &claims,
        &EncodingKey::from_ec_pem(TEST_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// The HTTP app of a stagedoor in OAuth mode with one static token and the `auth` actions
/// bridged, after the bridge's first listing.
async fn stagedoor(base: &str) -> Router {
    let yaml = format!(
        "backstage:\n  baseUrl: {base}\n  token: {SERVICE_TOKEN}\n  retries: 0\n\
         actions:\n  pluginSources: [auth]\n\
         auth:\n  tokens:\n    - token: {STATIC_CALLER}\n      subject: ci-bot\n  oauth:\n    enabled: true\n\
         audit:\n  enabled: false\n"
    );
    let settings = support::settings(&yaml, &BTreeMap::new());
    let (portal, registry) = support::parts(&settings);
    registry.bridge().unwrap().refresh().await;
    support::router(&settings, portal, registry)
}

/// Sends one JSON-RPC request as `bearer` and returns its `result`.
async fn rpc(r: &Router, bearer: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let res = r
        .clone()
        .oneshot(
            Request::post("/mcp")
                .header("host", "127.0.0.1:7008")
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .header("authorization", format!("Bearer {bearer}"))
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{method} as {bearer}");
    let bytes = to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["result"].clone()
}

/// The Authorization headers of the requests seen since `from` whose path matches `pick`.
fn sent(seen: &Seen, from: usize, pick: impl Fn(&str) -> bool) -> Vec<Option<String>> {
    seen.lock().unwrap()[from..]
        .iter()
        .filter(|(p, _)| pick(p))
        .map(|(_, a)| a.clone())
        .collect()
}

#[tokio::test]
async fn bridged_actions_and_check_connection_run_as_the_caller() {
    let seen: Seen = Arc::default();
    let base = spawn_fake(seen.clone()).await;
    let r = stagedoor(&base).await;
    let user = user_token(&base);

    let listed = rpc(&r, &user, "tools/list", json!({})).await;
    let bridged = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .find(|n| n.contains("who_am_i") || n.contains("who-am-i"))
        .unwrap()
        .to_string();

    for (caller, expected) in [
        (user.as_str(), user.as_str()),
        (STATIC_CALLER, SERVICE_TOKEN),
    ] {
        let expected = Some(format!("Bearer {expected}"));

        let from = seen.lock().unwrap().len();
        let out = rpc(
            &r,
            caller,
            "tools/call",
            json!({"name": bridged, "arguments": {}}),
        )
        .await;
        assert_ne!(out["isError"], true, "{out}");
        let invokes = sent(&seen, from, |p| p.ends_with("/invoke"));
        assert!(!invokes.is_empty());
        assert!(
            invokes.iter().all(|a| *a == expected),
            "a bridged action must be invoked as the caller ({caller:.12}…): {invokes:?}"
        );

        let from = seen.lock().unwrap().len();
        let out = rpc(
            &r,
            caller,
            "tools/call",
            json!({"name": "check_connection", "arguments": {}}),
        )
        .await;
        let d = &out["structuredContent"];
        let probes = sent(&seen, from, |p| !p.contains("jwks"));
        assert!(!probes.is_empty());
        assert!(
            probes.iter().all(|a| *a == expected),
            "check_connection must probe as the caller ({caller:.12}…): {probes:?}"
        );
        assert_eq!(
            d["actions"]["sources"]["auth"]["ok"], true,
            "every caller sees the bridge's discovery report: {d}"
        );
        assert_eq!(d["actions"]["actions"], 1, "{d}");
    }
}
