//! Query semantics against a small catalog on disk.

use backstage_client::{EntityQuery, SortOrder};
use serde_json::json;

use super::super::tests::{Dir, component, config};
use super::super::{LocalCatalog, Snapshot};
use super::*;

fn catalog(d: &Dir) -> LocalCatalog {
    let long = "x".repeat(250);
    d.write(
        "catalog-info.yaml",
        &[
            component(
                "beta",
                "  system: shop\n",
            )
            .replace("metadata:\n", "metadata:\n  title: Beta Service\n  tags: [java]\n  annotations:\n    backstage.io/techdocs-ref: dir:.\n"),
            component("alpha", "").replace("type: service", "type: website"),
            component("Gamma", "").replace("metadata:\n", &format!("metadata:\n  description: {long}\n  tags: [go, java]\n")),
            "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: alpha\n  description: Payments_API for 100% of orders\nspec:\n  type: openapi\n  lifecycle: production\n  owner: user:jane\n  definition: x\n".into(),
            "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\nspec:\n  type: team\n  children: []\n".into(),
        ]
        .join("---\n"),
    );
    let c = LocalCatalog::load(config(&[&d.0]));
    assert!(
        c.snapshot().problems.is_empty(),
        "{:?}",
        c.snapshot().problems
    );
    c
}

fn refs(s: &Snapshot, filters: &[&str]) -> Vec<String> {
    let q = EntityQuery {
        filters: filters.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    };
    s.query(&q)
        .unwrap()
        .items
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["kind"].as_str().unwrap().to_lowercase(),
                e["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn filters_have_backstage_semantics() {
    let d = Dir::new("q-filters");
    let c = catalog(&d);
    let s = c.snapshot();
    // Name order, then ref: api:alpha before component:alpha.
    assert_eq!(
        refs(&s, &[]),
        [
            "api:alpha",
            "component:alpha",
            "component:beta",
            "component:Gamma",
            "group:team-a"
        ]
    );
    assert_eq!(
        refs(&s, &["kind=component,spec.type=service"]),
        ["component:beta", "component:Gamma"]
    );
    // Values of one key are ORed; keys are ANDed; separate filters are ORed.
    assert_eq!(
        refs(&s, &["kind=API,kind=group"]),
        ["api:alpha", "group:team-a"]
    );
    assert_eq!(
        refs(&s, &["spec.type=website", "kind=group"]),
        ["component:alpha", "group:team-a"]
    );
    // Case-insensitive keys and values; a bare key means "exists".
    assert_eq!(
        refs(&s, &["KIND=Component,Spec.Type=SERVICE"]),
        ["component:beta", "component:Gamma"]
    );
    assert_eq!(
        refs(&s, &["metadata.annotations.backstage.io/techdocs-ref"]),
        ["component:beta"]
    );
    assert_eq!(
        refs(&s, &["metadata.tags=java"]),
        ["component:beta", "component:Gamma"]
    );
    assert_eq!(refs(&s, &["metadata.tags.go=true"]), ["component:Gamma"]);
    // Relations, with shorthand refs resolved.
    assert_eq!(
        refs(&s, &["relations.ownedBy=group:default/team-a"]),
        ["component:alpha", "component:beta", "component:Gamma"]
    );
    assert_eq!(
        refs(&s, &["relations.ownedby=user:default/jane"]),
        ["api:alpha"]
    );
    assert_eq!(refs(&s, &["relations.ownerOf"]), ["group:team-a"]);
    assert_eq!(
        refs(&s, &["relations.partOf=system:default/shop"]),
        ["component:beta"]
    );
    // A value over 200 characters exists but cannot be matched.
    assert_eq!(
        refs(&s, &["metadata.description"]),
        ["api:alpha", "component:Gamma"]
    );
    assert!(refs(&s, &[&format!("metadata.description={}", "x".repeat(250))]).is_empty());
    // Blank filters are ignored; a statement without a key is an error.
    assert_eq!(refs(&s, &[" , "]).len(), 5);
    let bad = s.query(&EntityQuery {
        filters: vec!["=x".into()],
        ..Default::default()
    });
    assert!(bad.unwrap_err().contains("not a valid statement"));
}

#[test]
fn full_text_is_like_on_the_given_fields() {
    let d = Dir::new("q-text");
    let c = catalog(&d);
    let s = c.snapshot();
    let q = |term: &str, fields: &[&str]| EntityQuery {
        full_text_term: Some(term.into()),
        full_text_fields: fields.iter().map(|f| f.to_string()).collect(),
        order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
        ..Default::default()
    };
    let count = |q: EntityQuery| s.query(&q).unwrap().total_items;
    assert_eq!(count(q(" SERVICE ", &["metadata.title"])), 1);
    assert_eq!(count(q("a", &["metadata.name", "metadata.title"])), 5);
    // `_` and `%` are LIKE wildcards, as in Backstage's SQL.
    assert_eq!(count(q("payments_api", &["metadata.description"])), 1);
    assert_eq!(count(q("payments%orders", &["metadata.description"])), 1);
    assert_eq!(count(q("paymentsXapi", &["metadata.description"])), 0);
    // Without fields, the sort field is searched.
    assert_eq!(count(q("gam", &[])), 1);
    // Without fields or order, `metadata.uid`, which a local catalog does not have.
    let none = EntityQuery {
        full_text_term: Some("alpha".into()),
        ..Default::default()
    };
    assert_eq!(s.query(&none).unwrap().total_items, 0);
    assert!(
        like("abc", "b")
            && like("abc", "a_c")
            && like("abc", "%")
            && !like("abc", "b_d")
            && like("a%c", "a%c")
    );
}

#[test]
fn pages_follow_the_cursor_in_either_direction() {
    let d = Dir::new("q-pages");
    let c = catalog(&d);
    let s = c.snapshot();
    for (order, want) in [
        (
            SortOrder::Asc,
            vec!["alpha", "alpha", "beta", "Gamma", "team-a"],
        ),
        (
            SortOrder::Desc,
            vec!["team-a", "Gamma", "beta", "alpha", "alpha"],
        ),
    ] {
        let mut q = EntityQuery {
            limit: Some(2),
            fields: vec!["metadata.name".into()],
            order_fields: vec![("metadata.name".into(), order)],
            ..Default::default()
        };
        let mut names = Vec::new();
        for _ in 0..10 {
            let page = s.query(&q).unwrap();
            assert_eq!(page.total_items, 5);
            names.extend(
                page.items
                    .iter()
                    .map(|e| e["metadata"]["name"].as_str().unwrap().to_string()),
            );
            match page.next_cursor {
                Some(cur) => {
                    q = EntityQuery {
                        cursor: Some(cur),
                        limit: Some(2),
                        ..Default::default()
                    }
                }
                None => break,
            }
        }
        assert_eq!(names, want);
    }
    let bad = EntityQuery {
        cursor: Some("garbage".into()),
        ..Default::default()
    };
    assert!(s.query(&bad).unwrap_err().contains("Malformed cursor"));
    // Ordering by another field leaves out entities without it.
    let by_type = EntityQuery {
        order_fields: vec![("spec.type".into(), SortOrder::Asc)],
        ..Default::default()
    };
    let page = s.query(&by_type).unwrap();
    assert_eq!(page.total_items, 5);
    let types: Vec<&str> = page
        .items
        .iter()
        .map(|e| e["spec"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["openapi", "service", "service", "team", "website"]);
    let by_system = EntityQuery {
        order_fields: vec![("spec.system".into(), SortOrder::Asc)],
        ..Default::default()
    };
    assert_eq!(s.query(&by_system).unwrap().total_items, 1);
}

#[test]
fn projection_and_batches() {
    let d = Dir::new("q-proj");
    let c = catalog(&d);
    let s = c.snapshot();
    let got = s
        .by_refs(
            &[
                "component:default/beta".into(),
                "component:default/nope".into(),
                "Component:Default/GAMMA".into(),
            ],
            &[
                "kind".into(),
                "metadata.annotations.backstage.io/techdocs-ref".into(),
                "metadata.tags.0".into(),
                "spec.nope".into(),
            ],
        )
        .unwrap();
    assert_eq!(
        got[0],
        Some(
            json!({"kind": "Component", "metadata": {"annotations": {"backstage.io/techdocs-ref": "dir:."}, "tags": ["java"]}})
        )
    );
    assert_eq!(got[1], None);
    assert_eq!(got[2].as_ref().unwrap()["metadata"]["tags"], json!(["go"]));
    assert!(
        s.by_refs(
            &["component:default/beta".into()],
            &["metadata.tags[0]".into()]
        )
        .is_err()
    );
    let full = s.by_refs(&["component:default/beta".into()], &[]).unwrap();
    assert!(full[0].as_ref().unwrap()["relations"].is_array());
}

#[test]
fn facets_count_original_values() {
    let d = Dir::new("q-facets");
    let c = catalog(&d);
    let s = c.snapshot();
    let f = s
        .facets(
            &["kind".into(), "metadata.tags".into(), "spec.nope".into()],
            &[],
        )
        .unwrap();
    let pairs = |k: &str| {
        f[k].iter()
            .map(|x| (x.value.clone(), x.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        pairs("kind"),
        [
            ("API".into(), 1),
            ("Component".into(), 3),
            ("Group".into(), 1)
        ]
    );
    assert_eq!(
        pairs("metadata.tags"),
        [("go".into(), 1), ("java".into(), 2)]
    );
    assert!(f["spec.nope"].is_empty());
    let f = s
        .facets(&["spec.type".into()], &["kind=component".into()])
        .unwrap();
    assert_eq!(
        f["spec.type"]
            .iter()
            .map(|x| (x.value.as_str(), x.count))
            .collect::<Vec<_>>(),
        [("service", 2), ("website", 1)]
    );
}
