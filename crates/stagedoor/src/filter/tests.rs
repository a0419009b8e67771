//! Filter semantics: the official plugin's examples, minimatch corner cases, and config errors.

use serde_json::json;

use super::*;

const RO: Attributes = Attributes {
    read_only: true,
    destructive: false,
    idempotent: true,
};
const WRITE: Attributes = Attributes {
    read_only: false,
    destructive: false,
    idempotent: false,
};
const IDEM: Attributes = Attributes {
    read_only: false,
    destructive: false,
    idempotent: true,
};
const DESTROY_IDEM: Attributes = Attributes {
    read_only: false,
    destructive: true,
    idempotent: true,
};
const DESTROY: Attributes = Attributes {
    read_only: false,
    destructive: true,
    idempotent: false,
};

/// The testbed's 12 actions with the attributes Backstage resolves, plus curated ids.
fn tools() -> Vec<(&'static str, Attributes)> {
    vec![
        ("catalog:get-catalog-model-description", RO),
        ("catalog:get-catalog-entity", RO),
        ("catalog:validate-entity", RO),
        ("catalog:register-entity", WRITE),
        ("catalog:unregister-entity", DESTROY_IDEM),
        ("catalog:query-catalog-entities", RO),
        ("catalog:refresh-catalog-entity", IDEM),
        ("scaffolder:list-scaffolder-tasks", RO),
        ("scaffolder:dry-run-template", RO),
        ("scaffolder:list-scaffolder-actions", RO),
        ("scaffolder:execute-template", DESTROY),
        ("scaffolder:get-scaffolder-task-logs", RO),
        ("diagnostics:check_connection", RO),
        ("catalog:search_catalog", RO),
    ]
}

fn filter(v: serde_json::Value) -> Filter {
    match Filter::from_config("f", &v) {
        Ok(f) => f,
        Err((k, m)) => panic!("{k}: {m}"),
    }
}

fn kept(f: &Filter) -> Vec<&'static str> {
    tools()
        .into_iter()
        .filter(|(id, a)| f.allows(id, *a))
        .map(|(id, _)| id)
        .collect()
}

fn glob(p: &str) -> IdGlob {
    match IdGlob::new(p) {
        Ok(g) => g,
        Err(e) => panic!("{p}: {e}"),
    }
}

#[test]
fn no_rules_keep_everything() {
    let f = filter(json!({}));
    assert!(f.is_empty());
    assert_eq!(kept(&f).len(), tools().len());
    assert_eq!(
        kept(&filter(json!({"include": [], "exclude": null}))).len(),
        tools().len()
    );
}

#[test]
fn official_named_server_example_catalog_without_destructive() {
    // docs/ai/mcp-actions.md: a catalog-only server that cannot destroy anything.
    let f = filter(json!({
        "include": [{"id": "catalog:*"}],
        "exclude": [{"attributes": {"destructive": true}}]
    }));
    assert_eq!(
        kept(&f),
        vec![
            "catalog:get-catalog-model-description",
            "catalog:get-catalog-entity",
            "catalog:validate-entity",
            "catalog:register-entity",
            "catalog:query-catalog-entities",
            "catalog:refresh-catalog-entity",
            "catalog:search_catalog",
        ]
    );
}

#[test]
fn includes_are_ored_and_parts_of_a_rule_are_anded() {
    let f = filter(json!({
        "include": [
            {"id": "catalog:get-*"},
            {"id": "scaffolder:*", "attributes": {"readOnly": true, "idempotent": true}}
        ]
    }));
    assert_eq!(
        kept(&f),
        vec![
            "catalog:get-catalog-model-description",
            "catalog:get-catalog-entity",
            "scaffolder:list-scaffolder-tasks",
            "scaffolder:dry-run-template",
            "scaffolder:list-scaffolder-actions",
            "scaffolder:get-scaffolder-task-logs",
        ]
    );
}

#[test]
fn exclude_wins_over_include() {
    let f = filter(json!({
        "include": [{"id": "catalog:*"}],
        "exclude": [{"id": "catalog:*"}]
    }));
    assert!(kept(&f).is_empty());
    let f = filter(json!({
        "include": [{"attributes": {"readOnly": true}}],
        "exclude": [{"id": "*:list-*"}, {"id": "diagnostics:*"}]
    }));
    assert_eq!(
        kept(&f),
        vec![
            "catalog:get-catalog-model-description",
            "catalog:get-catalog-entity",
            "catalog:validate-entity",
            "catalog:query-catalog-entities",
            "scaffolder:dry-run-template",
            "scaffolder:get-scaffolder-task-logs",
            "catalog:search_catalog",
        ]
    );
}

#[test]
fn only_excludes_keep_the_rest() {
    let f = filter(json!({"exclude": [{"attributes": {"readOnly": false}}]}));
    assert!(
        kept(&f)
            .iter()
            .all(|id| tools().iter().any(|(t, a)| t == id && a.read_only))
    );
    assert_eq!(kept(&f).len(), 10);
}

#[test]
fn attribute_rules_compare_every_given_attribute() {
    let f = filter(json!({"include": [{"attributes": {"destructive": true, "idempotent": true}}]}));
    assert_eq!(kept(&f), vec!["catalog:unregister-entity"]);
    let f = filter(json!({"include": [{"attributes": {"readOnly": false, "destructive": false}}]}));
    assert_eq!(
        kept(&f),
        vec!["catalog:register-entity", "catalog:refresh-catalog-entity"]
    );
}

#[test]
fn an_empty_rule_or_empty_id_matches_everything() {
    assert_eq!(kept(&filter(json!({"include": [{}]}))).len(), tools().len());
    assert_eq!(
        kept(&filter(json!({"include": [{"id": ""}]}))).len(),
        tools().len()
    );
    assert!(kept(&filter(json!({"exclude": [{}]}))).is_empty());
}

#[test]
fn globs_follow_minimatch() {
    // `*` matches within a segment; action ids have no `/`, so it spans the whole id.
    assert!(glob("catalog:*").is_match("catalog:get-catalog-entity"));
    assert!(!glob("catalog:*").is_match("scaffolder:list-scaffolder-actions"));
    assert!(glob("*").is_match("catalog:get-catalog-entity"));
    assert!(glob("*:get-*").is_match("catalog:get-catalog-entity"));
    assert!(!glob("*:get-*").is_match("catalog:query-catalog-entities"));
    // Matching is on the whole id, case-sensitive.
    assert!(!glob("catalog").is_match("catalog:get-catalog-entity"));
    assert!(!glob("Catalog:*").is_match("catalog:get-catalog-entity"));
    // `?` is one character; classes and negated classes.
    assert!(glob("catalog:get-catalog-entit?").is_match("catalog:get-catalog-entity"));
    assert!(!glob("catalog:get-catalog-entit?").is_match("catalog:get-catalog-entities"));
    assert!(glob("[cs]*:*").is_match("scaffolder:x"));
    assert!(!glob("[!cs]*:*").is_match("scaffolder:x"));
    assert!(glob("[!cs]*:*").is_match("auth:who-am-i"));
    // Braces.
    assert!(glob("{catalog,scaffolder}:*").is_match("scaffolder:execute-template"));
    assert!(!glob("{catalog,scaffolder}:*").is_match("auth:who-am-i"));
    assert!(glob("catalog:{get,query}-*").is_match("catalog:query-catalog-entities"));
    assert!(glob("catalog:get-catalog-entity{,-v2}").is_match("catalog:get-catalog-entity"));
    // `*` and `?` do not cross `/`; `**` does when it is a whole path segment, and is a
    // plain `*` otherwise (a path-like id from a custom plugin).
    assert!(!glob("acme:*").is_match("acme:team/deploy"));
    assert!(!glob("acme:team?deploy").is_match("acme:team/deploy"));
    assert!(!glob("acme:**").is_match("acme:team/deploy"));
    assert!(glob("acme:team/**").is_match("acme:team/deploy/now"));
    assert!(glob("acme:*/*").is_match("acme:team/deploy"));
    assert!(glob("**/deploy").is_match("acme:team/deploy"));
    // `a**` is `a*`, as in minimatch.
    assert!(glob("catalog:get**").is_match("catalog:get-catalog-entity"));
    // Backslash escapes a glob character.
    assert!(glob(r"odd:a\*b").is_match("odd:a*b"));
    assert!(!glob(r"odd:a\*b").is_match("odd:axxb"));
    // Leading `!` negates (twice cancels); leading `#` is a comment matching nothing.
    assert!(glob("!catalog:*").is_match("scaffolder:x"));
    assert!(!glob("!catalog:*").is_match("catalog:x"));
    assert!(glob("!!catalog:*").is_match("catalog:x"));
    assert!(!glob("#catalog:*").is_match("catalog:x"));
    assert!(!glob("#").is_match("#"));
}

#[test]
fn unsupported_globs_are_refused_with_a_reason() {
    for p in ["@(catalog|scaffolder):*", "catalog:+(a)", "x:!(y)"] {
        let e = IdGlob::new(p).unwrap_err();
        assert!(e.contains("extglob"), "{p}: {e}");
    }
    let e = IdGlob::new("acme:v{1..3}").unwrap_err();
    assert!(e.contains("range"), "{e}");
    assert!(IdGlob::new("catalog:[").is_err());
}

#[test]
fn config_errors_name_the_rule() {
    // The docs bug: plain strings instead of rule mappings.
    let (key, msg) =
        Filter::from_config("backend.actions.filter", &json!({"include": ["catalog.*"]}))
            .unwrap_err();
    assert_eq!(key, "backend.actions.filter.include[0]");
    assert!(msg.contains("{id: 'catalog.*'}"), "{msg}");
    let (key, msg) = Filter::from_config(
        "f",
        &json!({"exclude": [{"id": "x", "attributes": {"readonly": true}}]}),
    )
    .unwrap_err();
    assert_eq!(key, "f.exclude[0]");
    assert!(msg.contains("readonly"), "{msg}");
    let (key, _) = Filter::from_config("f", &json!({"includes": []})).unwrap_err();
    assert_eq!(key, "f.includes");
    let (key, _) = Filter::from_config("f", &json!({"include": {"id": "x"}})).unwrap_err();
    assert_eq!(key, "f.include");
    let (key, msg) = Filter::from_config("f", &json!({"include": [{"id": "@(a|b)"}]})).unwrap_err();
    assert_eq!(key, "f.include[0]");
    assert!(msg.contains("extglob"), "{msg}");
}

#[test]
fn unmatched_rules_are_reported_with_their_label() {
    let f = filter(json!({
        "include": [{"id": "catalog:*"}, {"id": "catlog:*"}],
        "exclude": [{"attributes": {"destructive": true, "readOnly": true}}]
    }));
    let all = tools();
    let unmatched: Vec<&str> = f.unmatched(&all).iter().map(|r| r.label.as_str()).collect();
    assert_eq!(
        unmatched,
        vec![
            "f.include[1] {id: 'catlog:*'}",
            "f.exclude[0] {attributes: {readOnly: true, destructive: true}}"
        ]
    );
}
