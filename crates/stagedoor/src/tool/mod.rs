//! The tool contract, one floor below the curated tools ([`crate::tools`]) and the bridge
//! ([`crate::bridge`]): what a tool is ([`ToolDef`]), what it runs with ([`ToolCtx`],
//! [`CallCtx`], [`Progress`]), what it produces ([`ToolOutcome`], [`ToolError`]), and the one
//! trait a curated tool implements ([`CuratedTool`]).
//!
//! A curated tool is one type: its id, name, title, description, attributes, what it needs
//! ([`Needs`]) and typed parameters and output. [`ToolEntry::of`] derives the rest once: the
//! input and output schemas, parsing the arguments (a mismatch is an `isError` naming the
//! field) and serializing the output (a failure there is an internal error, not the
//! model's). The registry ([`crate::tools::registry`]) is a list of `ToolEntry::of::<T>()`.

pub mod error;
pub mod schema;

use std::sync::Arc;

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use crate::filter::Attributes;
pub use error::{ErrorKind, ToolError};
pub use schema::{output_schema_for, schema_for};

use crate::portal::{ActionsState, Portal};

/// The definition of one tool, as listed to clients.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// Stable id, `<family>:<name>`, used by filters and logs.
    pub id: String,
    /// The MCP tool name: `[a-z0-9_]`, at most 64 characters.
    pub name: String,
    /// Human title.
    pub title: String,
    /// What the tool does and when to use it (for the model).
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub input_schema: Map<String, Value>,
    /// JSON Schema of `structuredContent` (an object schema).
    pub output_schema: Map<String, Value>,
    /// Effects.
    pub attributes: Attributes,
}

impl ToolDef {
    /// The first sentence of the description, for one-line listings.
    pub fn summary(&self) -> &str {
        let d = self.description.trim();
        let end = d
            .match_indices(". ")
            .find(|(i, _)| d[i + 2..].starts_with(|c: char| c.is_ascii_uppercase()))
            .map(|(i, _)| i);
        match end {
            Some(i) => &d[..=i],
            None => d,
        }
    }
}

/// What a tool call produced: structured output, or an error the model should read.
pub type ToolOutcome = Result<Value, ToolError>;

/// Everything a tool needs to run. Cheap to clone.
#[derive(Clone)]
pub struct ToolCtx {
    /// The portal the tools answer from, as the caller: a signed-in user's own token, or
    /// the configured one.
    pub portal: Arc<Portal>,
    /// The bridge's Actions Registry state (`None` when nothing is bridged), the same for
    /// every caller.
    pub actions: Option<Arc<ActionsState>>,
    /// This call: cancellation and progress.
    pub call: CallCtx,
}

/// One progress report of a long-running call.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Monotonically increasing progress value.
    pub progress: f64,
    /// Total, when known.
    pub total: Option<f64>,
    /// A human-readable line (e.g. a scaffolder step's log line).
    pub message: Option<String>,
}

/// Per-call context: cancelled when the client cancels the request (or the server shuts
/// down); `progress` is present when the client asked for progress notifications.
#[derive(Clone, Default)]
pub struct CallCtx {
    /// Cancelled when the call should stop.
    pub cancel: CancellationToken,
    /// Where progress reports go, in order; `None` when the client gave no progress token.
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
}

impl CallCtx {
    /// Reports progress if the client asked for it; never blocks, never fails.
    pub fn report(&self, progress: f64, total: Option<f64>, message: impl Into<String>) {
        if let Some(tx) = &self.progress {
            let _ = tx.send(Progress {
                progress,
                total,
                message: Some(message.into()),
            });
        }
    }
}

/// What a curated tool needs to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Answers from Backstage or a local catalog alike.
    AnyPortal,
    /// Needs a live Backstage (not served over a local catalog).
    Backstage,
    /// Only makes sense over a local catalog (not served with Backstage).
    LocalOnly,
}

impl Needs {
    /// Whether a tool with these needs is served over a local catalog (`local`) or Backstage.
    pub fn met(self, local: bool) -> bool {
        match self {
            Needs::AnyPortal => true,
            Needs::Backstage => !local,
            Needs::LocalOnly => local,
        }
    }
}

/// One curated tool: a type (usually a unit struct) whose constants describe it and whose
/// `run` does the work with typed parameters and output.
pub trait CuratedTool: 'static {
    /// The family part of the id (`catalog`, `scaffolder`, ...).
    const FAMILY: &'static str;
    /// The MCP tool name (`[a-z0-9_]`, at most 64 characters).
    const NAME: &'static str;
    /// Human title.
    const TITLE: &'static str;
    /// What the tool does and when to use it (for the model).
    const DESCRIPTION: &'static str;
    /// Effects.
    const ATTRIBUTES: Attributes;
    /// What it needs to be served.
    const NEEDS: Needs;
    /// The arguments (their schema is the input schema).
    type Params: DeserializeOwned + JsonSchema + Send + 'static;
    /// The structured output (its schema is the output schema).
    type Output: Serialize + JsonSchema + Send + 'static;

    /// Runs the tool.
    fn run(
        ctx: ToolCtx,
        params: Self::Params,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;
}

type Runner =
    Box<dyn Fn(ToolCtx, Map<String, Value>) -> BoxFuture<'static, ToolOutcome> + Send + Sync>;

/// A registered curated tool: its definition, what it needs, and how to run it.
pub struct ToolEntry {
    /// The definition listed to clients.
    pub def: ToolDef,
    /// What the tool needs to be served.
    pub needs: Needs,
    run: Runner,
}

impl std::fmt::Debug for ToolEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolEntry")
            .field("id", &self.def.id)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

impl ToolEntry {
    /// The entry of tool `T`: schemas derived from its types, arguments parsed before `run`
    /// (a parse failure is an `isError` naming the offending field), output serialized after.
    pub fn of<T: CuratedTool>() -> Self {
        let def = ToolDef {
            id: format!("{}:{}", T::FAMILY, T::NAME),
            name: T::NAME.to_owned(),
            title: T::TITLE.to_owned(),
            description: T::DESCRIPTION.to_owned(),
            input_schema: schema_for::<T::Params>(),
            output_schema: output_schema_for::<T::Output>(),
            attributes: T::ATTRIBUTES,
        };
        Self {
            def,
            needs: T::NEEDS,
            run: Box::new(|ctx, args| {
                let parsed = parse::<T::Params>(T::NAME, args);
                Box::pin(async move {
                    let output = T::run(ctx, parsed?).await?;
                    serde_json::to_value(output).map_err(|e| {
                        ToolError::internal(format!(
                            "{} produced an answer that cannot be serialized: {e}",
                            T::NAME
                        ))
                    })
                })
            }),
        }
    }

    /// Whether the tool is listed when serving a local catalog (`local`) or Backstage.
    pub fn available(&self, local: bool) -> bool {
        self.needs.met(local)
    }

    /// Runs the tool.
    pub async fn call(&self, ctx: ToolCtx, args: Map<String, Value>) -> ToolOutcome {
        (self.run)(ctx, args).await
    }
}

/// Parses tool arguments into typed parameters; a mismatch is an `isError` naming the field.
pub fn parse<P: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<P, ToolError> {
    serde_path_to_error::deserialize::<_, P>(Value::Object(args)).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        ToolError::invalid(format!(
            "Invalid arguments for {tool}{at}: {}. Check the tool's input schema.",
            e.inner()
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::settings::{BackstageSettings, CacheSettings};

    /// An output that cannot be serialized (as a bug in a tool would make it).
    #[derive(JsonSchema)]
    struct Unserializable {}

    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no JSON form"))
        }
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Params {
        /// A number.
        n: u32,
    }

    struct Broken;

    impl CuratedTool for Broken {
        const FAMILY: &'static str = "test";
        const NAME: &'static str = "broken";
        const TITLE: &'static str = "Broken";
        const DESCRIPTION: &'static str = "A tool whose output cannot be serialized.";
        const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
        const NEEDS: Needs = Needs::AnyPortal;
        type Params = Params;
        type Output = Unserializable;

        async fn run(_ctx: ToolCtx, p: Params) -> Result<Unserializable, ToolError> {
            let _ = p.n;
            Ok(Unserializable {})
        }
    }

    fn ctx() -> ToolCtx {
        let b = BackstageSettings {
            base_url: url::Url::parse("http://127.0.0.1:9").unwrap(),
            token: None,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retries: 0,
            max_response_bytes: 1 << 20,
        };
        let c = CacheSettings {
            ttl: Duration::ZERO,
            max_entries: 1,
        };
        ToolCtx {
            portal: Arc::new(Portal::new(&b, &c).unwrap()),
            actions: None,
            call: CallCtx::default(),
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn a_failure_to_serialize_is_internal_not_the_callers_mistake() {
        let entry = ToolEntry::of::<Broken>();
        assert_eq!(entry.def.id, "test:broken");
        let err = entry.call(ctx(), args(json!({"n": 1}))).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Internal, "{err:?}");
        assert!(!err.message.contains("Invalid arguments"), "{err:?}");

        let err = entry
            .call(ctx(), args(json!({"n": "x"})))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.message.contains("at `n`"), "{}", err.message);
    }

    #[test]
    fn needs_decide_where_a_tool_is_served() {
        assert!(Needs::AnyPortal.met(true) && Needs::AnyPortal.met(false));
        assert!(!Needs::Backstage.met(true) && Needs::Backstage.met(false));
        assert!(Needs::LocalOnly.met(true) && !Needs::LocalOnly.met(false));
    }
}
