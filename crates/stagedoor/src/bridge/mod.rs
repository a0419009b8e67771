//! The Actions Registry bridge: every action of the configured Backstage plugins, as tools.
//!
//! Discovery lists `GET /api/<plugin>/.backstage/actions/v1/actions` for every source
//! concurrently, names the actions ([`naming`]), compiles their input schemas once
//! ([`tool`]) and publishes the combined list on a watch channel. A background task lists
//! again every `actions.refreshInterval`; a call never lists (the official plugin re-lists
//! every source on every call). Subscribers (the MCP layer) are told when the list changed.
//!
//! Discovery lists with stagedoor's own credentials (the configured service token); a call
//! invokes through the caller's portal ([`ToolCtx::portal`]: a signed-in user's own token,
//! the configured token for static-token callers), so Backstage's permissions apply to
//! whoever calls. What discovery learned ([`ActionsState`]) belongs to the bridge and is
//! the same for every caller.
//!
//! A failing source is logged and reported (`check_connection`, `stagedoor check`) and
//! never hides the others. After a transient failure the actions of its last good listing
//! stay served (marked stale); a source that answers "no such route" (404, the plugin is
//! not installed or the id is wrong) contributes nothing.

pub mod naming;
pub mod tool;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backstage_client::{Action, BackstageError, is_missing_route};
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use naming::Naming;
pub use tool::BridgedTool;

use crate::config::actions::ActionsSettings;
use crate::portal::{ActionSourceStatus, ActionsState, ActionsStatus, Portal};
use crate::tool::{ToolCtx, ToolError, ToolOutcome};

/// The discovered actions at one point in time.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Bumped whenever the served actions change (not on a mere re-listing).
    pub generation: u64,
    /// True once every source has been listed once (successfully or not).
    pub listed: bool,
    /// Every discovered action, in source order then the plugin's order.
    pub tools: Vec<Arc<BridgedTool>>,
}

/// The bridge. Cheap to share (`Arc`).
pub struct Bridge {
    /// The portal discovery lists through (stagedoor's own credentials); never used to
    /// invoke an action for a caller.
    portal: Arc<Portal>,
    /// The discovery report and the invoke versions learned, for every caller.
    actions: Arc<ActionsState>,
    sources: Vec<String>,
    naming: Naming,
    refresh_interval: Duration,
    reserved: HashSet<String>,
    state: watch::Sender<Arc<Discovery>>,
    /// Per source: the actions of its last good listing.
    last_good: tokio::sync::Mutex<HashMap<String, Vec<Action>>>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("sources", &self.sources)
            .field("naming", &self.naming)
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// A bridge over `settings.plugin_sources`. `reserved` are names taken by curated
    /// tools. Nothing is listed until [`Bridge::refresh`] or [`Bridge::spawn`].
    pub fn new(
        portal: Arc<Portal>,
        settings: &ActionsSettings,
        reserved: HashSet<String>,
    ) -> Arc<Self> {
        let (state, _) = watch::channel(Arc::new(Discovery::default()));
        let bridge = Arc::new(Self {
            portal,
            actions: Arc::default(),
            sources: settings.plugin_sources.clone(),
            naming: Naming {
                style: settings.tool_names,
                namespaced: settings.namespaced,
            },
            refresh_interval: settings.refresh_interval,
            reserved,
            state,
            last_good: tokio::sync::Mutex::default(),
        });
        bridge.actions.set_status(ActionsStatus {
            listed: false,
            actions: 0,
            sources: bridge
                .sources
                .iter()
                .map(|s| {
                    (
                        s.clone(),
                        ActionSourceStatus {
                            ok: false,
                            actions: 0,
                            latency_ms: None,
                            error: Some("not listed yet".into()),
                            stale: false,
                            skipped: Vec::new(),
                            invoke_api: None,
                        },
                    )
                })
                .collect(),
        });
        bridge
    }

    /// What discovery learned (the report `check_connection` shows, the invoke versions).
    pub fn actions(&self) -> &Arc<ActionsState> {
        &self.actions
    }

    /// The current discovery.
    pub fn current(&self) -> Arc<Discovery> {
        self.state.borrow().clone()
    }

    /// A receiver that sees every published discovery.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Discovery>> {
        self.state.subscribe()
    }

    /// Waits (at most `timeout`) until every source has been listed once.
    pub async fn wait_listed(&self, timeout: Duration) {
        let mut rx = self.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|d| d.listed)).await;
    }

    /// Lists now, then again every refresh interval until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) {
        let bridge = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                bridge.refresh().await;
                if bridge.refresh_interval.is_zero() {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(bridge.refresh_interval) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }

    /// Lists every source concurrently and publishes the result if anything changed.
    /// Returns the new discovery.
    pub async fn refresh(&self) -> Arc<Discovery> {
        let listings = futures::future::join_all(self.sources.iter().map(|s| async move {
            let started = Instant::now();
            let r = self.portal.list_actions(s).await;
            (s.as_str(), r, started.elapsed())
        }))
        .await;
        let mut last_good = self.last_good.lock().await;
        let mut statuses: BTreeMap<String, ActionSourceStatus> = BTreeMap::new();
        let mut combined: Vec<(Action, &str)> = Vec::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        for (source, result, latency) in listings {
            let mut status = ActionSourceStatus {
                ok: true,
                actions: 0,
                latency_ms: Some(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
                error: None,
                stale: false,
                skipped: Vec::new(),
                invoke_api: None,
            };
            let actions = match result {
                Ok(list) => {
                    for s in &list.skipped {
                        tracing::warn!(source, "skipping a malformed action: {s}");
                    }
                    status.skipped = list.skipped;
                    last_good.insert(source.to_owned(), list.actions.clone());
                    list.actions
                }
                Err(e) => {
                    let why = source_error(source, &e);
                    tracing::warn!(source, error = %e, "failed to list actions: {why}");
                    status.ok = false;
                    status.error = Some(why);
                    if is_missing_route(&e) {
                        last_good.remove(source);
                        Vec::new()
                    } else {
                        let kept = last_good.get(source).cloned().unwrap_or_default();
                        status.stale = !kept.is_empty();
                        kept
                    }
                }
            };
            for a in actions {
                if !seen_ids.insert(a.id.clone()) {
                    status
                        .skipped
                        .push(format!("{}: listed by another source too", a.id));
                    continue;
                }
                combined.push((a, source));
            }
            statuses.insert(source.to_owned(), status);
        }
        drop(last_good);

        let triples: Vec<(&str, &str, &str)> = combined
            .iter()
            .map(|(a, source)| {
                let plugin = if a.plugin_id.is_empty() {
                    *source
                } else {
                    a.plugin_id.as_str()
                };
                (a.id.as_str(), plugin, a.name.as_str())
            })
            .collect();
        let names = self.naming.assign(&triples, &self.reserved);
        // Descriptions name other actions as the official plugin serves them; name them
        // as this server does.
        let references = naming::References::new(
            triples
                .iter()
                .zip(&names)
                .map(|((_, plugin, action), name)| (*plugin, *action, name.as_str())),
        );
        let previous = self.current();
        let reuse: HashMap<&str, &Arc<BridgedTool>> =
            previous.tools.iter().map(|t| (t.id(), t)).collect();
        let mut tools: Vec<Arc<BridgedTool>> = Vec::with_capacity(combined.len());
        for ((mut action, source), name) in combined.into_iter().zip(names) {
            action.description = references.rewrite(&action.description);
            if let Some(old) = reuse.get(action.id.as_str())
                && old.action == action
                && old.name == name
            {
                tools.push(Arc::clone(old));
                if let Some(s) = statuses.get_mut(source) {
                    s.actions += 1;
                }
                continue;
            }
            let id = action.id.clone();
            match BridgedTool::new(action, name, source) {
                Ok(t) => {
                    tools.push(Arc::new(t));
                    if let Some(s) = statuses.get_mut(source) {
                        s.actions += 1;
                    }
                }
                Err(why) => {
                    tracing::warn!(source, action = %id, "not serving the action: {why}");
                    if let Some(s) = statuses.get_mut(source) {
                        s.skipped.push(format!("{id}: {why}"));
                    }
                }
            }
        }
        let changed = tools.len() != previous.tools.len()
            || tools
                .iter()
                .zip(&previous.tools)
                .any(|(a, b)| !Arc::ptr_eq(a, b));
        self.actions.set_status(ActionsStatus {
            listed: true,
            actions: tools.len(),
            sources: statuses,
        });
        if !changed && previous.listed {
            return previous;
        }
        let next = Arc::new(Discovery {
            generation: previous.generation + u64::from(changed),
            listed: true,
            tools,
        });
        if changed {
            tracing::info!(
                generation = next.generation,
                actions = next.tools.len(),
                "bridged action list changed"
            );
        }
        self.state.send_replace(Arc::clone(&next));
        next
    }

    /// Validates the arguments locally, then invokes the action as the caller (through
    /// `ctx.portal`). Validation failures never reach Backstage; Backstage's own errors come
    /// back as `"<ErrorName>: <message>"`.
    pub async fn call(
        &self,
        tool: &BridgedTool,
        args: Map<String, Value>,
        ctx: &ToolCtx,
    ) -> ToolOutcome {
        tool.validate(&args)?;
        let invoke = ctx.portal.invoke_action(
            &self.actions,
            &tool.plugin,
            tool.id(),
            &args,
            tool.retry_safe(),
        );
        let result = tokio::select! {
            r = invoke => r,
            () = ctx.call.cancel.cancelled() => {
                return Err(ToolError::invalid(format!("The call to {} was cancelled.", tool.id())));
            }
        };
        result.map_err(|e| tool::invoke_error(tool, &e))
    }
}

/// What a failed listing means, and what to check.
fn source_error(source: &str, e: &BackstageError) -> String {
    match e {
        e if is_missing_route(e) => format!(
            "{source} has no actions API (404): the plugin id is wrong, the plugin is not installed, or this Backstage predates the Actions Registry; check actions.pluginSources / backend.actions.pluginSources"
        ),
        BackstageError::Api { status: 401, .. } => format!(
            "{source} rejected the credentials (401); check backstage.token / BACKSTAGE_TOKEN (a static token's accessRestrictions must list `{source}`)"
        ),
        BackstageError::Api { status: 403, .. } => format!(
            "{source} refused to list its actions (403); the token's identity lacks access to this plugin"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
