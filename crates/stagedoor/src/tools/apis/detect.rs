//! Recognising and parsing an API definition: by `spec.type` first, by content for types
//! stagedoor does not know (`other`, `trpc`, ...).

use serde_json::Value;

use super::graphql::{self, Schema};
use super::model::{Found, Summary};
use super::proto::{self, ProtoFile};
use super::{asyncapi, openapi};

/// A definition parsed into something stagedoor can summarise.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Spec {
    /// OpenAPI 3.x or Swagger 2.0, as a JSON tree.
    OpenApi(Value),
    /// AsyncAPI 2.x or 3.x, as a JSON tree.
    AsyncApi(Value),
    /// GraphQL SDL (possibly with parse errors: a partial read).
    GraphQl(Schema),
    /// A protobuf file.
    Proto(Box<ProtoFile>),
}

/// The outcome of parsing: a spec, or why not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parsed {
    /// What the definition was recognised as (`openapi 3.0.3`, `graphql`, `unrecognised`, ...).
    pub(crate) format: String,
    /// The parsed spec; `None` when it could not be parsed or recognised.
    pub(crate) spec: Option<Spec>,
    /// The parse error (or the errors of a partial GraphQL read).
    pub(crate) error: Option<String>,
}

impl Parsed {
    fn ok(format: String, spec: Spec) -> Self {
        Self {
            format,
            spec: Some(spec),
            error: None,
        }
    }

    fn failed(format: &str, error: String) -> Self {
        Self {
            format: format.to_string(),
            spec: None,
            error: Some(error),
        }
    }

    /// The summary of the parsed spec, if any.
    pub(crate) fn summary(&self) -> Option<Summary> {
        Some(match self.spec.as_ref()? {
            Spec::OpenApi(doc) => openapi::summarize(doc),
            Spec::AsyncApi(doc) => asyncapi::summarize(doc),
            Spec::GraphQl(s) => graphql::summarize(s),
            Spec::Proto(p) => proto::summarize(p),
        })
    }

    /// One operation by name.
    pub(crate) fn operation(&self, name: &str) -> Option<Result<Found, String>> {
        Some(match self.spec.as_ref()? {
            Spec::OpenApi(doc) => openapi::operation(doc, name),
            Spec::AsyncApi(doc) => asyncapi::operation(doc, name),
            Spec::GraphQl(s) => graphql::operation(s, name),
            Spec::Proto(p) => proto::operation(p, name),
        })
    }

    /// One schema, type or message by name.
    pub(crate) fn schema(&self, name: &str) -> Option<Result<Found, String>> {
        Some(match self.spec.as_ref()? {
            Spec::OpenApi(doc) => openapi::schema(doc, name),
            Spec::AsyncApi(doc) => asyncapi::schema(doc, name),
            Spec::GraphQl(s) => graphql::schema(s, name),
            Spec::Proto(p) => proto::schema(p, name),
        })
    }
}

/// Parses YAML or JSON into a JSON tree. JSON is tried first when the text looks like it,
/// so its error messages are JSON's.
pub(crate) fn parse_structured(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{')
        && let Ok(v) = serde_json::from_str::<Value>(text)
    {
        return Ok(v);
    }
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

fn structured(text: &str, declared: &str) -> Parsed {
    let doc = match parse_structured(text) {
        Ok(doc) => doc,
        Err(e) => return Parsed::failed(declared, format!("not valid YAML or JSON: {e}")),
    };
    if !doc.is_object() {
        return Parsed::failed(
            declared,
            "the definition is not a YAML/JSON mapping".to_string(),
        );
    }
    if doc.get("openapi").is_some() || doc.get("swagger").is_some() {
        return Parsed::ok(openapi::format_label(&doc), Spec::OpenApi(doc));
    }
    if doc.get("asyncapi").is_some() {
        return Parsed::ok(asyncapi::format_label(&doc), Spec::AsyncApi(doc));
    }
    Parsed::failed(
        declared,
        format!(
            "valid YAML/JSON, but not an {declared} document: no top-level `openapi`, `swagger` or `asyncapi` field"
        ),
    )
}

fn graphql_of(text: &str) -> Parsed {
    let schema = graphql::parse(text);
    let error = (!schema.errors.is_empty()).then(|| {
        format!(
            "GraphQL syntax errors (the summary shows what could be read): {}",
            schema.errors.join("; ")
        )
    });
    Parsed {
        format: "graphql".into(),
        spec: Some(Spec::GraphQl(schema)),
        error,
    }
}

fn proto_of(text: &str) -> Parsed {
    match proto::parse(text) {
        Ok(p) => Parsed::ok(proto::format_label(&p), Spec::Proto(Box::new(p))),
        Err(e) => Parsed::failed("protobuf", format!("protobuf syntax error at {e}")),
    }
}

/// Parses `text` as the kind `spec.type` says; unknown types are recognised by content.
pub(crate) fn parse(api_type: &str, text: &str) -> Parsed {
    match api_type.trim().to_ascii_lowercase().as_str() {
        "openapi" | "swagger" => structured(text, "openapi"),
        "asyncapi" => structured(text, "asyncapi"),
        "graphql" => graphql_of(text),
        "grpc" | "protobuf" | "proto" => proto_of(text),
        _ => sniff(text),
    }
}

fn sniff(text: &str) -> Parsed {
    let head: String = text.chars().take(4096).collect();
    if let Ok(doc) = parse_structured(text)
        && doc.is_object()
        && ["openapi", "swagger", "asyncapi"]
            .iter()
            .any(|k| doc.get(*k).is_some())
    {
        return structured(text, "openapi");
    }
    let proto_like = head.contains("syntax = \"proto")
        || (head.contains("message ") && (head.contains("package ") || head.contains("service ")));
    if proto_like && let Ok(p) = proto::parse(text) {
        return Parsed::ok(proto::format_label(&p), Spec::Proto(Box::new(p)));
    }
    if head.contains("type Query") || head.contains("schema {") || head.contains("type Mutation") {
        let g = graphql_of(text);
        if g.error.is_none() {
            return g;
        }
    }
    Parsed {
        format: "unrecognised".into(),
        spec: None,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_integer_keys_and_anchors_parses() {
        let yaml = "openapi: 3.0.0\ninfo: {title: T, version: 1.0}\npaths:\n  /x:\n    get:\n      responses:\n        200: &ok {description: ok}\n        404: *ok\n";
        let p = parse("openapi", yaml);
        assert_eq!(p.format, "openapi 3.0.0");
        assert!(p.error.is_none(), "{:?}", p.error);
        let Some(Spec::OpenApi(doc)) = &p.spec else {
            panic!("not openapi")
        };
        assert_eq!(
            doc["paths"]["/x"]["get"]["responses"]["404"]["description"],
            "ok"
        );
    }

    #[test]
    fn json_definitions_parse() {
        let p = parse(
            "openapi",
            r#"{"swagger": "2.0", "info": {"title": "J"}, "paths": {}}"#,
        );
        assert_eq!(p.format, "swagger 2.0");
    }

    #[test]
    fn malformed_yaml_names_the_error() {
        let p = parse("openapi", "openapi: 3.0.0\npaths:\n  /x: [unclosed\n");
        assert!(p.spec.is_none());
        let e = p.error.unwrap();
        assert!(e.starts_with("not valid YAML or JSON"), "{e}");
        let q = parse("asyncapi", "just: a mapping\n");
        assert!(q.error.unwrap().contains("not an asyncapi document"));
        let r = parse("openapi", "- a list\n");
        assert!(r.error.unwrap().contains("not a YAML/JSON mapping"));
    }

    #[test]
    fn declared_type_and_content_can_disagree() {
        // An AsyncAPI document filed as openapi is still recognised.
        let p = parse(
            "openapi",
            "asyncapi: 2.6.0\ninfo: {title: T, version: '1'}\nchannels: {}\n",
        );
        assert_eq!(p.format, "asyncapi 2.6.0");
    }

    #[test]
    fn unknown_types_are_sniffed_or_unrecognised() {
        assert_eq!(
            parse("other", "openapi: 3.1.0\ninfo: {title: T}\n").format,
            "openapi 3.1.0"
        );
        assert_eq!(
            parse("other", "syntax = \"proto3\";\nmessage A {}\n").format,
            "protobuf (proto3)"
        );
        assert_eq!(parse("other", "type Query { a: Int }").format, "graphql");
        let u = parse("trpc", "export const appRouter = router({});");
        assert_eq!(u.format, "unrecognised");
        assert!(u.spec.is_none() && u.error.is_none());
    }

    #[test]
    fn broken_proto_and_graphql_are_reported() {
        let p = parse(
            "grpc",
            "syntax = \"proto3\";\nservice S { rpc A( returns (B); }\n",
        );
        assert!(p.spec.is_none());
        assert!(p.error.unwrap().starts_with("protobuf syntax error at 2:"));
        let g = parse("graphql", "type Query { a: Int }\ntype { }");
        assert!(g.spec.is_some(), "partial read kept");
        assert!(g.error.unwrap().contains("GraphQL syntax errors"));
    }
}
