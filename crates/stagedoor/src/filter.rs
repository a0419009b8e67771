//! Tool filters with the official plugin's semantics, for curated and bridged tools alike.
//!
//! A filter is `include` and `exclude` lists of rules `{id: <glob>, attributes: {readOnly,
//! destructive, idempotent}}` (`backend.actions.filter`, `mcpActions.servers.<key>.filter`).
//! As in Backstage's `actionFilters.ts`:
//!
//! - a rule matches when every part it specifies matches (`id` glob AND each attribute);
//!   a rule with no parts matches every tool; an empty `id` is no constraint;
//! - any matching exclude rule drops the tool (exclude wins);
//! - with no include rules every remaining tool is kept, otherwise it must match at least
//!   one include rule (includes are ORed).
//!
//! `id` is a glob on the tool id (`catalog:get-catalog-entity`, `catalog:search_catalog`)
//! matched as `new Minimatch(pattern)` matches it: `*` and `?` never cross `/`, `**` crosses
//! it, `[...]`/`[!...]` classes, `{a,b}` alternatives, `\` escapes, a leading `!` negates
//! and a leading `#` is a comment that matches nothing. Unlike minimatch, extglobs
//! (`@(a|b)`, `+(..)`, ...) and numeric brace ranges (`{1..3}`) are refused at load time
//! rather than silently matching differently, and minimatch's rule that `*` skips a path
//! segment starting with `.` is not reproduced (action ids never contain such segments).

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_json::Value;

/// Hints about a tool's effects, as the filter language names them (`readOnly`,
/// `destructive`, `idempotent`) and MCP publishes them as annotations.
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

/// A compiled `id` glob.
#[derive(Clone)]
pub struct IdGlob {
    pattern: String,
    negated: bool,
    /// `None` for a comment pattern (`#...`), which matches nothing.
    matcher: Option<GlobMatcher>,
}

impl fmt::Debug for IdGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdGlob({:?})", self.pattern)
    }
}

impl IdGlob {
    /// Compiles `pattern` with minimatch's default semantics (see the module docs).
    pub fn new(pattern: &str) -> Result<Self, String> {
        if pattern.starts_with('#') {
            return Ok(Self {
                pattern: pattern.to_owned(),
                negated: false,
                matcher: None,
            });
        }
        let bangs = pattern.chars().take_while(|c| *c == '!').count();
        let body = &pattern[bangs..];
        if let Some(ext) = ["@(", "+(", "*(", "?(", "!("]
            .iter()
            .find(|e| body.contains(*e))
        {
            return Err(format!(
                "`{pattern}` uses an extglob (`{ext}...)`), which is not supported; use braces like `{{a,b}}` instead"
            ));
        }
        if has_brace_range(body) {
            return Err(format!(
                "`{pattern}` uses a brace range (`{{x..y}}`), which is not supported; list the alternatives like `{{a,b,c}}`"
            ));
        }
        let glob = GlobBuilder::new(body)
            .literal_separator(true)
            .backslash_escape(true)
            .empty_alternates(true)
            .build()
            .map_err(|e| format!("`{pattern}` is not a valid glob: {e}"))?;
        Ok(Self {
            pattern: pattern.to_owned(),
            negated: bangs % 2 == 1,
            matcher: Some(glob.compile_matcher()),
        })
    }

    /// Whether the id matches.
    pub fn is_match(&self, id: &str) -> bool {
        match &self.matcher {
            None => false,
            Some(m) => m.is_match(id) != self.negated,
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// `{a..b}` inside braces (minimatch expands it as a range; globset would not).
fn has_brace_range(p: &str) -> bool {
    let mut depth = 0usize;
    let mut start = 0usize;
    for (i, c) in p.char_indices() {
        match c {
            '{' => {
                depth += 1;
                start = i;
            }
            '}' if depth > 0 => {
                depth -= 1;
                let inner = &p[start + 1..i];
                if let Some((a, b)) = inner.split_once("..")
                    && !a.contains(',')
                    && !b.contains(',')
                    && !a.is_empty()
                    && !b.is_empty()
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// Attribute constraints of a rule: each given value must equal the tool's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttributeMatch {
    /// `readOnly`.
    pub read_only: Option<bool>,
    /// `destructive`.
    pub destructive: Option<bool>,
    /// `idempotent`.
    pub idempotent: Option<bool>,
}

impl AttributeMatch {
    fn matches(&self, a: Attributes) -> bool {
        self.read_only.is_none_or(|v| v == a.read_only)
            && self.destructive.is_none_or(|v| v == a.destructive)
            && self.idempotent.is_none_or(|v| v == a.idempotent)
    }
}

/// One include or exclude rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where the rule was configured and what it says, for warnings
    /// (e.g. `mcpActions.servers.ro.filter.exclude[0] {attributes: {destructive: true}}`).
    pub label: String,
    id: Option<IdGlob>,
    attributes: AttributeMatch,
}

impl Rule {
    /// A rule from its parts (`id` empty or absent means any id).
    pub fn new(
        label: impl Into<String>,
        id: Option<&str>,
        attributes: AttributeMatch,
    ) -> Result<Self, String> {
        let id = match id {
            Some(p) if !p.is_empty() => Some(IdGlob::new(p)?),
            _ => None,
        };
        Ok(Self {
            label: label.into(),
            id,
            attributes,
        })
    }

    /// Whether every part of the rule matches the tool.
    pub fn matches(&self, id: &str, attributes: Attributes) -> bool {
        self.id.as_ref().is_none_or(|g| g.is_match(id)) && self.attributes.matches(attributes)
    }
}

/// Include and exclude rules.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Kept if matching any (or if empty).
    pub include: Vec<Rule>,
    /// Dropped if matching any.
    pub exclude: Vec<Rule>,
}

impl Filter {
    /// Whether the tool passes the filter.
    pub fn allows(&self, id: &str, attributes: Attributes) -> bool {
        if self.exclude.iter().any(|r| r.matches(id, attributes)) {
            return false;
        }
        self.include.is_empty() || self.include.iter().any(|r| r.matches(id, attributes))
    }

    /// `true` when the filter has no rules (keeps everything).
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Every rule, includes first.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.include.iter().chain(&self.exclude)
    }

    /// Rules that match none of `tools` (`(id, attributes)` pairs), for startup warnings.
    pub fn unmatched<'a>(&'a self, tools: &[(&str, Attributes)]) -> Vec<&'a Rule> {
        self.rules()
            .filter(|r| !tools.iter().any(|(id, a)| r.matches(id, *a)))
            .collect()
    }

    /// Parses a filter block (`{include: [...], exclude: [...]}`) configured at `key`.
    pub fn from_config(key: &str, value: &Value) -> Result<Self, (String, String)> {
        let Value::Object(map) = value else {
            return Err((
                key.to_owned(),
                "must be a mapping with `include` and/or `exclude` lists".into(),
            ));
        };
        let mut filter = Self::default();
        for (k, v) in map {
            let list = match k.as_str() {
                "include" => &mut filter.include,
                "exclude" => &mut filter.exclude,
                other => {
                    return Err((
                        format!("{key}.{other}"),
                        format!("unknown key `{other}`; known keys here: include, exclude"),
                    ));
                }
            };
            let entries = match v {
                Value::Null => continue,
                Value::Array(a) => a,
                _ => {
                    return Err((
                        format!("{key}.{k}"),
                        "must be a list of rules like `{id: 'catalog:*'}`".into(),
                    ));
                }
            };
            for (i, entry) in entries.iter().enumerate() {
                let at = format!("{key}.{k}[{i}]");
                list.push(parse_rule(&at, entry).map_err(|m| (at.clone(), m))?);
            }
        }
        Ok(filter)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Option<String>,
    attributes: Option<AttributeMatch>,
}

fn parse_rule(at: &str, entry: &Value) -> Result<Rule, String> {
    if let Value::String(s) = entry {
        return Err(format!(
            "a rule is a mapping, not a string; write `{{id: '{s}'}}` (action ids use `:`, e.g. `catalog:*`)"
        ));
    }
    let raw: RawRule = serde_json::from_value(entry.clone()).map_err(|e| {
        format!(
            "{e}; a rule is `{{id: <glob>, attributes: {{readOnly, destructive, idempotent}}}}`"
        )
    })?;
    let mut parts = Vec::new();
    if let Some(id) = &raw.id {
        parts.push(format!("id: '{id}'"));
    }
    if let Some(a) = &raw.attributes {
        let mut attrs = Vec::new();
        for (name, v) in [
            ("readOnly", a.read_only),
            ("destructive", a.destructive),
            ("idempotent", a.idempotent),
        ] {
            if let Some(v) = v {
                attrs.push(format!("{name}: {v}"));
            }
        }
        parts.push(format!("attributes: {{{}}}", attrs.join(", ")));
    }
    let label = format!("{at} {{{}}}", parts.join(", "));
    Rule::new(label, raw.id.as_deref(), raw.attributes.unwrap_or_default())
}

#[cfg(test)]
mod tests;
