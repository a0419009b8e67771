//! Validation of the bridge, server and tool-group blocks, and pasted app-config fragments.

use super::*;
use crate::config::load::parse_yaml;
use std::collections::BTreeMap;

fn settings(yaml: &str) -> Result<crate::config::Settings, ConfigError> {
    // Only what stagedoor reads needs its variables: MCP_TOKEN (backend.auth.externalAccess
    // becomes an inbound token); POSTGRES_URL (backend.database) stays unset on purpose.
    let env: BTreeMap<String, String> = [(
        "MCP_TOKEN".to_string(),
        "pasted-static-token-0123456789abcdef".to_string(),
    )]
    .into();
    let layer = parse_yaml("a.yaml", yaml, &env)?;
    let raw = crate::config::load::to_raw("a.yaml", layer.value)?;
    crate::config::Settings::from_raw(raw, "a.yaml")
}

#[test]
fn an_official_app_config_fragment_pastes_in() {
    let s = settings(
        r#"
backend:
  baseUrl: http://127.0.0.1:${PORT:-7007}
  database:
    client: pg
    connection: ${POSTGRES_URL}
  auth:
    externalAccess:
      - type: static
        options: {token: "${MCP_TOKEN}", subject: mcp-clients}
  actions:
    pluginSources: [catalog, scaffolder]
    filter:
      exclude:
        - id: 'scaffolder:execute-*'
mcpActions:
  name: backstage
  namespacedToolNames: false
  servers:
    catalog-ro:
      name: Catalog, read-only
      description: Read the catalog
      filter:
        include: [{id: 'catalog:*'}]
        exclude: [{attributes: {destructive: true}}]
"#,
    )
    .expect("pastes in");
    assert_eq!(
        s.auth.tokens.len(),
        1,
        "the static externalAccess entry is a token"
    );
    assert_eq!(s.auth.tokens[0].subject, "mcp-clients");
    assert_eq!(s.actions.plugin_sources, ["catalog", "scaffolder"]);
    assert!(!s.actions.namespaced);
    assert_eq!(s.actions.filter.exclude.len(), 1);
    assert_eq!(s.servers.default.name.as_deref(), Some("backstage"));
    assert_eq!(s.servers.named.len(), 1);
    assert_eq!(s.servers.named[0].key, "catalog-ro");
    assert_eq!(s.servers.named[0].filter.include.len(), 1);
}

#[test]
fn own_sources_merge_with_backend_sources_without_duplicates() {
    let s = settings(
        "actions:\n  pluginSources: [search, catalog]\n  refreshInterval: 5s\n  toolNames: official\nbackend:\n  actions:\n    pluginSources: [catalog, auth]\ntools:\n  curated: false\n",
    )
    .expect("valid");
    assert_eq!(s.actions.plugin_sources, ["search", "catalog", "auth"]);
    assert_eq!(s.actions.refresh_interval, Duration::from_secs(5));
    assert_eq!(s.actions.tool_names, NameStyle::Official);
    assert!(!s.servers.curated && s.servers.bridged);
}

#[test]
fn typos_in_our_keys_and_unknown_backend_keys_are_errors() {
    for (yaml, key) in [
        (
            "actions:\n  pluginSource: [catalog]\n",
            "actions.pluginSource",
        ),
        (
            "backend:\n  actions:\n    pluginsources: [x]\n",
            "backend.actions.pluginsources",
        ),
        ("backend:\n  databse: {}\n", "backend.databse"),
        (
            "backend:\n  auth:\n    externalAcess: []\n",
            "backend.auth.externalAcess",
        ),
        (
            "mcpActions:\n  namespaceToolNames: false\n",
            "mcpActions.namespaceToolNames",
        ),
        (
            "mcpActions:\n  servers:\n    x:\n      name: X\n      filters: {}\n",
            "mcpActions.servers.x.filters",
        ),
        ("tools:\n  bridge: false\n", "tools.bridge"),
    ] {
        let e = settings(yaml).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{yaml}: {e}");
    }
}

#[test]
fn bad_values_name_their_key() {
    for (yaml, key) in [
        (
            "actions:\n  pluginSources: [Catalog]\n",
            "actions.pluginSources[0]",
        ),
        (
            "backend:\n  actions:\n    pluginSources: [a/b]\n",
            "backend.actions.pluginSources[0]",
        ),
        (
            "actions:\n  refreshInterval: often\n",
            "actions.refreshInterval",
        ),
        ("actions:\n  toolNames: snake\n", "actions.toolNames"),
        (
            "mcpActions:\n  servers:\n    Bad_Key:\n      name: X\n",
            "mcpActions.servers.Bad_Key",
        ),
        (
            "mcpActions:\n  servers:\n    ok:\n      description: no name\n",
            "mcpActions.servers.ok.name",
        ),
        (
            "mcpActions:\n  servers:\n    ok:\n      name: Ok\n      filter:\n        include: ['catalog.*']\n",
            "mcpActions.servers.ok.filter.include[0]",
        ),
        (
            "backend:\n  actions:\n    filter:\n      exclude: [{id: '@(a|b)'}]\n",
            "backend.actions.filter.exclude[0]",
        ),
        (
            "mcpActions:\n  instructions: a\nserver:\n  instructions: b\n",
            "mcpActions.instructions",
        ),
    ] {
        let e = settings(yaml).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{yaml}: {e}");
    }
}

#[test]
fn defaults_bridge_nothing_and_serve_both_groups() {
    let s = settings("").expect("empty");
    assert!(s.actions.plugin_sources.is_empty());
    assert_eq!(s.actions.tool_names, NameStyle::Safe);
    assert!(s.actions.namespaced);
    assert!(s.servers.curated && s.servers.bridged);
    assert!(s.servers.named.is_empty());
}
