//! Helpers shared by the in-process integration tests: settings from a YAML text, loaded as
//! `stagedoor serve` loads a config file, and the HTTP app those settings build.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::sync::Arc;

use stagedoor::config::{self, Settings};
use stagedoor::mcp::Handler;
use stagedoor::portal::Portal;
use stagedoor::transport::{AppState, app};
use tokio_util::sync::CancellationToken;

/// Settings from `yaml` layered over the environment `env`, as the loader merges them.
pub(crate) fn settings(yaml: &str, env: &BTreeMap<String, String>) -> Settings {
    let mut merged = config::load::env_layer(env).unwrap().value;
    config::load::merge(
        &mut merged,
        config::load::parse_yaml("t.yaml", yaml, env).unwrap().value,
    );
    let raw = config::load::to_raw("t.yaml", merged).unwrap();
    Settings::from_raw(raw, "t.yaml").unwrap()
}

/// The portal and registry of Backstage-mode `settings`, before the HTTP app is built (a test
/// may first let the bridge list its actions).
pub(crate) fn parts(settings: &Settings) -> (Arc<Portal>, Arc<stagedoor::servers::Registry>) {
    let portal =
        Arc::new(Portal::new(settings.backstage.as_ref().unwrap(), &settings.cache).unwrap());
    let registry = stagedoor::cli::registry(settings, &portal);
    (portal, registry)
}

/// The HTTP app of `settings` with `portal` and `registry`.
pub(crate) fn router(
    settings: &Settings,
    portal: Arc<Portal>,
    registry: Arc<stagedoor::servers::Registry>,
) -> axum::Router {
    app(
        Handler::with_registry(portal.clone(), registry),
        AppState::new(portal, settings),
        &settings.server,
        CancellationToken::new(),
    )
}
