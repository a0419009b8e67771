//! Benchmark of the local catalog: load time, memory and per-query latency.
//!
//! ```sh
//! python3 bench/local-catalog/generate.py /tmp/catalog-100k 100000
//! cargo run --release --example local_catalog_bench -- /tmp/catalog-100k
//! ```
//!
//! Prints a Markdown report (see `bench/local-catalog/README.md`). Queries run against the
//! same code the tools use (`LocalCatalog`), each repeated, reporting median, p95 and max.

#![allow(clippy::unwrap_used, missing_docs)] // a benchmark driver: a panic is the report

use std::path::PathBuf;
use std::time::{Duration, Instant};

use backstage_client::{EntityQuery, EntityRef, SortOrder};
use stagedoor::local::{CatalogConfig, LoadOptions, LocalCatalog, glob_set};
use stagedoor::tools::shape::SUMMARY_FIELDS;

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration) {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    samples.sort();
    (
        samples[runs / 2],
        samples[runs * 95 / 100],
        samples[runs - 1],
    )
}

fn us(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: local_catalog_bench DIR"),
    );
    let dir = dir.canonicalize().unwrap();
    let config = CatalogConfig {
        load: LoadOptions {
            paths: vec![dir.clone()],
            include: glob_set(&["**/catalog-info.yaml".into()]).unwrap(),
            exclude: glob_set(&[]).unwrap(),
            max_file_bytes: 64 << 20,
        },
        watch: false,
        debounce: Duration::from_millis(250),
    };
    let rss_before = status_kib("VmRSS:");
    let t = Instant::now();
    let catalog = LocalCatalog::load(config);
    let load = t.elapsed();
    let snap = catalog.snapshot();
    let rss = status_kib("VmRSS:");
    let hwm = status_kib("VmHWM:");
    let t = Instant::now();
    let changes = catalog.reload();
    let reload = t.elapsed();
    assert!(changes.is_empty());
    println!(
        "## Local catalog: {} entities, {} files\n",
        snap.len(),
        snap.file_count()
    );
    println!("| What | Result |\n|---|---|");
    println!(
        "| load (parse, validate, relations, index) | {:.2} s (read+parse+validate {:.2} s, relations+index {:.2} s) |",
        load.as_secs_f64(),
        snap.timings.0.as_secs_f64(),
        snap.timings.1.as_secs_f64()
    );
    println!(
        "| reload with no file changed | {:.2} s |",
        reload.as_secs_f64()
    );
    println!(
        "| RSS after load | {} (process start: {}) |",
        mib(rss),
        mib(rss_before)
    );
    println!("| peak RSS (VmHWM) | {} |", mib(hwm));
    println!(
        "| entities + index, counted | {} |",
        mib(snap.heap_bytes() as u64 / 1024)
    );
    println!("| problems | {} |\n", snap.problems.len());
    assert!(
        snap.problems.is_empty(),
        "{:?}",
        &snap.problems[..3.min(snap.problems.len())]
    );

    let summary: Vec<String> = SUMMARY_FIELDS.iter().map(|s| s.to_string()).collect();
    let page = |filters: Vec<String>, term: Option<&str>| EntityQuery {
        filters,
        fields: summary.clone(),
        limit: Some(20),
        order_fields: vec![("metadata.name".into(), SortOrder::Asc)],
        full_text_term: term.map(str::to_string),
        full_text_fields: if term.is_some() {
            vec![
                "metadata.name".into(),
                "metadata.title".into(),
                "metadata.description".into(),
                "metadata.tags".into(),
            ]
        } else {
            Vec::new()
        },
        cursor: None,
    };
    let first = catalog
        .query_entities(&page(vec!["kind=component".into()], None))
        .unwrap();
    let next = EntityQuery {
        cursor: first.next_cursor.clone(),
        fields: summary.clone(),
        limit: Some(20),
        ..Default::default()
    };
    let refs: Vec<String> = (0..100)
        .map(|i| format!("component:default/component-{}", i * 37))
        .collect();
    let one = EntityRef::parse("component:default/component-4242", None, None).unwrap();
    let runs = 200;
    type Case<'a> = (&'a str, Box<dyn FnMut() -> usize + 'a>);
    let cases: Vec<Case> = vec![
        (
            "get one entity by ref",
            Box::new(|| catalog.entity(&one).map(|_| 1).unwrap()),
        ),
        (
            "100 entities by ref (summary fields)",
            Box::new(|| catalog.entities_by_refs(&refs, &summary).unwrap().len()),
        ),
        (
            "first page, no filter (20 of all)",
            Box::new(|| {
                catalog
                    .query_entities(&page(vec![], None))
                    .unwrap()
                    .items
                    .len()
            }),
        ),
        (
            "first page, kind=component",
            Box::new(|| {
                catalog
                    .query_entities(&page(vec!["kind=component".into()], None))
                    .unwrap()
                    .items
                    .len()
            }),
        ),
        (
            "next page by cursor, kind=component",
            Box::new(|| catalog.query_entities(&next).unwrap().items.len()),
        ),
        (
            "kind + type + lifecycle filter",
            Box::new(|| {
                catalog
                    .query_entities(&page(
                        vec!["kind=component,spec.type=service,spec.lifecycle=production".into()],
                        None,
                    ))
                    .unwrap()
                    .items
                    .len()
            }),
        ),
        (
            "relations.ownedBy filter",
            Box::new(|| {
                catalog
                    .query_entities(&page(
                        vec!["relations.ownedBy=group:default/team-17".into()],
                        None,
                    ))
                    .unwrap()
                    .items
                    .len()
            }),
        ),
        (
            "free text on name/title/description/tags",
            Box::new(|| {
                catalog
                    .query_entities(&page(vec![], Some("chargeback")))
                    .unwrap()
                    .items
                    .len()
            }),
        ),
        (
            "free text + kind filter",
            Box::new(|| {
                catalog
                    .query_entities(&page(vec!["kind=api".into()], Some("refund settlement")))
                    .unwrap()
                    .items
                    .len()
            }),
        ),
        (
            "facets kind, spec.type, spec.lifecycle",
            Box::new(|| {
                catalog
                    .facets(
                        &["kind".into(), "spec.type".into(), "spec.lifecycle".into()],
                        &[],
                    )
                    .unwrap()
                    .len()
            }),
        ),
        (
            "facet metadata.tags under kind=component",
            Box::new(|| {
                catalog
                    .facets(&["metadata.tags".into()], &["kind=component".into()])
                    .unwrap()
                    .len()
            }),
        ),
    ];
    println!("| Query ({runs} runs each) | median | p95 | max |\n|---|---|---|---|");
    for (name, mut f) in cases {
        let (p50, p95, max) = time(runs, &mut f);
        println!("| {name} | {} | {} | {} |", us(p50), us(p95), us(max));
    }
}
