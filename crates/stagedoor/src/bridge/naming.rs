//! Tool names for bridged actions: deterministic, collision-free, and in the chosen style.
//!
//! - `safe` (default): `[a-z0-9_]`, at most 64 characters, the name every major client
//!   accepts: `catalog:get-catalog-entity` → `catalog_get_catalog_entity` (namespaced) or
//!   `get_catalog_entity` (`namespacedToolNames: false`).
//! - `official`: exactly the official plugin's names, `catalog.get-catalog-entity` or the
//!   bare `get-catalog-entity`.
//!
//! A name that collides (with a curated tool or another action), or a `safe` name longer
//! than 64 characters, gets a stable suffix: 6 hex digits of a 64-bit FNV-1a hash of the
//! action id. Every colliding
//! action is suffixed (not just "the second one"), so a name depends only on the action's
//! own id and on whether its plain name is taken — never on listing order.

use std::collections::{HashMap, HashSet};

use crate::config::actions::NameStyle;

/// Longest tool name (the limit of Claude, OpenAI and Gemini tool names).
pub const MAX_NAME_LEN: usize = 64;

/// How bridged tools are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Naming {
    /// Style.
    pub style: NameStyle,
    /// Prefix with the plugin id.
    pub namespaced: bool,
}

impl Naming {
    /// The plain name of an action, before collision handling.
    pub fn plain(&self, plugin: &str, action: &str) -> String {
        match (self.style, self.namespaced) {
            (NameStyle::Official, true) => format!("{plugin}.{action}"),
            (NameStyle::Official, false) => action.to_owned(),
            (NameStyle::Safe, true) => sanitize(&format!("{plugin}_{action}")),
            (NameStyle::Safe, false) => sanitize(action),
        }
    }

    fn separator(&self) -> char {
        match self.style {
            NameStyle::Safe => '_',
            NameStyle::Official => '-',
        }
    }

    /// Names for `actions` (`(id, plugin, name)` triples), aligned with the input, unique
    /// among themselves and distinct from every name in `reserved`.
    pub fn assign(
        &self,
        actions: &[(&str, &str, &str)],
        reserved: &HashSet<String>,
    ) -> Vec<String> {
        let plain: Vec<String> = actions
            .iter()
            .map(|(_, plugin, name)| self.plain(plugin, name))
            .collect();
        let mut count: HashMap<&str, usize> = HashMap::new();
        for p in &plain {
            *count.entry(p.as_str()).or_default() += 1;
        }
        let mut names: Vec<String> = actions
            .iter()
            .zip(&plain)
            .map(|((id, _, _), p)| {
                let clash = count.get(p.as_str()).copied().unwrap_or(0) > 1 || reserved.contains(p);
                let too_long = self.style == NameStyle::Safe && p.len() > MAX_NAME_LEN;
                if clash || too_long || p.is_empty() {
                    self.suffixed(p, id, 6)
                } else {
                    p.clone()
                }
            })
            .collect();
        // A suffixed name could still meet another name (a 24-bit hash collision, or a
        // plain name that happens to end in the same suffix): widen those suffixes.
        for width in [10, 16] {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for n in &names {
                *seen.entry(n.clone()).or_default() += 1;
            }
            let dup: Vec<usize> = (0..names.len())
                .filter(|&i| seen[&names[i]] > 1 || reserved.contains(&names[i]))
                .collect();
            if dup.is_empty() {
                break;
            }
            for i in dup {
                names[i] = self.suffixed(&plain[i], actions[i].0, width);
            }
        }
        names
    }

    /// `plain` cut to fit, then the separator and `width` hex digits of the id's hash.
    fn suffixed(&self, plain: &str, id: &str, width: usize) -> String {
        let hash = format!("{:016x}", fnv1a(id.as_bytes()));
        let hash = &hash[..width];
        let room = MAX_NAME_LEN - width - 1;
        let mut base: String = plain.chars().take(room).collect();
        while base.ends_with(['_', '-', '.']) {
            base.pop();
        }
        if base.is_empty() {
            base.push_str("action");
        }
        format!("{base}{}{hash}", self.separator())
    }
}

/// Lowercases and turns every run of characters outside `[a-z0-9]` into one `_`.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// 64-bit FNV-1a: tiny, stable across versions and platforms (names must never change
/// because a hash implementation did).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Rewrites references to other actions inside bridged descriptions to the names this
/// server serves them under. Backstage's descriptions name actions the way the official
/// plugin serves them (the scaffolder's `execute-template` says "use the
/// catalog.get-catalog-entity action"), which in `safe` style (or without namespaces) is a
/// tool that does not exist here. Only the official names (`plugin.action`) and ids
/// (`plugin:action`) of actions actually served are replaced, and only as whole words.
#[derive(Debug, Default)]
pub struct References {
    /// (what a description may say, the served name), longest first.
    names: Vec<(String, String)>,
}

impl References {
    /// The references of `served`: `(plugin, action name, served tool name)` triples.
    pub fn new<'a>(served: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>) -> Self {
        let mut names: Vec<(String, String)> = Vec::new();
        for (plugin, action, name) in served {
            if plugin.is_empty() || action.is_empty() {
                continue;
            }
            for said in [format!("{plugin}.{action}"), format!("{plugin}:{action}")] {
                if said != name {
                    names.push((said, name.to_owned()));
                }
            }
        }
        names.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        names.dedup_by(|a, b| a.0 == b.0);
        Self { names }
    }

    /// `text` with every whole-word reference to a served action replaced by its name.
    pub fn rewrite(&self, text: &str) -> String {
        if self.names.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut prev: Option<char> = None;
        'scan: while let Some(c) = rest.chars().next() {
            if !prev.is_some_and(is_name_char) {
                for (said, served) in &self.names {
                    if let Some(after) = rest.strip_prefix(said.as_str())
                        && ends_a_word(after)
                    {
                        out.push_str(served);
                        prev = said.chars().last();
                        rest = after;
                        continue 'scan;
                    }
                }
            }
            out.push(c);
            prev = Some(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

/// Characters that continue an action reference (`plugin.action-name`, `plugin:action`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// True when `after` (the text right after a match) does not continue the name: a sentence's
/// full stop or colon may follow, a further name segment may not.
fn ends_a_word(after: &str) -> bool {
    let mut chars = after.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '-' => false,
        Some('.' | ':') => !chars.next().is_some_and(|c| c.is_ascii_alphanumeric()),
        Some(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAFE: Naming = Naming {
        style: NameStyle::Safe,
        namespaced: true,
    };

    fn valid(n: &str) -> bool {
        !n.is_empty()
            && n.len() <= MAX_NAME_LEN
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    #[test]
    fn styles() {
        assert_eq!(
            SAFE.plain("catalog", "get-catalog-entity"),
            "catalog_get_catalog_entity"
        );
        let bare = Naming {
            namespaced: false,
            ..SAFE
        };
        assert_eq!(
            bare.plain("catalog", "get-catalog-entity"),
            "get_catalog_entity"
        );
        let official = Naming {
            style: NameStyle::Official,
            namespaced: true,
        };
        assert_eq!(
            official.plain("catalog", "get-catalog-entity"),
            "catalog.get-catalog-entity"
        );
        let official_bare = Naming {
            namespaced: false,
            ..official
        };
        assert_eq!(
            official_bare.plain("catalog", "get-catalog-entity"),
            "get-catalog-entity"
        );
        assert_eq!(
            sanitize("My.Plugin::Do  THIS--now!"),
            "my_plugin_do_this_now"
        );
        assert_eq!(sanitize("--"), "");
    }

    #[test]
    fn names_are_stable_and_collisions_get_a_hash_suffix_on_every_side() {
        let reserved: HashSet<String> = ["search_catalog".to_string()].into();
        let actions = [
            ("catalog:get-entity", "catalog", "get-entity"),
            ("catalog:get_entity", "catalog", "get_entity"),
            ("search:catalog", "search", "catalog"),
            (
                "catalog:query-catalog-entities",
                "catalog",
                "query-catalog-entities",
            ),
        ];
        let names = SAFE.assign(&actions, &reserved);
        assert_eq!(names[3], "catalog_query_catalog_entities");
        for n in &names {
            assert!(valid(n), "{n}");
        }
        assert!(
            names[0].starts_with("catalog_get_entity_") && names[0].len() == 25,
            "{}",
            names[0]
        );
        assert!(names[1].starts_with("catalog_get_entity_"), "{}", names[1]);
        assert_ne!(names[0], names[1]);
        assert!(names[2].starts_with("search_catalog_"), "{}", names[2]);
        // Same answer in any order, and a name only depends on its own id.
        let mut reversed = actions;
        reversed.reverse();
        let mut again = SAFE.assign(&reversed, &reserved);
        again.reverse();
        assert_eq!(names, again);
        let alone = SAFE.assign(&actions[..1], &HashSet::new());
        assert_eq!(alone, ["catalog_get_entity"]);
    }

    #[test]
    fn long_names_are_cut_with_a_suffix_and_stay_unique() {
        let long_a = format!("do-{}-a", "x".repeat(80));
        let long_b = format!("do-{}-b", "x".repeat(80));
        let id_a = format!("acme:{long_a}");
        let id_b = format!("acme:{long_b}");
        let names = SAFE.assign(
            &[(&id_a, "acme", &long_a), (&id_b, "acme", &long_b)],
            &HashSet::new(),
        );
        for n in &names {
            assert!(valid(n) && n.len() == MAX_NAME_LEN, "{n}");
        }
        assert_ne!(names[0], names[1]);
        // The official style reproduces the official plugin, which has no length limit.
        let official = Naming {
            style: NameStyle::Official,
            namespaced: true,
        };
        let names = official.assign(&[(&id_a, "acme", &long_a)], &HashSet::new());
        assert_eq!(names[0], format!("acme.{long_a}"));
    }

    #[test]
    fn unnamable_actions_still_get_a_valid_name() {
        let names = SAFE.assign(&[("x:...", "", "...")], &HashSet::new());
        assert!(valid(&names[0]), "{}", names[0]);
        assert!(names[0].starts_with("action_"));
    }

    #[test]
    fn hash_is_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn references_to_served_actions_are_rewritten_as_whole_words() {
        let refs = References::new([
            (
                "catalog",
                "get-catalog-entity",
                "catalog_get_catalog_entity",
            ),
            (
                "catalog",
                "get-catalog-entity-by-ref",
                "catalog_get_catalog_entity_by_ref",
            ),
            (
                "scaffolder",
                "execute-template",
                "scaffolder_execute_template",
            ),
        ]);
        let said = "Use the catalog.get-catalog-entity action to fetch the Template entity. \
                    Or `catalog:get-catalog-entity`, then scaffolder.execute-template: done. \
                    Not catalog.get-catalog-entity-by-refs, not xcatalog.get-catalog-entity, \
                    not catalog.get-catalog-entity.v2; catalog.get-catalog-entity-by-ref works. \
                    Unrelated: kind:namespace/name, spec.type, catalog.unknown-action.";
        assert_eq!(
            refs.rewrite(said),
            "Use the catalog_get_catalog_entity action to fetch the Template entity. \
             Or `catalog_get_catalog_entity`, then scaffolder_execute_template: done. \
             Not catalog.get-catalog-entity-by-refs, not xcatalog.get-catalog-entity, \
             not catalog.get-catalog-entity.v2; catalog_get_catalog_entity_by_ref works. \
             Unrelated: kind:namespace/name, spec.type, catalog.unknown-action."
        );
        // Official names map to themselves: nothing to rewrite but the id form.
        let official = References::new([(
            "catalog",
            "get-catalog-entity",
            "catalog.get-catalog-entity",
        )]);
        assert_eq!(
            official.rewrite("see catalog.get-catalog-entity or catalog:get-catalog-entity"),
            "see catalog.get-catalog-entity or catalog.get-catalog-entity"
        );
        // Without namespaces the bare action name is served.
        let bare = References::new([("catalog", "get-catalog-entity", "get-catalog-entity")]);
        assert_eq!(
            bare.rewrite("call catalog.get-catalog-entity."),
            "call get-catalog-entity."
        );
        assert_eq!(References::default().rewrite("ünïcode ok"), "ünïcode ok");
    }
}
