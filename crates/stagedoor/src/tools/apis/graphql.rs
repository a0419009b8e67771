//! GraphQL SDL: types and root fields (Query/Mutation/Subscription) with their arguments.
//!
//! Parsed with `apollo-parser`, which is error-resilient: a malformed schema still yields the
//! definitions it could read, plus the errors (reported as a degraded summary).

use apollo_parser::Parser;
use apollo_parser::cst::{self, CstNode};
use serde_json::{Value, json};

use super::model::{
    Found, OPERATION_TEXT_CHARS, OperationInfo, SchemaInfo, Summary, not_in_spec, short,
};
use super::paging::line_col;

/// Parser limits: generous for real schemas, bounded for hostile ones.
const RECURSION_LIMIT: usize = 500;
const TOKEN_LIMIT: usize = 2_000_000;
/// Most parse errors reported.
const MAX_ERRORS: usize = 5;
/// Built-in scalars (never looked up as referenced types).
const BUILTIN: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];

/// One argument or input field.
#[derive(Debug, Clone, PartialEq)]
struct InputDef {
    name: String,
    ty: String,
    default: Option<String>,
    description: Option<String>,
}

/// One field of an object, interface or input type.
#[derive(Debug, Clone, PartialEq)]
struct FieldDef {
    name: String,
    args: Vec<InputDef>,
    ty: String,
    description: Option<String>,
    sdl: String,
}

/// One named type, with its extensions merged.
#[derive(Debug, Clone, PartialEq)]
struct TypeDef {
    name: String,
    kind: &'static str,
    description: Option<String>,
    fields: Vec<FieldDef>,
    values: Vec<String>,
    members: Vec<String>,
    sdl: Vec<String>,
}

/// A parsed schema: its types in order of appearance, the root operation types, and any
/// parse errors (`line:column: message`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Schema {
    types: Vec<TypeDef>,
    roots: [(&'static str, String); 3],
    /// Parse errors; non-empty means the schema was only partly read.
    pub(crate) errors: Vec<String>,
}

fn text<N: CstNode>(n: &N) -> String {
    n.syntax().text().to_string().trim().to_string()
}

fn compact_type(t: &cst::Type) -> String {
    text(t)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .collect()
}

fn description(d: Option<cst::Description>) -> Option<String> {
    d.and_then(|d| d.string_value())
        .map(String::from)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn name_of(n: Option<cst::Name>) -> Option<String> {
    n.map(|n| n.text().to_string())
}

fn input_defs<'a>(it: impl Iterator<Item = cst::InputValueDefinition> + 'a) -> Vec<InputDef> {
    it.filter_map(|a| {
        Some(InputDef {
            name: name_of(a.name())?,
            ty: a.ty().map(|t| compact_type(&t)).unwrap_or_default(),
            default: a.default_value().and_then(|d| d.value()).map(|v| text(&v)),
            description: description(a.description()),
        })
    })
    .collect()
}

fn field_defs(f: Option<cst::FieldsDefinition>) -> Vec<FieldDef> {
    f.into_iter()
        .flat_map(|f| f.field_definitions())
        .filter_map(|f| {
            Some(FieldDef {
                name: name_of(f.name())?,
                args: f
                    .arguments_definition()
                    .map(|a| input_defs(a.input_value_definitions()))
                    .unwrap_or_default(),
                ty: f.ty().map(|t| compact_type(&t)).unwrap_or_default(),
                description: description(f.description()),
                sdl: text(&f),
            })
        })
        .collect()
}

fn input_fields(f: Option<cst::InputFieldsDefinition>) -> Vec<FieldDef> {
    f.into_iter()
        .flat_map(|f| {
            input_defs(f.input_value_definitions())
                .into_iter()
                .map(|i| FieldDef {
                    sdl: format!("{}: {}", i.name, i.ty),
                    name: i.name,
                    args: Vec::new(),
                    ty: i.ty,
                    description: i.description,
                })
        })
        .collect()
}

/// Parses SDL. Never fails: errors are collected in [`Schema::errors`].
pub(crate) fn parse(source: &str) -> Schema {
    let tree = Parser::new(source)
        .recursion_limit(RECURSION_LIMIT)
        .token_limit(TOKEN_LIMIT)
        .parse();
    let errors: Vec<String> = tree
        .errors()
        .take(MAX_ERRORS)
        .map(|e| {
            let (l, c) = line_col(source, e.index());
            let data = e.data();
            if data.is_empty() {
                format!("{l}:{c}: {}", e.message())
            } else {
                format!("{l}:{c}: {} (at `{}`)", e.message(), short(data, 40))
            }
        })
        .collect();
    let mut schema = Schema {
        types: Vec::new(),
        roots: [
            ("query", "Query".to_string()),
            ("mutation", "Mutation".to_string()),
            ("subscription", "Subscription".to_string()),
        ],
        errors,
    };
    for def in tree.document().definitions() {
        let (name, kind, desc, fields, values, members) = match &def {
            cst::Definition::SchemaDefinition(s) => {
                schema.set_roots(s.root_operation_type_definitions());
                continue;
            }
            cst::Definition::SchemaExtension(s) => {
                schema.set_roots(s.root_operation_type_definitions());
                continue;
            }
            cst::Definition::ObjectTypeDefinition(t) => (
                t.name(),
                "object",
                description(t.description()),
                field_defs(t.fields_definition()),
                vec![],
                vec![],
            ),
            cst::Definition::ObjectTypeExtension(t) => (
                t.name(),
                "object",
                None,
                field_defs(t.fields_definition()),
                vec![],
                vec![],
            ),
            cst::Definition::InterfaceTypeDefinition(t) => (
                t.name(),
                "interface",
                description(t.description()),
                field_defs(t.fields_definition()),
                vec![],
                vec![],
            ),
            cst::Definition::InterfaceTypeExtension(t) => (
                t.name(),
                "interface",
                None,
                field_defs(t.fields_definition()),
                vec![],
                vec![],
            ),
            cst::Definition::InputObjectTypeDefinition(t) => (
                t.name(),
                "input",
                description(t.description()),
                input_fields(t.input_fields_definition()),
                vec![],
                vec![],
            ),
            cst::Definition::InputObjectTypeExtension(t) => (
                t.name(),
                "input",
                None,
                input_fields(t.input_fields_definition()),
                vec![],
                vec![],
            ),
            cst::Definition::EnumTypeDefinition(t) => (
                t.name(),
                "enum",
                description(t.description()),
                vec![],
                enum_values(t.enum_values_definition()),
                vec![],
            ),
            cst::Definition::EnumTypeExtension(t) => (
                t.name(),
                "enum",
                None,
                vec![],
                enum_values(t.enum_values_definition()),
                vec![],
            ),
            cst::Definition::UnionTypeDefinition(t) => (
                t.name(),
                "union",
                description(t.description()),
                vec![],
                vec![],
                union_members(t.union_member_types()),
            ),
            cst::Definition::UnionTypeExtension(t) => (
                t.name(),
                "union",
                None,
                vec![],
                vec![],
                union_members(t.union_member_types()),
            ),
            cst::Definition::ScalarTypeDefinition(t) => (
                t.name(),
                "scalar",
                description(t.description()),
                vec![],
                vec![],
                vec![],
            ),
            _ => continue,
        };
        let Some(name) = name_of(name) else { continue };
        let sdl = text(&def);
        match schema.types.iter_mut().find(|t| t.name == name) {
            Some(t) => {
                t.fields.extend(fields);
                t.values.extend(values);
                t.members.extend(members);
                t.description = t.description.take().or(desc);
                t.sdl.push(sdl);
            }
            None => schema.types.push(TypeDef {
                name,
                kind,
                description: desc,
                fields,
                values,
                members,
                sdl: vec![sdl],
            }),
        }
    }
    schema
}

fn enum_values(v: Option<cst::EnumValuesDefinition>) -> Vec<String> {
    v.into_iter()
        .flat_map(|v| v.enum_value_definitions())
        .filter_map(|e| e.enum_value().map(|v| v.text().to_string()))
        .collect()
}

fn union_members(m: Option<cst::UnionMemberTypes>) -> Vec<String> {
    m.into_iter()
        .flat_map(|m| m.named_types())
        .filter_map(|n| name_of(n.name()))
        .collect()
}

impl Schema {
    fn set_roots(&mut self, defs: cst::CstChildren<cst::RootOperationTypeDefinition>) {
        for d in defs {
            let (Some(op), Some(ty)) = (
                d.operation_type(),
                d.named_type().and_then(|n| name_of(n.name())),
            ) else {
                continue;
            };
            let slot = if op.query_token().is_some() {
                0
            } else if op.mutation_token().is_some() {
                1
            } else {
                2
            };
            self.roots[slot].1 = ty;
        }
    }

    fn root_fields(&self) -> impl Iterator<Item = (&'static str, &TypeDef, &FieldDef)> {
        self.roots.iter().flat_map(move |(op, ty)| {
            self.types
                .iter()
                .filter(move |t| &t.name == ty)
                .flat_map(move |t| t.fields.iter().map(move |f| (*op, t, f)))
        })
    }

    fn is_root(&self, name: &str) -> bool {
        self.roots.iter().any(|(_, r)| r == name)
    }
}

fn arg_text(a: &InputDef) -> String {
    match &a.default {
        Some(d) => format!("{}: {} = {d}", a.name, a.ty),
        None => format!("{}: {}", a.name, a.ty),
    }
}

/// Root fields as operations; every other type as a schema.
pub(crate) fn summarize(s: &Schema) -> Summary {
    Summary {
        operations: s
            .root_fields()
            .map(|(op, t, f)| OperationInfo {
                name: format!("{}.{}", t.name, f.name),
                method: op.to_string(),
                summary: f
                    .description
                    .as_deref()
                    .map(|d| short(d, OPERATION_TEXT_CHARS)),
                arguments: f.args.iter().map(arg_text).collect(),
                response: Some(f.ty.clone()),
                deprecated: f.sdl.contains("@deprecated"),
                ..Default::default()
            })
            .collect(),
        schemas: s
            .types
            .iter()
            .filter(|t| !s.is_root(&t.name))
            .map(|t| SchemaInfo {
                name: t.name.clone(),
                kind: t.kind.to_string(),
            })
            .collect(),
        ..Default::default()
    }
}

fn base_type(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

fn type_json(t: &TypeDef) -> Value {
    let mut v = json!({"name": t.name, "kind": t.kind});
    if let Some(d) = &t.description {
        v["description"] = json!(d);
    }
    if !t.fields.is_empty() {
        v["fields"] = Value::Array(t.fields.iter().map(field_json).collect());
    }
    if !t.values.is_empty() {
        v["values"] = json!(t.values);
    }
    if !t.members.is_empty() {
        v["members"] = json!(t.members);
    }
    v["sdl"] = json!(t.sdl.join("\n\n"));
    v
}

fn field_json(f: &FieldDef) -> Value {
    let mut v = json!({"name": f.name, "type": f.ty});
    if !f.args.is_empty() {
        v["arguments"] = json!(f.args.iter().map(arg_text).collect::<Vec<_>>());
    }
    if let Some(d) = &f.description {
        v["description"] = json!(d);
    }
    v
}

/// One root field (`order`, `Query.order`), with the types its arguments and result
/// use inlined one level (their SDL).
pub(crate) fn operation(s: &Schema, name: &str) -> Result<Found, String> {
    let wanted = name.trim();
    let hit = s.root_fields().find(|(_, t, f)| {
        f.name == wanted || format!("{}.{}", t.name, f.name).eq_ignore_ascii_case(wanted)
    });
    let hit = hit.or_else(|| {
        s.root_fields()
            .find(|(_, _, f)| f.name.eq_ignore_ascii_case(wanted))
    });
    let Some((op, t, f)) = hit else {
        let names: Vec<String> = s
            .root_fields()
            .flat_map(|(_, t, f)| [f.name.clone(), format!("{}.{}", t.name, f.name)])
            .collect();
        return Err(not_in_spec("root field", wanted, &names));
    };
    let mut used: Vec<&str> = f.args.iter().map(|a| base_type(&a.ty)).collect();
    used.push(base_type(&f.ty));
    used.dedup();
    let mut referenced = Vec::new();
    let mut resolved = Vec::new();
    for u in used {
        if BUILTIN.contains(&u) || resolved.iter().any(|r| r == u) {
            continue;
        }
        if let Some(td) = s.types.iter().find(|t| t.name == u) {
            referenced.push(type_json(td));
            resolved.push(u.to_string());
        }
    }
    let mut definition = field_json(f);
    definition["operationType"] = json!(op);
    definition["sdl"] = json!(f.sdl);
    definition["referencedTypes"] = Value::Array(referenced);
    Ok(Found {
        name: format!("{}.{}", t.name, f.name),
        location: format!("{}.{}", t.name, f.name),
        definition,
        resolved_refs: resolved,
        unresolved_refs: Vec::new(),
    })
}

/// One type by name (object, input, enum, interface, union, scalar; root types too).
pub(crate) fn schema(s: &Schema, name: &str) -> Result<Found, String> {
    let wanted = name.trim();
    let hit = s
        .types
        .iter()
        .find(|t| t.name == wanted)
        .or_else(|| s.types.iter().find(|t| t.name.eq_ignore_ascii_case(wanted)));
    let Some(t) = hit else {
        let names: Vec<String> = s.types.iter().map(|t| t.name.clone()).collect();
        return Err(not_in_spec("type", wanted, &names));
    };
    Ok(Found {
        name: t.name.clone(),
        location: t.name.clone(),
        definition: type_json(t),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests;
