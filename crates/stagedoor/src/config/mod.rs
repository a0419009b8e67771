//! Configuration: layered YAML files, the standalone Node server's environment variables and
//! command-line overrides, validated into [`Settings`] before anything binds or dials.
//!
//! Precedence, lowest first: built-in defaults, the Node server's environment variables
//! (`BACKSTAGE_BASE_URL`, ...), each `--config` file in order, then command-line flags.
//! `${VAR}` and `${VAR:-default}` are substituted inside file values.

pub mod actions;
pub mod defaults;
pub mod load;
pub mod raw;
pub mod security;
pub mod settings;
pub mod tokens_file;
pub mod yaml_error;

use std::fmt;
use std::path::PathBuf;

pub use load::{Env, ProcessEnv};
pub use settings::{Secret, Settings, Transport};

/// A configuration problem: where it is, which key, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// A file path, `environment`, `command line` or `configuration`.
    pub origin: String,
    /// Dotted key path, when the problem is at a key.
    pub key: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ConfigError {
    /// Builds an error.
    pub fn new(origin: &str, key: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            origin: origin.to_string(),
            key: key.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: {}: {}", self.origin, k, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Settings given on the command line, applied over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--transport`.
    pub transport: Option<String>,
    /// `--listen`.
    pub listen: Option<String>,
    /// `--backstage-url`.
    pub base_url: Option<String>,
    /// `--read-only` (only ever turns read-only on).
    pub read_only: bool,
    /// `--catalog` (replaces `catalog.paths`).
    pub catalog: Vec<PathBuf>,
}

/// Loads every layer and validates the result.
pub fn load(
    files: &[PathBuf],
    overrides: &Overrides,
    env: &dyn Env,
) -> Result<Settings, ConfigError> {
    let mut merged = load::env_layer(env)?.value;
    let mut origins = vec!["environment".to_string()];
    for path in files {
        let layer = load::read_file(path, env)?;
        origins.push(layer.origin.clone());
        load::merge(&mut merged, layer.value);
    }
    let mut cli = serde_json::Map::new();
    let mut server = serde_json::Map::new();
    if let Some(t) = &overrides.transport {
        server.insert("transport".into(), t.clone().into());
    }
    if let Some(l) = &overrides.listen {
        server.insert("listen".into(), l.clone().into());
    }
    if overrides.read_only {
        server.insert("readOnly".into(), true.into());
    }
    if !server.is_empty() {
        cli.insert("server".into(), server.into());
    }
    if let Some(u) = &overrides.base_url {
        cli.insert("backstage".into(), serde_json::json!({ "baseUrl": u }));
    }
    if !overrides.catalog.is_empty() {
        let paths: Vec<serde_json::Value> = overrides
            .catalog
            .iter()
            .map(|p| p.display().to_string().into())
            .collect();
        cli.insert("catalog".into(), serde_json::json!({ "paths": paths }));
    }
    if !cli.is_empty() {
        origins.push("command line".into());
        load::merge(&mut merged, cli.into());
    }
    let origin = if files.is_empty() {
        "configuration (environment and flags)".to_string()
    } else {
        format!("configuration ({})", origins.join(" < "))
    };
    let raw = load::to_raw(&origin, merged)?;
    Settings::from_raw(raw, &origin)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use super::*;

    #[test]
    fn check_warns_about_short_tokens_and_open_listeners() {
        let env: BTreeMap<String, String> = BTreeMap::new();
        let dir = std::env::temp_dir().join(format!("stagedoor-warn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open = dir.join("open.yaml");
        std::fs::write(
            &open,
            "server:\n  transport: http\n  listen: 0.0.0.0:7008\n",
        )
        .unwrap();
        let s = load(std::slice::from_ref(&open), &Overrides::default(), &env).unwrap();
        assert!(
            s.warnings().iter().any(|w| w.contains("not on loopback")),
            "{:?}",
            s.warnings()
        );
        let short = dir.join("short.yaml");
        std::fs::write(
            &short,
            "server:\n  transport: http\n  listen: 0.0.0.0:7008\nauth:\n  tokens:\n    - token: abc123\n      subject: me\n",
        )
        .unwrap();
        let s = load(&[short], &Overrides::default(), &env).unwrap();
        let w = s.warnings();
        assert!(w.iter().any(|w| w.contains("short")), "{w:?}");
        assert!(!w.iter().any(|w| w.contains("not on loopback")), "{w:?}");
        let local = load(&[], &Overrides::default(), &env).unwrap();
        assert!(local.warnings().is_empty());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_token_without_a_url_is_ignored_in_local_mode_and_explained_otherwise() {
        let env: BTreeMap<String, String> =
            BTreeMap::from([("BACKSTAGE_TOKEN".into(), "exported-for-later".into())]);
        let dir = std::env::temp_dir();
        let local = load(
            &[],
            &Overrides {
                catalog: vec![dir.clone()],
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        assert!(local.backstage.is_none() && local.catalog.is_some());
        assert_eq!(local.notes.len(), 1, "{:?}", local.notes);
        assert!(local.notes[0].contains("not used"), "{:?}", local.notes);
        let e = load(&[], &Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("BACKSTAGE_BASE_URL") && e.contains("--catalog"),
            "{e}"
        );
    }

    #[test]
    fn files_layer_over_environment_and_flags_over_files() {
        let dir = std::env::temp_dir().join(format!("stagedoor-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.yaml");
        let b = dir.join("b.yaml");
        std::fs::File::create(&a)
            .unwrap()
            .write_all(b"backstage:\n  baseUrl: http://from-a:7007\n  token: ${TOK}\nserver:\n  transport: http\n")
            .unwrap();
        std::fs::File::create(&b)
            .unwrap()
            .write_all(b"backstage:\n  timeout: 2s\nserver:\n  listen: 127.0.0.1:9100\n")
            .unwrap();
        let env: BTreeMap<String, String> = [
            ("TOK".to_string(), "abc".to_string()),
            (
                "BACKSTAGE_BASE_URL".to_string(),
                "http://from-env".to_string(),
            ),
            ("PORT".to_string(), "3000".to_string()),
        ]
        .into();
        let s = load(
            &[a.clone(), b.clone()],
            &Overrides {
                listen: Some("127.0.0.1:9200".into()),
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        let bs = s.backstage.unwrap();
        assert_eq!(bs.base_url.as_str(), "http://from-a:7007/");
        assert_eq!(bs.token.unwrap().expose(), "abc");
        assert_eq!(bs.timeout, std::time::Duration::from_secs(2));
        assert_eq!(s.server.transport, Transport::Http);
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:9200");
        // --catalog replaces catalog.paths and keeps the file's other catalog keys.
        let c = dir.join("c.yaml");
        std::fs::write(&c, "catalog:\n  paths: [/nope]\n  watch: false\n").unwrap();
        let s = load(
            &[c],
            &Overrides {
                catalog: vec![dir.clone()],
                ..Default::default()
            },
            &env,
        )
        .unwrap();
        let cat = s.catalog.unwrap();
        assert_eq!(cat.paths, std::slice::from_ref(&dir));
        assert!(!cat.watch);
        let missing = load(&[dir.join("nope.yaml")], &Overrides::default(), &env).unwrap_err();
        assert!(missing.to_string().contains("nope.yaml"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn read_only_comes_from_the_file_or_the_flag() {
        let dir = std::env::temp_dir().join(format!("stagedoor-ro-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ro = dir.join("ro.yaml");
        let bad = dir.join("bad.yaml");
        std::fs::write(&ro, "server:\n  readOnly: true\n").unwrap();
        std::fs::write(&bad, "server:\n  readOnly: sometimes\n").unwrap();
        let env: BTreeMap<String, String> = BTreeMap::new();
        let off = load(&[], &Overrides::default(), &env).unwrap();
        assert!(!off.server.read_only);
        assert!(
            load(&[ro], &Overrides::default(), &env)
                .unwrap()
                .server
                .read_only
        );
        let flag = Overrides {
            read_only: true,
            ..Default::default()
        };
        let on = load(&[], &flag, &env).unwrap();
        assert!(on.server.read_only);
        assert_eq!(on.redacted_view()["server"]["readOnly"], true);
        let e = load(&[bad], &Overrides::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.yaml") && e.contains("readOnly"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
