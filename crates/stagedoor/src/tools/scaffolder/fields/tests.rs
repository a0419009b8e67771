//! Flattening and guidance, on the testbed's own template shapes and on conditional schemas.

use serde_json::json;

use super::*;
use crate::tools::scaffolder::guidance::catalog_arguments;

fn step(title: &str, schema: Value) -> ParameterStep {
    ParameterStep {
        title: title.into(),
        description: None,
        schema,
    }
}

/// The parameter-schema answer for `create-node-service`, as the testbed returns it.
fn create_node_service() -> Vec<ParameterStep> {
    vec![
        step(
            "Service details",
            json!({"title": "Service details", "required": ["name", "owner"], "properties": {
                "name": {"title": "Name", "type": "string", "description": "Unique name of the service, lowercase with dashes",
                         "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "ui:autofocus": true, "ui:help": "For example: basket-service"},
                "description": {"title": "Description", "type": "string", "default": "A Quillmart Node.js service"},
                "owner": {"title": "Owner", "type": "string", "ui:field": "OwnerPicker",
                          "ui:options": {"catalogFilter": {"kind": "Group"}}}
            }}),
        ),
        step(
            "Placement",
            json!({"required": ["system"], "properties": {
                "system": {"type": "string", "ui:field": "EntityPicker",
                           "ui:options": {"catalogFilter": {"kind": "System"}, "defaultKind": "System"}},
                "lifecycle": {"type": "string", "enum": ["experimental", "production"], "default": "experimental"},
                "port": {"type": "integer", "minimum": 1024, "maximum": 65535, "default": 8080}
            }}),
        ),
    ]
}

#[test]
fn every_page_is_flattened_in_form_order() {
    let fields = flatten(&create_node_service());
    let names: Vec<(&str, usize, bool)> = fields
        .iter()
        .map(|f| (f.name.as_str(), f.step, f.required))
        .collect();
    assert_eq!(
        names,
        vec![
            ("name", 1, true),
            ("description", 1, false),
            ("owner", 1, true),
            ("system", 2, true),
            ("lifecycle", 2, false),
            ("port", 2, false),
        ]
    );
    let name = &fields[0];
    assert_eq!(name.pattern.as_deref(), Some("^[a-z0-9]+(-[a-z0-9]+)*$"));
    assert_eq!(name.ui_help.as_deref(), Some("For example: basket-service"));
    assert_eq!(name.step_title, "Service details");
    assert!(name.guidance.is_none());
    let port = &fields[5];
    assert_eq!(port.field_type.as_deref(), Some("integer"));
    assert_eq!(port.minimum, Some(json!(1024)));
    assert_eq!(port.maximum, Some(json!(65535)));
    assert_eq!(port.default, Some(json!(8080)));
    assert_eq!(
        fields[4].enum_values,
        Some(vec![json!("experimental"), json!("production")])
    );
    assert_eq!(
        top_level_names(&fields),
        vec![
            "name",
            "description",
            "owner",
            "system",
            "lifecycle",
            "port"
        ]
    );
}

#[test]
fn pickers_name_the_search_catalog_call() {
    let fields = flatten(&create_node_service());
    let owner = fields[2].guidance.as_ref().expect("owner guidance");
    assert_eq!(owner.tool.as_deref(), Some("search_catalog"));
    assert_eq!(owner.arguments, Some(json!({"kind": "Group"})));
    let system = fields[3].guidance.as_ref().expect("system guidance");
    assert_eq!(system.arguments, Some(json!({"kind": "System"})));
    assert!(
        system.text.contains("bare name is read as kind System"),
        "{}",
        system.text
    );
    assert!(system.value_format.contains("kind:namespace/name"));
}

#[test]
fn catalog_filters_and_allowed_kinds_become_filter_expressions() {
    // No options: OwnerPicker's own default kinds.
    assert_eq!(
        catalog_arguments(&json!({}), &["Group", "User"]),
        json!({"filter": "kind=Group,kind=User"})
    );
    assert_eq!(
        catalog_arguments(&json!({"allowedKinds": ["Group"]}), &["Group", "User"]),
        json!({"kind": "Group"})
    );
    // An array of filters is ORed; each value list is ORed inside one expression; `exists`.
    assert_eq!(
        catalog_arguments(
            &json!({"catalogFilter": [
                {"kind": "Component", "spec.lifecycle": "production"},
                {"kind": ["API", "Resource"], "metadata.annotations.backstage.io/techdocs-ref": {"exists": true}}
            ]}),
            &[]
        ),
        json!({"filter": [
            "kind=Component,spec.lifecycle=production",
            "kind=API,kind=Resource,metadata.annotations.backstage.io/techdocs-ref"
        ]})
    );
    assert_eq!(
        catalog_arguments(
            &json!({"catalogFilter": {"spec.type": "service"}, "allowedKinds": ["Component"]}),
            &[]
        ),
        json!({"filter": "spec.type=service,kind=Component"})
    );
    assert_eq!(catalog_arguments(&json!({}), &[]), json!({}));
}

#[test]
fn repo_url_picker_gives_format_and_allowed_hosts() {
    let steps = vec![step(
        "Repository",
        json!({"properties": {"repoUrl": {"type": "string", "ui:field": "RepoUrlPicker",
            "ui:options": {"allowedHosts": ["github.com", "gitlab.example.com"], "allowedOwners": ["quillmart"]}}}}),
    )];
    let f = &flatten(&steps)[0];
    let g = f.guidance.as_ref().expect("guidance");
    assert_eq!(g.value_format, "host?owner=OWNER&repo=REPO");
    assert_eq!(
        g.example,
        Some(json!("github.com?owner=quillmart&repo=REPO"))
    );
    assert!(
        g.text
            .contains("host one of github.com, gitlab.example.com"),
        "{}",
        g.text
    );
    assert!(g.text.contains("owner one of quillmart"), "{}", g.text);
    assert!(g.tool.is_none());
}

#[test]
fn other_custom_fields_and_multi_pickers_are_explained() {
    let steps = vec![step(
        "S",
        json!({"properties": {
            "consumers": {"type": "array", "items": {"type": "string"}, "ui:field": "MultiEntityPicker",
                          "ui:options": {"catalogFilter": {"kind": "Component"}}},
            "mine": {"type": "string", "ui:field": "OwnedEntityPicker", "ui:options": {"allowedKinds": ["Group"]}},
            "tags": {"type": "array", "ui:field": "EntityTagsPicker", "ui:options": {"kinds": ["Component"]}},
            "weird": {"type": "string", "ui:field": "AcmeCostCenterPicker"},
            "token": {"type": "string", "ui:widget": "password"}
        }}),
    )];
    let fields = flatten(&steps);
    let g = |i: usize| fields[i].guidance.clone().expect("guidance");
    assert!(g(0).value_format.starts_with("an array of entity refs"));
    assert_eq!(g(0).arguments, Some(json!({"kind": "Component"})));
    assert_eq!(fields[0].items, Some(json!({"type": "string"})));
    assert_eq!(
        g(1).arguments,
        Some(json!({"kind": "Group", "owner": "<your user or group ref>"}))
    );
    assert_eq!(g(2).tool.as_deref(), Some("list_entity_facets"));
    assert_eq!(
        g(2).arguments,
        Some(json!({"facets": ["metadata.tags"], "kind": "Component"}))
    );
    assert!(g(3).text.contains("AcmeCostCenterPicker"));
    assert!(g(4).text.contains("Sensitive"));
}

#[test]
fn conditional_fields_carry_their_condition() {
    let steps = vec![step(
        "S",
        json!({
            "properties": {"kind": {"type": "string", "enum": ["lib", "svc"]}, "nested": {"type": "object",
                "properties": {"a": {"type": "string", "default": "x"}}, "required": ["a"]}},
            "dependencies": {"kind": {"oneOf": [
                {"properties": {"kind": {"enum": ["svc"]}, "port": {"type": "integer"}}, "required": ["port"]},
                {"properties": {"kind": {"enum": ["lib"]}}}
            ]}},
            "allOf": [{"if": {"properties": {"kind": {"const": "lib"}}}, "then": {"properties": {"registry": {"type": "string"}}},
                       "else": {"properties": {"replicas": {"type": "integer"}}}}]
        }),
    )];
    let fields = flatten(&steps);
    let by = |n: &str| fields.iter().find(|f| f.name == n).cloned().expect(n);
    assert!(by("nested.a").required);
    assert_eq!(by("nested.a").default, Some(json!("x")));
    assert_eq!(by("port").condition.as_deref(), Some("`kind` is \"svc\""));
    assert!(by("port").required);
    assert_eq!(
        by("registry").condition.as_deref(),
        Some("`kind` is \"lib\"")
    );
    assert_eq!(
        by("replicas").condition.as_deref(),
        Some("not (`kind` is \"lib\")")
    );
    // The controlling field is not listed twice.
    assert_eq!(fields.iter().filter(|f| f.name == "kind").count(), 1);
    assert_eq!(
        top_level_names(&fields),
        vec!["kind", "nested", "port", "registry", "replicas"]
    );
}

#[test]
fn huge_forms_are_bounded() {
    let props: Map<String, Value> = (0..1000)
        .map(|i| (format!("f{i}"), json!({"type": "string"})))
        .collect();
    let steps = vec![step("S", json!({ "properties": props }))];
    assert_eq!(flatten(&steps).len(), MAX_FIELDS);
}
