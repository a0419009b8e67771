//! Graceful drain of the HTTP transport, in the order a load balancer needs it.
//!
//! On the shutdown signal `/readyz` turns 503 at once while the server keeps serving for
//! `server.drainDelay`, so a proxy's health check takes the replica out of rotation before
//! anything is refused. Then the server stops accepting connections, the MCP requests in
//! flight finish (for at most `server.shutdownGrace`), and only then are the MCP streams
//! still open (`GET /mcp` in sessions mode) ended and the process exits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The drain state of one HTTP server.
#[derive(Debug)]
pub struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
    streams: CancellationToken,
    delay: Duration,
    grace: Duration,
}

impl Drain {
    /// A server not draining; `delay` is `server.drainDelay`, `grace` `server.shutdownGrace`.
    pub fn new(delay: Duration, grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            streams: CancellationToken::new(),
            delay,
            grace,
        })
    }

    /// True once the shutdown signal came: readiness answers 503.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Starts draining (readiness 503); the server keeps serving.
    pub fn start(&self) {
        if !self.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(
                delay = ?self.delay,
                "draining: readiness answers 503; still serving until the drain delay ends"
            );
        }
    }

    /// Cancelled when MCP streams must end (given to the MCP service): after the requests
    /// in flight finished, or the grace period ran out.
    pub fn streams_token(&self) -> CancellationToken {
        self.streams.clone()
    }

    /// MCP requests (not `GET` streams) being served, bodies included.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// How long the server keeps serving after the signal.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// How long requests in flight may take once the server stops accepting.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Waits until no MCP request is in flight.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Ends the MCP streams still open.
    pub fn end_streams(&self) {
        self.streams.cancel();
    }
}

/// Counts one request in flight until its response body has been sent (or dropped).
struct InFlight(Arc<Drain>);

impl InFlight {
    fn new(drain: Arc<Drain>) -> Self {
        drain.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(drain)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Middleware: tracks MCP requests in flight. `GET` (a client's standing event stream in
/// sessions mode) is not counted: it only ends when the server ends it.
pub async fn track(State(drain): State<Arc<Drain>>, req: Request, next: Next) -> Response {
    if req.method() == axum::http::Method::GET {
        return next.run(req).await;
    }
    let guard = InFlight::new(drain);
    let response = next.run(req).await;
    if response.body().size_hint().exact().is_some() {
        return response; // a whole JSON answer: nothing left to run
    }
    let (parts, body) = response.into_parts();
    // The guard lives as long as the body: a tool call answering as an event stream is in
    // flight until its last event.
    let body = body.into_data_stream().map(move |chunk| {
        let _ = &guard;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_request_in_flight() {
        let drain = Drain::new(Duration::ZERO, Duration::from_secs(1));
        drain.idle().await; // nothing in flight: returns at once
        let a = InFlight::new(drain.clone());
        let b = InFlight::new(drain.clone());
        assert_eq!(drain.in_flight(), 2);
        let waiter = tokio::spawn({
            let drain = drain.clone();
            async move { drain.idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(drain.in_flight(), 0);
    }

    #[test]
    fn start_turns_draining_on_once() {
        let drain = Drain::new(Duration::ZERO, Duration::ZERO);
        assert!(!drain.is_draining());
        drain.start();
        drain.start();
        assert!(drain.is_draining());
    }
}
