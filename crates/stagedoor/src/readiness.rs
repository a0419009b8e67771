//! `/readyz` for a Backstage portal: answered from a cached probe, so at most one Backstage
//! call is made per [`PROBE_INTERVAL`] however often (or by whom) it is asked, and with no
//! internal URL or error detail in the answer (those go to the log).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::portal::Portal;
use crate::portal::health;

/// The longest a readiness answer is reused.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// The last probe's answer.
#[derive(Debug, Default)]
pub struct Readiness {
    last: Mutex<Option<(Instant, StatusCode, Value)>>,
}

impl Readiness {
    /// The readiness answer: the cached one when fresh, else a new probe. Concurrent callers
    /// wait for the one probe in flight instead of starting their own.
    pub async fn answer(&self, portal: &Arc<Portal>) -> (StatusCode, Value) {
        let mut last = self.last.lock().await;
        if let Some((at, status, body)) = last.as_ref()
            && at.elapsed() < PROBE_INTERVAL
        {
            return (*status, body.clone());
        }
        let (status, body) = probe(portal).await;
        *last = Some((Instant::now(), status, body.clone()));
        (status, body)
    }
}

async fn probe(portal: &Portal) -> (StatusCode, Value) {
    match health::probe(portal, 0).await {
        Ok(p) if p.is_success() && p.json_body => (
            StatusCode::OK,
            json!({"status": "ready", "backstage": {"status": p.status, "latencyMs": p.latency.as_millis() as u64}}),
        ),
        Ok(p) => {
            tracing::warn!(
                status = p.status,
                "readiness: Backstage catalog did not answer usefully"
            );
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unready", "reason": format!("Backstage catalog answered {}", p.status)}),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "readiness: Backstage not reachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unready", "reason": "Backstage not reachable (see the server log)"}),
            )
        }
    }
}
