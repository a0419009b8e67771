//! `list_tasks`, `get_task_status` and `cancel_task`.

use std::time::Duration;

use backstage_client::{TASK_STATUSES, TaskListQuery, is_final_status};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::report::{self, LogLine, TaskReport};
use super::{task_error, task_id};
use crate::portal::health::token_identity;
use crate::tool::{CuratedTool, Needs};
use crate::tools::{Attributes, ToolCtx, ToolError};

/// Name of the task listing.
pub const LIST: &str = "list_tasks";
/// Name of the status tool.
pub const STATUS: &str = "get_task_status";
/// Name of the cancel tool.
pub const CANCEL: &str = "cancel_task";

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;
const DEFAULT_EVENTS: usize = 50;
const MAX_EVENTS: usize = 500;
/// How long a status read waits for a task that has logged nothing yet.
const EVENTS_PEEK: Duration = Duration::from_secs(2);
/// How long cancel_task watches for the task to stop.
const CANCEL_SETTLE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- list_tasks

/// Arguments of `list_tasks`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListParams {
    /// Only tasks in these statuses: open, processing, completed, failed, cancelled, skipped.
    pub status: Option<Vec<String>>,
    /// Only tasks started by the user behind stagedoor's token (needs a user token; a static
    /// token is a service and sees every task it may read).
    pub owned: Option<bool>,
    /// Only tasks started by this user, e.g. `user:default/jane`.
    pub created_by: Option<String>,
    /// Page size, 1 to 100 (default 20). Newest first.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// `nextCursor` of a previous page; the other filters are carried by it.
    pub cursor: Option<String>,
}

/// One task, compact.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSummary {
    /// Task id, for get_task_status and cancel_task.
    pub task_id: String,
    /// Status.
    pub status: String,
    /// The template it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<String>,
    /// The template's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_title: Option<String>,
    /// Who started it (absent when a service token did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Last heartbeat of the worker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_at: Option<String>,
}

/// Result of `list_tasks`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListOutput {
    /// Tasks, newest first.
    pub items: Vec<TaskSummary>,
    /// How many match in all.
    pub total_tasks: u64,
    /// The `createdBy` filter applied, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The continuation of a task listing: offset plus the filters of the first page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TaskCursor {
    v: u8,
    o: u32,
    l: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    s: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

impl TaskCursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(s: &str) -> Result<Self, ToolError> {
        let bad = || {
            ToolError::invalid(
                "The cursor is not one list_tasks issued (or it was altered). Call list_tasks without `cursor` to start over.",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
        let c: TaskCursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if c.v != 2 {
            return Err(bad());
        }
        Ok(c)
    }
}

/// The `list_tasks` tool.
pub struct ListTasks;

impl CuratedTool for ListTasks {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = LIST;
    const TITLE: &'static str = "List scaffolder tasks";
    const DESCRIPTION: &'static str = "List scaffolder tasks (template runs), newest first, filtered by status and by who started them (`owned: true` for the user behind a user token). Returns each task's id, status, template and creation time, with a cursor for the next page. Use get_task_status on a task id for steps, output and logs.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::Backstage;
    type Params = ListParams;
    type Output = ListOutput;

    async fn run(ctx: ToolCtx, p: ListParams) -> Result<ListOutput, ToolError> {
        list(ctx, p).await
    }
}

fn statuses(input: &[String]) -> Result<Vec<String>, ToolError> {
    input
        .iter()
        .map(|s| {
            let s = s.trim().to_ascii_lowercase();
            if TASK_STATUSES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(ToolError::invalid(format!(
                    "unknown task status `{s}`; use one of {}",
                    TASK_STATUSES.join(", ")
                )))
            }
        })
        .collect()
}

pub(crate) async fn list(ctx: ToolCtx, p: ListParams) -> Result<ListOutput, ToolError> {
    let cursor = match p.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => TaskCursor::decode(c)?,
        None => {
            let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
            if !(1..=MAX_LIMIT).contains(&limit) {
                return Err(ToolError::invalid(format!(
                    "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
                )));
            }
            let mut created_by = p
                .created_by
                .as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            if p.owned == Some(true) {
                let me = token_identity(ctx.portal.token());
                match (me.kind.as_str(), me.subject) {
                    ("user", Some(sub)) => {
                        if created_by.as_ref().is_some_and(|c| *c != sub) {
                            return Err(ToolError::invalid(format!(
                                "`owned: true` means tasks created by {sub}, which contradicts `createdBy`; give one of them"
                            )));
                        }
                        created_by = Some(sub);
                    }
                    _ => {
                        return Err(ToolError::invalid(
                            "`owned: true` needs a Backstage user token: stagedoor's token is a service token (a static external-access token), which has no tasks of its own. Drop `owned` to see every task, or filter with `createdBy: \"user:default/<name>\"`.",
                        ));
                    }
                }
            }
            TaskCursor {
                v: 2,
                o: 0,
                l: limit,
                s: statuses(p.status.as_deref().unwrap_or_default())?,
                c: created_by,
            }
        }
    };
    let limit = p.limit.unwrap_or(cursor.l);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let page = ctx
        .portal
        .tasks(&TaskListQuery {
            created_by: cursor.c.clone(),
            status: cursor.s.clone(),
            limit: Some(limit),
            offset: Some(cursor.o),
            newest_first: true,
        })
        .await
        .map_err(|e| ToolError::backstage("listing scaffolder tasks", &e))?;
    let seen = u64::from(cursor.o) + page.tasks.len() as u64;
    let next_cursor = (!page.tasks.is_empty() && seen < page.total_tasks).then(|| {
        TaskCursor {
            o: u32::try_from(seen).unwrap_or(u32::MAX),
            l: limit,
            ..cursor.clone()
        }
        .encode()
    });
    let items = page
        .tasks
        .iter()
        .map(|t| TaskSummary {
            task_id: t.id.clone(),
            status: t.status.clone(),
            template_ref: t.template_ref().map(str::to_string),
            template_title: t.template_title().map(str::to_string),
            created_by: t.created_by.clone(),
            created_at: t.created_at.clone(),
            last_heartbeat_at: t.last_heartbeat_at.clone(),
        })
        .collect();
    Ok(ListOutput {
        items,
        total_tasks: page.total_tasks,
        created_by: cursor.c,
        next_cursor,
    })
}

// ---------------------------------------------------------------- get_task_status

/// Arguments of `get_task_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusParams {
    /// The task id (from run_template or list_tasks).
    pub task_id: String,
    /// Only log lines after this event id (the `lastEventId` or `moreAfter` of a previous
    /// answer), oldest first. Without it, the latest lines are returned.
    pub after: Option<u64>,
    /// Most log lines returned, 0 to 500 (default 50).
    #[schemars(range(min = 0, max = 500))]
    pub max_events: Option<usize>,
}

/// Result of `get_task_status`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusOutput {
    /// The task's state: status, steps, output, error.
    #[serde(flatten)]
    pub task: TaskReport,
    /// Log lines (colour codes stripped): after `after`, or the latest ones.
    pub log: Vec<LogLine>,
    /// More lines exist after the last one returned: pass this as `after` to read on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more_after: Option<u64>,
    /// How many earlier lines were left out (when `after` was not given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub earlier_omitted: Option<usize>,
}

/// The `get_task_status` tool.
pub struct GetTaskStatus;

impl CuratedTool for GetTaskStatus {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = STATUS;
    const TITLE: &'static str = "Get a scaffolder task's status";
    const DESCRIPTION: &'static str = "Get the state of a scaffolder task: its status, every step with its status, the rendered output (links, text) once done, the error if it failed, and its log lines without colour codes — the latest ones, or those after an event id (`after`) to follow a running task. Bounded by maxEvents.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::Backstage;
    type Params = StatusParams;
    type Output = StatusOutput;

    async fn run(ctx: ToolCtx, p: StatusParams) -> Result<StatusOutput, ToolError> {
        status(ctx, p).await
    }
}

pub(crate) async fn status(ctx: ToolCtx, p: StatusParams) -> Result<StatusOutput, ToolError> {
    let id = task_id(&p.task_id)?;
    let max = p.max_events.unwrap_or(DEFAULT_EVENTS);
    if max > MAX_EVENTS {
        return Err(ToolError::invalid(format!(
            "`maxEvents` must be between 0 and {MAX_EVENTS}, got {max}"
        )));
    }
    let task = ctx
        .portal
        .task(&id)
        .await
        .map_err(|e| task_error(&id, "reading", &e))?;
    // All events (for step statuses); Backstage answers at once when there are any, and a
    // task that has logged nothing yet is only waited on briefly.
    let events = ctx
        .portal
        .task_events(&id, None, EVENTS_PEEK)
        .await
        .map_err(|e| task_error(&id, "reading the events of", &e))?;
    let report = report::build(&task, &events);
    let lines = report::log_lines(&events);
    let (log, more_after, earlier_omitted) = match p.after {
        Some(after) => {
            let newer: Vec<LogLine> = lines.into_iter().filter(|l| l.id > after).collect();
            let more = newer.len() > max;
            let page: Vec<LogLine> = newer.into_iter().take(max).collect();
            let more_after = if more {
                page.last().map(|l| l.id)
            } else {
                None
            };
            (page, more_after, None)
        }
        None => {
            let skip = lines.len().saturating_sub(max);
            let page: Vec<LogLine> = lines.into_iter().skip(skip).collect();
            (page, None, (skip > 0).then_some(skip))
        }
    };
    Ok(StatusOutput {
        task: report,
        log,
        more_after,
        earlier_omitted,
    })
}

// ---------------------------------------------------------------- cancel_task

/// Arguments of `cancel_task`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelParams {
    /// The task id (from run_template or list_tasks).
    pub task_id: String,
}

/// Result of `cancel_task`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelOutput {
    /// Task id.
    pub task_id: String,
    /// True when stagedoor asked Backstage to cancel (false: the task had already ended).
    pub cancel_requested: bool,
    /// The status after the request (a cancelled task usually ends as `failed`).
    pub status: String,
    /// True once the task has stopped.
    pub finished: bool,
    /// What happened.
    pub message: String,
}

/// The `cancel_task` tool.
pub struct CancelTask;

impl CuratedTool for CancelTask {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = CANCEL;
    const TITLE: &'static str = "Cancel a scaffolder task";
    const DESCRIPTION: &'static str = "Cancel a running scaffolder task: Backstage stops the current step and skips the rest (work already done, such as a created repository, stays). A task that has already ended is left alone. Returns the status after a few seconds of watching the task stop.";
    const ATTRIBUTES: Attributes = Attributes {
        read_only: false,
        destructive: true,
        idempotent: true,
    };
    const NEEDS: Needs = Needs::Backstage;
    type Params = CancelParams;
    type Output = CancelOutput;

    async fn run(ctx: ToolCtx, p: CancelParams) -> Result<CancelOutput, ToolError> {
        cancel(ctx, p).await
    }
}

pub(crate) async fn cancel(ctx: ToolCtx, p: CancelParams) -> Result<CancelOutput, ToolError> {
    let id = task_id(&p.task_id)?;
    let task = ctx
        .portal
        .task(&id)
        .await
        .map_err(|e| task_error(&id, "reading", &e))?;
    if is_final_status(&task.status) {
        return Ok(CancelOutput {
            message: format!(
                "Task {id} had already ended with status {}; nothing to cancel.",
                task.status
            ),
            task_id: id,
            cancel_requested: false,
            status: task.status,
            finished: true,
        });
    }
    ctx.portal
        .cancel_task(&id)
        .await
        .map_err(|e| task_error(&id, "cancelling", &e))?;
    let deadline = Instant::now() + CANCEL_SETTLE;
    let mut status = task.status;
    while !is_final_status(&status) && Instant::now() < deadline {
        tokio::select! {
            () = ctx.call.cancel.cancelled() => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        match ctx.portal.task(&id).await {
            Ok(t) => status = t.status,
            Err(e) => {
                tracing::debug!(task = %id, error = %e, "status read after cancel failed");
                break;
            }
        }
    }
    let finished = is_final_status(&status);
    Ok(CancelOutput {
        message: if finished {
            format!("Cancelled task {id}; it stopped with status {status}.")
        } else {
            format!(
                "Asked Backstage to cancel task {id}; it is still {status} and will stop at the end of its current step's cancellation. Check with get_task_status."
            )
        },
        task_id: id,
        cancel_requested: true,
        status,
        finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = TaskCursor {
            v: 2,
            o: 40,
            l: 20,
            s: vec!["failed".into()],
            c: Some("user:default/guest".into()),
        };
        assert_eq!(TaskCursor::decode(&c.encode()).ok(), Some(c));
        assert!(TaskCursor::decode("garbage!").is_err());
        let other = URL_SAFE_NO_PAD.encode(br#"{"v":1,"b":"x"}"#);
        assert!(TaskCursor::decode(&other).is_err());
    }

    #[test]
    fn statuses_are_checked() {
        assert_eq!(
            statuses(&[" Failed ".into(), "completed".into()]).ok(),
            Some(vec!["failed".to_string(), "completed".to_string()])
        );
        assert!(statuses(&["done".into()]).is_err());
    }
}
