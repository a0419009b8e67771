//! Who may call what: the HTTP authentication middleware and the principal it puts in request
//! extensions for the MCP layer to read.
//!
//! A request is authenticated by a static token (constant-time match; config, app-config's
//! `backend.auth.externalAccess`, or a tokens file re-read on change) or, in OAuth mode, by a
//! Backstage user token verified locally against Backstage's JWKS. Failures get 401 with a
//! `WWW-Authenticate` challenge pointing at the protected-resource metadata. The same layer
//! enforces per-principal rate limits and SSE stream limits, and binds sessions to the
//! principal that opened them.

pub mod jwt;
pub mod metadata;
pub mod tokens;
mod tokens_file;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

use crate::config::Secret;
use crate::config::security::{AuthSettings, LimitsSettings};
use jwt::JwtVerifier;
use tokens::{Restrictions, TokenStore};

/// Who is calling.
#[derive(Debug, Clone)]
pub enum Principal {
    /// Auth is off (local use): the server's own Backstage credentials apply.
    Local,
    /// A static token.
    Static {
        /// The token's subject.
        subject: String,
        /// What it may do.
        restrictions: Arc<Restrictions>,
    },
    /// A Backstage user, by a verified user token that is forwarded to Backstage.
    User {
        /// The user entity ref.
        subject: String,
        /// The user's token.
        token: Secret,
    },
}

impl Principal {
    /// A stable key for per-principal state: rate limits, sessions, caches.
    pub fn key(&self) -> String {
        match self {
            Principal::Local => "local".into(),
            Principal::Static { subject, .. } => format!("static:{subject}"),
            Principal::User { subject, .. } => format!("user:{subject}"),
        }
    }

    /// The principal's restrictions (none for users and local use).
    pub fn restrictions(&self) -> Option<&Restrictions> {
        match self {
            Principal::Static { restrictions, .. } => Some(restrictions),
            _ => None,
        }
    }

    /// A Backstage user token to call Backstage with instead of the configured one.
    pub fn backstage_token(&self) -> Option<&str> {
        match self {
            Principal::User { token, .. } => Some(token.expose()),
            _ => None,
        }
    }
}

/// Shared state of the auth layer.
pub struct AuthState {
    enabled: bool,
    tokens: Arc<TokenStore>,
    jwt: Option<Arc<JwtVerifier>>,
    /// Scopes named in challenges (configured).
    scopes: Vec<String>,
    /// What the authorization server advertises (`scopes_supported`), learned from its
    /// metadata: `offline_access` is added to the scopes named when it is there.
    advertised: tokio::sync::RwLock<AdvertisedScopes>,
    /// Backstage without credentials, for the authorization server's metadata.
    metadata_client: Option<backstage_client::BackstageClient>,
    /// Public URL override for metadata.
    public_url: Option<url::Url>,
    rate: DefaultKeyedRateLimiter<String>,
    sessions: Mutex<HashMap<String, String>>,
    sse: Arc<Mutex<HashMap<String, usize>>>,
    max_sse: usize,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("enabled", &self.enabled)
            .field("oauth", &self.jwt.is_some())
            .finish_non_exhaustive()
    }
}

impl AuthState {
    /// Builds the auth state. `client` is the Backstage client (for JWKS in OAuth mode).
    pub fn new(
        auth: &AuthSettings,
        limits: &LimitsSettings,
        client: Option<&backstage_client::BackstageClient>,
    ) -> Arc<Self> {
        let jwt = match (&auth.oauth, client) {
            (Some(o), Some(c)) => Some(JwtVerifier::new(o.issuer.clone(), c)),
            _ => None,
        };
        let per_minute = NonZeroU32::new(limits.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            enabled: auth.enabled(),
            tokens: TokenStore::new(&auth.tokens, auth.tokens_file.clone()),
            jwt,
            scopes: auth
                .oauth
                .as_ref()
                .map(|o| o.scopes.clone())
                .unwrap_or_default(),
            public_url: auth.oauth.as_ref().and_then(|o| o.public_url.clone()),
            advertised: tokio::sync::RwLock::new(AdvertisedScopes::default()),
            metadata_client: client
                .filter(|_| auth.oauth.is_some())
                .map(|c| c.with_token(None)),
            rate: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            sessions: Mutex::new(HashMap::new()),
            sse: Arc::new(Mutex::new(HashMap::new())),
            max_sse: limits.max_sse_streams_per_principal,
        })
    }

    /// The token store (to start its file watcher).
    pub fn tokens(&self) -> &Arc<TokenStore> {
        &self.tokens
    }

    /// The JWT verifier, in OAuth mode.
    pub fn jwt(&self) -> Option<&Arc<JwtVerifier>> {
        self.jwt.as_ref()
    }

    /// The public base URL for a request: configured, or from its Host header.
    pub fn public_base(&self, headers: &axum::http::HeaderMap) -> String {
        if let Some(u) = &self.public_url {
            return u.as_str().trim_end_matches('/').to_string();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        format!("http://{host}")
    }

    /// The scopes to name in challenges and protected-resource metadata: the configured
    /// ones, plus `offline_access` when the authorization server (Backstage's auth backend
    /// with refresh tokens enabled) lists it in `scopes_supported`, so clients ask for a
    /// refresh token. The server's metadata is re-read at most every
    /// [`ADVERTISED_SCOPES_TTL`] (after a failure, every [`ADVERTISED_SCOPES_RETRY`]).
    pub async fn scopes(&self) -> Vec<String> {
        let mut scopes = self.scopes.clone();
        for s in self.advertised_scopes().await {
            if s == OFFLINE_ACCESS && !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        scopes
    }

    async fn advertised_scopes(&self) -> Vec<String> {
        let Some(client) = &self.metadata_client else {
            return Vec::new();
        };
        {
            let known = self.advertised.read().await;
            if !known.stale() {
                return known.scopes.clone();
            }
        }
        let mut known = self.advertised.write().await;
        if !known.stale() {
            return known.scopes.clone();
        }
        match client
            .get_json(metadata::OPENID_CONFIGURATION_PATH, &[])
            .await
        {
            Ok(doc) => {
                known.scopes = doc
                    .get("scopes_supported")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                known.next = Some(std::time::Instant::now() + ADVERTISED_SCOPES_TTL);
            }
            Err(e) => {
                tracing::debug!(error = %e, "authorization server metadata unavailable; scopes as configured");
                known.next = Some(std::time::Instant::now() + ADVERTISED_SCOPES_RETRY);
            }
        }
        known.scopes.clone()
    }

    fn challenge(
        &self,
        headers: &axum::http::HeaderMap,
        path: &str,
        error: Option<&str>,
        scopes: &[String],
    ) -> String {
        let mut parts = Vec::new();
        if self.jwt.is_some() {
            let base = self.public_base(headers);
            let suffix = if path == "/" {
                String::new()
            } else {
                path.to_string()
            };
            parts.push(format!(
                "resource_metadata=\"{base}/.well-known/oauth-protected-resource{suffix}\""
            ));
            if !scopes.is_empty() {
                parts.push(format!("scope=\"{}\"", scopes.join(" ")));
            }
        } else {
            parts.push("realm=\"stagedoor\"".to_string());
        }
        if let Some(e) = error {
            parts.push(format!("error=\"{e}\""));
        }
        format!("Bearer {}", parts.join(", "))
    }

    async fn authenticate(&self, headers: &axum::http::HeaderMap) -> Result<Principal, Refusal> {
        if !self.enabled {
            return Ok(Principal::Local);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(Refusal::Missing);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Invalid(
                "the Authorization header is not `Bearer <token>`".into(),
            ))?;
        if let Some((subject, restrictions)) = self.tokens.lookup(token) {
            return Ok(Principal::Static {
                subject,
                restrictions,
            });
        }
        if let Some(verifier) = self.jwt.as_ref().filter(|_| token.split('.').count() == 3) {
            return match verifier.verify(token).await {
                Ok(claims) => Ok(Principal::User {
                    subject: claims.sub,
                    token: Secret::new(token.to_string()),
                }),
                Err(e) => Err(Refusal::Invalid(format!("user token refused: {e}"))),
            };
        }
        Err(Refusal::Invalid("unknown token".into()))
    }
}

/// The scope that asks Backstage's auth backend for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// How long the authorization server's advertised scopes are trusted.
pub const ADVERTISED_SCOPES_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// How soon to ask again after the authorization server's metadata could not be read.
pub const ADVERTISED_SCOPES_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// The authorization server's `scopes_supported`, and when to read it again.
#[derive(Debug, Default)]
struct AdvertisedScopes {
    scopes: Vec<String>,
    next: Option<std::time::Instant>,
}

impl AdvertisedScopes {
    fn stale(&self) -> bool {
        self.next.is_none_or(|at| std::time::Instant::now() >= at)
    }
}

#[derive(Debug)]
enum Refusal {
    Missing,
    Invalid(String),
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "message": message}})),
    )
        .into_response()
}

/// Decrements a principal's open-stream count when the response body is dropped.
struct StreamGuard {
    key: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock()
            && let Some(n) = c.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
        }
    }
}

/// The middleware: authenticate, rate-limit, bind sessions, limit SSE streams.
pub async fn layer(State(state): State<Arc<AuthState>>, mut req: Request, next: Next) -> Response {
    let principal = match state.authenticate(req.headers()).await {
        Ok(p) => p,
        Err(refusal) => {
            let (error, message) = match &refusal {
                Refusal::Missing => (
                    None,
                    "authentication required: send `Authorization: Bearer <token>`".to_string(),
                ),
                Refusal::Invalid(why) => {
                    (Some("invalid_token"), format!("invalid credentials: {why}"))
                }
            };
            tracing::info!(path = %req.uri().path(), reason = %message, "request refused (401)");
            let mut resp = json_error(StatusCode::UNAUTHORIZED, &message);
            let scopes = state.scopes().await;
            if let Ok(v) = HeaderValue::from_str(&state.challenge(
                req.headers(),
                req.uri().path(),
                error,
                &scopes,
            )) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return resp;
        }
    };
    let key = principal.key();
    // Limits are per principal; with auth off there is no principal to key on (local use —
    // `stagedoor check` warns when such a listener is not on loopback).
    let limited = !matches!(principal, Principal::Local);
    if let Some(not_until) = limited.then(|| state.rate.check_key(&key).err()).flatten() {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let secs = wait.as_secs().max(1);
        let mut resp = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("rate limit exceeded for {key}; retry in {secs} s"),
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return resp;
    }
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(sid) = &session {
        let owner = state.sessions.lock().ok().and_then(|m| m.get(sid).cloned());
        if let Some(owner) = owner.filter(|o| *o != key) {
            tracing::warn!(session = %sid, owner = %owner, caller = %key, "session used by another principal; refused");
            return json_error(StatusCode::NOT_FOUND, "session not found");
        }
    }
    let wants_stream = req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/event-stream"));
    let guard = if wants_stream {
        let mut counts = match state.sse.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        let n = counts.entry(key.clone()).or_insert(0);
        if *n >= state.max_sse {
            return json_error(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "too many open streams for {key} (at most {})",
                    state.max_sse
                ),
            );
        }
        *n += 1;
        Some(StreamGuard {
            key: key.clone(),
            counts: state.sse.clone(),
        })
    } else {
        None
    };
    let is_delete = req.method() == Method::DELETE;
    req.extensions_mut().insert(principal);
    let resp = next.run(req).await;
    if let Ok(mut sessions) = state.sessions.lock() {
        if let Some(sid) = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
        {
            sessions
                .entry(sid.to_string())
                .or_insert_with(|| key.clone());
        }
        if let Some(sid) = session
            .as_ref()
            .filter(|_| is_delete && resp.status().is_success())
        {
            sessions.remove(sid);
        }
    }
    match guard {
        None => resp,
        Some(guard) => {
            let (parts, body) = resp.into_parts();
            let stream = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
                let _keep = &guard;
                chunk
            });
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}
