//! Invariants over every tool definition, and the golden `tools/list` file.

use std::collections::HashSet;

use super::*;

#[test]
fn names_are_unique_valid_and_described() {
    let mut seen = HashSet::new();
    for d in definitions() {
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
    for d in definitions() {
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
