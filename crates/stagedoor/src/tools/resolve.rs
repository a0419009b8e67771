//! Resolving a lenient entity reference (`component:default/web`, `component:web`, `web`)
//! to one catalog entity, shared by every tool that takes an `entityRef`. An unknown
//! reference becomes an error naming what was tried, with close matches.

use std::sync::Arc;

use backstage_client::{BackstageError, EntityQuery, EntityRef};
use serde_json::Value;

use super::shape::filter_value;
use super::{ToolCtx, ToolError};

fn is_not_found(e: &BackstageError) -> bool {
    e.status() == Some(404)
}

/// Resolves a lenient reference to the entity, or an error naming what was tried.
///
/// `kind` and `namespace` are assumed when `input` has none; with no kind at all, the name
/// is looked up across kinds (ambiguity is an error listing the candidates).
pub(crate) async fn resolve(
    ctx: &ToolCtx,
    input: &str,
    kind: Option<&str>,
    namespace: Option<&str>,
) -> Result<(EntityRef, Arc<Value>), ToolError> {
    let input = input.trim();
    let kind = kind.map(str::trim).filter(|k| !k.is_empty());
    let namespace = namespace.map(str::trim).filter(|n| !n.is_empty());
    match EntityRef::parse(input, kind, namespace) {
        Ok(r) => match ctx.portal.entity(&r).await {
            Ok(e) => Ok((r, e)),
            Err(e) if is_not_found(&e) => {
                Err(not_found(ctx, &[r.to_string_ref()], &r.name, Some(&r.kind)).await)
            }
            Err(e) => Err(ToolError::backstage(
                &format!("reading {}", r.to_string_ref()),
                &e,
            )),
        },
        Err(parse_err) => {
            // No kind anywhere: look the name up across kinds.
            let bare = EntityRef::parse(input, Some("component"), namespace)
                .map_err(|_| ToolError::invalid(format!("`entityRef`: {parse_err}")))?;
            let ns = bare.namespace.clone();
            let q = EntityQuery {
                filters: vec![format!(
                    "metadata.name={},metadata.namespace={}",
                    filter_value("entityRef", &bare.name)?,
                    filter_value("namespace", &ns)?
                )],
                fields: vec![
                    "kind".into(),
                    "metadata.name".into(),
                    "metadata.namespace".into(),
                ],
                limit: Some(20),
                ..Default::default()
            };
            let page = ctx
                .portal
                .query_entities(&q)
                .await
                .map_err(|e| ToolError::backstage("looking the name up", &e))?;
            let refs: Vec<EntityRef> = page
                .items
                .iter()
                .filter_map(EntityRef::from_entity)
                .collect();
            match refs.as_slice() {
                [] => Err(not_found(
                    ctx,
                    &[format!("<any kind>:{ns}/{}", bare.name)],
                    &bare.name,
                    None,
                )
                .await),
                [one] => {
                    let e = ctx.portal.entity(one).await.map_err(|e| {
                        ToolError::backstage(&format!("reading {}", one.to_string_ref()), &e)
                    })?;
                    Ok((one.clone(), e))
                }
                many => Err(ToolError::invalid(format!(
                    "`{input}` is ambiguous: {} entities have that name: {}. Pass a full reference or `kind`.",
                    many.len(),
                    many.iter()
                        .map(EntityRef::to_string_ref)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}

/// An error for a reference that does not exist, with up to five close matches.
pub(crate) async fn not_found(
    ctx: &ToolCtx,
    tried: &[String],
    name: &str,
    kind: Option<&str>,
) -> ToolError {
    let mut q = EntityQuery {
        fields: vec![
            "kind".into(),
            "metadata.name".into(),
            "metadata.namespace".into(),
        ],
        limit: Some(1000),
        ..Default::default()
    };
    if let Some(k) = kind.and_then(|k| filter_value("kind", k).ok()) {
        q.filters = vec![format!("kind={k}")];
    }
    let mut suggestions: Vec<(f64, String)> = Vec::new();
    if let Ok(page) = ctx.portal.query_entities(&q).await {
        let wanted = name.to_ascii_lowercase();
        for e in &page.items {
            let Some(r) = EntityRef::from_entity(e) else {
                continue;
            };
            let candidate = r.name.to_ascii_lowercase();
            let mut score = strsim::jaro_winkler(&wanted, &candidate);
            if candidate.contains(&wanted) || wanted.contains(&candidate) {
                score = score.max(0.9);
            }
            if score >= 0.75 {
                suggestions.push((score, r.to_string_ref()));
            }
        }
    }
    suggestions.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    suggestions.truncate(5);
    let mut msg = format!("No entity found: tried {}.", tried.join(", "));
    if suggestions.is_empty() {
        msg.push_str(" No similar names exist; use search_catalog to find the right entity.");
    } else {
        msg.push_str(&format!(
            " Did you mean: {}?",
            suggestions
                .into_iter()
                .map(|(_, r)| r)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    ToolError {
        message: msg,
        kind: crate::tool::ErrorKind::from_status(Some(404)),
    }
}
