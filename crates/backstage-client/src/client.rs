//! [`BackstageClient`]: the pooled transport (auth, timeouts, body cap, retries) and [`Probe`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, redirect};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::config::ClientConfig;
use crate::endpoint;
use crate::error::BackstageError;
use crate::response::{
    Answer, BodyEnd, ERROR_BODY_CAP, MAX_REDIRECTS, chain, describe_failure, parse_json,
    read_capped,
};
use crate::retry;

/// Idle pooled connections kept per host.
const POOL_MAX_IDLE_PER_HOST: usize = 16;
/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `Accept` of JSON requests.
const ACCEPT_JSON: &str = "application/json";
/// `Accept` of text requests (TechDocs pages and other static files).
const ACCEPT_TEXT: &str = "text/html, text/plain;q=0.9, */*;q=0.5";

/// The result of [`BackstageClient::probe`]: an HTTP status is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// HTTP status code of the answer.
    pub status: u16,
    /// Time from sending the request to the end of the (capped) body.
    pub latency: Duration,
    /// Backstage error name for a non-2xx answer, when the body is Backstage error JSON.
    pub error_name: Option<String>,
    /// Backstage error message (or body snippet) for a non-2xx answer.
    pub error_message: Option<String>,
    /// Whether the body looks like JSON (starts with `{` or `[`). A 2xx answer that is not
    /// JSON usually means the base URL points at a frontend or a login proxy.
    pub json_body: bool,
}

impl Probe {
    /// `true` for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A Backstage REST client: one pooled keep-alive HTTP client, cheap to clone.
///
/// The bearer token (if any) is only sent to URLs under the configured base URL; see the
/// crate docs for the guarantees.
#[derive(Clone)]
pub struct BackstageClient {
    shared: Arc<Shared>,
    auth: Auth,
}

/// What every clone and [`BackstageClient::with_token`] variant shares.
struct Shared {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
    connect_timeout: Duration,
    max_retries: u32,
    retry_base_delay: Duration,
    max_body_bytes: usize,
}

/// The `Authorization` header value, marked sensitive so it never shows in `Debug`.
#[derive(Clone)]
enum Auth {
    None,
    Bearer(HeaderValue),
    /// A token that cannot be an HTTP header value; requests fail with a config error.
    Invalid,
}

impl Auth {
    fn from_token(token: Option<&str>) -> Self {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Self::None;
        };
        match HeaderValue::from_str(&format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                Self::Bearer(value)
            }
            Err(_) => Self::Invalid,
        }
    }
}

impl BackstageClient {
    /// Builds the client (and its connection pool) after validating `config`.
    ///
    /// Installs rustls' `ring` crypto provider as the process default if none is
    /// installed yet, so `https` base URLs work; server certificates are verified against
    /// the platform's trust store.
    pub fn new(config: ClientConfig) -> Result<Self, BackstageError> {
        endpoint::validate_base(&config.base_url)?;
        if config.timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(BackstageError::Config(
                "timeout and connect_timeout must be greater than zero".into(),
            ));
        }
        if config.max_body_bytes == 0 {
            return Err(BackstageError::Config(
                "max_body_bytes must be greater than zero".into(),
            ));
        }
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            BackstageError::Config(format!(
                "user agent {:?} is not a valid header value",
                config.user_agent
            ))
        })?;
        let auth = Auth::from_token(config.token.as_deref());
        if matches!(auth, Auth::Invalid) {
            return Err(BackstageError::Config(
                "the token contains characters that cannot be sent in an HTTP header".into(),
            ));
        }

        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err only means another thread installed a provider first, which is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let origin = config.base_url.origin();
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS || attempt.url().origin() != origin {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .user_agent(user_agent)
            .redirect(policy)
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build()
            .map_err(|e| {
                BackstageError::Config(format!("could not build the HTTP client: {}", chain(&e)))
            })?;

        Ok(Self {
            shared: Arc::new(Shared {
                http,
                base: config.base_url,
                timeout: config.timeout,
                connect_timeout: config.connect_timeout,
                max_retries: config.max_retries,
                retry_base_delay: config.retry_base_delay,
                max_body_bytes: config.max_body_bytes,
            }),
            auth,
        })
    }

    /// The configured base URL.
    pub fn base_url(&self) -> &Url {
        &self.shared.base
    }

    /// The cap on a response body (see [`ClientConfig::max_body_bytes`]).
    pub(crate) fn max_body_bytes(&self) -> usize {
        self.shared.max_body_bytes
    }

    /// Whether requests carry a bearer token.
    pub fn has_token(&self) -> bool {
        !matches!(self.auth, Auth::None)
    }

    /// Same client and pool, different bearer (for per-user calls). `None` or an empty
    /// token sends no `Authorization` header. A token that cannot be a header value makes
    /// every request of the returned client fail with [`BackstageError::Config`].
    pub fn with_token(&self, token: Option<String>) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            auth: Auth::from_token(token.as_deref()),
        }
    }

    /// Same client, pool and bearer, with a different per-attempt timeout: for long polls
    /// that Backstage deliberately holds open (the scaffolder's task events wait up to
    /// 30 s for news), and for short "is there anything yet?" reads of the same endpoints.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        let s = &self.shared;
        Self {
            shared: Arc::new(Shared {
                http: s.http.clone(),
                base: s.base.clone(),
                timeout: timeout.max(Duration::from_millis(1)),
                connect_timeout: s.connect_timeout,
                max_retries: s.max_retries,
                retry_base_delay: s.retry_base_delay,
                max_body_bytes: s.max_body_bytes,
            }),
            auth: self.auth.clone(),
        }
    }

    /// GETs a JSON document from `path` under the base URL (e.g.
    /// `/api/catalog/entity-facets`) with `query` pairs (repeated keys allowed).
    /// Retried per [`BackstageError::is_retryable`]. An empty 2xx body yields `Value::Null`.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, BackstageError> {
        let url = endpoint::join(&self.shared.base, path, query)?;
        self.request_json(Method::GET, url, None, true).await
    }

    /// POSTs `body` as JSON to `path` and decodes the JSON answer. `idempotent` decides
    /// whether retries are allowed (e.g. `by-refs` is a read and may be retried).
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        idempotent: bool,
    ) -> Result<Value, BackstageError> {
        let url = endpoint::join(&self.shared.base, path, &[])?;
        let bytes = serde_json::to_vec(body).map_err(|e| {
            BackstageError::Config(format!("request body is not serializable: {e}"))
        })?;
        self.request_json(Method::POST, url, Some(bytes), idempotent)
            .await
    }

    /// One GET of `path` (no retries) reporting status and latency; an HTTP error status
    /// is an `Ok(Probe)`, only transport failures (connect, timeout) are `Err`.
    pub async fn probe(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Probe, BackstageError> {
        let url = endpoint::join(&self.shared.base, path, query)?;
        let started = Instant::now();
        let answer = self
            .attempt(&Method::GET, &url, None, ACCEPT_JSON, ERROR_BODY_CAP)
            .await?;
        let latency = started.elapsed();
        let (error_name, error_message) = if answer.status.is_success() {
            (None, None)
        } else {
            let (name, message) = describe_failure(&url, &answer);
            (name, Some(message))
        };
        let json_body = answer
            .body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{' || *b == b'[');
        Ok(Probe {
            status: answer.status.as_u16(),
            latency,
            error_name,
            error_message,
            json_body,
        })
    }

    /// Sends a request built from segments or a path, with retries, and decodes JSON.
    pub(crate) async fn request_json(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        idempotent: bool,
    ) -> Result<Value, BackstageError> {
        let bytes = self
            .execute(&method, &url, body.as_deref(), ACCEPT_JSON, idempotent)
            .await?;
        parse_json(&url, &bytes)
    }

    /// GETs `url` as text (retried like any idempotent read), whatever its
    /// `Content-Type`: Backstage serves some HTML as `text/plain` on purpose. The body is
    /// capped like every other and decoded as UTF-8 (invalid sequences become U+FFFD).
    pub(crate) async fn request_text(&self, url: Url) -> Result<String, BackstageError> {
        let bytes = self
            .execute(&Method::GET, &url, None, ACCEPT_TEXT, true)
            .await?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Opens a streaming GET of `url` (no retries) and returns the response once its
    /// headers arrived with a 2xx status; the caller reads the body. Connecting and the
    /// headers must arrive before `deadline` (`budget` is how long that was, for the
    /// error). A non-2xx answer is read (capped) and returned as [`BackstageError::Api`].
    pub(crate) async fn open_stream(
        &self,
        url: &Url,
        accept: &'static str,
        deadline: Instant,
        budget: Duration,
    ) -> Result<reqwest::Response, BackstageError> {
        let request = self.request(&Method::GET, url, accept)?;
        let timeout = || BackstageError::Timeout {
            url: url.to_string(),
            after: budget,
        };
        let mut response = tokio::time::timeout_at(deadline, request.send())
            .await
            .map_err(|_| timeout())?
            .map_err(|e| self.transport_error(url, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (body, end) =
            tokio::time::timeout_at(deadline, read_capped(&mut response, ERROR_BODY_CAP))
                .await
                .map_err(|_| timeout())?;
        self.accept(
            url,
            Answer {
                status,
                body,
                end,
                location,
            },
        )?;
        Err(BackstageError::Decode {
            url: url.to_string(),
            message: format!("unexpected status {status}"),
        })
    }

    /// Joins raw (to be percent-encoded) segments under the base URL.
    pub(crate) fn url_for_segments(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Url, BackstageError> {
        endpoint::join_segments(&self.shared.base, segments, query)
    }

    /// Runs attempts until success, a non-retryable error, or the retry budget is spent.
    async fn execute(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        accept: &'static str,
        idempotent: bool,
    ) -> Result<Vec<u8>, BackstageError> {
        let max_retries = if idempotent {
            self.shared.max_retries
        } else {
            0
        };
        let mut retry = 0;
        loop {
            let result = match self
                .attempt(method, url, body, accept, self.shared.max_body_bytes)
                .await
            {
                Ok(answer) => self.accept(url, answer),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_retryable() && retry < max_retries => {
                    retry += 1;
                    let delay = retry::delay(self.shared.retry_base_delay, retry);
                    tracing::debug!(
                        %method, url = %url, retry, max_retries, delay_ms = delay.as_millis() as u64,
                        error = %e, "retrying Backstage request"
                    );
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// Builds a request to `url` with the bearer (if any) and `Accept: accept`.
    ///
    /// Defence in depth: refuses any URL outside the configured base URL, so the token only
    /// ever goes there.
    pub(crate) fn request(
        &self,
        method: &Method,
        url: &Url,
        accept: &'static str,
    ) -> Result<reqwest::RequestBuilder, BackstageError> {
        if !endpoint::is_under(&self.shared.base, url) {
            return Err(BackstageError::Config(format!(
                "refusing to send a request outside the configured base URL: {url}"
            )));
        }
        let request = self
            .shared
            .http
            .request(method.clone(), url.clone())
            .header(ACCEPT, accept);
        match &self.auth {
            Auth::None => Ok(request),
            Auth::Bearer(value) => Ok(request.header(AUTHORIZATION, value.clone())),
            Auth::Invalid => Err(BackstageError::Config(
                "the token contains characters that cannot be sent in an HTTP header".into(),
            )),
        }
    }

    /// One attempt: send, then read the body up to `success_cap` (2xx) or
    /// [`ERROR_BODY_CAP`] (other statuses), all within the per-attempt timeout.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
        accept: &'static str,
        success_cap: usize,
    ) -> Result<Answer, BackstageError> {
        let mut request = self.request(method, url, accept)?;
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }

        let started = Instant::now();
        let timeout = self.shared.timeout;
        let run = async {
            let mut response = request
                .send()
                .await
                .map_err(|e| self.transport_error(url, e))?;
            let status = response.status();
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let cap = if status.is_success() {
                success_cap
            } else {
                ERROR_BODY_CAP
            };
            let (body, end) = read_capped(&mut response, cap).await;
            Ok(Answer {
                status,
                body,
                end,
                location,
            })
        };
        let answer =
            tokio::time::timeout(timeout, run)
                .await
                .map_err(|_| BackstageError::Timeout {
                    url: url.to_string(),
                    after: timeout,
                })??;
        tracing::debug!(
            %method, url = %url, status = answer.status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64, "Backstage request"
        );
        Ok(answer)
    }

    /// Turns an answer into the body bytes, or the error it stands for.
    fn accept(&self, url: &Url, answer: Answer) -> Result<Vec<u8>, BackstageError> {
        if !answer.status.is_success() {
            let (name, message) = describe_failure(url, &answer);
            return Err(BackstageError::Api {
                status: answer.status.as_u16(),
                name,
                message,
                url: url.to_string(),
            });
        }
        match answer.end {
            BodyEnd::Complete => Ok(answer.body),
            BodyEnd::Overflow => Err(BackstageError::Decode {
                url: url.to_string(),
                message: format!(
                    "response body exceeds the limit of {} bytes (max_body_bytes)",
                    self.shared.max_body_bytes
                ),
            }),
            BodyEnd::Failed(e) if e.is_timeout() => Err(BackstageError::Timeout {
                url: url.to_string(),
                after: self.shared.timeout,
            }),
            BodyEnd::Failed(e) => Err(BackstageError::Decode {
                url: url.to_string(),
                message: format!(
                    "response body was cut off after {} bytes: {}",
                    answer.body.len(),
                    chain(&e)
                ),
            }),
        }
    }

    /// Classifies a failure to get a response at all.
    fn transport_error(&self, url: &Url, err: reqwest::Error) -> BackstageError {
        let url_text = url.to_string();
        if err.is_timeout() && !err.is_connect() {
            return BackstageError::Timeout {
                url: url_text,
                after: self.shared.timeout,
            };
        }
        if err.is_builder() {
            return BackstageError::Config(format!("could not build the request: {}", chain(&err)));
        }
        let message = if err.is_timeout() {
            format!("connect timed out after {:?}", self.shared.connect_timeout)
        } else {
            chain(&err)
        };
        BackstageError::Connect {
            url: url_text,
            message,
        }
    }
}

impl fmt::Debug for BackstageClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackstageClient")
            .field("base_url", &self.shared.base.as_str())
            .field("has_token", &self.has_token())
            .field("timeout", &self.shared.timeout)
            .field("max_retries", &self.shared.max_retries)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_header_is_sensitive_and_trimmed() {
        match Auth::from_token(Some("  tok \n")) {
            Auth::Bearer(v) => {
                assert!(v.is_sensitive());
                assert_eq!(v.to_str().ok(), Some("Bearer tok"));
            }
            _ => panic!("expected a bearer"),
        }
        assert!(matches!(Auth::from_token(Some("   ")), Auth::None));
        assert!(matches!(Auth::from_token(None), Auth::None));
        assert!(matches!(Auth::from_token(Some("a\nb")), Auth::Invalid));
    }
}
