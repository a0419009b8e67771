//! The TechDocs API: a site's metadata, its static files, and the sync endpoint that builds it.
//!
//! - `GET /api/techdocs/static/docs/:namespace/:kind/:name/<file>` serves the published
//!   site. The local publisher answers HTML as `Content-Type: text/plain` (an XSS guard), so
//!   files are read as text whatever their content type. Before the first build every file
//!   is a 404.
//! - `GET /api/techdocs/sync/:namespace/:kind/:name` builds the site when it is missing or
//!   stale. It answers a server-sent event stream: `log` events carry build log lines,
//!   `finish` ends it with `{"updated": bool}`, `error` ends it with the failure message.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use sse_stream::SseStream;
use tokio::time::Instant;

use crate::client::BackstageClient;
use crate::entity_ref::EntityRef;
use crate::error::BackstageError;

/// The metadata file every published TechDocs site carries.
pub const TECHDOCS_METADATA_FILE: &str = "techdocs_metadata.json";

/// `Accept` of the sync request.
const ACCEPT_EVENT_STREAM: &str = "text/event-stream";

/// `techdocs_metadata.json` of a published site. Every field is optional: sites published
/// by older tooling lack `files`, and `etag` only exists when the source had one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TechDocsMetadata {
    /// `site_name` from `mkdocs.yml`.
    #[serde(default)]
    pub site_name: Option<String>,
    /// `site_description` from `mkdocs.yml`.
    #[serde(default)]
    pub site_description: Option<String>,
    /// When the site was built, in milliseconds since the Unix epoch.
    #[serde(default, deserialize_with = "lenient_millis")]
    pub build_timestamp: Option<u64>,
    /// The source's etag at build time (used by Backstage to skip unchanged rebuilds).
    #[serde(default)]
    pub etag: Option<String>,
    /// Every published file, relative to the site root (e.g. `runbook/index.html`).
    #[serde(default)]
    pub files: Vec<String>,
}

/// Accepts an integer or a float (some publishers write `Date.now()` through a float).
fn lenient_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
    }))
}

/// How a sync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// `event: finish`. `updated` is true when this sync built and published the site,
    /// false when Backstage found it current (or checked it less than a minute ago).
    Finished {
        /// Whether the site was (re)built by this sync.
        updated: bool,
    },
    /// `event: error`: the build failed; Backstage's message.
    Failed {
        /// The failure as Backstage reported it.
        message: String,
    },
}

/// A chunk-reading failure of the sync stream.
#[derive(Debug, thiserror::Error)]
enum ChunkError {
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    #[error("the event stream exceeds the limit of {0} bytes (max_body_bytes)")]
    TooLarge(usize),
}

impl BackstageClient {
    /// The URL of a file of `entity`'s published site; `file` is a `/`-separated path
    /// relative to the site root (each part percent-encoded; empty, `.` and `..` parts are
    /// refused).
    fn techdocs_static_url(
        &self,
        entity: &EntityRef,
        file: &str,
    ) -> Result<url::Url, BackstageError> {
        let kind = entity.kind_lower();
        let mut segments = vec![
            "api",
            "techdocs",
            "static",
            "docs",
            entity.namespace.as_str(),
            kind.as_str(),
            entity.name.as_str(),
        ];
        segments.extend(file.split('/'));
        self.url_for_segments(&segments, &[])
    }

    /// `techdocs_metadata.json` of `entity`'s published site. A site that was never built
    /// is `BackstageError::Api { status: 404, .. }`.
    pub async fn techdocs_metadata(
        &self,
        entity: &EntityRef,
    ) -> Result<TechDocsMetadata, BackstageError> {
        let url = self.techdocs_static_url(entity, TECHDOCS_METADATA_FILE)?;
        let shown = url.to_string();
        let text = self.request_text(url).await?;
        serde_json::from_str(&text).map_err(|e| BackstageError::Decode {
            url: shown,
            message: format!("techdocs_metadata.json is not the JSON expected ({e})"),
        })
    }

    /// One file of `entity`'s published site as text (e.g. `runbook/index.html`), capped
    /// at `max_body_bytes`. A missing file is `BackstageError::Api { status: 404, .. }`.
    pub async fn techdocs_file(
        &self,
        entity: &EntityRef,
        file: &str,
    ) -> Result<String, BackstageError> {
        let url = self.techdocs_static_url(entity, file)?;
        self.request_text(url).await
    }

    /// Asks Backstage to build `entity`'s site if it is missing or stale, following the
    /// sync event stream until it finishes, fails, or `budget` runs out
    /// ([`BackstageError::Timeout`]; Backstage keeps building in the background). Each
    /// build log line is passed to `on_log` as it arrives. Never retried.
    pub async fn techdocs_sync<F>(
        &self,
        entity: &EntityRef,
        budget: Duration,
        mut on_log: F,
    ) -> Result<SyncOutcome, BackstageError>
    where
        F: FnMut(&str) + Send,
    {
        let kind = entity.kind_lower();
        let url = self.url_for_segments(
            &[
                "api",
                "techdocs",
                "sync",
                &entity.namespace,
                &kind,
                &entity.name,
            ],
            &[],
        )?;
        let deadline = Instant::now() + budget;
        let response = self
            .open_stream(&url, ACCEPT_EVENT_STREAM, deadline, budget)
            .await?;
        let cap = self.max_body_bytes();
        let chunks = stream::unfold(Some((response, 0usize)), move |state| async move {
            let (mut response, seen) = state?;
            match response.chunk().await {
                Ok(Some(bytes)) if seen + bytes.len() > cap => {
                    Some((Err(ChunkError::TooLarge(cap)), None))
                }
                Ok(Some(bytes)) => {
                    let seen = seen + bytes.len();
                    Some((Ok(bytes), Some((response, seen))))
                }
                Ok(None) => None,
                Err(e) => Some((Err(ChunkError::from(e)), None)),
            }
        });
        let mut events = std::pin::pin!(SseStream::from_bytes_stream(chunks));
        let shown = url.to_string();
        loop {
            let next = tokio::time::timeout_at(deadline, events.next())
                .await
                .map_err(|_| BackstageError::Timeout {
                    url: shown.clone(),
                    after: budget,
                })?;
            let event = match next {
                None => {
                    return Err(BackstageError::Decode {
                        url: shown,
                        message: "the sync event stream ended without a finish or error event"
                            .into(),
                    });
                }
                Some(Err(e)) => {
                    return Err(BackstageError::Decode {
                        url: shown,
                        message: format!("the sync event stream broke off: {e}"),
                    });
                }
                Some(Ok(event)) => event,
            };
            let data = event.data.as_deref().map(event_text).unwrap_or_default();
            match event.event.as_deref() {
                Some("log") => {
                    for line in data.lines().filter(|l| !l.trim().is_empty()) {
                        on_log(line);
                    }
                }
                Some("finish") => {
                    let updated = serde_json::from_str::<Value>(&data)
                        .ok()
                        .and_then(|v| v.get("updated").and_then(Value::as_bool))
                        .unwrap_or(false);
                    return Ok(SyncOutcome::Finished { updated });
                }
                Some("error") => return Ok(SyncOutcome::Failed { message: data }),
                _ => {} // comments, keep-alives and unknown events
            }
        }
    }
}

/// An event's data: Backstage JSON-encodes it, so a JSON string is unwrapped; anything
/// else (an object, or plain text) is kept as sent.
fn event_text(data: &str) -> String {
    match serde_json::from_str::<Value>(data) {
        Ok(Value::String(s)) => s,
        _ => data.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_lenient() {
        let m: TechDocsMetadata = serde_json::from_str(
            r#"{"site_name":"S","build_timestamp":1795244802255.0,"files":["index.html"],"extra":1}"#,
        )
        .unwrap_or_default();
        assert_eq!(m.site_name.as_deref(), Some("S"));
        assert_eq!(m.build_timestamp, Some(1_795_244_802_255));
        assert_eq!(m.files, vec!["index.html".to_string()]);
        let empty: TechDocsMetadata =
            serde_json::from_str("{}").unwrap_or_else(|_| TechDocsMetadata {
                site_name: Some("wrong".into()),
                ..Default::default()
            });
        assert_eq!(empty, TechDocsMetadata::default());
    }

    #[test]
    fn event_data_is_unwrapped_when_json_string() {
        assert_eq!(event_text(r#""INFO - built""#), "INFO - built");
        assert_eq!(event_text(r#"{"updated":true}"#), r#"{"updated":true}"#);
        assert_eq!(event_text("plain"), "plain");
    }
}
