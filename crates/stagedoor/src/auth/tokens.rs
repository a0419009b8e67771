//! Static bearer tokens: from config and from a file re-read when it changes, matched in
//! constant time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use subtle::ConstantTimeEq;

use crate::config::security::StaticToken;

/// How often the tokens file is checked for changes.
pub const FILE_POLL: Duration = Duration::from_secs(1);

/// What a static token may do.
#[derive(Debug, Clone)]
pub struct Restrictions {
    /// Servers it may use; empty = all.
    pub servers: Vec<String>,
    /// Tool id globs it may use; `None` = all.
    pub tools: Option<GlobSet>,
    /// The globs as written, for messages.
    pub tool_patterns: Vec<String>,
    /// Only read-only tools.
    pub read_only: bool,
}

impl Restrictions {
    /// No restriction at all.
    pub fn none() -> Self {
        Self {
            servers: Vec::new(),
            tools: None,
            tool_patterns: Vec::new(),
            read_only: false,
        }
    }

    fn from_token(t: &StaticToken) -> Self {
        let tools = if t.tools.is_empty() {
            None
        } else {
            let mut b = GlobSetBuilder::new();
            for g in &t.tools {
                // Validated at config time; a bad glob here just matches nothing.
                if let Ok(glob) = Glob::new(g) {
                    b.add(glob);
                }
            }
            b.build().ok()
        };
        Self {
            servers: t.servers.clone(),
            tools,
            tool_patterns: t.tools.clone(),
            read_only: t.read_only,
        }
    }

    /// Whether a tool with this id and read-only flag is allowed.
    pub fn allows_tool(&self, id: &str, read_only: bool) -> bool {
        if self.read_only && !read_only {
            return false;
        }
        self.tools.as_ref().is_none_or(|g| g.is_match(id))
    }

    /// Whether the named server may be used.
    pub fn allows_server(&self, server: &str) -> bool {
        self.servers.is_empty() || self.servers.iter().any(|s| s == server)
    }
}

#[derive(Debug)]
struct Entry {
    token: Vec<u8>,
    subject: String,
    restrictions: Arc<Restrictions>,
}

fn entries(tokens: &[StaticToken]) -> Vec<Entry> {
    tokens
        .iter()
        .map(|t| Entry {
            token: t.token.expose().as_bytes().to_vec(),
            subject: t.subject.clone(),
            restrictions: Arc::new(Restrictions::from_token(t)),
        })
        .collect()
}

/// The tokens in force: config tokens plus the file's current content.
#[derive(Debug)]
pub struct TokenStore {
    config: Vec<Entry>,
    file: Option<PathBuf>,
    from_file: RwLock<FileState>,
    /// A reload is running on a blocking thread (a slow mount must not pile them up).
    reloading: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct FileState {
    /// Hash of the content last seen (valid or not); `None` while the file is unreadable.
    hash: Option<u64>,
    /// Since when the file has been missing or unreadable.
    failing_since: Option<std::time::Instant>,
    /// The last error logged, so each distinct problem is logged once.
    last_error: Option<String>,
    entries: Vec<Entry>,
}

impl TokenStore {
    /// A store for config tokens and an optional tokens file (read now).
    pub fn new(tokens: &[StaticToken], file: Option<PathBuf>) -> Arc<Self> {
        let store = Arc::new(Self {
            config: entries(tokens),
            file,
            from_file: RwLock::new(FileState::default()),
            reloading: std::sync::atomic::AtomicBool::new(false),
        });
        store.reload_if_changed();
        store
    }

    /// True when no token exists at all (config or file).
    pub fn is_empty(&self) -> bool {
        self.config.is_empty() && self.file.is_none()
    }

    /// Finds the token's subject and restrictions. Every candidate is compared in constant
    /// time, and all of them are compared, so timing does not reveal which one matched.
    pub fn lookup(&self, presented: &str) -> Option<(String, Arc<Restrictions>)> {
        let presented = presented.as_bytes();
        let mut found = None;
        let file = match self.from_file.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        for e in self.config.iter().chain(file.entries.iter()) {
            let same_len = e.token.len() == presented.len();
            let equal = if same_len {
                bool::from(e.token.as_slice().ct_eq(presented))
            } else {
                // Still spend comparable time on a mismatched length.
                let _ = e.token.as_slice().ct_eq(e.token.as_slice());
                false
            };
            if equal && found.is_none() {
                found = Some((e.subject.clone(), e.restrictions.clone()));
            }
        }
        found
    }

    /// Re-reads the tokens file and applies it when its content changed (see
    /// `auth::tokens_file`).
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.file else { return };
        let read = crate::config::tokens_file::read_bounded(path);
        let mut state = match self.from_file.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        super::tokens_file::apply(
            &mut state_view(&mut state),
            &self.config_tokens(),
            path,
            read,
        );
    }

    fn config_tokens(&self) -> Vec<&[u8]> {
        self.config.iter().map(|e| e.token.as_slice()).collect()
    }

    /// Polls the tokens file until `stop` is cancelled. Each read runs on a blocking thread
    /// and a read still running skips the next poll, so a stuck file system cannot stall
    /// requests or the shutdown.
    pub fn watch(self: &Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        use std::sync::atomic::Ordering;
        if self.file.is_none() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FILE_POLL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        if store.reloading.swap(true, Ordering::AcqRel) {
                            continue;
                        }
                        let s = store.clone();
                        // Not awaited: the poll loop (and shutdown) never waits on the disk.
                        drop(tokio::task::spawn_blocking(move || {
                            s.reload_if_changed();
                            s.reloading.store(false, Ordering::Release);
                        }));
                    }
                    () = stop.cancelled() => break,
                }
            }
        });
    }
}

/// The parts of the file state the reload logic changes.
fn state_view(state: &mut FileState) -> super::tokens_file::View<'_, Entry> {
    super::tokens_file::View {
        hash: &mut state.hash,
        failing_since: &mut state.failing_since,
        last_error: &mut state.last_error,
        entries: &mut state.entries,
        make: entries,
    }
}

/// Reads a tokens file: a YAML or JSON list of `{token, subject, servers?, tools?, readOnly?}`.
pub fn read_tokens_file(path: &Path) -> Result<Vec<StaticToken>, String> {
    crate::config::tokens_file::load(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn tok(value: &str, subject: &str, tools: &[&str], read_only: bool) -> StaticToken {
        StaticToken {
            token: Secret::new(value.into()),
            subject: subject.into(),
            servers: vec![],
            tools: tools.iter().map(|s| s.to_string()).collect(),
            read_only,
        }
    }

    #[test]
    fn lookup_matches_exactly() {
        let store = TokenStore::new(
            &[
                tok("alpha-token", "a", &[], false),
                tok("beta", "b", &[], false),
            ],
            None,
        );
        assert_eq!(store.lookup("alpha-token").map(|x| x.0), Some("a".into()));
        assert_eq!(store.lookup("beta").map(|x| x.0), Some("b".into()));
        assert!(store.lookup("alpha-toke").is_none());
        assert!(store.lookup("").is_none());
    }

    #[test]
    fn restrictions_filter_tools() {
        let store = TokenStore::new(&[tok("t", "a", &["catalog:*"], true)], None);
        let (_, r) = store.lookup("t").unwrap();
        assert!(r.allows_tool("catalog:search_catalog", true));
        assert!(!r.allows_tool("diagnostics:check_connection", true));
        assert!(!r.allows_tool("catalog:write", false));
    }

    #[test]
    fn file_is_reloaded_on_change_and_bad_content_keeps_old_tokens() {
        let dir = std::env::temp_dir().join(format!("stagedoor-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.yaml");
        std::fs::write(&path, "- token: first-token-value\n  subject: one\n").unwrap();
        let store = TokenStore::new(&[], Some(path.clone()));
        assert!(store.lookup("first-token-value").is_some());
        std::fs::write(
            &path,
            "- token: second-token-value-longer\n  subject: two\n",
        )
        .unwrap();
        store.reload_if_changed();
        assert!(store.lookup("first-token-value").is_none());
        assert_eq!(store.lookup("second-token-value-longer").unwrap().0, "two");
        std::fs::write(&path, "not: [a list").unwrap();
        store.reload_if_changed();
        assert!(
            store.lookup("second-token-value-longer").is_some(),
            "bad file keeps old tokens"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn deleted_file_revokes_after_the_grace_and_same_size_edits_are_seen() {
        let dir = std::env::temp_dir().join(format!("stagedoor-tokens-del-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens.yaml");
        std::fs::write(&path, "- token: first-token-valueA\n  subject: one\n").unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let store = TokenStore::new(&[], Some(path.clone()));
        assert!(store.lookup("first-token-valueA").is_some());
        // Same size, same modification time, other content.
        std::fs::write(&path, "- token: first-token-valueB\n  subject: one\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        store.reload_if_changed();
        assert!(store.lookup("first-token-valueA").is_none());
        assert!(store.lookup("first-token-valueB").is_some());
        std::fs::remove_file(&path).unwrap();
        store.reload_if_changed();
        assert!(
            store.lookup("first-token-valueB").is_some(),
            "kept within the grace"
        );
        // The grace period has passed.
        store.from_file.write().unwrap().failing_since =
            std::time::Instant::now().checked_sub(super::super::tokens_file::REVOKE_GRACE);
        store.reload_if_changed();
        assert!(
            store.lookup("first-token-valueB").is_none(),
            "revoked after the grace"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
