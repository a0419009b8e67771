//! The health of Backstage as a caller sees it: which plugins answer a cheap read, who
//! Backstage takes the caller's token for, and what to fix. `check_connection`, `/readyz`
//! and `stagedoor check` all ask here.

use std::collections::BTreeMap;
use std::time::Duration;

use backstage_client::{BackstageError, Probe};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::{ActionsState, ActionsStatus, Portal};

/// One plugin probe: plugin name, path, and query pairs of a cheap read.
pub type PluginProbe = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The plugins probed, each with a cheap read that shows the plugin answers.
pub const PLUGIN_PROBES: [PluginProbe; 4] = [
    (
        "catalog",
        "/api/catalog/entity-facets",
        &[("facet", "kind")],
    ),
    ("scaffolder", "/api/scaffolder/v2/actions", &[]),
    // No cheap listing exists; metadata of a missing entity answers a Backstage 404 error
    // body when TechDocs is installed, and an empty 404 when it is not.
    (
        "techdocs",
        "/api/techdocs/metadata/techdocs/default/component/stagedoor-probe",
        &[],
    ),
    (
        "search",
        "/api/search/query",
        &[
            ("term", "stagedoor-probe"),
            ("types[0]", "software-catalog"),
        ],
    ),
];

/// Probes one entry of [`PLUGIN_PROBES`].
pub async fn probe(portal: &Portal, index: usize) -> Result<Probe, BackstageError> {
    let (_, path, query) = PLUGIN_PROBES[index % PLUGIN_PROBES.len()];
    let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (*k, v.to_string())).collect();
    portal.probe(path, &query).await
}

/// How one plugin answered.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PluginStatus {
    /// Whether the plugin answered usefully.
    pub ok: bool,
    /// HTTP status, if an answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Round trip, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// What went wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Who Backstage sees behind the configured token.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `user`, `service` (a static external-access token), or `none` (no token).
    pub kind: String,
    /// The user entity ref or token subject, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Whether Backstage accepted the credentials (`None` when it could not be told).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
    /// Explanation.
    pub note: String,
}

/// Result of `check_connection`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    /// The Backstage base URL in use.
    pub base_url: String,
    /// Whether Backstage answered at all.
    pub reachable: bool,
    /// Round trip of the catalog probe, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The identity the token maps to.
    pub identity: Identity,
    /// Each probed plugin: catalog, scaffolder, techdocs, search.
    pub plugins: BTreeMap<String, PluginStatus>,
    /// The Actions Registry bridge: what the last listing of each plugin source found.
    /// Absent when no plugin source is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<ActionsStatus>,
    /// What to fix, most important first; empty when all is well.
    pub advice: Vec<String>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What the token says about itself, when it is a JWT (no verification: display only, and
/// for choosing whose tasks are "mine").
pub fn token_identity(token: Option<&str>) -> Identity {
    let Some(token) = token else {
        return Identity {
            kind: "none".into(),
            subject: None,
            accepted: None,
            note: "No token is configured; Backstage will refuse most requests. Set backstage.token or BACKSTAGE_TOKEN.".into(),
        };
    };
    let payload = token
        .split('.')
        .nth(1)
        .filter(|_| token.split('.').count() == 3)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    match payload {
        Some(claims) => {
            let sub = claims.get("sub").and_then(Value::as_str).map(str::to_string);
            let is_user = sub.as_deref().is_some_and(|s| s.starts_with("user:"));
            Identity {
                kind: if is_user { "user" } else { "service" }.into(),
                subject: sub,
                accepted: None,
                note: if is_user {
                    "A Backstage user token: calls run as this user and Backstage's permission policy applies. User tokens expire (typically after 1 hour).".into()
                } else {
                    "A JWT that is not a Backstage user token.".into()
                },
            }
        }
        None => Identity {
            kind: "service".into(),
            subject: None,
            accepted: None,
            note: "A static token: Backstage maps it to the service principal named in backend.auth.externalAccess (subject `external:<subject>`); permission policies treat it as a service.".into(),
        },
    }
}

fn status_of(name: &str, result: &Result<Probe, BackstageError>) -> PluginStatus {
    match result {
        Ok(p) => {
            let ok = match (name, p.status) {
                (_, 200..=299) => p.json_body,
                // An empty search index is still a search plugin that answers.
                ("search", 500) => p.error_name.as_deref() == Some("MissingIndexError"),
                ("techdocs", 404) => p.error_name.as_deref() == Some("NotFoundError"),
                _ => false,
            };
            let error = (!ok).then(|| match (&p.error_name, &p.error_message) {
                _ if p.is_success() => format!(
                    "answered {} but not with JSON: the base URL may point at the Backstage frontend or a login proxy instead of the backend",
                    p.status
                ),
                (Some(n), Some(m)) => format!("{} {n}: {m}", p.status),
                (None, Some(m)) => format!("{} {m}", p.status),
                _ => format!("HTTP {}", p.status),
            });
            let error = match (ok, name, p.error_name.as_deref()) {
                (true, "search", Some("MissingIndexError")) => Some(
                    "search index not built yet (Backstage builds it on a schedule after start)"
                        .into(),
                ),
                _ => error,
            };
            PluginStatus {
                ok,
                status: Some(p.status),
                latency_ms: Some(ms(p.latency)),
                error,
            }
        }
        Err(e) => PluginStatus {
            ok: false,
            status: None,
            latency_ms: None,
            error: Some(e.to_string()),
        },
    }
}

/// Probes Backstage through `portal` (as its caller) and explains what it found, with the
/// bridge's discovery report when something is bridged.
pub async fn diagnose(portal: &Portal, bridge: Option<&ActionsState>) -> Diagnosis {
    let probes =
        futures::future::join_all((0..PLUGIN_PROBES.len()).map(|i| probe(portal, i))).await;
    let mut plugins = BTreeMap::new();
    let mut advice = Vec::new();
    let base = portal
        .base_url()
        .map(|u| u.to_string())
        .unwrap_or_else(|| "(local catalog: no Backstage)".into());
    let mut identity = token_identity(portal.token());
    let catalog = &probes[0];
    let reachable = probes.iter().any(|p| p.is_ok());
    let latency_ms = catalog.as_ref().ok().map(|p| ms(p.latency));
    for ((name, _, _), result) in PLUGIN_PROBES.iter().zip(&probes) {
        plugins.insert((*name).to_string(), status_of(name, result));
    }
    if !reachable {
        let why = catalog
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        advice.push(format!(
            "Backstage at {base} is not reachable ({why}). Check that it is running, and that backstage.baseUrl / BACKSTAGE_BASE_URL is its backend URL."
        ));
    } else if let Ok(p) = catalog {
        match p.status {
            200..=299 if !p.json_body => {
                advice.push(format!(
                    "{base} answers, but not with Backstage's JSON API (the catalog returned a non-JSON {}). Point backstage.baseUrl / BACKSTAGE_BASE_URL at the Backstage backend, not the frontend or a login proxy.",
                    p.status
                ));
            }
            200..=299 => identity.accepted = Some(true),
            401 => {
                identity.accepted = Some(false);
                advice.push(match identity.kind.as_str() {
                    "none" => "Backstage requires a token: set backstage.token or BACKSTAGE_TOKEN to a static token from backend.auth.externalAccess, or a user token.".to_string(),
                    _ => "Backstage rejected the token (401). Check that it matches a static token in backend.auth.externalAccess, or that the user token has not expired.".to_string(),
                });
            }
            403 => {
                identity.accepted = Some(true);
                advice.push("The token is accepted but may not read the catalog (403); check the permission policy or the token's access restrictions.".into());
            }
            404 => advice.push(format!(
                "{base} answered, but /api/catalog was not found (404). The base URL must be the Backstage backend's root (without /api), not the frontend."
            )),
            s => advice.push(format!(
                "The catalog answered {s}; Backstage may be starting or unhealthy. Check its logs."
            )),
        }
    }
    if reachable {
        for (name, status) in &plugins {
            if name != "catalog" && !status.ok {
                let what = match status.status {
                    Some(404) => format!(
                        "the {name} plugin is not installed in this Backstage (404); tools that use it will fail"
                    ),
                    Some(401) => format!("the {name} plugin rejected the token (401)"),
                    _ => format!(
                        "the {name} plugin is not answering ({})",
                        status.error.clone().unwrap_or_default()
                    ),
                };
                advice.push(what);
            }
        }
    }
    let actions = bridge.and_then(ActionsState::status);
    if let Some(a) = &actions {
        for (source, s) in &a.sources {
            if let (false, Some(e)) = (s.ok, &s.error) {
                let stale = if s.stale {
                    format!(
                        " (still serving its {} actions from the last good listing)",
                        s.actions
                    )
                } else {
                    String::new()
                };
                advice.push(format!("actions source `{source}` failed: {e}{stale}"));
            }
        }
    }
    Diagnosis {
        base_url: base,
        reachable,
        latency_ms,
        identity,
        plugins,
        actions,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_of_tokens() {
        assert_eq!(token_identity(None).kind, "none");
        assert_eq!(token_identity(Some("static-secret")).kind, "service");
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"user:default/guest"}"#);
        let jwt = format!("e30.{payload}.sig");
        let id = token_identity(Some(&jwt));
        assert_eq!(id.kind, "user");
        assert_eq!(id.subject.as_deref(), Some("user:default/guest"));
    }
}
