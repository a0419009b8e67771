//! OpenAPI 3.x and Swagger 2.0: summary, one operation, one component by name.

use serde_json::{Map, Value};

use super::model::{
    Found, OPERATION_TEXT_CHARS, OperationInfo, SchemaInfo, ServerInfo, Summary, not_in_spec,
    short, str_field,
};
use super::refs;

/// The HTTP methods a path item may hold, in the order they are listed.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Component sections searched by `view: "schema"`, most useful first (OpenAPI 3 then
/// Swagger 2), with the kind each holds.
const SECTIONS: [(&[&str], &str); 12] = [
    (&["components", "schemas"], "schema"),
    (&["definitions"], "schema"),
    (&["components", "parameters"], "parameter"),
    (&["parameters"], "parameter"),
    (&["components", "responses"], "response"),
    (&["responses"], "response"),
    (&["components", "requestBodies"], "requestBody"),
    (&["components", "headers"], "header"),
    (&["components", "securitySchemes"], "securityScheme"),
    (&["securityDefinitions"], "securityScheme"),
    (&["components", "examples"], "example"),
    (&["components", "pathItems"], "pathItem"),
];

/// `openapi 3.0.3` or `swagger 2.0`.
pub(crate) fn format_label(doc: &Value) -> String {
    match (str_field(doc, "openapi"), doc.get("swagger")) {
        (Some(v), _) => format!("openapi {v}"),
        (None, Some(v)) => format!("swagger {}", scalar(v)),
        (None, None) => "openapi".into(),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Title, version, servers, every operation and every component schema.
pub(crate) fn summarize(doc: &Value) -> Summary {
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    Summary {
        title: str_field(&info, "title").map(str::to_string),
        version: info.get("version").map(scalar),
        description: str_field(&info, "description").map(|d| short(d, 500)),
        servers: servers(doc),
        operations: operations(doc)
            .map(|(m, p, op)| info_of(m, p, op))
            .collect(),
        schemas: SECTIONS
            .iter()
            .filter(|(_, kind)| *kind == "schema")
            .flat_map(|(path, kind)| names_at(doc, path).map(move |n| (n, *kind)))
            .map(|(name, kind)| SchemaInfo {
                name: name.to_string(),
                kind: kind.to_string(),
            })
            .collect(),
    }
}

fn servers(doc: &Value) -> Vec<ServerInfo> {
    if let Some(list) = doc.get("servers").and_then(Value::as_array) {
        return list
            .iter()
            .filter_map(|s| {
                Some(ServerInfo {
                    url: str_field(s, "url")?.to_string(),
                    description: str_field(s, "description").map(|d| short(d, 200)),
                    ..Default::default()
                })
            })
            .collect();
    }
    // Swagger 2: schemes × host + basePath.
    let Some(host) = str_field(doc, "host") else {
        return Vec::new();
    };
    let base = str_field(doc, "basePath").unwrap_or("");
    let schemes: Vec<&str> = doc
        .get("schemes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["https"]);
    schemes
        .into_iter()
        .map(|s| ServerInfo {
            url: format!("{s}://{host}{base}"),
            ..Default::default()
        })
        .collect()
}

/// Every `(method, path, operation)` in spec order.
fn operations(doc: &Value) -> impl Iterator<Item = (&'static str, &str, &Value)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS.iter().filter_map(move |m| {
                item.get(*m)
                    .filter(|op| op.is_object())
                    .map(|op| (*m, path.as_str(), op))
            })
        })
}

fn display_name(method: &str, path: &str, op: &Value) -> String {
    str_field(op, "operationId")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} {path}", method.to_ascii_uppercase()))
}

fn info_of(method: &str, path: &str, op: &Value) -> OperationInfo {
    OperationInfo {
        name: display_name(method, path, op),
        method: method.to_ascii_uppercase(),
        path: Some(path.to_string()),
        operation_id: str_field(op, "operationId").map(str::to_string),
        summary: str_field(op, "summary")
            .or_else(|| str_field(op, "description"))
            .map(|s| short(s, OPERATION_TEXT_CHARS)),
        deprecated: op.get("deprecated").and_then(Value::as_bool) == Some(true),
        tags: op
            .get("tags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        ..Default::default()
    }
}

fn names_at<'a>(doc: &'a Value, path: &[&str]) -> impl Iterator<Item = &'a str> {
    let mut cur = Some(doc);
    for p in path {
        cur = cur.and_then(|c| c.get(*p));
    }
    cur.and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str))
}

/// Parses `METHOD /path` (method case-insensitive).
fn method_and_path(name: &str) -> Option<(String, &str)> {
    let (m, p) = name.trim().split_once(char::is_whitespace)?;
    let m = m.to_ascii_lowercase();
    METHODS
        .contains(&m.as_str())
        .then_some((m, p.trim()))
        .filter(|(_, p)| p.starts_with('/'))
}

/// One operation by `operationId` or `METHOD /path`, with the path item's shared
/// parameters merged in and `$ref`s resolved one level.
pub(crate) fn operation(doc: &Value, name: &str) -> Result<Found, String> {
    let wanted = name.trim();
    let all: Vec<(&str, &str, &Value)> = operations(doc).collect();
    let hit = all
        .iter()
        .find(|(_, _, op)| str_field(op, "operationId") == Some(wanted))
        .or_else(|| {
            all.iter().find(|(_, _, op)| {
                str_field(op, "operationId").is_some_and(|id| id.eq_ignore_ascii_case(wanted))
            })
        })
        .or_else(|| {
            let (m, p) = method_and_path(wanted)?;
            let p = p.trim_end_matches('/');
            all.iter()
                .find(|(om, op_path, _)| *om == m && op_path.trim_end_matches('/') == p)
        });
    let Some((method, path, op)) = hit else {
        let names: Vec<String> = all
            .iter()
            .flat_map(|(m, p, op)| {
                let mut v = vec![format!("{} {p}", m.to_ascii_uppercase())];
                v.extend(str_field(op, "operationId").map(str::to_string));
                v
            })
            .collect();
        return Err(not_in_spec("operation", wanted, &names));
    };
    let mut merged = match op {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let shared = doc
        .pointer(&format!(
            "/paths/{}/parameters",
            path.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(Value::as_array);
    if let Some(shared) = shared {
        let own = merged
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let key = |p: &Value| {
            (
                str_field(p, "name").map(str::to_string),
                str_field(p, "in").map(str::to_string),
                str_field(p, "$ref").map(str::to_string),
            )
        };
        let mut params: Vec<Value> = shared
            .iter()
            .filter(|s| !own.iter().any(|o| key(o) == key(s)))
            .cloned()
            .collect();
        params.extend(own);
        merged.insert("parameters".into(), Value::Array(params));
    }
    let r = refs::resolve_one_level(&Value::Object(merged), doc);
    let mut definition = Map::new();
    definition.insert("method".into(), Value::String(method.to_ascii_uppercase()));
    definition.insert("path".into(), Value::String(path.to_string()));
    if let Value::Object(m) = r.value {
        definition.extend(m);
    }
    Ok(Found {
        name: display_name(method, path, op),
        location: refs::pointer(&["paths", path, method]),
        definition: Value::Object(definition),
        resolved_refs: r.resolved,
        unresolved_refs: r.unresolved,
    })
}

/// One component by name (searched in `sections`, schemas first) or by internal `$ref`
/// (`#/components/schemas/Payment`), with its `$ref`s resolved one level.
pub(crate) fn component(
    doc: &Value,
    name: &str,
    sections: &[(&[&str], &str)],
) -> Result<Found, String> {
    let wanted = name.trim();
    let located: Option<(String, &Value)> = if wanted.starts_with('#') {
        refs::lookup(doc, wanted).map(|v| (wanted.to_string(), v))
    } else {
        let exact = sections.iter().find_map(|(path, _)| {
            let mut segs: Vec<&str> = path.to_vec();
            segs.push(wanted);
            refs::lookup(doc, &refs::pointer(&segs)).map(|v| (refs::pointer(&segs), v))
        });
        exact.or_else(|| {
            sections.iter().find_map(|(path, _)| {
                let n = names_at(doc, path).find(|n| n.eq_ignore_ascii_case(wanted))?;
                let mut segs: Vec<&str> = path.to_vec();
                segs.push(n);
                refs::lookup(doc, &refs::pointer(&segs)).map(|v| (refs::pointer(&segs), v))
            })
        })
    };
    let Some((location, value)) = located else {
        let names: Vec<String> = sections
            .iter()
            .flat_map(|(path, _)| names_at(doc, path).map(str::to_string))
            .collect();
        return Err(not_in_spec("schema or component", wanted, &names));
    };
    let r = refs::resolve_one_level(value, doc);
    Ok(Found {
        name: location
            .rsplit('/')
            .next()
            .unwrap_or(wanted)
            .replace("~1", "/")
            .replace("~0", "~"),
        location,
        definition: r.value,
        resolved_refs: r.resolved,
        unresolved_refs: r.unresolved,
    })
}

/// One OpenAPI/Swagger component by name.
pub(crate) fn schema(doc: &Value, name: &str) -> Result<Found, String> {
    component(doc, name, &SECTIONS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn petstore() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Pets", "version": 2},
            "servers": [{"url": "https://pets.example/v1", "description": "prod"}],
            "paths": {
                "/pets": {
                    "get": {"operationId": "listPets", "summary": "List pets", "tags": ["pets"]},
                    "post": {"summary": "Create a pet", "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}
                },
                "/pets/{id}": {
                    "parameters": [{"name": "id", "in": "path", "required": true}],
                    "get": {"operationId": "getPet", "deprecated": true, "parameters": [{"name": "verbose", "in": "query"}],
                            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}},
                    "x-not-a-method": {"operationId": "nope"}
                }
            },
            "components": {"schemas": {"Pet": {"type": "object", "properties": {"owner": {"$ref": "#/components/schemas/Owner"}}}, "Owner": {"type": "object"}},
                           "parameters": {"Limit": {"name": "limit", "in": "query"}}}
        })
    }

    #[test]
    fn summary_lists_every_operation_in_order() {
        let s = summarize(&petstore());
        assert_eq!(s.title.as_deref(), Some("Pets"));
        assert_eq!(s.version.as_deref(), Some("2"));
        assert_eq!(s.servers[0].url, "https://pets.example/v1");
        let ops: Vec<(&str, &str, &str)> = s
            .operations
            .iter()
            .map(|o| {
                (
                    o.method.as_str(),
                    o.path.as_deref().unwrap_or(""),
                    o.name.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("GET", "/pets", "listPets"),
                ("POST", "/pets", "POST /pets"),
                ("GET", "/pets/{id}", "getPet")
            ]
        );
        assert!(s.operations[2].deprecated);
        assert_eq!(s.operations[0].tags, vec!["pets".to_string()]);
        let schemas: Vec<&str> = s.schemas.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(schemas, vec!["Pet", "Owner"]);
        assert_eq!(format_label(&petstore()), "openapi 3.1.0");
    }

    #[test]
    fn swagger_servers_come_from_host_and_base_path() {
        let doc = json!({"swagger": "2.0", "host": "api.example", "basePath": "/v2", "schemes": ["http", "https"],
                         "paths": {"/x": {"delete": {"operationId": "del"}}}, "definitions": {"X": {}}});
        let s = summarize(&doc);
        let urls: Vec<&str> = s.servers.iter().map(|s| s.url.as_str()).collect();
        assert_eq!(
            urls,
            vec!["http://api.example/v2", "https://api.example/v2"]
        );
        assert_eq!(s.operations[0].method, "DELETE");
        assert_eq!(s.schemas[0].name, "X");
        assert_eq!(format_label(&doc), "swagger 2.0");
        assert_eq!(schema(&doc, "X").unwrap().location, "#/definitions/X");
    }

    #[test]
    fn operation_by_id_or_method_and_path_merges_shared_parameters() {
        let doc = petstore();
        let by_id = operation(&doc, "getPet").unwrap();
        let by_path = operation(&doc, "get /pets/{id}/").unwrap();
        assert_eq!(by_id, by_path);
        assert_eq!(by_id.location, "#/paths/~1pets~1{id}/get");
        let params: Vec<&str> = by_id.definition["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(params, vec!["id", "verbose"]);
        let schema = &by_id.definition["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "object", "Pet was inlined");
        assert_eq!(
            by_id.resolved_refs,
            vec!["#/components/schemas/Pet".to_string()]
        );
        assert_eq!(
            by_id.unresolved_refs.len(),
            1,
            "Owner is reported, not inlined"
        );
        assert_eq!(operation(&doc, "POST /pets").unwrap().name, "POST /pets");
        assert_eq!(operation(&doc, "LISTPETS").unwrap().name, "listPets");
        let err = operation(&doc, "getPets").unwrap_err();
        assert!(err.contains("getPet"), "{err}");
        assert!(operation(&doc, "nope").is_err(), "x- keys are not methods");
    }

    #[test]
    fn schema_by_name_pointer_or_other_section() {
        let doc = petstore();
        let pet = schema(&doc, "pet").unwrap();
        assert_eq!(pet.name, "Pet");
        assert_eq!(pet.definition["properties"]["owner"]["type"], "object");
        let limit = schema(&doc, "Limit").unwrap();
        assert_eq!(limit.location, "#/components/parameters/Limit");
        let by_ref = schema(&doc, "#/components/schemas/Owner").unwrap();
        assert_eq!(by_ref.name, "Owner");
        assert!(schema(&doc, "Pett").unwrap_err().contains("Pet"));
    }
}
