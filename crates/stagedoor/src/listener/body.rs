//! The request body guard: the whole body is read, within a deadline and the size limit,
//! before authentication and before a concurrency slot is taken.
//!
//! A `Content-Length` above the limit is answered `413` without reading; a body that does not
//! arrive within [`BODY_READ_TIMEOUT`] plus the time its length needs at
//! [`MIN_BODY_BYTES_PER_SEC`] is answered `408`. So a client sending one byte a minute holds
//! only its own connection, never a slot another client needs.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Time allowed for any request body, on top of the time its length needs.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The slowest upload accepted, in bytes per second.
pub const MIN_BODY_BYTES_PER_SEC: u64 = 64 * 1024;

/// Settings of the body guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Time allowed for any body, on top of the time its length needs at `min_rate`.
    pub read_timeout: Duration,
    /// Slowest accepted upload rate in bytes per second.
    pub min_rate: u64,
}

impl BodyLimits {
    /// The guard's defaults with `max_bytes` as the size limit.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            read_timeout: BODY_READ_TIMEOUT,
            min_rate: MIN_BODY_BYTES_PER_SEC,
        }
    }

    /// The deadline for a body of `len` bytes (the limit when the length is not declared).
    pub fn deadline(&self, len: Option<u64>) -> Duration {
        let len = len.unwrap_or(self.max_bytes as u64);
        self.read_timeout + Duration::from_secs(len / self.min_rate.max(1))
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "message": message}})),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

/// Middleware: reads the whole body under [`BodyLimits`], then passes the request on with
/// the body in memory.
pub async fn guard(State(limits): State<BodyLimits>, req: Request, next: Next) -> Response {
    let declared = match req.headers().get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => return error(StatusCode::BAD_REQUEST, "invalid Content-Length"),
        },
    };
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {} bytes", limits.max_bytes),
        );
    }
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, limits.max_bytes);
    let bytes = match tokio::time::timeout(limits.deadline(declared), read).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            // Over the limit while reading (no or a false Content-Length), or the client
            // went away.
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("request body larger than {} bytes", limits.max_bytes),
                )
            } else {
                error(StatusCode::BAD_REQUEST, "request body could not be read")
            };
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            );
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
