//! Sites read from real mkdocs sources on disk: navigation, titles, files, refusals.

use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::local::tests::{Dir, config};

fn open(dir: &Dir, entity_file: &str, techdocs_ref: &str) -> Result<Site, String> {
    Site::open(&Source {
        entity_file: &dir.0.join(entity_file),
        techdocs_ref,
        roots: std::slice::from_ref(&dir.0),
        max_bytes: 1 << 20,
    })
}

fn nav_listing(site: &Site) -> Vec<String> {
    fn walk(site: &Site, items: &[NavItem], prefix: &str, out: &mut Vec<String>) {
        for i in items {
            match i {
                NavItem::Page { page, .. } => {
                    out.push(format!(
                        "{prefix}{}={}",
                        site.pages[*page].file,
                        site.title(*page)
                    ));
                }
                NavItem::Section { title, items } => {
                    walk(site, items, &format!("{prefix}{title}/"), out)
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(site, &site.nav, "", &mut out);
    out
}

#[test]
fn configured_nav_gives_order_titles_and_sections() {
    let d = Dir::new("docs-nav");
    d.write("svc/catalog-info.yaml", "");
    d.write(
        "svc/mkdocs.yml",
        "site_name: Svc\nsite_description: About svc\nnav:\n  - Overview: index.md\n  - Guides:\n      - guides/setup.md\n      - Deploying: guides/deploy.md\n  - Elsewhere: https://example.com\n  - missing.md\nplugins:\n  - techdocs-core\nmarkdown_extensions:\n  - pymdownx.emoji:\n      emoji_generator: !!python/name:material.extensions.emoji.to_svg\n",
    );
    d.write("svc/docs/index.md", "# Welcome\n");
    d.write(
        "svc/docs/guides/setup.md",
        "---\ntitle: Setting up\n---\n# Setup\n",
    );
    d.write("svc/docs/guides/deploy.md", "# Deploy\n");
    d.write("svc/docs/faq.md", "No heading here.\n");
    d.write("svc/docs/.hidden.md", "# Hidden\n");
    let site = open(&d, "svc/catalog-info.yaml", "dir:.").expect("site");
    assert_eq!(site.site_name.as_deref(), Some("Svc"));
    assert_eq!(site.site_description.as_deref(), Some("About svc"));
    assert_eq!(
        nav_listing(&site),
        [
            "index.html=Overview",
            "Guides/guides/setup/index.html=Setting up",
            "Guides/guides/deploy/index.html=Deploying",
        ]
    );
    let meta = site.metadata();
    assert_eq!(
        meta.files,
        [
            "index.html",
            "faq/index.html",
            "guides/deploy/index.html",
            "guides/setup/index.html",
            SEARCH_INDEX
        ],
        "every page is published, in mkdocs' file order; dotfiles are not"
    );
    assert!(meta.build_timestamp.is_some());
    // Pages outside the navigation are in the search index with their titles, after it.
    let index: Value = serde_json::from_str(&site.file(SEARCH_INDEX).unwrap().unwrap()).unwrap();
    let docs: Vec<(String, String)> = index["docs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["location"].as_str().unwrap().into(),
                d["title"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        docs,
        [
            ("".to_string(), "Overview".to_string()),
            ("guides/setup/".into(), "Setting up".into()),
            ("guides/deploy/".into(), "Deploying".into()),
            ("faq/".into(), "Faq".into()),
        ]
    );
}

#[test]
fn the_home_page_carries_the_navigation_and_pages_get_a_title() {
    let d = Dir::new("docs-html");
    d.write("catalog-info.yaml", "");
    d.write(
        "mkdocs.yml",
        "site_name: Site\nnav:\n  - Home: index.md\n  - FAQ: faq.md\n",
    );
    d.write("docs/index.md", "# Start\n\nSee the [FAQ](faq.md#why).\n");
    d.write("docs/faq.md", "Just text.\n\n## Why?\n");
    let site = open(&d, "catalog-info.yaml", "dir:.").expect("site");
    let home = site.file("index.html").unwrap().unwrap();
    assert!(
        home.contains(r#"<nav class="md-nav md-nav--primary">"#),
        "{home}"
    );
    assert!(
        home.contains(r#"<a class="md-nav__link" href="faq/index.html">FAQ</a>"#),
        "{home}"
    );
    assert!(home.contains(r#"href="faq/index.html#why""#), "{home}");
    assert!(home.contains("<title>Home - Site</title>"), "{home}");
    let faq = site.file("faq/index.html").unwrap().unwrap();
    assert!(
        !faq.contains("md-nav--primary"),
        "only the home page has the navigation"
    );
    assert!(
        faq.contains("<h1>FAQ</h1>"),
        "a page without # gets its title as h1: {faq}"
    );
    assert!(faq.contains(r#"<h2 id="why">Why?</h2>"#), "{faq}");
    assert!(site.file("nope/index.html").is_none());
}

#[test]
fn without_nav_mkdocs_order_and_directory_sections_apply() {
    let d = Dir::new("docs-auto");
    d.write("catalog-info.yaml", "");
    d.write("mkdocs.yml", "site_name: Auto\ndocs_dir: content\n");
    d.write("content/README.md", "# Readme home\n");
    d.write("content/zeta.md", "# Zeta\n");
    d.write("content/alpha.md", "");
    d.write("content/ops-guide/index.md", "# Ops\n");
    d.write("content/ops-guide/on_call.md", "");
    let site = open(&d, "catalog-info.yaml", "dir:.").expect("site");
    assert_eq!(
        nav_listing(&site),
        [
            "index.html=Readme home",
            "alpha/index.html=Alpha",
            "zeta/index.html=Zeta",
            "Ops guide/ops-guide/index.html=Ops",
            "Ops guide/ops-guide/on_call/index.html=On call",
        ]
    );
}

#[test]
fn use_directory_urls_false_publishes_flat_files() {
    let d = Dir::new("docs-flat");
    d.write("catalog-info.yaml", "");
    d.write("mkdocs.yml", "site_name: Flat\nuse_directory_urls: false\n");
    d.write("docs/index.md", "# Home\n[b](b.md)\n");
    d.write("docs/b.md", "# B\n");
    let site = open(&d, "catalog-info.yaml", "dir:.").expect("site");
    assert_eq!(site.metadata().files[..2], ["index.html", "b.html"]);
    assert!(
        site.file("index.html")
            .unwrap()
            .unwrap()
            .contains(r#"href="b.html""#)
    );
}

#[test]
fn refusals_say_what_is_wrong() {
    let d = Dir::new("docs-refuse");
    d.write("a/catalog-info.yaml", "");
    d.write("b/mkdocs.yml", "site_name: B\n");
    let outside = Dir::new("docs-refuse-outside");
    outside.write("mkdocs.yml", "site_name: Out\n");
    let only_a = [d.0.join("a")];
    let e = open(&d, "a/catalog-info.yaml", "url:https://github.com/x/y").unwrap_err();
    assert!(e.contains("only from `dir:`"), "{e}");
    let e = open(&d, "a/catalog-info.yaml", "dir:.").unwrap_err();
    assert!(e.contains("no mkdocs.yml in"), "{e}");
    let e = open(&d, "a/catalog-info.yaml", "dir:../nope").unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    let e = Site::open(&Source {
        entity_file: &d.0.join("a/catalog-info.yaml"),
        techdocs_ref: "dir:../b",
        roots: &only_a,
        max_bytes: 1 << 20,
    })
    .unwrap_err();
    assert!(e.contains("outside the catalog paths"), "{e}");
    let rel = format!(
        "dir:{}",
        PathBuf::from("..")
            .join("..")
            .join(outside.0.file_name().unwrap())
            .display()
    );
    let e = open(&d, "a/catalog-info.yaml", &rel).unwrap_err();
    assert!(e.contains("outside the catalog paths"), "{e}");
    d.write("c/catalog-info.yaml", "");
    d.write("c/mkdocs.yml", "site_name: [unclosed\n");
    let e = open(&d, "c/catalog-info.yaml", "dir:.").unwrap_err();
    assert!(e.contains("is not valid YAML"), "{e}");
}

#[cfg(unix)]
#[test]
fn symlinked_pages_are_not_followed() {
    let d = Dir::new("docs-symlink");
    let secret = Dir::new("docs-symlink-secret");
    secret.write("secret.md", "# Secret\n");
    d.write("catalog-info.yaml", "");
    d.write("mkdocs.yml", "site_name: S\n");
    d.write("docs/index.md", "# Home\n");
    std::os::unix::fs::symlink(secret.0.join("secret.md"), d.0.join("docs/leak.md")).unwrap();
    let site = open(&d, "catalog-info.yaml", "dir:.").expect("site");
    assert_eq!(site.metadata().files, ["index.html", SEARCH_INDEX]);
}

#[test]
fn unreadable_dir_sources_are_problems_at_the_entity() {
    let d = Dir::new("docs-problems");
    let with_docs = "metadata:\n  name: {n}\n  annotations:\n    backstage.io/techdocs-ref: {r}\n";
    let entity = |name: &str, r: &str| {
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\n{}spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n",
            with_docs.replace("{n}", name).replace("{r}", r)
        )
    };
    d.write("good/catalog-info.yaml", &entity("good", "dir:."));
    d.write("good/mkdocs.yml", "site_name: Good\n");
    d.write("good/docs/index.md", "# Good\n");
    d.write(
        "bare/catalog-info.yaml",
        &format!(
            "{}---\n{}",
            entity("remote", "url:https://example.com/x"),
            entity("bare", "dir:.")
        ),
    );
    let catalog = LocalCatalog::load(config(&[&d.0]));
    let problems: Vec<String> = catalog
        .docs_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(
            "bare/catalog-info.yaml:12: component:default/bare: TechDocs: no mkdocs.yml in"
        ),
        "{problems:?}"
    );
}

#[test]
fn page_reads_reuse_the_site_their_metadata_came_from() {
    let d = Dir::new("docs-reuse");
    d.write(
        "svc/catalog-info.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: svc\n  annotations:\n    backstage.io/techdocs-ref: dir:.\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n",
    );
    d.write("svc/mkdocs.yml", "site_name: Svc\n");
    d.write("svc/docs/index.md", "# Home\n");
    let catalog = LocalCatalog::load(config(&[&d.0]));
    let r = EntityRef::parse("component:svc", None, Some("default")).unwrap();
    let meta = catalog.techdocs_metadata(&r).expect("metadata");
    // With mkdocs.yml gone, only the site read for that metadata can still answer.
    std::fs::remove_file(d.0.join("svc/mkdocs.yml")).unwrap();
    let home = catalog.techdocs_file(&r, meta.build_timestamp, "index.html");
    assert!(
        home.expect("same build")
            .contains("<h1 id=\"home\">Home</h1>")
    );
    let other = catalog
        .techdocs_file(&r, Some(1), "index.html")
        .unwrap_err();
    assert!(other.to_string().contains("no mkdocs.yml"), "{other}");
    assert!(
        catalog.techdocs_metadata(&r).is_err(),
        "metadata is always read afresh"
    );
}
