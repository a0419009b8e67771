//! Search calls against a fake upstream speaking the wire shapes measured on a real Backstage.

mod common;

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use backstage_client::{BackstageError, SearchQuery};
use common::{client, config, spawn};
use serde_json::json;

#[tokio::test]
async fn search_sends_qs_style_params_and_decodes_hits() {
    let fake = spawn(Router::new().route(
        "/api/search/query",
        get(|| async {
            Json(json!({
                "numberOfResults": 3,
                "nextPageCursor": "MQ==",
                "results": [{"type": "software-catalog", "rank": 1,
                             "document": {"title": "Payments", "text": "t", "location": "/catalog/default/system/payments",
                                          "kind": "System", "namespace": "default"}}]
            }))
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let set = c
        .search(&SearchQuery {
            term: "pay ments".into(),
            types: vec!["software-catalog".into()],
            filters: BTreeMap::from([("kind".into(), json!("System"))]),
            page_cursor: Some("MA==".into()),
            page_limit: Some(5),
        })
        .await
        .expect("search answers");
    assert_eq!(set.number_of_results, Some(3));
    assert_eq!(set.results[0].document["kind"], "System");
    let seen = fake.log.all();
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(seen[0].query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let flat: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        flat,
        vec![
            ("term", "pay ments"),
            ("types[0]", "software-catalog"),
            ("filters[kind]", "System"),
            ("pageCursor", "MA=="),
            ("pageLimit", "5"),
        ]
    );
}

#[tokio::test]
async fn a_missing_index_is_a_named_500() {
    let fake = spawn(Router::new().route(
        "/api/search/query",
        get(|| async {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"name": "MissingIndexError", "message": "Missing index for techdocs"},
                            "response": {"statusCode": 500}})),
            )
                .into_response()
        }),
    ))
    .await;
    let c = client(config(fake.base("")));
    let err = c
        .search(&SearchQuery::default())
        .await
        .expect_err("500 is an error");
    assert!(
        matches!(&err, BackstageError::Api { status: 500, name: Some(n), .. } if n == "MissingIndexError"),
        "{err:?}"
    );
    assert_eq!(fake.log.count(), 1, "a 500 is not retried");
}
