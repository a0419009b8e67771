//! [`EntityRef`]: Backstage entity references (`[<kind>:][<namespace>/]<name>`), parsed and formatted
//! with `@backstage/catalog-model` semantics.
//!
//! Parsing follows `parseEntityRef`: the first `:` ends the kind unless a `/` comes
//! before it, the first `/` ends the namespace. Unlike upstream (which lets a name keep
//! later `:`/`/` for catalogs with custom validation), a `:` or `/` left in the name is
//! rejected: the default catalog validation forbids them, and `component:default:foo` or
//! `a/b/c` are almost always typos whose real meaning is unknown.
//!
//! Formatting follows `stringifyEntityRef`: kind, namespace and name all lowercased
//! (`group:default/payments-team`), which is the form relation targets and ownership refs
//! use. Equality and hashing are case-insensitive on all three parts, like Backstage's own
//! entity identity; the parts themselves are kept as given.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Backstage's default namespace.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A parsed entity reference (kind, namespace, name), Backstage catalog-model semantics.
///
/// Equality and `Hash` ignore case (Backstage identifies entities case-insensitively);
/// [`EntityRef::to_string_ref`] / `Display` give the canonical lowercase form.
#[derive(Debug, Clone)]
pub struct EntityRef {
    /// Entity kind as given, e.g. `Component` or `component`.
    pub kind: String,
    /// Namespace, `default` unless given.
    pub namespace: String,
    /// Entity name (`metadata.name`).
    pub name: String,
}

/// Why an entity reference could not be parsed; `Display` says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid entity reference {input:?}: {reason}; expected [<kind>:][<namespace>/]<name>, e.g. \"component:default/payments-api\""
)]
pub struct RefError {
    input: String,
    reason: String,
}

impl RefError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self {
            input: input.to_owned(),
            reason: reason.into(),
        }
    }

    /// The reference as given.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl EntityRef {
    /// A reference from its three parts, as given (no validation).
    pub fn new(
        kind: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Lenient parse of `kind:namespace/name`, `kind:name`, `namespace/name` or `name`.
    ///
    /// Surrounding whitespace is ignored. A missing kind takes `default_kind` (error if
    /// there is none); a missing namespace takes `default_namespace`, else `default`
    /// (empty defaults count as absent, as upstream). Errors: an empty input or part, a
    /// `:`/`/` left in the name, whitespace or control characters inside, or a part that is
    /// `.`/`..`.
    pub fn parse(
        input: &str,
        default_kind: Option<&str>,
        default_namespace: Option<&str>,
    ) -> Result<Self, RefError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(RefError::new(input, "it is empty"));
        }
        let slash = s.find('/');
        // If the '/' is ahead of the ':', the ':' belongs to the name (upstream rule).
        let colon = s.find(':').filter(|c| slash.is_none_or(|sl| *c < sl));

        let kind = colon.map(|c| &s[..c]);
        let after_kind = colon.map_or(0, |c| c + 1);
        let namespace = slash.map(|sl| &s[after_kind..sl]);
        let name = &s[slash.map_or(after_kind, |sl| sl + 1)..];

        if kind == Some("") {
            return Err(RefError::new(input, "the kind before ':' is empty"));
        }
        if namespace == Some("") {
            return Err(RefError::new(input, "the namespace before '/' is empty"));
        }
        if name.is_empty() {
            return Err(RefError::new(input, "the name is empty"));
        }
        if name.contains([':', '/']) || namespace.is_some_and(|n| n.contains(':')) {
            return Err(RefError::new(
                input,
                "a ':' or '/' is out of place; only one ':' (after the kind) and one '/' (after the namespace) are allowed",
            ));
        }

        let default_kind = default_kind.map(str::trim).filter(|k| !k.is_empty());
        let kind = match kind.or(default_kind) {
            Some(k) => k,
            None => {
                return Err(RefError::new(
                    input,
                    format!("it has no kind; prefix one, e.g. \"component:{s}\""),
                ));
            }
        };
        let namespace = namespace
            .or(default_namespace.map(str::trim).filter(|n| !n.is_empty()))
            .unwrap_or(DEFAULT_NAMESPACE);

        for (what, part) in [("kind", kind), ("namespace", namespace), ("name", name)] {
            if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(RefError::new(
                    input,
                    format!("the {what} {part:?} contains whitespace or control characters"),
                ));
            }
            if part == "." || part == ".." {
                return Err(RefError::new(
                    input,
                    format!("the {what} cannot be {part:?}"),
                ));
            }
        }
        Ok(Self::new(kind, namespace, name))
    }

    /// The kind in lowercase (kinds compare case-insensitively).
    pub fn kind_lower(&self) -> String {
        self.kind.to_lowercase()
    }

    /// Canonical string form, as Backstage's `stringifyEntityRef`: `kind:namespace/name`
    /// with all three parts lowercased, e.g. `group:default/payments-team`.
    pub fn to_string_ref(&self) -> String {
        format!(
            "{}:{}/{}",
            self.kind.to_lowercase(),
            self.namespace.to_lowercase(),
            self.name.to_lowercase()
        )
    }

    /// The reference of an entity JSON document: `kind`, `metadata.namespace` (default
    /// `default`) and `metadata.name`. `None` if kind or name are missing or not strings.
    pub fn from_entity(entity: &serde_json::Value) -> Option<Self> {
        let kind = entity.get("kind")?.as_str().filter(|k| !k.is_empty())?;
        let metadata = entity.get("metadata")?;
        let name = metadata.get("name")?.as_str().filter(|n| !n.is_empty())?;
        let namespace = metadata
            .get("namespace")
            .and_then(serde_json::Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_NAMESPACE);
        Some(Self::new(kind, namespace, name))
    }

    /// `true` if `kind` names the same kind (case-insensitively).
    pub fn is_kind(&self, kind: &str) -> bool {
        self.kind.to_lowercase() == kind.to_lowercase()
    }

    fn key(&self) -> (String, String, String) {
        (
            self.kind.to_lowercase(),
            self.namespace.to_lowercase(),
            self.name.to_lowercase(),
        )
    }
}

impl PartialEq for EntityRef {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for EntityRef {}

impl Hash for EntityRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_ref())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn ok(input: &str, kind: Option<&str>, ns: Option<&str>) -> EntityRef {
        match EntityRef::parse(input, kind, ns) {
            Ok(r) => r,
            Err(e) => panic!("{input}: {e}"),
        }
    }

    fn err(input: &str, kind: Option<&str>) -> RefError {
        match EntityRef::parse(input, kind, None) {
            Ok(r) => panic!("{input} parsed as {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_all_four_forms() {
        let full = ok("component:default/payments-api", None, None);
        assert_eq!(
            (
                full.kind.as_str(),
                full.namespace.as_str(),
                full.name.as_str()
            ),
            ("component", "default", "payments-api")
        );
        let kind_name = ok("group:payments-team", None, None);
        assert_eq!(
            kind_name,
            EntityRef::new("group", "default", "payments-team")
        );
        let ns_name = ok("ops/payments-api", Some("component"), None);
        assert_eq!(ns_name, EntityRef::new("component", "ops", "payments-api"));
        let name_only = ok("payments-api", Some("component"), None);
        assert_eq!(
            name_only,
            EntityRef::new("component", "default", "payments-api")
        );
    }

    #[test]
    fn defaults_apply_only_when_absent() {
        let r = ok("api:payments-grpc", Some("component"), Some("ops"));
        assert_eq!(r, EntityRef::new("api", "ops", "payments-grpc"));
        let r = ok("team-a/x", Some("component"), Some("ops"));
        assert_eq!(r.namespace, "team-a");
        // Empty defaults count as absent.
        let r = ok("x", Some("component"), Some(""));
        assert_eq!(r.namespace, "default");
        assert!(EntityRef::parse("x", Some(" "), None).is_err());
    }

    #[test]
    fn keeps_case_but_compares_and_formats_lowercase() {
        let r = ok("Component:Default/Payments-API", None, None);
        assert_eq!(r.kind, "Component");
        assert_eq!(r.name, "Payments-API");
        assert_eq!(r.kind_lower(), "component");
        assert_eq!(r.to_string_ref(), "component:default/payments-api");
        assert_eq!(r.to_string(), "component:default/payments-api");
        assert!(r.is_kind("COMPONENT"));
        let lower = ok("component:default/payments-api", None, None);
        assert_eq!(r, lower);
        let set: HashSet<EntityRef> = [r, lower].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert_ne!(
            ok("api:x", None, None),
            ok("component:x", None, None),
            "different kinds differ"
        );
    }

    #[test]
    fn trims_surrounding_whitespace() {
        assert_eq!(
            ok("  user:guest \n", None, None),
            EntityRef::new("user", "default", "guest")
        );
    }

    #[test]
    fn round_trips_through_the_canonical_form() {
        let r = ok("API:Ops/Payments-GRPC", None, None);
        assert_eq!(ok(&r.to_string_ref(), None, None), r);
    }

    #[test]
    fn rejects_empty_parts() {
        for input in [
            "",
            "   ",
            ":x",
            "component:",
            "component:/x",
            "/x",
            "component:ns/",
            "ns/",
        ] {
            let e = err(input, Some("component"));
            assert!(
                e.to_string()
                    .contains("expected [<kind>:][<namespace>/]<name>"),
                "{e}"
            );
        }
    }

    #[test]
    fn rejects_separators_in_the_wrong_place() {
        for input in [
            "component:default:foo",
            "a/b/c",
            "component:ns/a/b",
            "ns/comp:x",
            "a:b:c/d",
        ] {
            let e = err(input, Some("component"));
            assert!(e.reason().contains("':' or '/'"), "{input}: {e}");
            assert_eq!(e.input(), input);
        }
    }

    #[test]
    fn missing_kind_without_default_is_actionable() {
        let e = err("payments-api", None);
        assert!(e.reason().contains("component:payments-api"), "{e}");
        let e = err("ops/payments-api", None);
        assert!(e.reason().contains("no kind"), "{e}");
    }

    #[test]
    fn rejects_whitespace_control_and_dot_parts() {
        for input in [
            "component:my service",
            "component:a\tb",
            "comp onent:x",
            "component:..",
            "./x",
            "component:.",
        ] {
            let e = err(input, Some("component"));
            assert!(!e.reason().is_empty(), "{input}");
        }
    }

    #[test]
    fn from_entity_reads_kind_namespace_and_name() {
        let e =
            serde_json::json!({"kind":"API","metadata":{"name":"payments-grpc","namespace":"ops"}});
        assert_eq!(
            EntityRef::from_entity(&e),
            Some(EntityRef::new("API", "ops", "payments-grpc"))
        );
        let no_ns = serde_json::json!({"kind":"Group","metadata":{"name":"web-team"}});
        let r = EntityRef::from_entity(&no_ns);
        assert_eq!(
            r.as_ref().map(EntityRef::to_string_ref).as_deref(),
            Some("group:default/web-team")
        );
        for bad in [
            serde_json::json!({"metadata":{"name":"x"}}),
            serde_json::json!({"kind":"API"}),
            serde_json::json!({"kind":"API","metadata":{"name":""}}),
            serde_json::json!({"kind":5,"metadata":{"name":"x"}}),
            serde_json::json!(null),
        ] {
            assert_eq!(EntityRef::from_entity(&bad), None, "{bad}");
        }
    }
}
