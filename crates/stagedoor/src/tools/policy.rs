//! Which tools a server exposes. The one place that decides, used by the MCP handler (for
//! `tools/list` and to refuse calls) and by `stagedoor tools`; later filters (include and
//! exclude rules by id and attributes) extend [`ToolPolicy`].

use super::{ToolDef, ToolEntry, registry};
use crate::config::settings::ServerSettings;

/// The rules that select tools for a server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolPolicy {
    /// Only tools that change nothing (`server.readOnly`, `--read-only`).
    pub read_only: bool,
}

impl ToolPolicy {
    /// The policy a server's settings ask for.
    pub fn from_settings(server: &ServerSettings) -> Self {
        Self {
            read_only: server.read_only,
        }
    }

    /// Why `def` is not exposed, or `None` when it is.
    pub fn refusal(&self, def: &ToolDef) -> Option<String> {
        self.refusal_for(&def.name, def.attributes.read_only)
    }

    /// Why a tool (curated or bridged) with this name and read-only flag is not exposed.
    pub fn refusal_for(&self, name: &str, read_only: bool) -> Option<String> {
        if self.read_only && !read_only {
            return Some(format!(
                "{name} is not available: this stagedoor server is read-only (server.readOnly / --read-only), so it only offers tools that change nothing in Backstage. Ask the operator for a server without readOnly to use it."
            ));
        }
        None
    }

    /// Whether `def` is exposed.
    pub fn allows(&self, def: &ToolDef) -> bool {
        self.refusal(def).is_none()
    }
}

/// The tools `policy` exposes, in listing order.
pub fn exposed(policy: &ToolPolicy) -> Vec<&'static ToolEntry> {
    registry()
        .iter()
        .filter(|e| policy.allows(&e.def))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_hides_every_tool_that_changes_something() {
        let all = exposed(&ToolPolicy::default());
        assert_eq!(all.len(), registry().len());
        let ro = exposed(&ToolPolicy { read_only: true });
        assert!(ro.iter().all(|e| e.def.attributes.read_only));
        let hidden: Vec<&str> = all
            .iter()
            .filter(|e| !ro.iter().any(|r| r.def.name == e.def.name))
            .map(|e| e.def.name.as_str())
            .collect();
        assert!(hidden.contains(&"run_template"), "{hidden:?}");
        assert!(hidden.contains(&"cancel_task"), "{hidden:?}");
        assert!(ro.iter().any(|e| e.def.name == "dry_run_template"));
        let run = &all
            .iter()
            .find(|e| e.def.name == "run_template")
            .expect("run")
            .def;
        let why = ToolPolicy { read_only: true }
            .refusal(run)
            .unwrap_or_default();
        assert!(why.contains("read-only"), "{why}");
    }
}
