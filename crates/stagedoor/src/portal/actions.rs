//! The Actions Registry as the portal sees it: listing a plugin's actions, invoking one
//! through v2 with a remembered fallback to v1, and the last discovery report that
//! `check_connection` and `stagedoor check` show.

use std::collections::BTreeMap;
use std::sync::Arc;

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

impl Portal {
    /// `GET /api/<plugin>/.backstage/actions/v1/actions`. Never cached here: the bridge keeps
    /// the combined list and refreshes it on its own schedule.
    pub async fn list_actions(&self, plugin: &str) -> Result<ActionList, BackstageError> {
        self.client()?.list_actions(plugin).await
    }

    /// Invokes action `id` owned by `plugin` and returns its output. Uses v2 (`{input}`)
    /// unless this plugin is known to serve only v1; when v2 is a missing route (404/405
    /// without a Backstage error body) it falls back to v1 (raw input) and remembers which
    /// version the plugin answered, so later calls make one request.
    pub async fn invoke_action(
        &self,
        plugin: &str,
        id: &str,
        input: &Map<String, Value>,
        retry: bool,
    ) -> Result<Value, BackstageError> {
        let known = self.invoke_version(plugin);
        if let Some(v) = known {
            return self
                .client()?
                .invoke_action(plugin, id, v, input, None, retry)
                .await;
        }
        let v2 = self
            .client()?
            .invoke_action(plugin, id, InvokeVersion::V2, input, None, retry)
            .await;
        match v2 {
            Err(e) if is_missing_route(&e) => {
                let v1 = self
                    .client()?
                    .invoke_action(plugin, id, InvokeVersion::V1, input, None, retry)
                    .await;
                if answered(&v1) {
                    tracing::info!(
                        plugin,
                        "the actions API of this plugin has no v2 invoke endpoint; using v1"
                    );
                    self.remember_invoke_version(plugin, InvokeVersion::V1);
                }
                v1
            }
            other => {
                if answered(&other) {
                    self.remember_invoke_version(plugin, InvokeVersion::V2);
                }
                other
            }
        }
    }

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

    /// Records the bridge's latest discovery state.
    pub fn set_actions_status(&self, status: ActionsStatus) {
        if let Ok(mut s) = self.actions_status.write() {
            *s = Some(Arc::new(status));
        }
    }

    /// The bridge's latest discovery state (`None` when no plugin source is configured),
    /// with the invoke version learned since.
    pub fn actions_status(&self) -> Option<ActionsStatus> {
        let status = self.actions_status.read().ok()?.clone()?;
        let mut status = (*status).clone();
        for (plugin, s) in &mut status.sources {
            s.invoke_api = self.invoke_version(plugin).map(|v| v.as_str().to_owned());
        }
        Some(status)
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
