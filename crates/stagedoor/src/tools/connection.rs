//! `check_connection`: is Backstage reachable, is the token accepted, which plugins answer,
//! and what to fix if not. The diagnosis itself is the portal's ([`crate::portal::health`]),
//! shared with `stagedoor check` and `/readyz`.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{Attributes, ToolCtx, ToolError};
use crate::portal::health::{Diagnosis, diagnose};
use crate::tool::{CuratedTool, Needs};

/// Name of the tool.
pub const NAME: &str = "check_connection";

/// `check_connection` takes no arguments.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The `check_connection` tool.
pub struct CheckConnection;

impl CuratedTool for CheckConnection {
    const FAMILY: &'static str = "diagnostics";
    const NAME: &'static str = NAME;
    const TITLE: &'static str = "Check the Backstage connection";
    const DESCRIPTION: &'static str = "Check the connection to Backstage: base URL, reachability and latency, the identity the token maps to, which plugins (catalog, scaffolder, techdocs, search) answer, which Actions Registry sources were listed, and what to fix if something is wrong. Call it first when other tools fail.";
    const ATTRIBUTES: Attributes = Attributes::READ_ONLY;
    const NEEDS: Needs = Needs::Backstage;
    type Params = Params;
    type Output = Diagnosis;

    async fn run(ctx: ToolCtx, _p: Params) -> Result<Diagnosis, ToolError> {
        Ok(diagnose(&ctx.portal, ctx.actions.as_deref()).await)
    }
}
