//! The HTTP listener: an accept loop with connection limits and timeouts, and the request
//! body guard, so that no client can hold the server's connections, memory or concurrency
//! slots by sending slowly or not at all.
//!
//! - Request headers must arrive within [`ConnLimits::header_read_timeout`]; the same limit
//!   closes a keep-alive connection that stays idle between requests.
//! - At most [`ConnLimits::max_connections`] connections are open, and at most
//!   [`ConnLimits::max_connections_per_client`] from one client address; the excess is
//!   answered `503` and closed at once.
//! - A request body must arrive within its deadline ([`body`]); a `Content-Length` above the
//!   body limit is refused with `413` before a byte is read.
//! - Each refusal cause is logged once per [`REFUSAL_LOG_INTERVAL`] with a count, never once
//!   per connection.

pub mod body;
pub mod conn;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use conn::{ConnLimits, serve};

/// How often each refusal cause is logged at most.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Counts refusals by cause and logs each cause at most once per interval.
#[derive(Debug, Default)]
pub struct RefusalLog {
    causes: Mutex<HashMap<&'static str, (Option<Instant>, u64)>>,
}

impl RefusalLog {
    /// Records one refusal for `cause`; logs a WARN with the count when the cause was not
    /// logged within [`REFUSAL_LOG_INTERVAL`].
    pub fn note(&self, cause: &'static str) {
        let Ok(mut causes) = self.causes.lock() else {
            return;
        };
        let entry = causes.entry(cause).or_insert((None, 0));
        entry.1 += 1;
        let due = entry.0.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_INTERVAL);
        if due {
            let count = entry.1;
            entry.0 = Some(Instant::now());
            entry.1 = 0;
            tracing::warn!(
                cause,
                count,
                "refused connections or requests (logged at most once a minute per cause)"
            );
        }
    }
}
