//! The scaffolder as the tools see it: cached template schemas (computed from the entity
//! in local mode), uncached tasks.
//!
//! Parameter schemas change only when a template's YAML does, so they share the portal's TTL;
//! tasks, their events, cancellation and dry runs are live and never cached.

use std::sync::Arc;
use std::time::Duration;

use backstage_client::{
    BackstageError, DryRun, DryRunResult, EntityRef, NewTask, ParameterSchema, Task, TaskEvent,
    TaskList, TaskListQuery,
};

use super::{Portal, Source, cache_key};

impl Portal {
    /// The parameter form of a template (cached).
    pub async fn template_schema(
        &self,
        template: &EntityRef,
    ) -> Result<Arc<ParameterSchema>, BackstageError> {
        match &self.source {
            Source::Local(c) => c.template_schema(template).map(Arc::new),
            Source::Backstage { client, .. } => {
                self.cached(
                    &self.template_schemas,
                    cache_key(template),
                    client.template_parameter_schema(template),
                )
                .await
            }
        }
    }

    /// Starts a task; returns its id. Never retried.
    pub async fn create_task(&self, task: &NewTask) -> Result<String, BackstageError> {
        self.client()?.create_task(task).await
    }

    /// One task.
    pub async fn task(&self, id: &str) -> Result<Task, BackstageError> {
        self.client()?.get_task(id).await
    }

    /// One page of tasks.
    pub async fn tasks(&self, q: &TaskListQuery) -> Result<TaskList, BackstageError> {
        self.client()?.list_tasks(q).await
    }

    /// Events of a task newer than `after`, waiting at most `wait` for the first.
    pub async fn task_events(
        &self,
        id: &str,
        after: Option<u64>,
        wait: Duration,
    ) -> Result<Vec<TaskEvent>, BackstageError> {
        self.client()?.task_events(id, after, wait).await
    }

    /// Asks Backstage to cancel a task.
    pub async fn cancel_task(&self, id: &str) -> Result<(), BackstageError> {
        self.client()?.cancel_task(id).await
    }

    /// Dry-runs a template.
    pub async fn dry_run(&self, request: &DryRun) -> Result<DryRunResult, BackstageError> {
        self.client()?.dry_run(request).await
    }
}
