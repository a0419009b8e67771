//! The curated tools: their definitions (names, schemas, annotations) and dispatch.
//!
//! A tool parses its typed parameters, asks the [`Portal`] and shapes a typed output. It never
//! touches HTTP or MCP types; [`crate::mcp`] turns a [`ToolOutcome`] into a protocol result.
//! A failed Backstage call is a [`ToolError`] — an `isError` result the model can act on —
//! never a protocol error.

pub mod catalog;
pub mod connection;
pub mod error;
pub mod shape;

use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use error::ToolError;

use crate::portal::Portal;

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

/// Everything a tool needs to run.
#[derive(Clone)]
pub struct ToolCtx {
    /// The portal the tools answer from.
    pub portal: Arc<Portal>,
}

/// Which tool a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    CheckConnection,
    SearchCatalog,
    GetEntity,
    GetEntities,
    GetRelatedEntities,
    ListEntityFacets,
}

const ALL: [Which; 6] = [
    Which::CheckConnection,
    Which::SearchCatalog,
    Which::GetEntity,
    Which::GetEntities,
    Which::GetRelatedEntities,
    Which::ListEntityFacets,
];

fn definition(which: Which) -> ToolDef {
    match which {
        Which::CheckConnection => connection::definition(),
        Which::SearchCatalog => catalog::search_definition(),
        Which::GetEntity => catalog::get_entity_definition(),
        Which::GetEntities => catalog::get_entities_definition(),
        Which::GetRelatedEntities => catalog::related_definition(),
        Which::ListEntityFacets => catalog::facets_definition(),
    }
}

/// Every curated tool definition, in listing order (built once).
pub fn definitions() -> &'static [ToolDef] {
    static DEFS: OnceLock<Vec<ToolDef>> = OnceLock::new();
    DEFS.get_or_init(|| ALL.iter().map(|w| definition(*w)).collect())
}

/// Looks a definition up by tool name.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    definitions().iter().find(|d| d.name == name)
}

/// Runs the tool called `name`. `None` means no such tool (a protocol error for the caller).
pub async fn call(ctx: &ToolCtx, name: &str, args: Map<String, Value>) -> Option<ToolOutcome> {
    let which = ALL.into_iter().find(|w| definition_name(*w) == name)?;
    Some(match which {
        Which::CheckConnection => match parse::<connection::Params>(name, args) {
            Ok(p) => connection::run(ctx, p).await,
            Err(e) => Err(e),
        },
        Which::SearchCatalog => match parse(name, args) {
            Ok(p) => catalog::search(ctx, p).await,
            Err(e) => Err(e),
        },
        Which::GetEntity => match parse(name, args) {
            Ok(p) => catalog::get_entity(ctx, p).await,
            Err(e) => Err(e),
        },
        Which::GetEntities => match parse(name, args) {
            Ok(p) => catalog::get_entities(ctx, p).await,
            Err(e) => Err(e),
        },
        Which::GetRelatedEntities => match parse(name, args) {
            Ok(p) => catalog::related(ctx, p).await,
            Err(e) => Err(e),
        },
        Which::ListEntityFacets => match parse(name, args) {
            Ok(p) => catalog::facets(ctx, p).await,
            Err(e) => Err(e),
        },
    })
}

fn definition_name(which: Which) -> &'static str {
    match which {
        Which::CheckConnection => connection::NAME,
        Which::SearchCatalog => catalog::SEARCH,
        Which::GetEntity => catalog::GET_ENTITY,
        Which::GetEntities => catalog::GET_ENTITIES,
        Which::GetRelatedEntities => catalog::RELATED,
        Which::ListEntityFacets => catalog::FACETS,
    }
}

/// Parses tool arguments into typed parameters; a mismatch is an `isError` naming the field.
fn parse<P: DeserializeOwned>(tool: &str, args: Map<String, Value>) -> Result<P, ToolError> {
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
