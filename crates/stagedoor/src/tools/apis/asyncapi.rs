//! AsyncAPI 2.x (operations inside channels) and 3.x (top-level operations): summary, one
//! operation or channel, one component by name.

use serde_json::{Map, Value};

use super::model::{
    Found, OPERATION_TEXT_CHARS, OperationInfo, SchemaInfo, ServerInfo, Summary, not_in_spec,
    short, str_field,
};
use super::{openapi, refs};

const V2_ACTIONS: [&str; 2] = ["publish", "subscribe"];

/// Component sections searched by `view: "schema"`.
const SECTIONS: [(&[&str], &str); 5] = [
    (&["components", "messages"], "message"),
    (&["components", "schemas"], "schema"),
    (&["components", "parameters"], "parameter"),
    (&["components", "channels"], "channel"),
    (&["components", "operations"], "operation"),
];

/// `asyncapi 2.6.0`.
pub(crate) fn format_label(doc: &Value) -> String {
    match str_field(doc, "asyncapi") {
        Some(v) => format!("asyncapi {v}"),
        None => "asyncapi".into(),
    }
}

fn is_v3(doc: &Value) -> bool {
    str_field(doc, "asyncapi").is_some_and(|v| !v.starts_with('2') && !v.starts_with('1'))
}

/// Title, version, servers, every operation (one per channel action in 2.x) and every
/// component message and schema.
pub(crate) fn summarize(doc: &Value) -> Summary {
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    let mut schemas = Vec::new();
    for (path, kind) in SECTIONS.iter().take(2) {
        let mut cur = Some(doc);
        for p in *path {
            cur = cur.and_then(|c| c.get(*p));
        }
        for name in cur
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(Map::keys)
        {
            schemas.push(SchemaInfo {
                name: name.clone(),
                kind: kind.to_string(),
            });
        }
    }
    Summary {
        title: str_field(&info, "title").map(str::to_string),
        version: str_field(&info, "version").map(str::to_string),
        description: str_field(&info, "description").map(|d| short(d, 500)),
        servers: servers(doc),
        operations: if is_v3(doc) {
            v3_operations(doc).into_iter().map(|(_, o)| o).collect()
        } else {
            v2_operations(doc).into_iter().map(|(_, o)| o).collect()
        },
        schemas,
    }
}

fn servers(doc: &Value) -> Vec<ServerInfo> {
    doc.get("servers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, s)| {
            let url = match (str_field(s, "url"), str_field(s, "host")) {
                (Some(u), _) => u.to_string(),
                (None, Some(h)) => format!("{h}{}", str_field(s, "pathname").unwrap_or("")),
                (None, None) => String::new(),
            };
            ServerInfo {
                url,
                name: Some(name.clone()),
                protocol: str_field(s, "protocol").map(str::to_string),
                description: str_field(s, "description").map(|d| short(d, 200)),
            }
        })
        .collect()
}

/// The last segment of a `$ref`, or the object's `name`/`messageId`.
fn message_names(m: &Value) -> Vec<String> {
    if let Some(list) = m.get("oneOf").and_then(Value::as_array) {
        return list.iter().flat_map(message_names).collect();
    }
    if let Some(list) = m.as_array() {
        return list.iter().flat_map(message_names).collect();
    }
    if let Some(map) = m.as_object()
        && !map.contains_key("$ref")
        && !map.contains_key("name")
        && !map.contains_key("messageId")
        && !map.contains_key("payload")
    {
        // AsyncAPI 3 channel `messages`: a map of message id → message.
        return map.keys().cloned().collect();
    }
    str_field(m, "$ref")
        .and_then(|r| r.rsplit('/').next())
        .or_else(|| str_field(m, "messageId"))
        .or_else(|| str_field(m, "name"))
        .map(|s| vec![s.to_string()])
        .unwrap_or_default()
}

/// 2.x: each channel's `publish`/`subscribe` is an operation. Paired with its JSON pointer.
fn v2_operations(doc: &Value) -> Vec<(String, OperationInfo)> {
    let mut out = Vec::new();
    for (channel, item) in doc
        .get("channels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for action in V2_ACTIONS {
            let Some(op) = item.get(action).filter(|o| o.is_object()) else {
                continue;
            };
            let id = str_field(op, "operationId").map(str::to_string);
            out.push((
                refs::pointer(&["channels", channel, action]),
                OperationInfo {
                    name: id.clone().unwrap_or_else(|| format!("{action} {channel}")),
                    method: action.to_string(),
                    path: Some(channel.clone()),
                    operation_id: id,
                    summary: str_field(op, "summary")
                        .or_else(|| str_field(op, "description"))
                        .or_else(|| str_field(item, "description"))
                        .map(|s| short(s, OPERATION_TEXT_CHARS)),
                    deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
                    messages: op.get("message").map(message_names).unwrap_or_default(),
                    ..Default::default()
                },
            ));
        }
    }
    out
}

/// 3.x: operations are top level and point at channels; channels no operation uses are
/// listed too (method `channel`), so every channel appears.
fn v3_operations(doc: &Value) -> Vec<(String, OperationInfo)> {
    let channels = doc.get("channels").and_then(Value::as_object);
    let address = |channel_ref: Option<&str>| -> Option<String> {
        let r = channel_ref?;
        let ch = refs::lookup(doc, r);
        ch.and_then(|c| str_field(c, "address"))
            .map(str::to_string)
            .or_else(|| r.rsplit('/').next().map(str::to_string))
    };
    let mut used = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (id, op) in doc
        .get("operations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let channel_ref = op.pointer("/channel/$ref").and_then(Value::as_str);
        if let Some(r) = channel_ref {
            used.insert(r.to_string());
        }
        let messages = match op.get("messages") {
            Some(m) => message_names(m),
            None => channel_ref
                .and_then(|r| refs::lookup(doc, r))
                .and_then(|c| c.get("messages"))
                .map(message_names)
                .unwrap_or_default(),
        };
        out.push((
            refs::pointer(&["operations", id]),
            OperationInfo {
                name: id.clone(),
                method: str_field(op, "action").unwrap_or("operation").to_string(),
                path: address(channel_ref),
                operation_id: Some(id.clone()),
                summary: str_field(op, "summary")
                    .or_else(|| str_field(op, "description"))
                    .or_else(|| str_field(op, "title"))
                    .map(|s| short(s, OPERATION_TEXT_CHARS)),
                deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
                messages,
                ..Default::default()
            },
        ));
    }
    for (key, ch) in channels.into_iter().flatten() {
        let pointer = refs::pointer(&["channels", key]);
        if used.contains(&pointer) {
            continue;
        }
        out.push((
            pointer,
            OperationInfo {
                name: key.clone(),
                method: "channel".into(),
                path: Some(str_field(ch, "address").unwrap_or(key).to_string()),
                summary: str_field(ch, "summary")
                    .or_else(|| str_field(ch, "description"))
                    .map(|s| short(s, OPERATION_TEXT_CHARS)),
                messages: ch.get("messages").map(message_names).unwrap_or_default(),
                ..Default::default()
            },
        ));
    }
    out
}

/// One operation by name (`operationId`, `action channel`), or a channel by name or address.
pub(crate) fn operation(doc: &Value, name: &str) -> Result<Found, String> {
    let wanted = name.trim();
    let ops = if is_v3(doc) {
        v3_operations(doc)
    } else {
        v2_operations(doc)
    };
    let hit = ops
        .iter()
        .find(|(_, o)| o.name == wanted || o.operation_id.as_deref() == Some(wanted))
        .or_else(|| {
            ops.iter().find(|(_, o)| {
                o.name.eq_ignore_ascii_case(wanted)
                    || format!("{} {}", o.method, o.path.as_deref().unwrap_or(""))
                        .eq_ignore_ascii_case(wanted)
            })
        });
    let (location, canonical) = match hit {
        Some((pointer, o)) => (pointer.clone(), o.name.clone()),
        None => {
            // A channel by key or address: the whole channel.
            let channel = doc
                .get("channels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .find(|(k, c)| *k == wanted || str_field(c, "address") == Some(wanted));
            match channel {
                Some((k, _)) => (refs::pointer(&["channels", k]), k.clone()),
                None => {
                    let mut names: Vec<String> = ops.iter().map(|(_, o)| o.name.clone()).collect();
                    names.extend(ops.iter().filter_map(|(_, o)| o.path.clone()));
                    return Err(not_in_spec("operation or channel", wanted, &names));
                }
            }
        }
    };
    let value = refs::lookup(doc, &location).cloned().unwrap_or(Value::Null);
    let r = refs::resolve_one_level(&value, doc);
    Ok(Found {
        name: canonical,
        location,
        definition: r.value,
        resolved_refs: r.resolved,
        unresolved_refs: r.unresolved,
    })
}

/// One component (message, schema, parameter, ...) by name or internal `$ref`.
pub(crate) fn schema(doc: &Value, name: &str) -> Result<Found, String> {
    openapi::component(doc, name, &SECTIONS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn v2() -> Value {
        json!({
            "asyncapi": "2.6.0",
            "info": {"title": "Orders", "version": "1.2.0"},
            "servers": {"production": {"url": "kafka:9092", "protocol": "kafka"}},
            "channels": {
                "orders.placed": {"description": "Placed.", "subscribe": {"operationId": "onPlaced", "message": {"$ref": "#/components/messages/Placed"}}},
                "orders.cmd": {"publish": {"message": {"oneOf": [{"$ref": "#/components/messages/A"}, {"name": "B"}]}}}
            },
            "components": {"messages": {"Placed": {"payload": {"$ref": "#/components/schemas/Order"}}}, "schemas": {"Order": {"type": "object"}}}
        })
    }

    #[test]
    fn v2_summary_has_one_operation_per_channel_action() {
        let s = summarize(&v2());
        assert_eq!(s.servers[0].name.as_deref(), Some("production"));
        assert_eq!(s.servers[0].protocol.as_deref(), Some("kafka"));
        let ops: Vec<(&str, &str, &str)> = s
            .operations
            .iter()
            .map(|o| {
                (
                    o.name.as_str(),
                    o.method.as_str(),
                    o.path.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("onPlaced", "subscribe", "orders.placed"),
                ("publish orders.cmd", "publish", "orders.cmd")
            ]
        );
        assert_eq!(s.operations[0].summary.as_deref(), Some("Placed."));
        assert_eq!(s.operations[0].messages, vec!["Placed".to_string()]);
        assert_eq!(
            s.operations[1].messages,
            vec!["A".to_string(), "B".to_string()]
        );
        let kinds: Vec<(&str, &str)> = s
            .schemas
            .iter()
            .map(|x| (x.name.as_str(), x.kind.as_str()))
            .collect();
        assert_eq!(kinds, vec![("Placed", "message"), ("Order", "schema")]);
    }

    #[test]
    fn v2_operation_and_schema_lookups() {
        let doc = v2();
        let op = operation(&doc, "onPlaced").unwrap();
        assert_eq!(op.location, "#/channels/orders.placed/subscribe");
        assert_eq!(
            op.definition["message"]["payload"],
            json!({"$ref": "#/components/schemas/Order"})
        );
        assert_eq!(
            operation(&doc, "publish orders.cmd").unwrap().name,
            "publish orders.cmd"
        );
        assert_eq!(
            operation(&doc, "orders.cmd").unwrap().location,
            "#/channels/orders.cmd"
        );
        assert!(operation(&doc, "onPlace").unwrap_err().contains("onPlaced"));
        assert_eq!(
            schema(&doc, "Placed").unwrap().definition["payload"]["type"],
            "object"
        );
    }

    #[test]
    fn v3_operations_point_at_channel_addresses() {
        let doc = json!({
            "asyncapi": "3.0.0",
            "info": {"title": "T", "version": "1"},
            "servers": {"prod": {"host": "broker:5672", "pathname": "/v", "protocol": "amqp"}},
            "channels": {
                "userSignedUp": {"address": "user/signedup", "messages": {"UserSignedUp": {"$ref": "#/components/messages/UserSignedUp"}}},
                "idle": {"address": "idle/x", "description": "Nobody uses me."}
            },
            "operations": {"sendUserSignedUp": {"action": "send", "channel": {"$ref": "#/channels/userSignedUp"},
                                                "summary": "Announce"}},
            "components": {"messages": {"UserSignedUp": {"payload": {"type": "object"}}}}
        });
        let s = summarize(&doc);
        assert_eq!(s.servers[0].url, "broker:5672/v");
        let ops: Vec<(&str, &str, &str)> = s
            .operations
            .iter()
            .map(|o| {
                (
                    o.name.as_str(),
                    o.method.as_str(),
                    o.path.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("sendUserSignedUp", "send", "user/signedup"),
                ("idle", "channel", "idle/x")
            ]
        );
        assert_eq!(s.operations[0].messages, vec!["UserSignedUp".to_string()]);
        let op = operation(&doc, "sendUserSignedUp").unwrap();
        assert_eq!(
            op.definition["channel"]["address"], "user/signedup",
            "channel inlined"
        );
        assert_eq!(format_label(&doc), "asyncapi 3.0.0");
    }
}
