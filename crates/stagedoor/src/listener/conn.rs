//! The accept loop: HTTP/1.1 connections served by hyper with a header read timeout, a cap
//! on open connections (total and per client address) and a graceful, bounded shutdown.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::RefusalLog;

/// Request headers must be complete this long after a connection opened (or went idle).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections open at once; far below the usual 1,024 file-descriptor limit so that
/// Backstage calls, catalog files and the watcher always have descriptors left.
pub const MAX_CONNECTIONS: usize = 512;
/// Connections open at once from one client address. Behind a reverse proxy every client
/// shares the proxy's address: raise it there (or let the proxy do this job).
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 128;

/// Connection-level limits of the HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time allowed for a request's headers, and for an idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_connections_per_client: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_connections_per_client: MAX_CONNECTIONS_PER_CLIENT,
        }
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its client address until dropped.
struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn acquire(table: &Arc<PerClient>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut open = table.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The answer to a connection over the limits: written once without waiting, then closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 64\r\n\r\n\
{\"error\":{\"code\":503,\"message\":\"too many connections; retry\"}}\n";

fn refuse(stream: TcpStream, cause: &'static str, log: &RefusalLog) {
    log.note(cause);
    // Best effort: a client that does not read gets the close alone.
    let _ = stream.try_write(BUSY);
    drop(stream);
}

/// Serves `app` on `listener` until `shutdown` fires, then lets open requests finish for at
/// most `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(PerClient::default());
    let refusals = Arc::new(RefusalLog::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before accept: note it
                // and pause briefly rather than spinning.
                tracing::debug!(error = %e, "accept failed");
                refusals.note("accept failed (out of file descriptors?)");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = total.clone().try_acquire_owned() else {
            refuse(stream, "too many connections", &refusals);
            continue;
        };
        let Some(slot) =
            PerClient::acquire(&per_client, peer.ip(), limits.max_connections_per_client)
        else {
            refuse(stream, "too many connections from one client", &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| app.clone().oneshot(req));
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    match tokio::time::timeout(grace, graceful.shutdown()).await {
        Ok(()) => Ok(()),
        Err(_) => {
            tracing::warn!(grace = ?grace, "requests still running after the shutdown grace period; stopping anyway");
            Ok(())
        }
    }
}
