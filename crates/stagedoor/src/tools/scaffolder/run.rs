//! `run_template` (validate, create the task, optionally follow it to the end) and
//! `dry_run_template`.
//!
//! Following a task uses the long-poll `GET /tasks/:id/events?after=` rather than the SSE
//! `eventstream`: every request is bounded (Backstage answers within 30 s, stagedoor waits
//! at most 35 s), a lost connection costs one poll instead of a stream to resume, and the
//! same client limits (timeouts, body cap, origin checks) apply as everywhere else. Backstage
//! checks for new events once a second on both endpoints, so nothing is slower.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use backstage_client::{
    BackstageError, DryRun, EVENTS_LONG_POLL, NewTask, TaskEvent, is_final_status,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::report::{self, LogLine, StepState, TaskReport};
use super::values::{self, AppliedDefault};
use super::{entity_of, schema_of, task_error, template_ref};
use crate::tool::{CuratedTool, Needs};
use crate::tools::{Attributes, ToolCtx, ToolError};

/// Name of the runner.
pub const RUN: &str = "run_template";
/// Name of the dry run.
pub const DRY_RUN: &str = "dry_run_template";

/// Default bound on `wait: true`, in seconds: below the 60 s request timeout many MCP clients
/// use (the TypeScript SDK's default), so a long task comes back as "still running" instead
/// of the client giving up, which would cancel the call and with it the task.
pub const DEFAULT_MAX_WAIT_SECS: u64 = 50;
/// Largest `maxWaitSeconds` accepted.
pub const MAX_WAIT_SECS: u64 = 600;
const DEFAULT_TAIL: usize = 20;
const MAX_TAIL: usize = 200;
/// Most log lines a dry run returns.
const DRY_RUN_MAX_LINES: usize = 200;
/// Most characters of file content a dry run returns, all files together.
const DRY_RUN_CONTENT_BUDGET: usize = 40_000;
/// Most characters of one file's content a dry run returns.
const DRY_RUN_FILE_CHARS: usize = 8_000;

/// Arguments of `run_template`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunParams {
    /// The template: `template:default/create-node-service`, or just `create-node-service`.
    pub template_ref: String,
    /// The values, one key per field of get_template. Defaults are applied for missing fields.
    pub values: Map<String, Value>,
    /// Secrets for the template's steps (e.g. tokens); sent to Backstage only, never echoed.
    pub secrets: Option<Map<String, Value>>,
    /// Follow the task until it ends (or `maxWaitSeconds` pass), sending each log line as a
    /// progress notification, and return its final status, output and log tail. Default
    /// false: return the task id at once.
    pub wait: Option<bool>,
    /// With `wait`: stop waiting after this many seconds, 1 to 600 (default 50, under common
    /// client request timeouts). The task keeps running; follow it with get_task_status.
    /// Raise it only if the client allows long calls: a client that gives up cancels the call,
    /// and that cancels the task.
    #[schemars(range(min = 1, max = 600))]
    pub max_wait_seconds: Option<u64>,
    /// With `wait`: how many of the last log lines to return, 0 to 200 (default 20).
    #[schemars(range(min = 0, max = 200))]
    pub log_tail: Option<usize>,
}

/// Result of `run_template`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    /// What happened, in one sentence.
    pub message: String,
    /// The task's state (status `open` when not waited for).
    #[serde(flatten)]
    pub task: TaskReport,
    /// True when `maxWaitSeconds` passed before the task ended.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The last log lines (with `wait`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<LogLine>,
    /// Defaults filled in for missing fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub applied_defaults: Vec<AppliedDefault>,
}

/// The `run_template` tool.
pub struct RunTemplate;

impl CuratedTool for RunTemplate {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = RUN;
    const TITLE: &'static str = "Run a software template";
    const DESCRIPTION: &'static str = "Run a software template: the values are checked first against the template's schemas (defaults applied) and refused with every violation named if invalid, so no task is created; otherwise a scaffolder task starts. By default the task id is returned at once (follow it with get_task_status). With `wait: true` the call follows the task to its end (at most maxWaitSeconds), sends each log line as a progress notification, and returns the final status, step statuses, output links and text, and the log tail; cancelling the call cancels the task.";
    const ATTRIBUTES: Attributes = Attributes {
        read_only: false,
        destructive: false,
        idempotent: false,
    };
    const NEEDS: Needs = Needs::Backstage;
    type Params = RunParams;
    type Output = RunOutput;

    async fn run(ctx: ToolCtx, p: RunParams) -> Result<RunOutput, ToolError> {
        run(ctx, p).await
    }
}

pub(crate) async fn run(ctx: ToolCtx, p: RunParams) -> Result<RunOutput, ToolError> {
    let r = template_ref(&p.template_ref)?;
    let wait = p.wait.unwrap_or(false);
    let max_wait = p.max_wait_seconds.unwrap_or(DEFAULT_MAX_WAIT_SECS);
    if !(1..=MAX_WAIT_SECS).contains(&max_wait) {
        return Err(ToolError::invalid(format!(
            "`maxWaitSeconds` must be between 1 and {MAX_WAIT_SECS}, got {max_wait}"
        )));
    }
    let tail = p.log_tail.unwrap_or(DEFAULT_TAIL);
    if tail > MAX_TAIL {
        return Err(ToolError::invalid(format!(
            "`logTail` must be between 0 and {MAX_TAIL}, got {tail}"
        )));
    }
    let template = r.to_string_ref();
    check_secrets(p.secrets.as_ref())?;
    let schema = schema_of(&ctx, &r).await?;
    let checked = values::check(&schema.steps, &p.values);
    if !checked.valid {
        return Err(ToolError::invalid(
            checked.refusal(&template, "no task was created"),
        ));
    }
    let id = ctx
        .portal
        .create_task(&NewTask {
            template_ref: template.clone(),
            values: checked.values.clone(),
            secrets: p.secrets.clone(),
        })
        .await
        .map_err(|e| {
            ToolError::backstage(
                &format!("starting {template} (the task may or may not exist; list_tasks shows recent tasks)"),
                &e,
            )
        })?;
    if !wait {
        let task = TaskReport {
            task_id: id.clone(),
            status: "open".into(),
            finished: false,
            cancelled: false,
            template_ref: Some(template.clone()),
            created_by: None,
            created_at: None,
            steps: Vec::new(),
            output: None,
            error: None,
            last_event_id: None,
        };
        return Ok(RunOutput {
            message: format!(
                "Started task {id} for {template}. Follow it with get_task_status (taskId {id}); cancel it with cancel_task."
            ),
            task,
            timed_out: false,
            log_tail: Vec::new(),
            applied_defaults: checked.applied_defaults,
        });
    }
    let followed = follow(&ctx, &id, Duration::from_secs(max_wait), tail).await?;
    Ok(RunOutput {
        message: followed.message,
        task: followed.report,
        timed_out: followed.timed_out,
        log_tail: followed.tail.into_iter().collect(),
        applied_defaults: checked.applied_defaults,
    })
}

struct Followed {
    report: TaskReport,
    tail: VecDeque<LogLine>,
    timed_out: bool,
    message: String,
}

/// Follows a task's events until it ends, `max_wait` passes or the call is cancelled (then
/// the task is cancelled in Backstage), reporting each log line as progress.
async fn follow(
    ctx: &ToolCtx,
    id: &str,
    max_wait: Duration,
    tail_len: usize,
) -> Result<Followed, ToolError> {
    let started = Instant::now();
    let deadline = started + max_wait;
    let task = ctx
        .portal
        .task(id)
        .await
        .map_err(|e| task_error(id, "reading the new", &e))?;
    let mut report = report::build(&task, &[]);
    let mut steps: Vec<StepState> = report::steps_of(&task.spec);
    let names: HashMap<String, String> = steps
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let mut tail: VecDeque<LogLine> = VecDeque::new();
    let mut after: Option<u64> = None;
    let mut lines = 0u64;
    let mut completed = false;
    let mut timed_out = false;
    let mut cancelled_by_client = false;
    while !completed {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            break;
        }
        let poll = (deadline - now).min(EVENTS_LONG_POLL + Duration::from_secs(5));
        let events: Vec<TaskEvent> = tokio::select! {
            biased;
            () = ctx.call.cancel.cancelled() => {
                cancelled_by_client = true;
                break;
            }
            got = ctx.portal.task_events(id, after, poll) => got.map_err(|e| following_error(id, &e))?,
        };
        if events.is_empty() {
            // Nothing new for a whole poll: make sure the task has not ended without a
            // completion event (e.g. marked stale by Backstage).
            let t = ctx
                .portal
                .task(id)
                .await
                .map_err(|e| following_error(id, &e))?;
            if is_final_status(&t.status) {
                break;
            }
            continue;
        }
        for e in &events {
            report::fold(&mut report, &mut steps, e);
            if let Some(line) = report::log_line(e) {
                lines += 1;
                ctx.call
                    .report(lines as f64, None, report::progress_message(&line, &names));
                if tail_len > 0 {
                    if tail.len() == tail_len {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
            if e.event_type == "completion" {
                completed = true;
            }
            after = Some(after.map_or(e.id, |a| a.max(e.id)));
        }
    }
    let elapsed = started.elapsed();
    if cancelled_by_client {
        let outcome = ctx.portal.cancel_task(id).await;
        report.steps = steps;
        report.cancelled = outcome.is_ok();
        let message = match outcome {
            Ok(()) => format!(
                "The MCP request was cancelled after {:.1} s, so stagedoor cancelled task {id} in Backstage.",
                elapsed.as_secs_f64()
            ),
            Err(e) => format!(
                "The MCP request was cancelled, but cancelling task {id} in Backstage failed ({e}); it may still be running: use cancel_task."
            ),
        };
        return Ok(Followed {
            report,
            tail,
            timed_out: false,
            message,
        });
    }
    // The final record: status as Backstage reports it.
    match ctx.portal.task(id).await {
        Ok(t) => {
            report.status = t.status.clone();
            report.finished = is_final_status(&t.status);
            report.created_by = t.created_by.clone();
            report.created_at = t.created_at.clone();
            report.cancelled = report.cancelled || t.status == "cancelled";
        }
        Err(e) => tracing::debug!(task = id, error = %e, "final task read failed"),
    }
    report.steps = steps;
    let message = if timed_out {
        format!(
            "Task {id} is still {} after waiting {} s; it keeps running. Follow it with get_task_status (taskId {id}, after {}).",
            report.status,
            max_wait.as_secs(),
            report.last_event_id.unwrap_or(0)
        )
    } else {
        format!(
            "Task {id} ended with status {}{} after {:.1} s.",
            report.status,
            if report.cancelled { " (cancelled)" } else { "" },
            elapsed.as_secs_f64()
        )
    };
    Ok(Followed {
        report,
        tail,
        timed_out,
        message,
    })
}

/// Backstage takes secrets as strings only; the names (never the values) of others are reported.
fn check_secrets(secrets: Option<&Map<String, Value>>) -> Result<(), ToolError> {
    let bad: Vec<&str> = secrets
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_string())
        .map(|(k, _)| k.as_str())
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "`secrets` values must be strings; not a string: {}",
            bad.join(", ")
        )))
    }
}

fn following_error(id: &str, e: &BackstageError) -> ToolError {
    let mut err = task_error(id, "following", e);
    err.message.push_str(&format!(
        " The task was created and may still be running: check it with get_task_status (taskId {id})."
    ));
    err
}

// ---------------------------------------------------------------- dry_run_template

/// Arguments of `dry_run_template`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DryRunParams {
    /// The template: `template:default/hello-world`, or just `hello-world`.
    pub template_ref: String,
    /// The values, one key per field of get_template. Defaults are applied for missing fields.
    pub values: Map<String, Value>,
    /// Secrets for the template's steps; sent to Backstage only.
    pub secrets: Option<Map<String, Value>>,
}

/// One file a dry run produced.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunFileOut {
    /// Path in the workspace.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: usize,
    /// Executable bit.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    /// The text content (cut with a note when long); absent for binary files or past the budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// Result of `dry_run_template`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunOutput {
    /// Template reference.
    pub template_ref: String,
    /// Each step and how far it got.
    pub steps: Vec<StepState>,
    /// Log lines, without colour codes (the first 200).
    pub log: Vec<String>,
    /// True when the log had more lines than returned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub log_truncated: bool,
    /// The rendered template output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Files the steps wrote.
    pub files: Vec<DryRunFileOut>,
    /// Defaults filled in for missing fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub applied_defaults: Vec<AppliedDefault>,
}

/// The `dry_run_template` tool.
pub struct DryRunTemplate;

impl CuratedTool for DryRunTemplate {
    const FAMILY: &'static str = "scaffolder";
    const NAME: &'static str = DRY_RUN;
    const TITLE: &'static str = "Dry-run a software template";
    const DESCRIPTION: &'static str = "Dry-run a software template in Backstage: the steps run in dry-run mode (actions that would change the outside world only pretend), nothing is created and no task is recorded. Values are checked and defaults applied first, as for run_template. Returns each step's status, the log, the rendered output and the files the steps would write. Templates that fetch files relative to themselves (e.g. fetch:template from ./skeleton) cannot be dry-run this way.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::Backstage;
    type Params = DryRunParams;
    type Output = DryRunOutput;

    async fn run(ctx: ToolCtx, p: DryRunParams) -> Result<DryRunOutput, ToolError> {
        dry_run(ctx, p).await
    }
}

pub(crate) async fn dry_run(ctx: ToolCtx, p: DryRunParams) -> Result<DryRunOutput, ToolError> {
    let r = template_ref(&p.template_ref)?;
    let template = r.to_string_ref();
    check_secrets(p.secrets.as_ref())?;
    let (schema, entity) = futures::join!(schema_of(&ctx, &r), entity_of(&ctx, &r));
    let (schema, entity) = (schema?, entity?);
    let checked = values::check(&schema.steps, &p.values);
    if !checked.valid {
        return Err(ToolError::invalid(
            checked.refusal(&template, "nothing was run"),
        ));
    }
    let request = DryRun {
        template: (*entity).clone(),
        values: checked.values.clone(),
        secrets: p.secrets.clone(),
        directory_contents: Vec::new(),
    };
    let result = ctx
        .portal
        .dry_run(&request)
        .await
        .map_err(|e| dry_run_error(&template, &e))?;
    let mut steps = report::steps_of(&serde_json::json!({ "steps": result.steps }));
    let names: HashMap<String, String> = steps
        .iter()
        .map(|s| (s.id.clone(), s.name.clone()))
        .collect();
    let mut log = Vec::new();
    for (i, entry) in result.log.iter().enumerate() {
        let event = TaskEvent {
            id: i as u64 + 1,
            event_type: "log".into(),
            body: entry.get("body").cloned().unwrap_or(Value::Null),
            created_at: None,
        };
        report::apply_step_status(&mut steps, &event.body);
        if let Some(line) = report::log_line(&event) {
            log.push(report::progress_message(&line, &names));
        }
    }
    let log_truncated = log.len() > DRY_RUN_MAX_LINES;
    log.truncate(DRY_RUN_MAX_LINES);
    let mut budget = DRY_RUN_CONTENT_BUDGET;
    let files = result
        .directory_contents
        .iter()
        .map(|f| {
            let bytes = STANDARD.decode(&f.base64_content).unwrap_or_default();
            let content = match std::str::from_utf8(&bytes) {
                Ok(text) if budget > 0 => {
                    let cut =
                        crate::tools::shape::truncate_chars(text, DRY_RUN_FILE_CHARS.min(budget));
                    budget = budget.saturating_sub(cut.chars().count());
                    Some(cut)
                }
                _ => None,
            };
            DryRunFileOut {
                path: f.path.clone(),
                size_bytes: bytes.len(),
                executable: f.executable.unwrap_or(false),
                content,
            }
        })
        .collect();
    let mut output = (!result.output.is_null()).then(|| result.output.clone());
    if let Some(o) = output.as_mut() {
        crate::tools::shape::bound_strings(o, 2_000, "");
    }
    Ok(DryRunOutput {
        template_ref: template,
        steps,
        log,
        log_truncated,
        output,
        files,
        applied_defaults: checked.applied_defaults,
    })
}

fn dry_run_error(template: &str, e: &BackstageError) -> ToolError {
    if let BackstageError::Api { message, .. } = e
        && message.contains("dry-run-content-")
    {
        return ToolError {
            message: format!(
                "Backstage could not dry-run {template}: a step reads files stored next to the template ({message}). The scaffolder's dry-run API only sees files sent with the request, and Backstage offers no way to read a template's own directory, so this template cannot be dry-run remotely; check its values with validate_template_values instead."
            ),
            kind: crate::tool::ErrorKind::from_status(e.status()),
        };
    }
    ToolError::backstage(&format!("dry-running {template}"), e)
}
