//! The one answer to "may this principal, on this server, see and call this tool".
//!
//! Two questions, both asked here and nowhere else:
//! - [`Access::serves`]: does a server serve the tool at all? The tool's group must be on
//!   (`tools.curated` / `tools.bridged`), what it needs must be met (a local catalog serves no
//!   Backstage-only tool and Backstage no local-only one), and it must pass the global filter
//!   (`backend.actions.filter`) and then the server's own filter. Views of each server
//!   ([`crate::servers`]) are built from this answer.
//! - [`Access::refusal`]: may this caller see and call a served tool? Read-only mode
//!   (`server.readOnly`) and a static token's restrictions (servers, tool globs, read-only)
//!   refuse with a typed [`Refusal`]; the MCP edge renders it as text (`tools/list` hides the
//!   tool, `tools/call` answers with the reason), and `stagedoor tools` asks the same.

use crate::auth::Principal;
use crate::config::Settings;
use crate::filter::{Attributes, Filter};
use crate::tool::Needs;

/// Which group a tool belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Written for stagedoor (`search_catalog`, `get_entity`, ...).
    Curated,
    /// An Actions Registry action.
    Bridged,
}

impl Group {
    /// `curated` or `bridged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Curated => "curated",
            Self::Bridged => "bridged",
        }
    }
}

/// What access decisions look at in a tool.
#[derive(Debug, Clone, Copy)]
pub struct ToolFacts<'a> {
    /// The stable id (`catalog:search_catalog`, `catalog:get-catalog-entity`).
    pub id: &'a str,
    /// Effects.
    pub attributes: Attributes,
    /// Curated or bridged.
    pub group: Group,
    /// What the tool needs to be served.
    pub needs: Needs,
}

/// Why a caller may not see or call a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server is read-only and the tool changes something.
    ReadOnlyServer,
    /// The caller's token does not include this server or this tool.
    TokenRestricted,
}

impl Refusal {
    /// The text the caller reads, for the tool called `name`.
    pub fn message(self, name: &str) -> String {
        match self {
            Refusal::ReadOnlyServer => format!(
                "{name} is not available: this stagedoor server is read-only (server.readOnly / --read-only), so it only offers tools that change nothing in Backstage. Ask the operator for a server without readOnly to use it."
            ),
            Refusal::TokenRestricted => format!(
                "Forbidden: the credentials used may not call {name}. Ask for a token whose restrictions include it."
            ),
        }
    }
}

/// The access rules of one stagedoor process.
#[derive(Debug, Clone)]
pub struct Access {
    /// Only tools that change nothing (`server.readOnly`, `--read-only`).
    pub read_only: bool,
    /// Curated tools are served (`tools.curated`).
    pub curated: bool,
    /// Bridged actions are served (`tools.bridged`, and a bridge exists).
    pub bridged: bool,
    /// Serving a local catalog rather than Backstage.
    pub local: bool,
    /// The global filter (`backend.actions.filter`), applied before each server's own.
    pub global: Filter,
}

impl Access {
    /// Every curated tool, nothing bridged, no filter, not read-only.
    pub fn curated_only(local: bool) -> Self {
        Self {
            read_only: false,
            curated: true,
            bridged: false,
            local,
            global: Filter::default(),
        }
    }

    /// The rules `settings` ask for, over a local catalog (`local`) or Backstage.
    pub fn from_settings(settings: &Settings, local: bool) -> Self {
        Self {
            read_only: settings.server.read_only,
            curated: settings.servers.curated,
            bridged: settings.servers.bridged,
            local,
            global: settings.actions.filter.clone(),
        }
    }

    /// Whether the tool's group is on and what it needs is met (before any filter).
    pub fn offers(&self, t: &ToolFacts<'_>) -> bool {
        let group_on = match t.group {
            Group::Curated => self.curated,
            Group::Bridged => self.bridged,
        };
        group_on && t.needs.met(self.local)
    }

    /// Whether a server with `filter` serves the tool at all.
    pub fn serves(&self, filter: &Filter, t: &ToolFacts<'_>) -> bool {
        self.offers(t)
            && self.global.allows(t.id, t.attributes)
            && filter.allows(t.id, t.attributes)
    }

    /// Why `principal` may not see or call a served tool on server `server` (`default` for
    /// the default server), or `None` when it may.
    pub fn refusal(
        &self,
        principal: &Principal,
        server: &str,
        t: &ToolFacts<'_>,
    ) -> Option<Refusal> {
        let read_only = t.attributes.read_only;
        if self.read_only && !read_only {
            return Some(Refusal::ReadOnlyServer);
        }
        let r = principal.restrictions()?;
        if r.allows_server(server) && r.allows_tool(t.id, read_only) {
            return None;
        }
        Some(Refusal::TokenRestricted)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::tokens::Restrictions;
    use crate::tools::registry;

    fn facts(e: &crate::tool::ToolEntry) -> ToolFacts<'_> {
        ToolFacts {
            id: &e.def.id,
            attributes: e.def.attributes,
            group: Group::Curated,
            needs: e.needs,
        }
    }

    #[test]
    fn read_only_hides_every_tool_that_changes_something() {
        let access = Access {
            read_only: true,
            ..Access::curated_only(false)
        };
        let refused: Vec<&str> = registry()
            .iter()
            .filter(|e| {
                access
                    .refusal(&Principal::Local, "default", &facts(e))
                    .is_some()
            })
            .map(|e| e.def.name.as_str())
            .collect();
        assert!(refused.contains(&"run_template"), "{refused:?}");
        assert!(refused.contains(&"cancel_task"), "{refused:?}");
        assert!(!refused.contains(&"dry_run_template"), "{refused:?}");
        for e in registry() {
            assert_eq!(
                refused.contains(&e.def.name.as_str()),
                !e.def.attributes.read_only,
                "{}",
                e.def.name
            );
        }
        let why = Refusal::ReadOnlyServer.message("run_template");
        assert!(why.contains("read-only"), "{why}");
    }

    #[test]
    fn token_restrictions_limit_servers_and_tools() {
        let access = Access::curated_only(false);
        let principal = Principal::Static {
            subject: "ci".into(),
            restrictions: Arc::new(Restrictions {
                servers: vec!["catalog".into()],
                tools: None,
                tool_patterns: Vec::new(),
                read_only: true,
            }),
        };
        let get = registry()
            .iter()
            .find(|e| e.def.name == "get_entity")
            .map(facts);
        let run = registry()
            .iter()
            .find(|e| e.def.name == "run_template")
            .map(facts);
        let (Some(get), Some(run)) = (get, run) else {
            panic!("get_entity and run_template are registered");
        };
        assert_eq!(access.refusal(&principal, "catalog", &get), None);
        assert_eq!(
            access.refusal(&principal, "default", &get),
            Some(Refusal::TokenRestricted)
        );
        assert_eq!(
            access.refusal(&principal, "catalog", &run),
            Some(Refusal::TokenRestricted)
        );
        assert_eq!(access.refusal(&Principal::Local, "default", &run), None);
    }

    #[test]
    fn needs_and_groups_decide_what_is_served() {
        let check_catalog = registry()
            .iter()
            .find(|e| e.def.name == "check_catalog")
            .map(facts);
        let Some(t) = check_catalog else {
            panic!("check_catalog is registered");
        };
        let none = Filter::default();
        assert!(Access::curated_only(true).serves(&none, &t));
        assert!(!Access::curated_only(false).serves(&none, &t));
        let off = Access {
            curated: false,
            ..Access::curated_only(true)
        };
        assert!(!off.serves(&none, &t));
    }
}
