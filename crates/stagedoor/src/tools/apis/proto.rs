//! Protobuf (gRPC APIs): package, services, rpcs with request/response types and streaming
//! flags, messages and enums.
//!
//! Parsed with `protox-parse`, syntax only: imports are recorded but never read (nothing is
//! fetched from disk or network), so types from imports stay as written.

use std::collections::HashMap;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    MethodDescriptorProto,
};
use serde_json::{Value, json};

use super::model::{
    Found, OPERATION_TEXT_CHARS, OperationInfo, SchemaInfo, Summary, not_in_spec, short,
};
use super::paging::line_col;

/// A parsed `.proto` definition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProtoFile {
    file: FileDescriptorProto,
    comments: HashMap<Vec<i32>, String>,
}

/// Parses one proto file; the error names the line and column.
pub(crate) fn parse(source: &str) -> Result<ProtoFile, String> {
    let file = protox_parse::parse("definition.proto", source).map_err(|e| match e.span() {
        Some(span) => {
            let (l, c) = line_col(source, span.start);
            format!("{l}:{c}: {e}")
        }
        None => e.to_string(),
    })?;
    let comments = file
        .source_code_info
        .as_ref()
        .map(|info| {
            info.location
                .iter()
                .filter_map(|l| {
                    let c = l.leading_comments.as_deref()?.trim();
                    (!c.is_empty()).then(|| (l.path.clone(), c.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ProtoFile { file, comments })
}

/// `protobuf (proto3)`.
pub(crate) fn format_label(p: &ProtoFile) -> String {
    format!(
        "protobuf ({})",
        p.file.syntax.as_deref().unwrap_or("proto2")
    )
}

/// The package, if declared.
pub(crate) fn package(p: &ProtoFile) -> Option<String> {
    p.file.package.clone().filter(|s| !s.is_empty())
}

fn qualified(p: &ProtoFile, name: &str) -> String {
    match package(p) {
        Some(pkg) => format!("{pkg}.{name}"),
        None => name.to_string(),
    }
}

fn clean_type(name: &str) -> String {
    name.trim_start_matches('.').to_string()
}

/// Every rpc as `(service index, service name, method index, method)`.
fn rpcs(p: &ProtoFile) -> impl Iterator<Item = (usize, &str, usize, &MethodDescriptorProto)> {
    p.file.service.iter().enumerate().flat_map(|(si, s)| {
        s.method
            .iter()
            .enumerate()
            .map(move |(mi, m)| (si, s.name(), mi, m))
    })
}

/// Every message (nested ones dotted: `Outer.Inner`) and enum, with its comment path.
fn named_types(p: &ProtoFile) -> Vec<(String, Named<'_>, Vec<i32>)> {
    fn walk<'a>(
        prefix: &str,
        msgs: &'a [DescriptorProto],
        enums: &'a [EnumDescriptorProto],
        path: &[i32],
        (msg_tag, enum_tag): (i32, i32),
        out: &mut Vec<(String, Named<'a>, Vec<i32>)>,
    ) {
        for (i, m) in msgs.iter().enumerate() {
            if m.options.as_ref().and_then(|o| o.map_entry) == Some(true) {
                continue;
            }
            let name = format!("{prefix}{}", m.name());
            let mut p = path.to_vec();
            p.extend([msg_tag, i as i32]);
            out.push((name.clone(), Named::Message(m), p.clone()));
            walk(
                &format!("{name}."),
                &m.nested_type,
                &m.enum_type,
                &p,
                (3, 4),
                out,
            );
        }
        for (i, e) in enums.iter().enumerate() {
            let mut p = path.to_vec();
            p.extend([enum_tag, i as i32]);
            out.push((format!("{prefix}{}", e.name()), Named::Enum(e), p));
        }
    }
    let mut out = Vec::new();
    walk(
        "",
        &p.file.message_type,
        &p.file.enum_type,
        &[],
        (4, 5),
        &mut out,
    );
    out
}

#[derive(Debug, Clone, Copy)]
enum Named<'a> {
    Message(&'a DescriptorProto),
    Enum(&'a EnumDescriptorProto),
}

/// Services' rpcs as operations; messages and enums as schemas.
pub(crate) fn summarize(p: &ProtoFile) -> Summary {
    Summary {
        title: package(p),
        operations: rpcs(p)
            .map(|(si, service, mi, m)| OperationInfo {
                name: format!("{service}.{}", m.name()),
                method: "rpc".into(),
                path: Some(qualified(p, service)),
                summary: p
                    .comments
                    .get(&vec![6, si as i32, 2, mi as i32])
                    .map(|c| short(c, OPERATION_TEXT_CHARS)),
                request: Some(clean_type(m.input_type())),
                response: Some(clean_type(m.output_type())),
                client_streaming: m.client_streaming(),
                server_streaming: m.server_streaming(),
                deprecated: m.options.as_ref().and_then(|o| o.deprecated) == Some(true),
                ..Default::default()
            })
            .collect(),
        schemas: named_types(p)
            .into_iter()
            .map(|(name, n, _)| SchemaInfo {
                name,
                kind: match n {
                    Named::Message(_) => "message".into(),
                    Named::Enum(_) => "enum".into(),
                },
            })
            .collect(),
        ..Default::default()
    }
}

fn scalar_name(t: Type) -> String {
    t.as_str_name()
        .trim_start_matches("TYPE_")
        .to_ascii_lowercase()
}

fn field_type(f: &FieldDescriptorProto, owner: &DescriptorProto) -> String {
    let base = match f.type_name.as_deref() {
        Some(t) if !t.is_empty() => clean_type(t),
        _ => scalar_name(f.r#type()),
    };
    if f.label() == Label::Repeated {
        let entry = owner.nested_type.iter().find(|n| {
            n.options.as_ref().and_then(|o| o.map_entry) == Some(true)
                && base.rsplit('.').next() == Some(n.name())
        });
        if let Some(entry) = entry {
            let kv: Vec<String> = entry.field.iter().map(|f| field_type(f, entry)).collect();
            if let [k, v] = kv.as_slice() {
                return format!("map<{k}, {v}>");
            }
        }
        return format!("repeated {base}");
    }
    if f.proto3_optional() || f.label() == Label::Required {
        let label = if f.label() == Label::Required {
            "required"
        } else {
            "optional"
        };
        return format!("{label} {base}");
    }
    base
}

fn type_json(p: &ProtoFile, name: &str, n: Named<'_>, path: &[i32]) -> Value {
    let mut v = match n {
        Named::Message(m) => json!({
            "name": name,
            "kind": "message",
            "fields": m.field.iter().enumerate().map(|(i, f)| {
                let mut fj = json!({"name": f.name(), "number": f.number(), "type": field_type(f, m)});
                let mut fp = path.to_vec();
                fp.extend([2, i as i32]);
                if let Some(c) = p.comments.get(&fp) {
                    fj["comment"] = json!(c);
                }
                if let Some(o) = f.oneof_index.and_then(|i| m.oneof_decl.get(i as usize))
                    && !f.proto3_optional()
                {
                    fj["oneof"] = json!(o.name());
                }
                fj
            }).collect::<Vec<_>>(),
        }),
        Named::Enum(e) => json!({
            "name": name,
            "kind": "enum",
            "values": e.value.iter().map(|v| json!({"name": v.name(), "number": v.number()})).collect::<Vec<_>>(),
        }),
    };
    if let Some(c) = p.comments.get(path) {
        v["comment"] = json!(c);
    }
    v
}

fn find_type<'a>(p: &'a ProtoFile, wanted: &str) -> Option<(String, Named<'a>, Vec<i32>)> {
    let wanted = clean_type(wanted);
    let pkg = package(p).map(|p| format!("{p}.")).unwrap_or_default();
    let local = wanted.strip_prefix(&pkg).unwrap_or(&wanted).to_string();
    let all = named_types(p);
    let pick = |eq: &dyn Fn(&str) -> bool| all.iter().find(|(n, _, _)| eq(n)).cloned();
    pick(&|n| n == local)
        .or_else(|| pick(&|n| n.eq_ignore_ascii_case(&local)))
        .or_else(|| pick(&|n| n.rsplit('.').next() == Some(local.as_str())))
}

/// One rpc (`Authorize`, `Payments.Authorize`, `Payments/Authorize`, or fully qualified),
/// with its request and response messages inlined when they are defined in this file.
pub(crate) fn operation(p: &ProtoFile, name: &str) -> Result<Found, String> {
    let wanted = clean_type(name.trim()).replace('/', ".");
    let pkg = package(p).map(|p| format!("{p}.")).unwrap_or_default();
    let local = wanted.strip_prefix(&pkg).unwrap_or(&wanted).to_string();
    let hit = rpcs(p)
        .find(|(_, s, _, m)| format!("{s}.{}", m.name()) == local || m.name() == local)
        .or_else(|| {
            rpcs(p).find(|(_, s, _, m)| {
                format!("{s}.{}", m.name()).eq_ignore_ascii_case(&local)
                    || m.name().eq_ignore_ascii_case(&local)
            })
        });
    let Some((si, service, mi, m)) = hit else {
        let names: Vec<String> = rpcs(p)
            .flat_map(|(_, s, _, m)| [m.name().to_string(), format!("{s}.{}", m.name())])
            .collect();
        return Err(not_in_spec("rpc", &wanted, &names));
    };
    let mut definition = json!({
        "service": qualified(p, service),
        "name": m.name(),
        "request": clean_type(m.input_type()),
        "response": clean_type(m.output_type()),
        "clientStreaming": m.client_streaming(),
        "serverStreaming": m.server_streaming(),
    });
    if let Some(c) = p.comments.get(&vec![6, si as i32, 2, mi as i32]) {
        definition["comment"] = json!(c);
    }
    let mut resolved = Vec::new();
    let mut unresolved = Vec::new();
    for (key, ty) in [
        ("requestMessage", m.input_type()),
        ("responseMessage", m.output_type()),
    ] {
        match find_type(p, ty) {
            Some((n, named, path)) => {
                definition[key] = type_json(p, &n, named, &path);
                resolved.push(n);
            }
            None => unresolved.push(format!(
                "{}: not defined in this file (imported types are not read)",
                clean_type(ty)
            )),
        }
    }
    resolved.dedup();
    Ok(Found {
        name: format!("{service}.{}", m.name()),
        location: format!("{}.{}", qualified(p, service), m.name()),
        definition,
        resolved_refs: resolved,
        unresolved_refs: unresolved,
    })
}

/// One message or enum by short, nested (`Outer.Inner`) or fully qualified name.
pub(crate) fn schema(p: &ProtoFile, name: &str) -> Result<Found, String> {
    let Some((n, named, path)) = find_type(p, name.trim()) else {
        let names: Vec<String> = named_types(p).into_iter().map(|(n, _, _)| n).collect();
        return Err(not_in_spec("message or enum", name.trim(), &names));
    };
    Ok(Found {
        location: qualified(p, &n),
        definition: type_json(p, &n, named, &path),
        name: n,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: &str = r#"
syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";

// Orders does things.
service Orders {
  // Place one order.
  rpc Place(PlaceRequest) returns (Order);
  rpc Watch(WatchRequest) returns (stream Order);
  rpc Upload(stream Chunk) returns (stream Ack);
}
message PlaceRequest { string sku = 1; map<string, int32> extras = 2; optional string note = 3; }
message Order {
  string id = 1;
  Status status = 2;
  google.protobuf.Timestamp at = 3;
  repeated Line lines = 4;
  message Line { string sku = 1; }
  oneof pay { string card = 5; string voucher = 6; }
}
enum Status { STATUS_UNSPECIFIED = 0; OPEN = 1; }
message WatchRequest {}
message Chunk { bytes data = 1; }
message Ack {}
"#;

    #[test]
    fn rpcs_with_streaming_flags_and_messages() {
        let p = parse(PROTO).unwrap();
        assert_eq!(format_label(&p), "protobuf (proto3)");
        let s = summarize(&p);
        assert_eq!(s.title.as_deref(), Some("shop.v1"));
        let ops: Vec<(&str, &str, &str, bool, bool)> = s
            .operations
            .iter()
            .map(|o| {
                (
                    o.name.as_str(),
                    o.request.as_deref().unwrap_or(""),
                    o.response.as_deref().unwrap_or(""),
                    o.client_streaming,
                    o.server_streaming,
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("Orders.Place", "PlaceRequest", "Order", false, false),
                ("Orders.Watch", "WatchRequest", "Order", false, true),
                ("Orders.Upload", "Chunk", "Ack", true, true)
            ]
        );
        assert_eq!(s.operations[0].path.as_deref(), Some("shop.v1.Orders"));
        assert_eq!(s.operations[0].summary.as_deref(), Some("Place one order."));
        let names: Vec<&str> = s.schemas.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "PlaceRequest",
                "Order",
                "Order.Line",
                "WatchRequest",
                "Chunk",
                "Ack",
                "Status"
            ]
        );
    }

    #[test]
    fn operation_and_schema_views() {
        let p = parse(PROTO).unwrap();
        for name in [
            "Place",
            "Orders.Place",
            "Orders/Place",
            "shop.v1.Orders.Place",
            "orders.place",
        ] {
            assert_eq!(operation(&p, name).unwrap().name, "Orders.Place", "{name}");
        }
        let op = operation(&p, "Place").unwrap();
        let fields: Vec<(&str, &str)> = op.definition["requestMessage"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("sku", "string"),
                ("extras", "map<string, int32>"),
                ("note", "optional string")
            ]
        );
        assert_eq!(
            op.resolved_refs,
            vec!["PlaceRequest".to_string(), "Order".to_string()]
        );
        let order = schema(&p, "shop.v1.Order").unwrap();
        let f: Vec<(&str, &str)> = order.definition["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
            .collect();
        assert_eq!(f[2], ("at", "google.protobuf.Timestamp"));
        assert_eq!(f[3], ("lines", "repeated Line"));
        assert_eq!(order.definition["fields"][4]["oneof"], "pay");
        assert_eq!(schema(&p, "Line").unwrap().name, "Order.Line");
        assert_eq!(
            schema(&p, "Status").unwrap().definition["values"][1]["name"],
            "OPEN"
        );
        assert!(schema(&p, "Ordr").unwrap_err().contains("Order"));
        assert!(operation(&p, "Plac").unwrap_err().contains("Place"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = parse("syntax = \"proto3\";\nmessage A {\n  string x = ;\n}\n").unwrap_err();
        assert!(err.starts_with("3:"), "{err}");
    }
}
