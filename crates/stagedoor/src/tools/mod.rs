//! The curated tools: their definitions (names, schemas, annotations) and dispatch.
//!
//! A tool parses its typed parameters, asks the [`Portal`] and shapes a typed output. It never
//! touches HTTP or MCP types; [`crate::mcp`] turns a [`ToolOutcome`] into a protocol result.
//! A failed Backstage call is a [`ToolError`] — an `isError` result the model can act on —
//! never a protocol error.

pub mod apis;
pub mod catalog;
pub mod connection;
pub mod error;
pub mod local;
pub mod policy;
pub(crate) mod resolve;
pub mod scaffolder;
pub mod search;
pub mod shape;
pub mod techdocs;

use std::sync::{Arc, OnceLock};

use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use error::ToolError;
pub use policy::ToolPolicy;

use crate::portal::{ActionsState, Portal};

/// Hints about a tool's effects, published as MCP annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    /// Only reads.
    pub read_only: bool,
    /// May destroy data (meaningful only if not read-only).
    pub destructive: bool,
    /// Repeating a call has no further effect.
    pub idempotent: bool,
}

impl Attributes {
    /// A tool that only reads.
    pub const READ_ONLY: Self = Self {
        read_only: true,
        destructive: false,
        idempotent: true,
    };
}

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

type Runner =
    Box<dyn Fn(ToolCtx, Map<String, Value>) -> BoxFuture<'static, ToolOutcome> + Send + Sync>;

/// A tool: its definition, what it needs, and how to run it.
pub struct ToolEntry {
    /// The definition listed to clients.
    pub def: ToolDef,
    /// True when the tool needs a live Backstage (not available over a local catalog).
    pub needs_backstage: bool,
    /// True when the tool only makes sense over a local catalog (not listed for Backstage).
    pub local_only: bool,
    run: Runner,
}

impl ToolEntry {
    /// A tool whose typed parameters `P` are parsed from the arguments before `run` is called;
    /// a parse failure is an `isError` naming the offending field.
    pub fn new<P, F, Fut>(def: ToolDef, needs_backstage: bool, run: F) -> Self
    where
        P: DeserializeOwned + Send + 'static,
        F: Fn(ToolCtx, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolOutcome> + Send + 'static,
    {
        let name = def.name.clone();
        let run = Arc::new(run);
        Self {
            def,
            needs_backstage,
            local_only: false,
            run: Box::new(move |ctx, args| {
                let parsed = parse::<P>(&name, args);
                let run = run.clone();
                Box::pin(async move {
                    match parsed {
                        Ok(p) => run(ctx, p).await,
                        Err(e) => Err(e),
                    }
                })
            }),
        }
    }

    /// Marks the tool as served only over a local catalog.
    pub fn local_only(mut self) -> Self {
        self.local_only = true;
        self
    }

    /// Whether the tool is listed when serving a local catalog (`local`) or Backstage.
    pub fn available(&self, local: bool) -> bool {
        if local {
            !self.needs_backstage
        } else {
            !self.local_only
        }
    }

    /// Runs the tool.
    pub async fn call(&self, ctx: ToolCtx, args: Map<String, Value>) -> ToolOutcome {
        (self.run)(ctx, args).await
    }
}

/// Every curated tool, in listing order (built once). Each family module contributes its
/// `entries()`; adding a family is one line here.
pub fn registry() -> &'static [ToolEntry] {
    static ALL: OnceLock<Vec<ToolEntry>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        all.extend(connection::entries());
        all.extend(catalog::entries());
        all.extend(apis::entries());
        all.extend(search::entries());
        all.extend(techdocs::entries());
        all.extend(scaffolder::entries());
        all.extend(local::entries());
        all
    })
}

/// Every curated tool definition served with Backstage, in listing order.
pub fn definitions() -> Vec<&'static ToolDef> {
    definitions_for(false)
}

/// The tool definitions listed over a local catalog (`local`) or over Backstage.
pub fn definitions_for(local: bool) -> Vec<&'static ToolDef> {
    registry()
        .iter()
        .filter(|e| e.available(local))
        .map(|e| &e.def)
        .collect()
}

/// Looks a tool up by name (in any mode).
pub fn find(name: &str) -> Option<&'static ToolEntry> {
    registry().iter().find(|e| e.def.name == name)
}

/// Runs the tool called `name` if this portal lists it. `None` means no such tool (a
/// protocol error for the caller).
pub async fn call(ctx: ToolCtx, name: &str, args: Map<String, Value>) -> Option<ToolOutcome> {
    let entry = find(name).filter(|e| e.available(ctx.portal.is_local()))?;
    Some(entry.call(ctx, args).await)
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

/// The JSON Schema of tool arguments `T` (see [`portable_schema`]).
pub fn schema_for<T: JsonSchema>() -> Map<String, Value> {
    portable_schema::<T>(schemars::generate::Contract::Deserialize)
}

/// The JSON Schema of a tool's structured output `T`: fields skipped when empty are optional.
pub fn output_schema_for<T: JsonSchema>() -> Map<String, Value> {
    portable_schema::<T>(schemars::generate::Contract::Serialize)
}

/// The JSON Schema of `T` as an inline object schema that every major client accepts: no
/// `$ref`s, no `$schema`, no `null` in types (absent fields are simply left out), and no
/// boolean `true` schemas.
fn portable_schema<T: JsonSchema>(contract: schemars::generate::Contract) -> Map<String, Value> {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.inline_subschemas = true;
            s.contract = contract;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut value = schema.to_value();
    make_portable(&mut value);
    if let Value::Object(map) = &mut value {
        map.remove("$schema");
        map.remove("title");
        map.entry("type")
            .or_insert_with(|| Value::String("object".into()));
        return map.clone();
    }
    let mut map = Map::new();
    map.insert("type".into(), Value::String("object".into()));
    map
}

/// Rewrites schema constructs some clients reject: `"type": [X, "null"]` becomes `X`,
/// `anyOf: [S, {"type": "null"}]` becomes `S`, and `true` subschemas become `{}`.
fn make_portable(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Array(types)) = map.get("type") {
        let kept: Vec<Value> = types
            .iter()
            .filter(|t| t.as_str() != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1 {
            map.insert("type".into(), kept[0].clone());
        } else {
            map.insert("type".into(), Value::Array(kept));
        }
    }
    if let Some(Value::Array(any)) = map.get("anyOf") {
        let kept: Vec<Value> = any
            .iter()
            .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
            .cloned()
            .collect();
        if kept.len() == 1 {
            map.remove("anyOf");
            if let Value::Object(inner) = &kept[0] {
                for (k, v) in inner {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        } else {
            map.insert("anyOf".into(), Value::Array(kept));
        }
    }
    if map.get("items") == Some(&Value::Bool(true)) {
        map.insert("items".into(), Value::Object(Map::new()));
    }
    for (key, child) in map.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" | "definitions" | "patternProperties" => {
                if let Value::Object(props) = child {
                    for p in props.values_mut() {
                        if *p == Value::Bool(true) {
                            *p = Value::Object(Map::new());
                        }
                        make_portable(p);
                    }
                }
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => {
                if let Value::Array(items) = child {
                    items.iter_mut().for_each(make_portable);
                }
            }
            _ if child.is_object() => make_portable(child),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
