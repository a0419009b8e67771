//! Unit tests of `graphql`.

use super::*;

const SDL: &str = r#"
"""Shop."""
scalar DateTime
enum Status { OPEN CLOSED }
type Order { id: ID!, status: Status!, placedAt: DateTime }
input NewOrder { sku: ID!, quantity: Int = 1 }
union Thing = Order | Status
type Query {
  "One order."
  order(id: ID!): Order
  orders(first: Int = 10, after: String): [Order!]!
}
type Mutation { place(input: NewOrder!): Order! @deprecated(reason: "use placeV2") }
extend type Query { health: Boolean! }
"#;

#[test]
fn root_fields_with_arguments_and_types() {
    let s = parse(SDL);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let sum = summarize(&s);
    let ops: Vec<(&str, &str)> = sum
        .operations
        .iter()
        .map(|o| (o.method.as_str(), o.name.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("query", "Query.order"),
            ("query", "Query.orders"),
            ("query", "Query.health"),
            ("mutation", "Mutation.place")
        ]
    );
    assert_eq!(sum.operations[0].arguments, vec!["id: ID!".to_string()]);
    assert_eq!(sum.operations[0].summary.as_deref(), Some("One order."));
    assert_eq!(
        sum.operations[1].arguments,
        vec!["first: Int = 10".to_string(), "after: String".to_string()]
    );
    assert_eq!(sum.operations[1].response.as_deref(), Some("[Order!]!"));
    assert!(sum.operations[3].deprecated);
    let types: Vec<(&str, &str)> = sum
        .schemas
        .iter()
        .map(|t| (t.name.as_str(), t.kind.as_str()))
        .collect();
    assert_eq!(
        types,
        vec![
            ("DateTime", "scalar"),
            ("Status", "enum"),
            ("Order", "object"),
            ("NewOrder", "input"),
            ("Thing", "union")
        ]
    );
}

#[test]
fn operation_inlines_used_types_and_schema_by_name() {
    let s = parse(SDL);
    let op = operation(&s, "place").unwrap();
    assert_eq!(op.name, "Mutation.place");
    assert_eq!(
        op.resolved_refs,
        vec!["NewOrder".to_string(), "Order".to_string()]
    );
    assert_eq!(
        op.definition["referencedTypes"][0]["fields"][1]["type"],
        "Int"
    );
    assert_eq!(operation(&s, "query.ORDER").unwrap().name, "Query.order");
    assert!(operation(&s, "ordr").unwrap_err().contains("order"));
    let st = schema(&s, "status").unwrap();
    assert_eq!(st.definition["values"], json!(["OPEN", "CLOSED"]));
    let q = schema(&s, "Query").unwrap();
    assert_eq!(
        q.definition["fields"].as_array().unwrap().len(),
        3,
        "extension merged"
    );
    assert!(
        q.definition["sdl"]
            .as_str()
            .unwrap()
            .contains("extend type Query")
    );
    assert_eq!(
        schema(&s, "Thing").unwrap().definition["members"],
        json!(["Order", "Status"])
    );
}

#[test]
fn schema_definition_renames_roots() {
    let s = parse("schema { query: Root } type Root { ping: String }");
    let sum = summarize(&s);
    assert_eq!(sum.operations[0].name, "Root.ping");
    assert!(sum.schemas.is_empty());
}

#[test]
fn malformed_sdl_keeps_what_it_read_and_names_the_error() {
    let s = parse("type Query { ok: String }\ntype Broken { x: }\n");
    assert!(!s.errors.is_empty());
    assert!(s.errors[0].starts_with("2:"), "{:?}", s.errors);
    assert_eq!(summarize(&s).operations[0].name, "Query.ok");
}
