//! Invariants over every tool definition, and the golden `tools/list` file.

use std::collections::HashSet;

use serde_json::Value;

use super::*;

#[test]
fn names_are_unique_valid_and_described() {
    let mut seen = HashSet::new();
    // Every tool of every mode (check_catalog is served only over a local catalog).
    for d in registry().iter().map(|e| &e.def) {
        assert!(
            seen.insert(d.name.clone()),
            "duplicate tool name {}",
            d.name
        );
        assert!(
            !d.name.is_empty()
                && d.name.len() <= 64
                && d.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "tool name {} is not [a-z0-9_]{{1,64}}",
            d.name
        );
        assert!(d.id.ends_with(&format!(":{}", d.name)), "{}", d.id);
        assert!(
            d.description.len() > 40,
            "{} needs a real description",
            d.name
        );
        assert!(d.summary().len() <= d.description.len());
    }
}

#[test]
fn schemas_are_inline_object_schemas() {
    // Every tool of every mode (check_catalog is served only over a local catalog).
    for d in registry().iter().map(|e| &e.def) {
        for (what, schema) in [("input", &d.input_schema), ("output", &d.output_schema)] {
            assert_eq!(
                schema.get("type"),
                Some(&Value::String("object".into())),
                "{} {what} schema must be an object schema",
                d.name
            );
            let text = Value::Object(schema.clone()).to_string();
            assert!(
                !text.contains("$ref"),
                "{} {what} schema has a $ref",
                d.name
            );
            assert!(
                !text.contains("$schema"),
                "{} {what} schema has $schema",
                d.name
            );
        }
    }
}

#[test]
fn find_and_unknown() {
    assert!(find("search_catalog").is_some());
    assert!(find("nope").is_none());
}

#[test]
fn local_mode_lists_no_backstage_only_tools() {
    let local: Vec<&str> = definitions_for(true)
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    let remote: Vec<&str> = definitions_for(false)
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert!(local.contains(&"check_catalog") && !local.contains(&"check_connection"));
    assert!(remote.contains(&"check_connection") && !remote.contains(&"check_catalog"));
    for name in [
        "search_catalog",
        "get_entity",
        "get_entities",
        "get_related_entities",
        "list_entity_facets",
    ] {
        assert!(local.contains(&name) && remote.contains(&name), "{name}");
    }
    assert_eq!(definitions().len(), remote.len());
}
