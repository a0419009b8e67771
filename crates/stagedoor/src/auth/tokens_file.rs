//! What a tokens-file poll does with what it read: fail closed when the file is gone,
//! reject a bad version as a whole, and log each distinct problem once.
//!
//! - Missing or unreadable (or refused: a FIFO, a huge file): its tokens stay valid for
//!   [`REVOKE_GRACE`] (an editor replacing the file, a config map being swapped), then are
//!   revoked, with one ERROR line.
//! - Changed content (by hash, so an edit keeping size and modification time is seen) that
//!   does not parse, holds a duplicate value or repeats a config token: rejected as a whole,
//!   the last valid set stays in force, one ERROR line says so.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::security::StaticToken;
use crate::config::tokens_file;

/// How long a missing or unreadable tokens file keeps its tokens before they are revoked.
pub(crate) const REVOKE_GRACE: Duration = Duration::from_secs(5);

/// The file state a poll updates.
pub(crate) struct View<'a, E> {
    /// Hash of the content last seen.
    pub(crate) hash: &'a mut Option<u64>,
    /// Since when the file has been unreadable.
    pub(crate) failing_since: &'a mut Option<Instant>,
    /// The problem last logged.
    pub(crate) last_error: &'a mut Option<String>,
    /// The tokens in force from the file.
    pub(crate) entries: &'a mut Vec<E>,
    /// Builds entries from validated tokens.
    pub(crate) make: fn(&[StaticToken]) -> Vec<E>,
}

/// Applies one poll's `read` of `path` (see the module docs). `config` are the token values
/// configured elsewhere, which the file must not repeat.
pub(crate) fn apply<E>(
    view: &mut View<'_, E>,
    config: &[&[u8]],
    path: &Path,
    read: Result<String, String>,
) {
    let text = match read {
        Ok(t) => t,
        Err(e) => {
            *view.hash = None;
            let since = *view.failing_since.get_or_insert_with(Instant::now);
            if view.last_error.as_deref() != Some(e.as_str()) {
                if view.entries.is_empty() {
                    tracing::error!(path = %path.display(), error = %e, "tokens file not readable; no token from it is accepted");
                } else {
                    tracing::warn!(path = %path.display(), error = %e, grace = ?REVOKE_GRACE, "tokens file not readable; its tokens are revoked unless it is back within the grace period");
                }
                *view.last_error = Some(e);
            }
            if !view.entries.is_empty() && since.elapsed() >= REVOKE_GRACE {
                tracing::error!(path = %path.display(), revoked = view.entries.len(), "tokens file still not readable; its tokens are revoked");
                view.entries.clear();
            }
            return;
        }
    };
    *view.failing_since = None;
    let hash = tokens_file::content_hash(&text);
    if *view.hash == Some(hash) {
        return;
    }
    *view.hash = Some(hash);
    let parsed = tokens_file::parse(&text, &path.display().to_string()).and_then(|tokens| {
        match tokens
            .iter()
            .position(|t| config.contains(&t.token.expose().as_bytes()))
        {
            Some(i) => Err(format!(
                "entry {i} has the same token value as a token in the configuration"
            )),
            None => Ok(tokens),
        }
    });
    match parsed {
        Ok(tokens) => {
            tracing::info!(path = %path.display(), tokens = tokens.len(), "tokens file loaded");
            *view.entries = (view.make)(&tokens);
            *view.last_error = None;
        }
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, kept = view.entries.len(), "tokens file rejected as a whole; the tokens of its last valid version stay in force");
            *view.last_error = Some(e);
        }
    }
}
