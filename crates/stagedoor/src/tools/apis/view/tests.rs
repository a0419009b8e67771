//! Unit tests of `view`.

use serde_json::json;

use super::*;

#[test]
fn missing_definition_says_what_to_check() {
    let e = json!({"kind": "API", "spec": {"type": "openapi"}});
    let err = definition_text(&e, "api:default/x").unwrap_err();
    assert!(
        err.message.contains("has no `spec.definition`"),
        "{}",
        err.message
    );
    let obj = json!({"spec": {"definition": {"openapi": "3.0.0"}}});
    let (t, note) = definition_text(&obj, "api:default/x").unwrap();
    assert!(t.contains("\"openapi\"") && note.is_some());
}

#[test]
fn a_component_is_not_an_api_and_its_apis_are_named() {
    let e = json!({"kind": "Component", "relations": [
        {"type": "providesApi", "targetRef": "api:default/a"},
        {"type": "consumesApi", "targetRef": "api:default/b"}]});
    let m = not_an_api("component:default/c", &e).message;
    assert!(
        m.contains("is a Component") && m.contains("api:default/a") && m.contains("api:default/b"),
        "{m}"
    );
}

#[test]
fn params_are_checked_per_view() {
    let p = |v: Value| -> GetApiSpecParams { serde_json::from_value(v).unwrap() };
    assert!(check_params(&p(json!({"entityRef": "x"})), SpecView::Operation).is_err());
    assert!(check_params(&p(json!({"entityRef": "x", "name": "a"})), SpecView::Full).is_err());
    assert!(
        check_params(
            &p(json!({"entityRef": "x", "maxBytes": 10})),
            SpecView::Full
        )
        .is_err()
    );
    assert!(check_params(&p(json!({"entityRef": "x", "limit": 0})), SpecView::Summary).is_err());
    assert!(check_params(&p(json!({"entityRef": "x", "name": "a"})), SpecView::Schema).is_ok());
}

fn output() -> GetApiSpecOutput {
    GetApiSpecOutput {
        entity_ref: "api:default/x".into(),
        title: None,
        api_type: "openapi".into(),
        view: "full".into(),
        format: String::new(),
        total_bytes: 0,
        summary: None,
        text: None,
        range: None,
        item: None,
        next_cursor: None,
        parse_error: None,
        notes: Vec::new(),
    }
}

#[test]
fn full_pages_concatenate_through_cursors() {
    let text = "line one é\nline two 🚀\n".repeat(100);
    let mut collected = String::new();
    let mut cursor: Option<SpecCursor> = None;
    for _ in 0..100 {
        let mut out = output();
        full(&mut out, &text, cursor.as_ref(), Some(256)).unwrap();
        collected.push_str(out.text.as_deref().unwrap());
        match out.next_cursor {
            Some(c) => cursor = Some(SpecCursor::decode(&c, "api:default/x").unwrap()),
            None => break,
        }
    }
    assert_eq!(collected, text);
}

#[test]
fn summary_pages_operations_and_lists_schemas_once() {
    let yaml = "openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n  /a: {get: {operationId: a}, post: {operationId: b}}\n  /c: {get: {operationId: c}}\ncomponents: {schemas: {S: {type: string}}}\n";
    let parsed = detect::parse("openapi", yaml);
    let mut first = output();
    summary(&mut first, &parsed, yaml, None, Some(2)).unwrap();
    let s = first.summary.as_ref().unwrap();
    assert_eq!(s["operations"].as_array().unwrap().len(), 2);
    assert_eq!(
        (
            &s["totalOperations"],
            &s["totalSchemas"],
            s["schemas"].as_array().map_or(0, Vec::len)
        ),
        (&json!(3), &json!(1), 1)
    );
    let c = SpecCursor::decode(first.next_cursor.as_deref().unwrap(), "api:default/x").unwrap();
    let mut second = output();
    summary(&mut second, &parsed, yaml, Some(&c), None).unwrap();
    let s2 = second.summary.unwrap();
    assert_eq!(s2["operations"][0]["name"], "c");
    assert_eq!(s2["operationsOffset"], 2);
    assert!(s2["schemas"].as_array().is_none_or(Vec::is_empty) && second.next_cursor.is_none());
}

#[test]
fn unparseable_definitions_degrade_or_refuse() {
    let bad = "openapi: [\n";
    let parsed = detect::parse("openapi", bad);
    let mut out = output();
    summary(&mut out, &parsed, bad, None, None).unwrap();
    assert!(out.summary.is_none() && out.notes[0].contains("view \"full\""));
    let err = item(&mut output(), &parsed, SpecView::Operation, "x").unwrap_err();
    assert!(
        err.message.contains("could not be parsed"),
        "{}",
        err.message
    );
}
