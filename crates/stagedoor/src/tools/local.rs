//! `check_catalog`: the local catalog's diagnosis — which paths and files were read, how many
//! entities of each kind are served, and every problem with its file and line. Listed only
//! when serving a local catalog (where `check_connection` has nothing to check).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Attributes, ToolCtx, ToolError};
use crate::local::shown;
use crate::tool::{CuratedTool, Needs};

/// Name of the tool.
pub const NAME: &str = "check_catalog";

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// Arguments of `check_catalog`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Params {
    /// Most problems listed, 1 to 500 (default 100).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<usize>,
}

/// One load problem.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProblemOut {
    /// The file (relative to the working directory when inside it).
    pub file: String,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Result of `check_catalog`.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// The configured catalog paths.
    pub paths: Vec<String>,
    /// How many catalog files were loaded.
    pub files: usize,
    /// How many entities are served.
    pub entities: usize,
    /// Entities per kind.
    pub kinds: BTreeMap<String, usize>,
    /// Problems, in the order found (bad YAML, invalid entities, duplicates, Location cycles...).
    pub problems: Vec<ProblemOut>,
    /// How many YAML files found in directory paths hold no catalog entity and were skipped.
    pub skipped_files: usize,
    /// The first few of them, with why.
    pub skipped: Vec<String>,
    /// References to entities the catalog does not hold (owner, system, API, dependency,
    /// member): warnings, as Backstage leaves them dangling too. At most `limit`.
    pub warnings: Vec<ProblemOut>,
    /// How many dangling references exist in all.
    pub total_warnings: usize,
    /// How many problems exist in all.
    pub total_problems: usize,
    /// True when `limit` cut the problem (or warning) list.
    pub truncated: bool,
    /// Whether file changes are picked up without a restart.
    pub watching: bool,
    /// Reloads since start.
    pub reloads: u64,
    /// When the catalog was last loaded (RFC 3339).
    pub loaded_at: String,
}

/// The `check_catalog` tool.
pub struct CheckCatalog;

impl CuratedTool for CheckCatalog {
    const FAMILY: &'static str = "local";
    const NAME: &'static str = NAME;
    const TITLE: &'static str = "Check the local catalog";
    const DESCRIPTION: &'static str = "Diagnose the local catalog: the paths and number of files read, entities per kind, and every load problem with its file and line (an empty catalog, YAML syntax errors, invalid entities, duplicate refs, Location cycles, unreadable placeholders, TechDocs `dir:` sources without a readable mkdocs.yml), YAML files skipped as not entities, and dangling references as warnings. Use it when an entity seems missing or a catalog file was just edited.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::LocalOnly;
    type Params = Params;
    type Output = Output;

    async fn run(ctx: ToolCtx, p: Params) -> Result<Output, ToolError> {
        run(ctx, p).await
    }
}

pub(crate) async fn run(ctx: ToolCtx, p: Params) -> Result<Output, ToolError> {
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ToolError::invalid(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let Some(catalog) = ctx.portal.local_catalog() else {
        return Err(ToolError::invalid(
            "stagedoor is serving Backstage, not a local catalog; use check_connection",
        ));
    };
    let snap = catalog.snapshot();
    let docs = {
        let catalog = catalog.clone();
        tokio::task::spawn_blocking(move || catalog.docs_problems())
            .await
            .unwrap_or_default()
    };
    let all: Vec<&crate::local::Problem> = snap.problems.iter().chain(docs.iter()).collect();
    let problems: Vec<ProblemOut> = all
        .iter()
        .take(limit)
        .map(|p| ProblemOut {
            file: shown(&p.file),
            line: p.line,
            message: p.message.clone(),
        })
        .collect();
    let out = Output {
        paths: catalog
            .config()
            .load
            .paths
            .iter()
            .map(|p| shown(p))
            .collect(),
        files: snap.file_count(),
        entities: snap.len(),
        kinds: snap.kinds(),
        skipped_files: snap.skipped.len(),
        skipped: snap.skipped_shown(),
        warnings: snap
            .dangling
            .iter()
            .take(limit)
            .map(|p| ProblemOut {
                file: shown(&p.file),
                line: p.line,
                message: p.message.clone(),
            })
            .collect(),
        total_warnings: snap.dangling.len(),
        truncated: all.len() > problems.len() || snap.dangling.len() > limit,
        total_problems: all.len(),
        problems,
        watching: catalog.config().watch,
        reloads: catalog.reloads(),
        loaded_at: humantime::format_rfc3339_seconds(snap.loaded_at).to_string(),
    };
    Ok(out)
}
