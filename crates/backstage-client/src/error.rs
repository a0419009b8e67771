//! [`BackstageError`]: everything a Backstage call can fail with, in variants a caller can act on.

use std::time::Duration;

/// The error of every [`BackstageClient`](crate::BackstageClient) call.
///
/// `url` fields hold the request URL (base URL + path + query). They never contain the
/// token: the token only travels in the `Authorization` header, and base URLs with
/// credentials are refused.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackstageError {
    /// Could not reach Backstage: DNS, connection refused, TLS handshake, connect timeout,
    /// or the connection failed before a response arrived.
    #[error("could not connect to Backstage at {url}: {message}")]
    Connect {
        /// The request URL.
        url: String,
        /// What went wrong, from the transport's error chain.
        message: String,
    },
    /// The attempt (send + whole body) exceeded [`ClientConfig::timeout`](crate::ClientConfig::timeout).
    #[error("Backstage did not answer {url} within {after:?}")]
    Timeout {
        /// The request URL.
        url: String,
        /// The per-attempt timeout that elapsed.
        after: Duration,
    },
    /// Backstage answered with a non-2xx status. `name` and `message` come from the
    /// Backstage error JSON `{"error":{"name","message"}}` when present; otherwise
    /// `message` is a short snippet of the body (or the status reason).
    #[error("Backstage returned HTTP {status} for {url}: {}{message}", name.as_deref().map(|n| format!("{n}: ")).unwrap_or_default())]
    Api {
        /// HTTP status code.
        status: u16,
        /// Backstage error name, e.g. `NotFoundError`, `InputError`, `AuthenticationError`.
        name: Option<String>,
        /// Backstage error message, or a body snippet.
        message: String,
        /// The request URL.
        url: String,
    },
    /// A 2xx answer that is not the JSON expected (garbage, HTML, truncated, wrong shape)
    /// or larger than [`ClientConfig::max_body_bytes`](crate::ClientConfig::max_body_bytes).
    #[error("unexpected response from Backstage for {url}: {message}")]
    Decode {
        /// The request URL.
        url: String,
        /// What was wrong with the body.
        message: String,
    },
    /// Bad configuration, or a path that would leave the configured base URL.
    #[error("invalid Backstage client configuration or request: {0}")]
    Config(String),
}

impl BackstageError {
    /// The HTTP status for [`BackstageError::Api`], `None` otherwise.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Backstage error name (e.g. `NotFoundError`) for [`BackstageError::Api`].
    pub fn api_name(&self) -> Option<&str> {
        match self {
            Self::Api { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    /// `true` for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether an idempotent request that failed this way may be attempted again.
    ///
    /// Retryable: [`BackstageError::Connect`] and [`BackstageError::Api`] with 502, 503
    /// or 504. **Timeouts are not retried**: a retried timeout multiplies the worst-case
    /// latency, and the timeout is the caller's bound on time spent waiting for a slow
    /// Backstage. A hung upstream therefore costs one `timeout`, not `(1 + max_retries)`
    /// of them; retries only follow answers that fail fast (refused connections, a
    /// gateway's 502/503/504), each retry after a full-jitter delay of at most 2 s.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. } => true,
            Self::Api { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> BackstageError {
        BackstageError::Api {
            status,
            name: Some("NotFoundError".into()),
            message: "nope".into(),
            url: "http://b/x".into(),
        }
    }

    #[test]
    fn retryable_classification() {
        assert!(
            BackstageError::Connect {
                url: "u".into(),
                message: "refused".into()
            }
            .is_retryable()
        );
        for s in [502, 503, 504] {
            assert!(api(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 409, 429, 500, 501] {
            assert!(!api(s).is_retryable(), "{s}");
        }
        assert!(
            !BackstageError::Timeout {
                url: "u".into(),
                after: Duration::from_secs(1)
            }
            .is_retryable()
        );
        assert!(
            !BackstageError::Decode {
                url: "u".into(),
                message: "m".into()
            }
            .is_retryable()
        );
    }

    #[test]
    fn status_and_display() {
        let e = api(404);
        assert_eq!(e.status(), Some(404));
        assert!(e.is_not_found());
        assert_eq!(e.api_name(), Some("NotFoundError"));
        assert_eq!(
            e.to_string(),
            "Backstage returned HTTP 404 for http://b/x: NotFoundError: nope"
        );
        let unnamed = BackstageError::Api {
            status: 502,
            name: None,
            message: "Bad Gateway".into(),
            url: "http://b/y".into(),
        };
        assert_eq!(
            unnamed.to_string(),
            "Backstage returned HTTP 502 for http://b/y: Bad Gateway"
        );
        assert_eq!(BackstageError::Config("x".into()).status(), None);
    }
}
