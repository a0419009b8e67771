//! Logs that cannot take the server down: a non-blocking, lossy stderr writer, and quiet
//! exits when a command's stdout reader goes away.
//!
//! Every log line is handed to a bounded queue and written to stderr by one background
//! thread. When stderr is slow the queue fills and further lines are dropped (and counted);
//! when stderr is gone (`EPIPE`, the reader of `serve … 2>&1 | head -1` exited, a log
//! shipper restarting) write errors are counted and ignored. No log call ever blocks a
//! request thread or panics.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Lines queued for stderr before further ones are dropped.
pub const QUEUE_LINES: usize = 4096;

/// What the background writer is asked to do.
enum Item {
    /// One formatted log line (or several, as the formatter wrote them).
    Line(Vec<u8>),
    /// Acknowledge once every earlier line has been written.
    Flush(SyncSender<()>),
}

/// The process-wide writer: the queue's sending side and the counters.
struct Sink {
    tx: Mutex<Option<SyncSender<Item>>>,
    dropped: AtomicU64,
    failed: AtomicU64,
}

static SINK: OnceLock<Sink> = OnceLock::new();

fn sink() -> &'static Sink {
    SINK.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE_LINES);
        let spawned = std::thread::Builder::new()
            .name("stagedoor-log".into())
            .spawn(move || write_loop(rx));
        Sink {
            // Without the thread every line is dropped (and counted) rather than blocking.
            tx: Mutex::new(spawned.is_ok().then_some(tx)),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    })
}

fn write_loop(rx: Receiver<Item>) {
    let mut stderr = std::io::stderr();
    while let Ok(item) = rx.recv() {
        match item {
            Item::Line(bytes) => {
                if stderr.write_all(&bytes).is_err()
                    && let Some(s) = SINK.get()
                {
                    s.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Item::Flush(ack) => {
                let _ = stderr.flush();
                let _ = ack.try_send(());
            }
        }
    }
}

fn enqueue(item: Item) -> bool {
    let s = sink();
    let sent = match s.tx.lock() {
        Ok(tx) => match tx.as_ref() {
            Some(tx) => match tx.try_send(item) {
                Ok(()) => true,
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
            },
            None => false,
        },
        Err(_) => false,
    };
    if !sent {
        s.dropped.fetch_add(1, Ordering::Relaxed);
    }
    sent
}

/// Lines dropped because the queue was full (stderr slow) since the process started.
pub fn dropped_lines() -> u64 {
    SINK.get().map_or(0, |s| s.dropped.load(Ordering::Relaxed))
}

/// Lines that could not be written (stderr closed) since the process started.
pub fn failed_lines() -> u64 {
    SINK.get().map_or(0, |s| s.failed.load(Ordering::Relaxed))
}

/// Waits at most `timeout` for queued lines to reach stderr (before the process exits).
pub fn flush(timeout: Duration) {
    if SINK.get().is_none() {
        return;
    }
    let (ack_tx, ack_rx) = sync_channel(1);
    if enqueue(Item::Flush(ack_tx)) {
        let _ = ack_rx.recv_timeout(timeout);
    }
}

/// A [`tracing_subscriber::fmt::MakeWriter`] for the lossy stderr queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossyStderr;

/// One event's bytes, queued as a whole when the formatter is done with it.
#[derive(Debug, Default)]
pub struct LineWriter {
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            enqueue(Item::Line(std::mem::take(&mut self.buf)));
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LossyStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter::default()
    }
}

/// Exit status of a command whose stdout reader went away: what a shell reports for a
/// process killed by `SIGPIPE` (128 + 13), which is what C tools such as `cat` end with.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Makes a command end quietly with [`EXIT_BROKEN_PIPE`] when its stdout reader has gone
/// (`stagedoor check | head -1`), instead of the standard library's panic message and exit
/// status 101. Every other panic is reported as before.
pub fn exit_quietly_on_broken_stdout() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            flush(Duration::from_millis(200));
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        previous(info);
    }));
}
