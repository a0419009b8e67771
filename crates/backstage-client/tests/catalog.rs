//! Catalog calls against a fake upstream speaking the wire shapes measured on a real Backstage.

mod common;

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use backstage_client::{BackstageError, EntityQuery, EntityRef, FacetCount, SortOrder};
use common::{client, config, spawn};
use serde_json::{Value, json};

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn query_entities_sends_wire_params_and_decodes_the_page() {
    let fake = spawn(Router::new().route(
        "/api/catalog/entities/by-query",
        get(|| async {
            Json(json!({
                "items":[{"metadata":{"name":"catalog-service"},"spec":{"lifecycle":"production"}}],
                "totalItems":5,
                "pageInfo":{"nextCursor":"eyJvcmRlckZpZWxkcyI6","prevCursor":"cHJldg=="}
            }))
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let page = c
        .query_entities(&EntityQuery {
            filters: vec!["kind=component,spec.type=service".into(), "kind=api".into()],
            fields: vec!["metadata.name".into(), "spec.lifecycle".into()],
            limit: Some(3),
            order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
            full_text_term: Some("pay ment".into()),
            full_text_fields: vec!["metadata.name".into(), "metadata.title".into()],
            cursor: None,
        })
        .await
        .expect("page");
    assert_eq!(page.total_items, 5);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next_cursor.as_deref(), Some("eyJvcmRlckZpZWxkcyI6"));
    assert_eq!(page.prev_cursor.as_deref(), Some("cHJldg=="));

    let seen = fake.log.all();
    let pairs = query_pairs(seen[0].query.as_deref());
    let expected: Vec<(String, String)> = [
        ("filter", "kind=component,spec.type=service"),
        ("filter", "kind=api"),
        ("fields", "metadata.name,spec.lifecycle"),
        ("limit", "3"),
        ("orderField", "metadata.name,asc"),
        ("fullTextFilterTerm", "pay ment"),
        ("fullTextFilterFields", "metadata.name,metadata.title"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(pairs, expected);

    // The next page carries only the cursor (+ fields, limit).
    c.query_entities(&EntityQuery {
        filters: vec!["kind=component".into()],
        fields: vec!["metadata.name".into()],
        limit: Some(3),
        cursor: page.next_cursor.clone(),
        ..EntityQuery::default()
    })
    .await
    .expect("next page");
    let seen = fake.log.all();
    let keys: Vec<String> = query_pairs(seen[1].query.as_deref())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["cursor", "fields", "limit"]);
}

#[tokio::test]
async fn query_entities_rejects_a_wrong_shape() {
    let fake = spawn(Router::new().route(
        "/api/catalog/entities/by-query",
        get(|| async { Json(json!({"entities": []})) }),
    ))
    .await;
    let c = client(config(fake.base("")));
    assert!(matches!(
        c.query_entities(&EntityQuery::default()).await,
        Err(BackstageError::Decode { .. })
    ));
}

#[tokio::test]
async fn get_entity_by_ref_encodes_segments_and_maps_404() {
    let fake = spawn(Router::new().route(
        "/backstage/api/catalog/entities/by-name/{kind}/{ns}/{name}",
        get(|Path((kind, ns, name)): Path<(String, String, String)>| async move {
            if name == "payments-grpc" || name == "a b/c" {
                Json(json!({"apiVersion":"backstage.io/v1alpha1","kind":kind,
                            "metadata":{"name":name,"namespace":ns}}))
                .into_response()
            } else {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error":{"name":"NotFoundError",
                        "message":format!("No {kind} entity named '{name}' found, with spec.type of any value")}})),
                )
                    .into_response()
            }
        }),
    ))
    .await;
    let c = client(config(fake.base("/backstage")));
    let r = EntityRef::parse("api:payments-grpc", None, None).expect("ref");
    let entity = c.get_entity_by_ref(&r).await.expect("found");
    assert_eq!(EntityRef::from_entity(&entity), Some(r));

    let odd = EntityRef::new("component", "default", "a b/c");
    let entity = c.get_entity_by_ref(&odd).await.expect("found");
    assert_eq!(entity["metadata"]["name"], "a b/c");

    let missing = EntityRef::parse("nope", Some("component"), None).expect("ref");
    let err = c.get_entity_by_ref(&missing).await.expect_err("404");
    assert!(err.is_not_found());
    assert_eq!(err.api_name(), Some("NotFoundError"));
    assert_eq!(fake.log.count(), 3, "404 is not retried");

    let paths: Vec<String> = fake.log.all().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths[0],
        "/backstage/api/catalog/entities/by-name/api/default/payments-grpc"
    );
    assert_eq!(
        paths[1],
        "/backstage/api/catalog/entities/by-name/component/default/a%20b%2Fc"
    );

    let traversal = EntityRef::new("component", "..", "x");
    assert!(matches!(
        c.get_entity_by_ref(&traversal).await,
        Err(BackstageError::Config(_))
    ));
    assert_eq!(fake.log.count(), 3);
}

#[tokio::test]
async fn get_entities_by_refs_aligns_results_and_chunks() {
    let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
    let recorded = Arc::clone(&bodies);
    let fake = spawn(Router::new().route(
        "/api/catalog/entities/by-refs",
        post(move |Json(body): Json<Value>| {
            let recorded = Arc::clone(&recorded);
            async move {
                let items: Vec<Value> = body["entityRefs"]
                    .as_array()
                    .map(|refs| {
                        refs.iter()
                            .map(|r| match r.as_str() {
                                Some(r) if !r.contains("missing") => {
                                    json!({"metadata":{"name": r}})
                                }
                                _ => Value::Null,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                recorded.lock().expect("lock").push(body);
                Json(json!({ "items": items }))
            }
        }),
    ))
    .await;
    let c = client(config(fake.base("")));

    let refs: Vec<String> = vec![
        "component:default/a".into(),
        "component:default/missing".into(),
    ];
    let got = c
        .get_entities_by_refs(&refs, &["metadata.name".into()])
        .await
        .expect("by-refs");
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        Some(json!({"metadata":{"name":"component:default/a"}}))
    );
    assert_eq!(got[1], None);
    assert_eq!(
        bodies.lock().expect("lock")[0],
        json!({"entityRefs": refs, "fields": ["metadata.name"]})
    );

    let many: Vec<String> = (0..1201)
        .map(|i| format!("component:default/c{i}"))
        .collect();
    let got = c.get_entities_by_refs(&many, &[]).await.expect("chunked");
    assert_eq!(got.len(), 1201);
    for (i, item) in got.iter().enumerate() {
        assert_eq!(
            item.as_ref().and_then(|e| e["metadata"]["name"].as_str()),
            Some(many[i].as_str())
        );
    }
    let sizes: Vec<usize> = bodies.lock().expect("lock")[1..]
        .iter()
        .map(|b| b["entityRefs"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![500, 500, 201]);
    assert!(
        bodies.lock().expect("lock")[1].get("fields").is_none(),
        "no empty fields sent"
    );

    assert!(
        c.get_entities_by_refs(&[], &[])
            .await
            .expect("empty")
            .is_empty()
    );
    assert_eq!(fake.log.count(), 4, "empty input makes no call");
}

#[tokio::test]
async fn get_entities_by_refs_rejects_misaligned_answers() {
    let fake = spawn(Router::new().route(
        "/api/catalog/entities/by-refs",
        post(|| async { Json(json!({"items": [null]})) }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let refs = vec![
        "component:default/a".to_owned(),
        "component:default/b".to_owned(),
    ];
    match c.get_entities_by_refs(&refs, &[]).await {
        Err(BackstageError::Decode { message, .. }) => {
            assert!(message.contains("aligned"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn entity_facets_repeat_params_and_decode() {
    let fake = spawn(Router::new().route(
        "/api/catalog/entity-facets",
        get(|| async {
            Json(json!({"facets":{
                "kind":[{"value":"API","count":5},{"value":"Component","count":8}],
                "spec.lifecycle":[{"value":"production","count":10}]}}))
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let facets = c
        .entity_facets(
            &["kind".into(), "spec.lifecycle".into()],
            &["kind=component".into(), "kind=api".into()],
        )
        .await
        .expect("facets");
    assert_eq!(facets.len(), 2);
    assert_eq!(
        facets["kind"][1],
        FacetCount {
            value: "Component".into(),
            count: 8
        }
    );
    let seen = fake.log.all();
    assert_eq!(
        query_pairs(seen[0].query.as_deref()),
        vec![
            ("facet".to_owned(), "kind".to_owned()),
            ("facet".to_owned(), "spec.lifecycle".to_owned()),
            ("filter".to_owned(), "kind=component".to_owned()),
            ("filter".to_owned(), "kind=api".to_owned()),
        ]
    );
    assert!(c.entity_facets(&[], &[]).await.expect("empty").is_empty());
    assert_eq!(fake.log.count(), 1);
}
