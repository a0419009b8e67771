//! A fake Backstage upstream for integration tests: an axum app on 127.0.0.1:0 that
//! records what it was sent.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use backstage_client::{BackstageClient, ClientConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
}

/// Everything the fake saw, shared with handlers.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().expect("log lock").clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().expect("log lock").len()
    }
    fn push(&self, seen: Seen) {
        self.0.lock().expect("log lock").push(seen);
    }
}

/// A running fake; stops when dropped.
pub struct Fake {
    pub addr: SocketAddr,
    pub log: Log,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Fake {
    /// `http://127.0.0.1:<port>` + `prefix` (e.g. "" or "/backstage").
    pub fn base(&self, prefix: &str) -> Url {
        Url::parse(&format!("http://{}{prefix}", self.addr)).expect("base URL")
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

async fn record(State(log): State<Log>, request: Request, next: Next) -> Response {
    log.push(Seen {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        authorization: request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    next.run(request).await
}

/// Serves `app` on 127.0.0.1:0, recording every request.
pub async fn spawn(app: Router) -> Fake {
    let log = Log::default();
    let app = app.layer(middleware::from_fn_with_state(log.clone(), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Fake {
        addr,
        log,
        shutdown: Some(tx),
        task,
    }
}

/// A config with fast retries so tests stay quick.
pub fn config(base: Url) -> ClientConfig {
    let mut config = ClientConfig::new(base);
    config.retry_base_delay = Duration::from_millis(5);
    config.timeout = Duration::from_secs(5);
    config
}

pub fn client(config: ClientConfig) -> BackstageClient {
    BackstageClient::new(config).expect("client builds")
}

/// A port with nothing listening (bound, then released).
pub fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}
