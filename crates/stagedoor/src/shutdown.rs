//! One shutdown signal: SIGINT or SIGTERM cancels a root token that every transport watches.

use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on the first SIGINT or SIGTERM.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            // Could not install handlers: fall back to Ctrl-C only.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Extra time after the shutdown grace before the process is ended regardless of its state.
pub const HARD_DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_secs(5);

/// Exit status when the hard deadline ends the process (a shutdown that did not drain).
pub const EXIT_FORCED: i32 = 1;

/// Once `token` is cancelled, ends the process after `grace` + [`HARD_DEADLINE_SLACK`]
/// whatever still runs (stuck requests, a blocked writer, a wedged watcher), and at once
/// on a second SIGINT/SIGTERM. The timer is a plain thread, so it fires even when every
/// async worker is busy.
pub fn hard_deadline(token: &CancellationToken, grace: std::time::Duration) {
    let token = token.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        let limit = grace + HARD_DEADLINE_SLACK;
        let _ = std::thread::Builder::new()
            .name("stagedoor-deadline".into())
            .spawn(move || {
                std::thread::sleep(limit);
                tracing::error!(
                    after = ?limit,
                    "shutdown did not finish within the grace period; exiting"
                );
                crate::logging::flush(std::time::Duration::from_millis(200));
                std::process::exit(EXIT_FORCED);
            });
        wait_for_signal().await;
        tracing::warn!("second shutdown signal; exiting now");
        crate::logging::flush(std::time::Duration::from_millis(200));
        std::process::exit(EXIT_FORCED);
    });
}
