//! The scaffolder API (`/api/scaffolder/v2`): template parameter schemas, tasks, their
//! events, cancellation and dry runs.
//!
//! Wire facts (scaffolder-backend 4.2, read from its router and measured on the testbed):
//! - `GET  /templates/:ns/:kind/:name/parameter-schema` → `{title, description, steps:
//!   [{title, description, schema}]}`; one step per entry of `spec.parameters`.
//! - `POST /tasks {templateRef, values, secrets?}` → `201 {id}`. Not idempotent: never retried.
//! - `GET  /tasks?createdBy=&status=&limit=&offset=&order=desc:created_at` →
//!   `{tasks: [{id, spec, status, createdAt, lastHeartbeatAt, createdBy?}], totalTasks}`.
//! - `GET  /tasks/:id/events?after=<event id>` is a **long poll**: it answers as soon as there
//!   are events newer than `after` (Backstage checks once a second), or `[]` after 30 s. With
//!   `after` set the `completion` event is always included again, so callers dedupe by id.
//! - `POST /tasks/:id/cancel` → `{status: "cancelled"}`; it records a `cancelled` event and
//!   the runner then stops the current step. Backstage 4.2 ends such a task as `failed`.
//! - `POST /dry-run {template, values, secrets?, directoryContents}` → `{log: [{body}],
//!   directoryContents: [{path, executable, base64Content}], output, steps}`.

use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::BackstageClient;
use crate::entity_ref::EntityRef;
use crate::error::BackstageError;

/// How long Backstage holds a task-events long poll open before answering `[]`.
pub const EVENTS_LONG_POLL: Duration = Duration::from_secs(30);

/// Task statuses Backstage knows; the last four are final.
pub const TASK_STATUSES: [&str; 6] = [
    "open",
    "processing",
    "completed",
    "failed",
    "cancelled",
    "skipped",
];

/// `true` for a status after which a task never changes again.
pub fn is_final_status(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled" | "skipped")
}

/// The parameter form of a template, one step per page of the form.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ParameterSchema {
    /// Template title (or name).
    #[serde(default)]
    pub title: String,
    /// Template description.
    #[serde(default)]
    pub description: Option<String>,
    /// One entry per element of `spec.parameters`.
    #[serde(default)]
    pub steps: Vec<ParameterStep>,
}

/// One page of a template's parameter form: a JSON Schema (draft 7) with `ui:*` keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ParameterStep {
    /// Page title.
    #[serde(default)]
    pub title: String,
    /// Page description.
    #[serde(default)]
    pub description: Option<String>,
    /// The JSON Schema of this page; the values object is validated against it as a whole.
    #[serde(default)]
    pub schema: Value,
}

/// One scaffolder task as `GET /tasks/:id` and the task list show it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Task id (a UUID).
    pub id: String,
    /// `open`, `processing`, `completed`, `failed`, `cancelled` or `skipped`.
    pub status: String,
    /// When the task was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// Last heartbeat of the worker running it.
    #[serde(default)]
    pub last_heartbeat_at: Option<String>,
    /// User entity ref of the creator; absent when a service token created it.
    #[serde(default)]
    pub created_by: Option<String>,
    /// The task spec: steps, output template, parameters, template info.
    #[serde(default)]
    pub spec: Value,
}

impl Task {
    /// The template the task was created from (`spec.templateInfo.entityRef`).
    pub fn template_ref(&self) -> Option<&str> {
        self.spec.pointer("/templateInfo/entityRef")?.as_str()
    }

    /// The template's title at creation time.
    pub fn template_title(&self) -> Option<&str> {
        self.spec
            .pointer("/templateInfo/entity/metadata/title")?
            .as_str()
    }
}

/// One page of `GET /tasks`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskList {
    /// The tasks of this page.
    pub tasks: Vec<Task>,
    /// How many tasks match in all.
    #[serde(default)]
    pub total_tasks: u64,
}

/// A `GET /tasks` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskListQuery {
    /// Only tasks created by this user entity ref.
    pub created_by: Option<String>,
    /// Only tasks in one of these statuses.
    pub status: Vec<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Tasks to skip.
    pub offset: Option<u32>,
    /// Newest first (`order=desc:created_at`) when true.
    pub newest_first: bool,
}

impl TaskListQuery {
    /// The query-string pairs, in wire order (pure).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(c) = &self.created_by {
            pairs.push(("createdBy", c.clone()));
        }
        for s in &self.status {
            pairs.push(("status", s.clone()));
        }
        if self.newest_first {
            pairs.push(("order", "desc:created_at".to_string()));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        if let Some(o) = self.offset {
            pairs.push(("offset", o.to_string()));
        }
        pairs
    }
}

/// One event of a task: a log line, a step status change, `cancelled`, or `completion`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvent {
    /// Event id, increasing (ids are shared by all tasks).
    pub id: u64,
    /// `log`, `cancelled`, `completion` or `recovered`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `{message, stepId?, status?}`; a completion also carries `output` or `error`.
    #[serde(default)]
    pub body: Value,
    /// When it happened.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A `POST /tasks` request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewTask {
    /// The template, `template:namespace/name`.
    pub template_ref: String,
    /// The parameter values.
    pub values: Map<String, Value>,
    /// Secrets for the template's steps (never logged, not stored with the task spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Map<String, Value>>,
}

/// One file of a dry run, in or out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunFile {
    /// Path relative to the workspace.
    pub path: String,
    /// File content, base64.
    pub base64_content: String,
    /// Executable bit (output only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
}

/// A `POST /dry-run` request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// The template entity (as the catalog serves it).
    pub template: Value,
    /// The parameter values.
    pub values: Map<String, Value>,
    /// Secrets for the steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Map<String, Value>>,
    /// Files the template reads relative to itself (none: Backstage gives no way to read a
    /// template's own directory).
    pub directory_contents: Vec<DryRunFile>,
}

/// The answer of `POST /dry-run`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResult {
    /// Log entries, each `{body: {message, stepId?, status?}}`.
    #[serde(default)]
    pub log: Vec<Value>,
    /// The files the steps produced.
    #[serde(default)]
    pub directory_contents: Vec<DryRunFile>,
    /// The rendered `spec.output`.
    #[serde(default)]
    pub output: Value,
    /// The steps, with ids and names filled in.
    #[serde(default)]
    pub steps: Vec<Value>,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

impl BackstageClient {
    /// `GET /api/scaffolder/v2/templates/:ns/:kind/:name/parameter-schema`. A missing
    /// template is a 404 `NotFoundError`.
    pub async fn template_parameter_schema(
        &self,
        template: &EntityRef,
    ) -> Result<ParameterSchema, BackstageError> {
        let segments = [
            "api",
            "scaffolder",
            "v2",
            "templates",
            &template.namespace,
            &template.kind,
            &template.name,
            "parameter-schema",
        ];
        self.scaffolder_json(Method::GET, &segments, &[], None, true)
            .await
    }

    /// `POST /api/scaffolder/v2/tasks`: starts a task and returns its id. Never retried: a
    /// retry after a lost answer could run the template twice.
    pub async fn create_task(&self, task: &NewTask) -> Result<String, BackstageError> {
        let body = to_body(task)?;
        let created: Created = self
            .scaffolder_json(
                Method::POST,
                &["api", "scaffolder", "v2", "tasks"],
                &[],
                Some(body),
                false,
            )
            .await?;
        Ok(created.id)
    }

    /// `GET /api/scaffolder/v2/tasks/:id`.
    pub async fn get_task(&self, id: &str) -> Result<Task, BackstageError> {
        self.scaffolder_json(
            Method::GET,
            &["api", "scaffolder", "v2", "tasks", id],
            &[],
            None,
            true,
        )
        .await
    }

    /// `GET /api/scaffolder/v2/tasks` with [`TaskListQuery::query_pairs`].
    pub async fn list_tasks(&self, q: &TaskListQuery) -> Result<TaskList, BackstageError> {
        self.scaffolder_json(
            Method::GET,
            &["api", "scaffolder", "v2", "tasks"],
            &q.query_pairs(),
            None,
            true,
        )
        .await
    }

    /// `GET /api/scaffolder/v2/tasks/:id/events?after=`: events newer than `after` (all when
    /// `None`), waiting at most `wait` for the first one. Backstage holds the request open
    /// until there is news (up to [`EVENTS_LONG_POLL`]); when `wait` runs out first the
    /// answer is an empty list, not an error. Events come sorted by id and deduplicated
    /// against `after` (Backstage repeats the completion event on every poll).
    pub async fn task_events(
        &self,
        id: &str,
        after: Option<u64>,
        wait: Duration,
    ) -> Result<Vec<TaskEvent>, BackstageError> {
        let query: Vec<(&str, String)> = after
            .map(|a| vec![("after", a.to_string())])
            .unwrap_or_default();
        let result: Result<Vec<TaskEvent>, BackstageError> = self
            .with_timeout(wait)
            .scaffolder_json(
                Method::GET,
                &["api", "scaffolder", "v2", "tasks", id, "events"],
                &query,
                None,
                true,
            )
            .await;
        match result {
            Ok(mut events) => {
                events.retain(|e| after.is_none_or(|a| e.id > a));
                events.sort_by_key(|e| e.id);
                events.dedup_by_key(|e| e.id);
                Ok(events)
            }
            Err(BackstageError::Timeout { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `POST /api/scaffolder/v2/tasks/:id/cancel`. Cancelling twice has the same effect as
    /// once, so it may be retried on a connection failure.
    pub async fn cancel_task(&self, id: &str) -> Result<(), BackstageError> {
        let _: Value = self
            .scaffolder_json(
                Method::POST,
                &["api", "scaffolder", "v2", "tasks", id, "cancel"],
                &[],
                Some(b"{}".to_vec()),
                true,
            )
            .await?;
        Ok(())
    }

    /// `POST /api/scaffolder/v2/dry-run`: runs the template's steps in dry-run mode (actions
    /// that support it only pretend). Not retried: it runs code on Backstage.
    pub async fn dry_run(&self, request: &DryRun) -> Result<DryRunResult, BackstageError> {
        let body = to_body(request)?;
        self.scaffolder_json(
            Method::POST,
            &["api", "scaffolder", "v2", "dry-run"],
            &[],
            Some(body),
            false,
        )
        .await
    }

    /// One request to percent-encoded `segments`, decoded into `T`.
    async fn scaffolder_json<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        idempotent: bool,
    ) -> Result<T, BackstageError> {
        let url = self.url_for_segments(segments, query)?;
        let shown = url.to_string();
        let value = self.request_json(method, url, body, idempotent).await?;
        serde_json::from_value(value).map_err(|e| BackstageError::Decode {
            url: shown,
            message: format!("unexpected JSON shape: {e}"),
        })
    }
}

fn to_body<T: Serialize>(value: &T) -> Result<Vec<u8>, BackstageError> {
    serde_json::to_vec(value)
        .map_err(|e| BackstageError::Config(format!("request body is not serializable: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn task_list_query_pairs() {
        let q = TaskListQuery {
            created_by: Some("user:default/guest".into()),
            status: vec!["failed".into(), "completed".into()],
            limit: Some(5),
            offset: Some(10),
            newest_first: true,
        };
        assert_eq!(
            q.query_pairs(),
            vec![
                ("createdBy", "user:default/guest".to_string()),
                ("status", "failed".to_string()),
                ("status", "completed".to_string()),
                ("order", "desc:created_at".to_string()),
                ("limit", "5".to_string()),
                ("offset", "10".to_string()),
            ]
        );
        assert!(TaskListQuery::default().query_pairs().is_empty());
    }

    #[test]
    fn task_decodes_the_wire_shape() {
        let t: Task = serde_json::from_value(json!({
            "id": "9f25", "status": "completed", "createdAt": "2026-01-01T00:00:00.000Z",
            "spec": {"templateInfo": {"entityRef": "template:default/hello-world",
                     "entity": {"metadata": {"title": "Hello"}}}}
        }))
        .expect("task decodes");
        assert_eq!(t.template_ref(), Some("template:default/hello-world"));
        assert_eq!(t.template_title(), Some("Hello"));
        assert_eq!(t.created_by, None);
        assert!(is_final_status(&t.status));
        assert!(!is_final_status("processing"));
    }

    #[test]
    fn new_task_omits_absent_secrets() {
        let body = serde_json::to_value(NewTask {
            template_ref: "template:default/x".into(),
            values: Map::new(),
            secrets: None,
        })
        .expect("serializes");
        assert_eq!(
            body,
            json!({"templateRef": "template:default/x", "values": {}})
        );
    }
}
