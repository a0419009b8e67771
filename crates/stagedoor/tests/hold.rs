//! The real binary under accident and attack (issue 17): a closed stderr or stdout, half-open
//! connections, slow request bodies. Each test starts `stagedoor serve` over a small local
//! catalog on a free loopback port and stops it by pid.
//!
//! Bounds below (how long to wait for a close or an exit) are correctness limits from the
//! configuration (header timeout, shutdown grace + 5 s), with slack; not timing targets.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const CATALOG: &str = "apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: hold-test
spec:
  type: service
  lifecycle: production
  owner: team-a
";

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn bin() -> PathBuf {
    // STAGEDOOR_BIN runs the same tests against another build (e.g. to show a regression).
    std::env::var_os("STAGEDOOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_stagedoor")))
}

fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stagedoor-hold-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("catalog-info.yaml"), CATALOG).unwrap();
    std::fs::write(d.join("stagedoor.yaml"), "server:\n  shutdownGrace: 2s\n").unwrap();
    d
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A running server, killed on drop if a test failed before stopping it.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &std::path::Path, log_level: &str, stderr: Stdio) -> Server {
        let port = free_port();
        let child = Command::new(bin())
            .args(["serve", "--transport", "http", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--config")
            .arg(dir.join("stagedoor.yaml"))
            .arg("--catalog")
            .arg(dir)
            .env("RUST_LOG", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Server { child, port }
    }

    async fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(r) = get(self.port, "/healthz").await
                && r.starts_with("HTTP/1.1 200")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server did not become ready");
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits at most `bound` for the process to exit; its status, or None if still alive.
    fn wait_exit(&mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < bound {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// One request on its own connection; the whole response as text.
async fn request(port: u16, raw: String) -> std::io::Result<String> {
    let fut = async move {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(raw.as_bytes()).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .map_err(|_| std::io::Error::other("no answer within 20 s"))?
}

async fn get(port: u16, path: &str) -> std::io::Result<String> {
    request(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

async fn initialize(port: u16) -> std::io::Result<String> {
    request(
        port,
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{INIT}",
            INIT.len()
        ),
    )
    .await
}

fn served(response: &str) -> bool {
    response.starts_with("HTTP/1.1 200") && response.contains("\"serverInfo\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_stderr_neither_stops_requests_nor_sigterm() {
    let dir = workdir("stderr");
    // Trace level: every request writes log lines into the closed pipe.
    let mut server = Server::start(&dir, "trace", Stdio::piped());
    // Like `serve … 2>&1 | head -1`: read one line, then the reader goes away.
    let mut stderr = server.child.stderr.take().unwrap();
    let mut first = [0u8; 1];
    stderr.read_exact(&mut first).unwrap();
    drop(stderr);
    server.wait_ready().await;
    for i in 0..50 {
        let r = initialize(server.port).await.unwrap();
        assert!(served(&r), "request {i} after stderr closed: {r}");
    }
    server.sigterm();
    // shutdownGrace (2 s) + the 5 s hard deadline, with slack.
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.is_some(), "still running after SIGTERM");
    let _ = std::fs::remove_dir_all(dir);
}

/// Runs `stagedoor <args>` with stdout a pipe whose reader is already closed.
fn run_into_closed_stdout(args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn commands_into_a_closed_stdout_end_quietly() {
    let dir = workdir("stdout");
    let catalog = dir.to_string_lossy().into_owned();
    for args in [
        vec!["check", "--catalog", &catalog],
        vec!["tools", "--catalog", &catalog],
        vec!["tools", "--json", "--catalog", &catalog],
    ] {
        let (status, stderr) = run_into_closed_stdout(&args);
        assert_eq!(status.code(), Some(141), "{args:?}: {status:?} {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Opens `n` connections from `source` that send part of a request's headers and stop.
async fn half_open(port: u16, source: &str, n: usize) -> Vec<TcpStream> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        let Ok(mut s) = sock
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
        else {
            continue;
        };
        let _ = s
            .write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            .await;
        conns.push(s);
    }
    conns
}

/// True when the server closed `s` (EOF or reset) within `bound`.
async fn closed_within(s: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + bound;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // a 503 or 408 before the close
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_neither_block_clients_nor_stay() {
    let dir = workdir("halfopen");
    let server = Server::start(&dir, "warn", Stdio::null());
    server.wait_ready().await;
    for _ in 0..20 {
        assert!(served(&initialize(server.port).await.unwrap()));
    }
    let baseline = server.rss_kb();
    // 2,000 connections from another loopback address that never finish their headers.
    let mut attackers = half_open(server.port, "127.0.0.2", 2000).await;
    assert!(attackers.len() > 1000, "only {} connected", attackers.len());
    // A normal client is served while they hang.
    for i in 0..20 {
        let r = initialize(server.port).await.unwrap();
        assert!(served(&r), "normal request {i}: {r}");
    }
    // Every one of them is closed within the header timeout (5 s), with slack.
    let mut still_open = 0;
    for s in &mut attackers {
        if !closed_within(s, Duration::from_secs(15)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "half-open connections left open");
    drop(attackers);
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..20 {
        assert!(served(&initialize(server.port).await.unwrap()));
    }
    let after = server.rss_kb();
    assert!(
        after * 10 <= baseline * 11,
        "RSS {after} kB after the connections closed, baseline {baseline} kB"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_do_not_take_the_concurrency_slots() {
    let dir = workdir("slowbody");
    let server = Server::start(&dir, "warn", Stdio::null());
    server.wait_ready().await;
    // 64 requests (the default maxConcurrentRequests) that send headers and one body byte.
    let mut slow = Vec::new();
    for _ in 0..64 {
        let mut s = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{{",
            server.port
        );
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..20 {
        let r = initialize(server.port).await.unwrap();
        assert!(
            served(&r),
            "normal request {i} while 64 bodies trickle: {r}"
        );
    }
    // The slow ones are answered 408 and closed once their body deadline passed.
    for s in &mut slow {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "slow body connection not closed");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn oversized_content_length_is_refused_before_reading() {
    let dir = workdir("bigbody");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start(&dir, "warn", Stdio::null());
    rt.block_on(async {
        server.wait_ready().await;
        // Headers only: a server that waited for the body would never answer.
        let r = request(
            server.port,
            format!(
                "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
                 Accept: application/json, text/event-stream\r\nContent-Length: 1000000000\r\n\r\n",
                server.port
            ),
        )
        .await
        .unwrap();
        assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    });
    let _ = std::fs::remove_dir_all(dir);
}

async fn initialize_with(port: u16, token: &str) -> std::io::Result<String> {
    request(
        port,
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nAuthorization: Bearer {token}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{INIT}",
            INIT.len()
        ),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_tokens_file_revokes_and_a_fifo_in_its_place_stalls_nothing() {
    let dir = workdir("tokensfile");
    let tokens = dir.join("tokens.yaml");
    let token = "hold-test-token-0123456789abcdef";
    std::fs::write(&tokens, format!("- token: {token}\n  subject: ci\n")).unwrap();
    std::fs::write(
        dir.join("stagedoor.yaml"),
        format!(
            "server:\n  shutdownGrace: 2s\nauth:\n  tokensFile: {}\n",
            tokens.display()
        ),
    )
    .unwrap();
    let mut server = Server::start(&dir, "warn", Stdio::null());
    server.wait_ready().await;
    assert!(served(&initialize_with(server.port, token).await.unwrap()));
    // The file goes away and a FIFO (which nobody writes) takes its place.
    std::fs::remove_file(&tokens).unwrap();
    let made = Command::new("mkfifo").arg(&tokens).status().unwrap();
    assert!(made.success());
    // Revoked after the 5 s grace (polled every second); bounded wait, with slack.
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(20) {
        last = initialize_with(server.port, token).await.unwrap();
        if last.starts_with("HTTP/1.1 401") {
            break;
        }
        assert!(served(&last), "{last}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        last.starts_with("HTTP/1.1 401"),
        "token still accepted: {last}"
    );
    // Requests are still answered at once, and SIGTERM still stops the process.
    assert!(
        get(server.port, "/healthz")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    server.sigterm();
    assert!(
        server.wait_exit(Duration::from_secs(15)).is_some(),
        "still running after SIGTERM"
    );
    let _ = std::fs::remove_dir_all(dir);
}
