//! Turning a task and its events into what a model reads: step statuses, clean log lines
//! (ANSI colour codes stripped: the scaffolder's step logs always carry them), the rendered
//! output and the error, if any.

use std::collections::HashMap;

use backstage_client::{Task, TaskEvent, is_final_status};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::tools::shape::{bound_strings, truncate_chars};

/// Longest log line kept (longer ones are cut with a note).
pub const MAX_LINE_CHARS: usize = 2_000;
/// Longest string kept inside a task's output.
const MAX_OUTPUT_STRING: usize = 2_000;

/// Removes ANSI escape sequences (colours, cursor moves) and trailing whitespace.
pub fn strip_ansi(message: &str) -> String {
    anstream::adapter::strip_str(message)
        .to_string()
        .trim_end()
        .to_string()
}

/// One step of a task and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct StepState {
    /// Step id.
    pub id: String,
    /// Step name.
    pub name: String,
    /// The action it runs, e.g. `fetch:template`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `pending` (not started), `processing`, `completed`, `failed`, `skipped` or `cancelled`.
    pub status: String,
}

/// One log line of a task.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Event id; pass the last one seen as `after` to get only newer lines.
    pub id: u64,
    /// The step that logged it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// The message, without colour codes.
    pub message: String,
    /// When it was logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// The state of a task, built from Backstage's task record and its events.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskReport {
    /// Task id.
    pub task_id: String,
    /// Backstage's status: `open`, `processing`, `completed`, `failed`, `cancelled`, `skipped`.
    pub status: String,
    /// True once the task can no longer change.
    pub finished: bool,
    /// True when the task was cancelled (Backstage then usually reports `failed`).
    pub cancelled: bool,
    /// The template it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_ref: Option<String>,
    /// Who started it (absent when a service token did).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Every step with its status.
    pub steps: Vec<StepState>,
    /// The rendered template output (`links`, `text`, ...) once the task completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The newest event id seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<u64>,
}

/// The steps of a task spec, all `pending`.
pub fn steps_of(spec: &Value) -> Vec<StepState> {
    spec.get("steps")
        .and_then(Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let id = s
                        .get("id")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("step-{}", i + 1));
                    let action = s.get("action").and_then(Value::as_str).map(str::to_string);
                    StepState {
                        name: s
                            .get("name")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .or_else(|| action.clone())
                            .unwrap_or_else(|| id.clone()),
                        id,
                        action,
                        status: "pending".into(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Step statuses, output and error folded from events onto a task record.
pub fn build(task: &Task, events: &[TaskEvent]) -> TaskReport {
    let mut steps = steps_of(&task.spec);
    let mut report = TaskReport {
        task_id: task.id.clone(),
        status: task.status.clone(),
        finished: is_final_status(&task.status),
        cancelled: task.status == "cancelled",
        template_ref: task.template_ref().map(str::to_string),
        created_by: task.created_by.clone(),
        created_at: task.created_at.clone(),
        steps: Vec::new(),
        output: None,
        error: None,
        last_event_id: None,
    };
    for e in events {
        fold(&mut report, &mut steps, e);
    }
    report.steps = steps;
    report
}

/// Applies one event to a report and its steps.
pub fn fold(report: &mut TaskReport, steps: &mut [StepState], e: &TaskEvent) {
    report.last_event_id = Some(report.last_event_id.map_or(e.id, |l| l.max(e.id)));
    apply_step_status(steps, &e.body);
    match e.event_type.as_str() {
        "cancelled" => report.cancelled = true,
        "completion" => {
            if let Some(out) = e.body.get("output").filter(|o| !o.is_null()) {
                let mut out = out.clone();
                bound_strings(&mut out, MAX_OUTPUT_STRING, "");
                report.output = Some(out);
            }
            if let Some(err) = e.body.get("error") {
                let msg = err
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| err.to_string());
                report.error = Some(truncate_chars(&strip_ansi(&msg), MAX_LINE_CHARS));
            }
        }
        _ => {}
    }
}

/// Updates the step an event body names (`{stepId, status}`), if any.
pub fn apply_step_status(steps: &mut [StepState], body: &Value) {
    if let (Some(step), Some(status)) = (
        body.get("stepId").and_then(Value::as_str),
        body.get("status").and_then(Value::as_str),
    ) && let Some(s) = steps.iter_mut().find(|s| s.id == step)
    {
        s.status = status.to_string();
    }
}

/// The log lines among `events` (events with a message), cleaned and bounded.
pub fn log_lines(events: &[TaskEvent]) -> Vec<LogLine> {
    events.iter().filter_map(log_line).collect()
}

/// One event as a log line, if it carries a message.
pub fn log_line(e: &TaskEvent) -> Option<LogLine> {
    let message = e.body.get("message").and_then(Value::as_str)?;
    Some(LogLine {
        id: e.id,
        step_id: e
            .body
            .get("stepId")
            .and_then(Value::as_str)
            .map(str::to_string),
        message: truncate_chars(&strip_ansi(message), MAX_LINE_CHARS),
        created_at: e.created_at.clone(),
    })
}

/// A line for a progress notification: `step name: message`.
pub fn progress_message(line: &LogLine, names: &HashMap<String, String>) -> String {
    match line.step_id.as_ref().and_then(|id| names.get(id)) {
        Some(name) => format!("{name}: {}", line.message),
        None => line.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(id: u64, t: &str, body: Value) -> TaskEvent {
        TaskEvent {
            id,
            event_type: t.into(),
            body,
            created_at: None,
        }
    }

    #[test]
    fn ansi_colour_codes_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[32minfo\u{1b}[39m: Howdy, MCP! (x2)\n"),
            "info: Howdy, MCP! (x2)"
        );
        assert_eq!(
            strip_ansi("\u{1b}[1;31merror\u{1b}[0m: a\nb"),
            "error: a\nb"
        );
        assert_eq!(strip_ansi("plain"), "plain");
    }

    #[test]
    fn events_fold_into_steps_output_and_error() {
        let task: Task = serde_json::from_value(json!({
            "id": "t1", "status": "failed",
            "spec": {"steps": [{"id": "a", "name": "First", "action": "debug:log"}, {"action": "debug:wait"}],
                     "templateInfo": {"entityRef": "template:default/slow-task"}}
        }))
        .expect("task");
        let events = vec![
            event(
                1,
                "log",
                json!({"message": "Starting up task with 2 steps"}),
            ),
            event(
                2,
                "log",
                json!({"message": "Beginning step First", "stepId": "a", "status": "processing"}),
            ),
            event(
                3,
                "log",
                json!({"message": "\u{1b}[32minfo\u{1b}[39m: hi", "stepId": "a"}),
            ),
            event(
                4,
                "log",
                json!({"message": "Finished step First", "stepId": "a", "status": "completed"}),
            ),
            event(
                5,
                "cancelled",
                json!({"message": "Step step-2 has been cancelled.", "stepId": "step-2", "status": "cancelled"}),
            ),
            event(
                6,
                "completion",
                json!({"message": "Run completed with status: failed", "error": {"name": "Error", "message": "cancelled"}}),
            ),
        ];
        let r = build(&task, &events);
        assert_eq!(
            r.template_ref.as_deref(),
            Some("template:default/slow-task")
        );
        assert!(r.finished && r.cancelled);
        assert_eq!(r.steps[0].status, "completed");
        assert_eq!(r.steps[1].id, "step-2");
        assert_eq!(r.steps[1].name, "debug:wait");
        assert_eq!(r.steps[1].status, "cancelled");
        assert_eq!(r.error.as_deref(), Some("cancelled"));
        assert_eq!(r.last_event_id, Some(6));
        let lines = log_lines(&events);
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[2].message, "info: hi");
        let names = HashMap::from([("a".to_string(), "First".to_string())]);
        assert_eq!(progress_message(&lines[2], &names), "First: info: hi");
    }

    #[test]
    fn completion_output_is_kept_and_bounded() {
        let task: Task =
            serde_json::from_value(json!({"id": "t", "status": "completed"})).expect("task");
        let long = "x".repeat(5_000);
        let r = build(
            &task,
            &[event(
                9,
                "completion",
                json!({"output": {"links": [{"title": "Repo", "url": "https://example.com"}], "text": [{"title": "T", "content": long}]}}),
            )],
        );
        let out = r.output.expect("output");
        assert_eq!(out["links"][0]["url"], "https://example.com");
        assert!(
            out["text"][0]["content"]
                .as_str()
                .is_some_and(|s| s.len() < 2_100)
        );
        assert!(r.error.is_none() && !r.cancelled);
    }
}
