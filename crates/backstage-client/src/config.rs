//! [`ClientConfig`]: where Backstage is, how to authenticate, and the client's limits.

use std::fmt;
use std::time::Duration;

/// Default per-attempt timeout (connect + send + whole body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default TCP + TLS connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of extra attempts for idempotent requests.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default base delay of the exponential backoff between retries.
pub const DEFAULT_RETRY_BASE_DELAY: Duration = Duration::from_millis(100);
/// Upper bound of any single backoff delay, whatever the attempt number.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Default cap on a response body (16 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Default `User-Agent` header.
pub const DEFAULT_USER_AGENT: &str =
    concat!("stagedoor-backstage-client/", env!("CARGO_PKG_VERSION"));

/// Configuration of a [`BackstageClient`](crate::BackstageClient).
///
/// Build it with [`ClientConfig::new`] and adjust fields; the client validates it in
/// [`BackstageClient::new`](crate::BackstageClient::new). `Debug` never shows the token.
#[derive(Clone)]
pub struct ClientConfig {
    /// Backstage backend base URL, e.g. `https://backstage.example.com` or
    /// `http://host:7007/backstage` (the path prefix is kept for every request).
    /// Must be `http` or `https`, without credentials, query or fragment.
    pub base_url: url::Url,
    /// Bearer token sent as `Authorization: Bearer ...` to the base URL's origin only.
    /// Surrounding whitespace is trimmed; an empty token counts as no token.
    pub token: Option<String>,
    /// Per attempt, for the whole request including reading the body.
    pub timeout: Duration,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Extra attempts for idempotent requests (GET, and POSTs marked idempotent such as
    /// `by-refs`). `0` disables retries.
    pub max_retries: u32,
    /// Base delay of the full-jitter exponential backoff (each delay is capped at
    /// [`MAX_RETRY_DELAY`]).
    pub retry_base_delay: Duration,
    /// Largest response body accepted; a larger one is a
    /// [`BackstageError::Decode`](crate::BackstageError::Decode).
    pub max_body_bytes: usize,
    /// `User-Agent` header value.
    pub user_agent: String,
}

impl ClientConfig {
    /// A configuration with the defaults: timeout 10 s, connect timeout 3 s, 2 retries,
    /// 100 ms backoff base, 16 MiB body cap, no token.
    pub fn new(base_url: url::Url) -> Self {
        Self {
            base_url,
            token: None,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_base_delay: DEFAULT_RETRY_BASE_DELAY,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() -> Result<(), url::ParseError> {
        let mut config = ClientConfig::new("http://backstage.test:7007".parse()?);
        config.token = Some("s3cret-token-value".to_owned());
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("backstage.test"), "{shown}");
        Ok(())
    }

    #[test]
    fn defaults_are_the_documented_ones() -> Result<(), url::ParseError> {
        let config = ClientConfig::new("http://backstage.test".parse()?);
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.connect_timeout, Duration::from_secs(3));
        assert_eq!(config.max_retries, 2);
        assert_eq!(config.retry_base_delay, Duration::from_millis(100));
        assert_eq!(config.max_body_bytes, 16 * 1024 * 1024);
        assert!(config.token.is_none());
        Ok(())
    }
}
