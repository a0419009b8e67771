//! Unit tests of `search`.

use backstage_client::Highlight;
use serde_json::json;

use super::*;

fn result(doc_type: &str, document: Value) -> SearchResult {
    SearchResult {
        doc_type: doc_type.into(),
        document,
        rank: Some(1),
        highlight: None,
    }
}

#[test]
fn catalog_hits_map_to_entity_refs_from_the_location() {
    let h = hit(&result(
        "software-catalog",
        json!({"title": "Payments REST API", "text": "Public REST API", "kind": "API", "namespace": "default",
               "location": "/catalog/default/api/payments-openapi"}),
    ));
    assert_eq!(
        h.entity_ref.as_deref(),
        Some("api:default/payments-openapi")
    );
    assert_eq!(h.next_tool.as_deref(), Some("get_entity"));
    assert!(h.path.is_none() && h.section.is_none());
    let odd = hit(&result(
        "software-catalog",
        json!({"title": "X", "location": "/catalog/team%2Da/component/web%2Dapp"}),
    ));
    assert_eq!(odd.entity_ref.as_deref(), Some("component:team-a/web-app"));
}

#[test]
fn techdocs_hits_carry_page_and_section() {
    let h = hit(&result(
        "techdocs",
        json!({"title": "Idempotency", "kind": "component", "namespace": "default", "name": "payment-service",
               "path": "architecture/#idempotency",
               "location": "/docs/default/component/payment-service/architecture/#idempotency"}),
    ));
    assert_eq!(
        h.entity_ref.as_deref(),
        Some("component:default/payment-service")
    );
    assert_eq!(h.path.as_deref(), Some("architecture/"));
    assert_eq!(h.section.as_deref(), Some("idempotency"));
    assert_eq!(h.next_tool.as_deref(), Some("get_techdocs_page"));
    // Without `path`, the page comes from the location.
    let (p, s) =
        techdocs_page(&json!({"location": "/docs/default/component/x/runbook/#high-latency"}));
    assert_eq!(
        (p.as_str(), s.as_deref()),
        ("runbook/", Some("high-latency"))
    );
    let (home, none) = techdocs_page(&json!({"location": "/docs/default/component/x/"}));
    assert_eq!((home.as_str(), none), ("", None));
}

#[test]
fn other_types_without_an_entity_have_no_next_tool() {
    let h = hit(&result(
        "stack-overflow",
        json!({"title": "Q", "location": "https://so.example/q/1"}),
    ));
    assert!(h.entity_ref.is_none() && h.next_tool.is_none());
}

#[test]
fn snippets_mark_matches_and_stay_bounded() {
    let long = format!("{} needle {}", "a ".repeat(400), "b ".repeat(400));
    let mut r = result("techdocs", json!({"title": "T", "text": long.clone()}));
    r.highlight = Some(Highlight {
        pre_tag: "<x>".into(),
        post_tag: "</x>".into(),
        fields: BTreeMap::from([("text".to_string(), long.replace("needle", "<x>needle</x>"))]),
    });
    let s = snippet(&r);
    assert!(s.contains("**needle**"), "{s}");
    assert!(s.starts_with('…') && s.ends_with('…'));
    assert!(s.chars().count() <= SNIPPET_CHARS + 2);
    r.highlight = None;
    let plain = snippet(&r);
    assert!(plain.starts_with("a a") && plain.ends_with('…'));
}

#[test]
fn queries_and_cursors() {
    let p: SearchParams = serde_json::from_value(json!({
        "term": " runbook ", "types": ["techdocs", " "], "filters": {"kind": "Component"}, "limit": 5
    }))
    .unwrap();
    let q = build_query(p).unwrap();
    assert_eq!(q.term, "runbook");
    assert_eq!(q.types, vec!["techdocs".to_string()]);
    assert_eq!(q.page_limit, Some(5));
    let c = encode_opaque(&SearchCursor {
        v: 1,
        b: "MQ==".into(),
        t: q.term.clone(),
        y: q.types.clone(),
        f: q.filters.clone(),
        l: 5,
    });
    let again =
        build_query(serde_json::from_value(json!({"term": "ignored", "cursor": c})).unwrap())
            .unwrap();
    assert_eq!(again.page_cursor.as_deref(), Some("MQ=="));
    assert_eq!((again.term.as_str(), again.filters.len()), ("runbook", 1));
    let bad = |v: Value| {
        build_query(serde_json::from_value(v).unwrap())
            .unwrap_err()
            .message
    };
    assert!(bad(json!({"term": "x", "limit": 0})).contains("limit"));
    assert!(bad(json!({"term": "x", "cursor": "nope"})).contains("cursor"));
    assert!(bad(json!({"term": "x", "filters": {"kind": {"a": 1}}})).contains("kind"));
    assert!(bad(json!({"term": "x", "filters": {"kind": []}})).contains("kind"));
}

#[test]
fn a_missing_index_is_named_plainly() {
    let err = BackstageError::Api {
        status: 500,
        name: Some("MissingIndexError".into()),
        message: "Missing index for techdocs".into(),
        url: "http://b/api/search/query".into(),
    };
    let e = failure(&SearchQuery::default(), &err);
    assert!(
        e.message.starts_with("The search index is not built yet"),
        "{}",
        e.message
    );
    assert!(e.message.contains("Retry in a minute"));
    let other = BackstageError::Api {
        status: 400,
        name: Some("InputError".into()),
        message: "Invalid query string".into(),
        url: "u".into(),
    };
    let q = SearchQuery {
        types: vec!["nope".into()],
        ..Default::default()
    };
    assert!(failure(&q, &other).message.contains("Check `types`"));
}
