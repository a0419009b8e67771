//! The shapes every spec format is summarised into: one operation list, one schema list.
//!
//! OpenAPI operations, AsyncAPI operations, GraphQL root fields and gRPC rpcs all become an
//! [`OperationInfo`] whose `name` is what `get_api_spec` accepts back with
//! `view: "operation"`; component schemas, GraphQL types and protobuf messages become a
//! [`SchemaInfo`] whose `name` is accepted with `view: "schema"`.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// Longest summary or description kept for one operation.
pub(crate) const OPERATION_TEXT_CHARS: usize = 200;

/// One server an API is reachable at, as the spec declares it (never contacted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// URL or host as written in the spec (variables left as `{name}`).
    pub url: String,
    /// Server name (AsyncAPI servers are named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Protocol (AsyncAPI), e.g. `kafka`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Description, shortened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One operation: an HTTP operation, an AsyncAPI operation, a GraphQL root field or an rpc.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationInfo {
    /// Pass this as `name` with `view: "operation"`: the operationId, or `METHOD /path`
    /// (OpenAPI); the operation id or `action channel` (AsyncAPI); `Query.field` (GraphQL);
    /// `Service.Rpc` (gRPC).
    pub name: String,
    /// HTTP method (`GET`), AsyncAPI action (`publish`, `subscribe`, `send`, `receive`),
    /// GraphQL operation type (`query`, `mutation`, `subscription`), or `rpc`.
    pub method: String,
    /// URL path (OpenAPI), channel (AsyncAPI) or fully qualified service (gRPC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `operationId` as declared (OpenAPI, AsyncAPI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// Summary (or the start of the description).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Marked deprecated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    /// Tags (OpenAPI).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Arguments (GraphQL), e.g. `id: ID!` or `first: Int = 10`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Request message type (gRPC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Response message type (gRPC) or result type (GraphQL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// The client streams requests (gRPC).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub client_streaming: bool,
    /// The server streams responses (gRPC).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub server_streaming: bool,
    /// Messages carried (AsyncAPI).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

/// One named schema: a component schema or message, a GraphQL type, a protobuf message or enum.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SchemaInfo {
    /// Pass this as `name` with `view: "schema"`.
    pub name: String,
    /// `schema`, `message`, `parameter`, `object`, `input`, `enum`, `interface`, `union`, `scalar`.
    pub kind: String,
}

/// A spec summarised: everything but the operation and schema lists is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    /// Title (`info.title`; the package for protobuf).
    pub(crate) title: Option<String>,
    /// Version (`info.version`).
    pub(crate) version: Option<String>,
    /// Description, shortened.
    pub(crate) description: Option<String>,
    /// Servers as declared.
    pub(crate) servers: Vec<ServerInfo>,
    /// Every operation, in spec order.
    pub(crate) operations: Vec<OperationInfo>,
    /// Every named schema, in spec order.
    pub(crate) schemas: Vec<SchemaInfo>,
}

/// One operation or schema looked up by name, with what was done to its references.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Found {
    /// The canonical name of what was found (e.g. `createPayment`, `Payment`).
    pub(crate) name: String,
    /// Where it is in the spec (a JSON pointer like `#/paths/~1payments/post`, or a type name).
    pub(crate) location: String,
    /// The definition, references resolved one level where the format has them.
    pub(crate) definition: Value,
    /// Internal references that were inlined.
    pub(crate) resolved_refs: Vec<String>,
    /// References left as they are, each with the reason.
    pub(crate) unresolved_refs: Vec<String>,
}

/// Shortens a one-line text for a summary, collapsing whitespace.
pub(crate) fn short(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::tools::shape::truncate_chars(&collapsed, max)
}

/// A string field of a JSON object, if present and non-empty.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Up to `max` names closest to `wanted` (case-insensitive), best first.
pub(crate) fn close_matches<'a>(
    wanted: &str,
    names: impl Iterator<Item = &'a str>,
    max: usize,
) -> Vec<String> {
    let w = wanted.to_ascii_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .map(|n| {
            let c = n.to_ascii_lowercase();
            let mut score = strsim::jaro_winkler(&w, &c);
            if c.contains(&w) || w.contains(&c) {
                score = score.max(0.9);
            }
            (score, n)
        })
        .filter(|(s, _)| *s >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored
        .into_iter()
        .take(max)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// The message for a name that is not in the spec, with close matches.
pub(crate) fn not_in_spec(what: &str, name: &str, candidates: &[String]) -> String {
    let near = close_matches(name, candidates.iter().map(String::as_str), 5);
    let mut msg = format!("No {what} named `{name}` in this definition.");
    if near.is_empty() {
        msg.push_str(" Use view \"summary\" to list the names it has.");
    } else {
        msg.push_str(&format!(" Did you mean: {}?", near.join(", ")));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_matches_rank_and_filter() {
        let names = ["createPayment", "capturePayment", "listPayments", "zzz"];
        let got = close_matches("createpayment", names.iter().copied(), 2);
        assert_eq!(got[0], "createPayment");
        assert_eq!(got.len(), 2);
        assert!(close_matches("qqqq", names.iter().copied(), 5).is_empty());
    }

    #[test]
    fn short_collapses_whitespace() {
        assert_eq!(short("a\n  b\tc", 10), "a b c");
        assert_eq!(short("abcdef", 3), "abc…");
    }
}
