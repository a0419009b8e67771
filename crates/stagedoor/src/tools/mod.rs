//! The curated tools, each one type implementing [`crate::tool::CuratedTool`], and their
//! registry.
//!
//! A tool parses its typed parameters, asks the [`crate::portal::Portal`] and shapes a typed
//! output. It never touches HTTP or MCP types; [`crate::mcp`] turns a [`ToolOutcome`] into a
//! protocol result. A failed Backstage call is a [`ToolError`] — an `isError` result the model
//! can act on — never a protocol error. Adding a tool is one file (or one type in its
//! family's module) and one line in [`registry`].

pub mod apis;
pub mod catalog;
pub mod catalog_words;
pub mod connection;
pub mod local;
pub(crate) mod resolve;
pub mod scaffolder;
pub mod search;
pub mod shape;
pub mod techdocs;

use std::sync::OnceLock;

pub use crate::tool::{
    Attributes, CallCtx, CuratedTool, ErrorKind, Needs, Progress, ToolCtx, ToolDef, ToolEntry,
    ToolError, ToolOutcome, output_schema_for, parse, schema_for,
};

/// Every curated tool, in listing order (built once).
pub fn registry() -> &'static [ToolEntry] {
    static ALL: OnceLock<Vec<ToolEntry>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            ToolEntry::of::<connection::CheckConnection>(),
            ToolEntry::of::<catalog::SearchCatalog>(),
            ToolEntry::of::<catalog::GetEntity>(),
            ToolEntry::of::<catalog::GetEntities>(),
            ToolEntry::of::<catalog::GetRelatedEntities>(),
            ToolEntry::of::<catalog::ListEntityFacets>(),
            ToolEntry::of::<apis::ListApiSpecs>(),
            ToolEntry::of::<apis::GetApiSpec>(),
            ToolEntry::of::<search::Search>(),
            ToolEntry::of::<techdocs::GetTechdocs>(),
            ToolEntry::of::<techdocs::GetTechdocsPage>(),
            ToolEntry::of::<scaffolder::ListTemplates>(),
            ToolEntry::of::<scaffolder::GetTemplate>(),
            ToolEntry::of::<scaffolder::ValidateTemplateValues>(),
            ToolEntry::of::<scaffolder::RunTemplate>(),
            ToolEntry::of::<scaffolder::DryRunTemplate>(),
            ToolEntry::of::<scaffolder::ListTasks>(),
            ToolEntry::of::<scaffolder::GetTaskStatus>(),
            ToolEntry::of::<scaffolder::CancelTask>(),
            ToolEntry::of::<local::CheckCatalog>(),
        ]
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

#[cfg(test)]
mod tests;
