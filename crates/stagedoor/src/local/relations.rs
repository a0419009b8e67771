//! Relations as Backstage's `BuiltinKindsEntityProcessor` (and the scaffolder's entity
//! processor for `Template.spec.owner`) compute them.
//!
//! Each field emits a relation from the entity to every target and the reverse relation from
//! the target back, with Backstage's shorthand rules: a target written without a kind gets
//! the field's default kind (`Group` for owners, `API` for APIs, ...), and one without a
//! namespace gets the entity's own namespace. Fields without a default kind (`dependsOn`,
//! `dependencyOf`) need the kind written out, exactly as in Backstage, where the entity then
//! fails processing. Refs are stored lowercase (`stringifyEntityRef`).

use serde_json::Value;

use super::validate::Invalid;

/// One reference an entity makes: the relation from the entity to `target`, and the one
/// back (`ownedBy` and `ownerOf`, ...). `target` is a full lowercase ref.
pub(crate) type Target = (&'static str, &'static str, String);

/// A relation field of a kind: (field, default kind, outgoing type, incoming type).
type Field = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

const OWNER: Field = ("owner", Some("Group"), "ownedBy", "ownerOf");

fn fields_of(kind: &str, api_version: &str) -> &'static [Field] {
    match kind {
        "Component" => &[
            OWNER,
            ("subcomponentOf", Some("Component"), "partOf", "hasPart"),
            ("providesApis", Some("API"), "providesApi", "apiProvidedBy"),
            ("consumesApis", Some("API"), "consumesApi", "apiConsumedBy"),
            ("dependsOn", None, "dependsOn", "dependencyOf"),
            ("dependencyOf", None, "dependencyOf", "dependsOn"),
            ("system", Some("System"), "partOf", "hasPart"),
        ],
        "API" => &[OWNER, ("system", Some("System"), "partOf", "hasPart")],
        "Resource" => &[
            OWNER,
            ("dependsOn", None, "dependsOn", "dependencyOf"),
            ("dependencyOf", None, "dependencyOf", "dependsOn"),
            ("system", Some("System"), "partOf", "hasPart"),
        ],
        "User" => &[("memberOf", Some("Group"), "memberOf", "hasMember")],
        "Group" => &[
            ("parent", Some("Group"), "childOf", "parentOf"),
            ("children", Some("Group"), "parentOf", "childOf"),
            ("members", Some("User"), "hasMember", "memberOf"),
        ],
        "System" => &[OWNER, ("domain", Some("Domain"), "partOf", "hasPart")],
        "Domain" => &[OWNER, ("subdomainOf", Some("Domain"), "partOf", "hasPart")],
        "Template" if api_version == "scaffolder.backstage.io/v1beta3" => &[OWNER],
        _ => &[],
    }
}

/// The spec arrays Backstage sorts before processing (`preProcessEntity`), when every item
/// is a string.
const SORTED_FIELDS: [&str; 7] = [
    "providesApis",
    "consumesApis",
    "dependsOn",
    "dependencyOf",
    "memberOf",
    "children",
    "members",
];

/// Sorts the reference lists of `spec` as Backstage does (JavaScript's default sort, which
/// for these ASCII refs is byte order).
pub(crate) fn sort_reference_lists(entity: &mut Value) {
    let Some(spec) = entity.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for f in SORTED_FIELDS {
        if let Some(Value::Array(items)) = spec.get_mut(f)
            && items.iter().all(Value::is_string)
        {
            items.sort_by(|a, b| {
                let (a, b) = (
                    a.as_str().unwrap_or_default(),
                    b.as_str().unwrap_or_default(),
                );
                a.encode_utf16().cmp(b.encode_utf16())
            });
        }
    }
}

/// A parsed reference `kind:namespace/name`, as written (not lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ref {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Ref {
    /// The lowercase string form Backstage stores (`stringifyEntityRef`).
    pub(crate) fn key(&self) -> String {
        format!(
            "{}:{}/{}",
            self.kind.to_lowercase(),
            self.namespace.to_lowercase(),
            self.name.to_lowercase()
        )
    }
}

/// `parseEntityRef(ref, { defaultKind, defaultNamespace })` of `@backstage/catalog-model`.
pub(crate) fn parse_ref(
    input: &str,
    default_kind: Option<&str>,
    default_namespace: &str,
) -> Result<Ref, String> {
    if input.is_empty() {
        return Err("Entity reference must not be empty".into());
    }
    let slash = input.find('/');
    let mut colon = input.find(':');
    if let (Some(s), Some(c)) = (slash, colon)
        && s < c
    {
        colon = None;
    }
    let kind = colon.map(|c| &input[..c]);
    let namespace = slash.map(|s| &input[colon.map_or(0, |c| c + 1)..s]);
    let name = &input[colon.map_or(0, |c| c + 1).max(slash.map_or(0, |s| s + 1))..];
    if kind == Some("") || namespace == Some("") || name.is_empty() {
        return Err(format!(
            "Entity reference \"{input}\" was not on the form [<kind>:][<namespace>/]<name>"
        ));
    }
    let Some(kind) = kind.or(default_kind) else {
        return Err(format!(
            "Entity reference \"{input}\" had missing or empty kind (e.g. did not start with \"component:\" or similar)"
        ));
    };
    Ok(Ref {
        kind: kind.to_string(),
        namespace: namespace.unwrap_or(default_namespace).to_string(),
        name: name.to_string(),
    })
}

/// Every reference an entity makes, or the first one that cannot be parsed (Backstage then
/// rejects the whole entity).
pub(crate) fn emit(entity: &Value) -> Result<Vec<Target>, Invalid> {
    let kind = entity["kind"].as_str().unwrap_or_default();
    let api_version = entity["apiVersion"].as_str().unwrap_or_default();
    let namespace = entity["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let mut out = Vec::new();
    for (field, default_kind, outgoing, incoming) in fields_of(kind, api_version) {
        let targets: Vec<(Option<usize>, &str)> = match entity["spec"].get(*field) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => vec![(None, s.as_str())],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (Some(i), v.as_str().unwrap_or_default()))
                .collect(),
            Some(_) => continue,
        };
        for (i, t) in targets {
            let target = parse_ref(t, *default_kind, namespace).map_err(|e| {
                let i = i.map(|i| i.to_string());
                let mut path = vec!["spec", *field];
                if let Some(i) = &i {
                    path.push(i);
                }
                Invalid::at(&path, format!("`spec.{field}`: {e}"))
            })?;
            out.push((*outgoing, *incoming, target.key()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn refs_parse_like_catalog_model() {
        let r = |s, k, n| parse_ref(s, k, n).map(|r| r.key());
        assert_eq!(
            r("team-a", Some("Group"), "ops").unwrap(),
            "group:ops/team-a"
        );
        assert_eq!(
            r("user:jane", Some("Group"), "ops").unwrap(),
            "user:ops/jane"
        );
        assert_eq!(
            r("other/team", Some("Group"), "ops").unwrap(),
            "group:other/team"
        );
        assert_eq!(
            r("Component:NS/Web", None, "ops").unwrap(),
            "component:ns/web"
        );
        // A slash before the colon means the colon belongs to the name.
        assert_eq!(r("ns/a:b", Some("API"), "x").unwrap(), "api:ns/a:b");
        assert!(
            r("db", None, "default")
                .unwrap_err()
                .contains("missing or empty kind")
        );
        assert!(r("component:", None, "default").is_err());
        assert!(r(":x", None, "default").is_err());
        assert!(r("", None, "default").is_err());
    }

    #[test]
    fn components_emit_every_reference() {
        let e = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"owner": "team", "system": "default/sales", "providesApis": ["web-api"],
                     "consumesApis": ["api:pay"], "dependsOn": ["resource:db"], "subcomponentOf": "site"}});
        let t = emit(&e).unwrap();
        let has = |o: &str, i: &str, target: &str| {
            t.iter().any(|x| x.0 == o && x.1 == i && x.2 == target)
        };
        assert!(has("ownedBy", "ownerOf", "group:shop/team"));
        assert!(has("partOf", "hasPart", "system:default/sales"));
        assert!(has("partOf", "hasPart", "component:shop/site"));
        assert!(has("providesApi", "apiProvidedBy", "api:shop/web-api"));
        assert!(has("consumesApi", "apiConsumedBy", "api:shop/pay"));
        assert!(has("dependsOn", "dependencyOf", "resource:shop/db"));
        assert_eq!(t.len(), 6);
    }

    #[test]
    fn groups_users_and_templates() {
        let g = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Group", "metadata": {"name": "g", "namespace": "default"},
            "spec": {"type": "team", "parent": "root", "children": ["c"], "members": ["u"]}});
        let t = emit(&g).unwrap();
        assert!(t.contains(&("childOf", "parentOf", "group:default/root".to_string())));
        assert!(t.contains(&("parentOf", "childOf", "group:default/c".to_string())));
        assert!(t.contains(&("hasMember", "memberOf", "user:default/u".to_string())));
        let tpl = json!({"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template", "metadata": {"name": "t", "namespace": "default"},
            "spec": {"owner": "user:jane", "type": "x", "steps": []}});
        assert_eq!(
            emit(&tpl).unwrap(),
            [("ownedBy", "ownerOf", "user:default/jane".to_string())]
        );
    }

    #[test]
    fn a_dependency_without_kind_rejects_the_entity() {
        let e = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Resource", "metadata": {"name": "r", "namespace": "default"},
            "spec": {"type": "db", "owner": "o", "dependsOn": ["resource:ok", "bare"]}});
        let i = emit(&e).unwrap_err();
        assert_eq!(i.path, ["spec", "dependsOn", "1"]);
        assert!(i.message.contains("missing or empty kind"), "{}", i.message);
    }

    #[test]
    fn reference_lists_are_sorted() {
        let mut e =
            json!({"spec": {"dependsOn": ["b", "a"], "members": ["z", 1], "other": ["b", "a"]}});
        sort_reference_lists(&mut e);
        assert_eq!(e["spec"]["dependsOn"], json!(["a", "b"]));
        assert_eq!(e["spec"]["members"], json!(["z", 1]));
        assert_eq!(e["spec"]["other"], json!(["b", "a"]));
    }
}
