//! Watching the catalog's files: a change (debounced) reloads the catalog in the background,
//! logs what changed, and keeps serving the previous snapshot until the new one is ready.
//!
//! Directories given as catalog paths are watched recursively (new files appear); every other
//! file read is watched through its directory, so editors that save by renaming are seen.
//! If the platform watcher cannot start (for example, inotify limits), polling takes over.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{LocalCatalog, Problem, shown};

const POLL_INTERVAL: Duration = Duration::from_secs(1);
const MAX_LOGGED: usize = 20;

enum AnyWatcher {
    Native(RecommendedWatcher),
    Poll(PollWatcher),
}

impl AnyWatcher {
    fn watch(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()> {
        match self {
            Self::Native(w) => w.watch(path, mode),
            Self::Poll(w) => w.watch(path, mode),
        }
    }
    fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
        match self {
            Self::Native(w) => w.unwatch(path),
            Self::Poll(w) => w.unwatch(path),
        }
    }
}

/// What the watcher watches for the current snapshot: directory → recursive? Directories
/// given (or searched by a Location's glob target) are watched recursively, so new files
/// appear; every other file read is watched through its directory.
fn wanted(catalog: &LocalCatalog) -> HashMap<PathBuf, RecursiveMode> {
    let snapshot = catalog.snapshot();
    let paths = catalog
        .config()
        .load
        .paths
        .iter()
        .chain(snapshot.read.iter());
    let (dirs, files): (Vec<&PathBuf>, Vec<&PathBuf>) = paths.partition(|p| p.is_dir());
    let mut out = HashMap::new();
    for d in &dirs {
        if !dirs.iter().any(|o| o != d && d.starts_with(o)) {
            out.insert((*d).clone(), RecursiveMode::Recursive);
        }
    }
    for f in files {
        let Some(dir) = f.parent() else { continue };
        if dirs.iter().any(|r| dir.starts_with(r)) || !dir.is_dir() {
            continue;
        }
        out.entry(dir.to_path_buf())
            .or_insert(RecursiveMode::NonRecursive);
    }
    out
}

fn reconcile(
    w: &mut AnyWatcher,
    current: &mut HashMap<PathBuf, RecursiveMode>,
    want: HashMap<PathBuf, RecursiveMode>,
) {
    current.retain(|p, m| {
        if want.get(p) == Some(m) {
            return true;
        }
        let _ = w.unwatch(p);
        false
    });
    for (p, m) in want {
        if current.contains_key(&p) {
            continue;
        }
        match w.watch(&p, m) {
            Ok(()) => {
                current.insert(p, m);
            }
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot watch a catalog directory")
            }
        }
    }
}

fn relevant(event: &notify::Event, known: &HashSet<PathBuf>) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event.paths.iter().any(|p| {
        known.contains(p)
            || matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json") | None
            )
    })
}

/// Logs the problems of a load (the first few at warn, a count for the rest).
pub fn log_problems(problems: &[Problem]) {
    for p in problems.iter().take(MAX_LOGGED) {
        tracing::warn!(file = %shown(&p.file), line = p.line, "catalog problem: {}", p.message);
    }
    if problems.len() > MAX_LOGGED {
        tracing::warn!(
            "{} more catalog problems (stagedoor check --catalog ... lists them all)",
            problems.len() - MAX_LOGGED
        );
    }
}

fn sample(refs: &[String]) -> String {
    let mut s = refs.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if refs.len() > 10 {
        s.push_str(&format!(", … ({} in all)", refs.len()));
    }
    s
}

/// Starts watching; returns once the watcher is set up. The task ends on `shutdown`.
pub fn spawn(catalog: Arc<LocalCatalog>, shutdown: CancellationToken) {
    let (tx, mut rx) = mpsc::unbounded_channel::<notify::Result<notify::Event>>();
    let tx2 = tx.clone();
    // Symlinks are not followed: a link inside the root that leaves it must not place
    // watches outside (links that stay inside are watched through their targets).
    let mut watcher = match RecommendedWatcher::new(
        move |r| {
            let _ = tx.send(r);
        },
        notify::Config::default().with_follow_symlinks(false),
    ) {
        Ok(w) => AnyWatcher::Native(w),
        Err(e) => {
            tracing::warn!(error = %e, "file watching unavailable; polling the catalog every second");
            let config = notify::Config::default()
                .with_poll_interval(POLL_INTERVAL)
                .with_follow_symlinks(false);
            match PollWatcher::new(
                move |r| {
                    let _ = tx2.send(r);
                },
                config,
            ) {
                Ok(w) => AnyWatcher::Poll(w),
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch the catalog; edits need a restart");
                    return;
                }
            }
        }
    };
    let debounce = catalog.config().debounce;
    let mut current = HashMap::new();
    reconcile(&mut watcher, &mut current, wanted(&catalog));
    tracing::info!(
        directories = current.len(),
        "watching the catalog for changes"
    );
    tokio::spawn(async move {
        let mut known: HashSet<PathBuf> = catalog.snapshot().read.iter().cloned().collect();
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                e = rx.recv() => e,
            };
            let Some(event) = event else { break };
            match event {
                Ok(ev) if relevant(&ev, &known) => {}
                Ok(_) => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "watch error");
                    continue;
                }
            }
            // Debounce: wait until the files have been quiet for `debounce`.
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(debounce) => break,
                    e = rx.recv() => if e.is_none() { return },
                }
            }
            let c = catalog.clone();
            let Ok((changes, problems)) = tokio::task::spawn_blocking(move || {
                let changes = c.reload();
                (changes, c.snapshot().problems.clone())
            })
            .await
            else {
                tracing::error!("catalog reload failed to run");
                continue;
            };
            let snap = catalog.snapshot();
            if changes.is_empty() {
                tracing::debug!(
                    entities = snap.len(),
                    problems = problems.len(),
                    "catalog reloaded: no entity changed"
                );
            } else {
                tracing::info!(
                    entities = snap.len(),
                    problems = problems.len(),
                    "catalog reloaded: {} added [{}], {} removed [{}], {} changed [{}]",
                    changes.added.len(),
                    sample(&changes.added),
                    changes.removed.len(),
                    sample(&changes.removed),
                    changes.changed.len(),
                    sample(&changes.changed),
                );
            }
            log_problems(&problems);
            known = snap.read.iter().cloned().collect();
            reconcile(&mut watcher, &mut current, wanted(&catalog));
        }
    });
}
