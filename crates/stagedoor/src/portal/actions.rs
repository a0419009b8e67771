//! The Actions Registry as the portal sees it: listing a plugin's actions, invoking one
//! through v2 with a remembered fallback to v1, and the shape of the discovery report that
//! `check_connection` and `stagedoor check` show.
//!
//! The state (the report and the invoke versions learned) is [`ActionsState`], owned by the
//! bridge: one per process, whoever calls. A portal is per caller (a user's portal carries
//! the user's token), so it only carries requests and never keeps bridge state.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use backstage_client::{ActionList, BackstageError, InvokeVersion, is_missing_route};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::Portal;

/// What discovery last saw of one plugin source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionSourceStatus {
    /// Whether the last listing succeeded.
    pub ok: bool,
    /// Actions served from this source (from the last good listing).
    pub actions: usize,
    /// Round trip of the last listing, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Why the last listing failed, and what to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when the listing failed and the actions of an earlier good listing are served.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
    /// Actions listed but not served, each with the reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// The invoke API version in use (`v2`, or `v1` on older backends), once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoke_api: Option<String>,
}

/// The bridge's discovery state, for diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionsStatus {
    /// False until the first listing of every source has finished.
    pub listed: bool,
    /// Actions discovered across all sources (before server filters).
    pub actions: usize,
    /// Each configured plugin source.
    pub sources: BTreeMap<String, ActionSourceStatus>,
}

/// What the bridge knows about the Actions Registry: its latest discovery report and, per
/// plugin, the invoke API version known to answer. Owned by the bridge and shared (`Arc`)
/// with every call, so each caller's `check_connection` shows the same report.
#[derive(Debug, Default)]
pub struct ActionsState {
    /// Per plugin: the actions invoke API version known to answer.
    invoke_versions: RwLock<HashMap<String, InvokeVersion>>,
    /// The bridge's latest discovery report.
    status: RwLock<Option<ActionsStatus>>,
}

impl ActionsState {
    /// The invoke version known to work for `plugin`, if any.
    pub fn invoke_version(&self, plugin: &str) -> Option<InvokeVersion> {
        self.invoke_versions
            .read()
            .ok()
            .and_then(|m| m.get(plugin).copied())
    }

    fn remember_invoke_version(&self, plugin: &str, v: InvokeVersion) {
        if let Ok(mut m) = self.invoke_versions.write() {
            m.insert(plugin.to_owned(), v);
        }
    }

    /// Records the bridge's latest discovery report.
    pub fn set_status(&self, status: ActionsStatus) {
        if let Ok(mut s) = self.status.write() {
            *s = Some(status);
        }
    }

    /// The latest discovery report (`None` before the bridge recorded one), with the invoke
    /// versions learned since.
    pub fn status(&self) -> Option<ActionsStatus> {
        let mut status = self.status.read().ok()?.clone()?;
        for (plugin, s) in &mut status.sources {
            s.invoke_api = self.invoke_version(plugin).map(|v| v.as_str().to_owned());
        }
        Some(status)
    }
}

impl Portal {
    /// `GET /api/<plugin>/.backstage/actions/v1/actions`. Never cached here: the bridge keeps
    /// the combined list and refreshes it on its own schedule.
    pub async fn list_actions(&self, plugin: &str) -> Result<ActionList, BackstageError> {
        self.client()?.list_actions(plugin).await
    }

    /// Invokes action `id` owned by `plugin` with this portal's credentials and returns its
    /// output. Uses v2 (`{input}`) unless `state` knows this plugin serves only v1; when v2 is
    /// a missing route (404/405 without a Backstage error body) it falls back to v1 (raw
    /// input) and records in `state` which version the plugin answered, so later calls (by
    /// anyone) make one request.
    pub async fn invoke_action(
        &self,
        state: &ActionsState,
        plugin: &str,
        id: &str,
        input: &Map<String, Value>,
        retry: bool,
    ) -> Result<Value, BackstageError> {
        let client = self.client()?;
        if let Some(v) = state.invoke_version(plugin) {
            return client
                .invoke_action(plugin, id, v, input, None, retry)
                .await;
        }
        let v2 = client
            .invoke_action(plugin, id, InvokeVersion::V2, input, None, retry)
            .await;
        match v2 {
            Err(e) if is_missing_route(&e) => {
                let v1 = client
                    .invoke_action(plugin, id, InvokeVersion::V1, input, None, retry)
                    .await;
                if answered(&v1) {
                    tracing::info!(
                        plugin,
                        "the actions API of this plugin has no v2 invoke endpoint; using v1"
                    );
                    state.remember_invoke_version(plugin, InvokeVersion::V1);
                }
                v1
            }
            other => {
                if answered(&other) {
                    state.remember_invoke_version(plugin, InvokeVersion::V2);
                }
                other
            }
        }
    }
}

/// Whether the plugin's actions API answered (a result, or a Backstage error body): only
/// then is the version it answered on worth remembering.
fn answered(r: &Result<Value, BackstageError>) -> bool {
    match r {
        Ok(_) => true,
        Err(e @ BackstageError::Api { .. }) => !is_missing_route(e),
        Err(_) => false,
    }
}
