//! Loading catalogs from real files: problems with file and line, Locations and cycles,
//! placeholders, duplicates, relations and reloads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

/// A throwaway catalog directory.
pub(crate) struct Dir(pub PathBuf);

impl Dir {
    pub(crate) fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("stagedoor-local-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p.canonicalize().unwrap())
    }
    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn config(paths: &[&Path]) -> CatalogConfig {
    CatalogConfig {
        load: LoadOptions {
            paths: paths.iter().map(|p| p.to_path_buf()).collect(),
            include: glob_set(&["**/catalog-info.yaml".into()]).unwrap(),
            exclude: glob_set(&["**/skeleton/**".into()]).unwrap(),
            max_file_bytes: 1 << 20,
        },
        watch: false,
        debounce: Duration::from_millis(50),
    }
}

pub(crate) fn component(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n{extra}"
    )
}

const GROUP: &str = "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\n  title: Team A\nspec:\n  type: team\n  children: []\n";

fn messages(c: &LocalCatalog) -> Vec<String> {
    c.snapshot()
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn get(c: &LocalCatalog, r: &str) -> Option<Arc<Value>> {
    let r = EntityRef::parse(r, None, None).unwrap();
    c.entity(&r).ok()
}

#[test]
fn a_bad_entity_is_reported_with_file_and_line_and_the_rest_loads() {
    let d = Dir::new("bad");
    let file = d.write(
        "catalog-info.yaml",
        &format!(
            "{}---\n{}---\n{GROUP}",
            component("good", ""),
            component("Bad Name!", "")
        ),
    );
    let c = LocalCatalog::load(config(&[&d.0]));
    assert!(get(&c, "component:default/good").is_some());
    assert!(get(&c, "group:default/team-a").is_some());
    let m = messages(&c);
    assert_eq!(m.len(), 1, "{m:?}");
    // The bad name is on line 13 of the file (second document, `name:` line).
    let want = format!("{}:13: ", file.display());
    assert!(m[0].starts_with(&want), "{m:?}");
    assert!(m[0].contains("metadata.name"), "{m:?}");
}

#[test]
fn yaml_errors_missing_fields_and_bad_refs_each_name_their_line() {
    let d = Dir::new("lines");
    d.write(
        "catalog-info.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  type: service\n  lifecycle: production\n---\nkey: [unclosed\n---\napiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: r\nspec:\n  type: db\n  owner: o\n  dependsOn:\n    - bare-name\n",
    );
    let c = LocalCatalog::load(config(&[&d.0]));
    let m = messages(&c);
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(
        m[0].contains(":5: component:default/a: `spec.owner` is required"),
        "{m:?}"
    );
    assert!(m[1].contains(":9: YAML syntax error"), "{m:?}");
    assert!(
        m[2].contains(":19: resource:default/r: `spec.dependsOn`"),
        "{m:?}"
    );
    assert!(c.snapshot().is_empty());
}

#[test]
fn locations_are_followed_and_cycles_reported() {
    let d = Dir::new("loc");
    let root = d.write(
        "all.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: root\nspec:\n  targets:\n    - ./a/a.yaml\n    - ./missing.yaml\n    - https://example.com/x.yaml\n    - ./teams/*.yaml\n",
    );
    d.write(
        "a/a.yaml",
        &format!(
            "{}---\napiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: back\nspec:\n  target: ../all.yaml\n",
            component("in-a", "")
        ),
    );
    d.write("teams/t1.yaml", GROUP);
    let c = LocalCatalog::load(config(&[&root]));
    assert!(get(&c, "component:default/in-a").is_some());
    assert!(
        get(&c, "group:default/team-a").is_some(),
        "glob targets are expanded"
    );
    assert!(get(&c, "location:default/back").is_some());
    let m = messages(&c);
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(
        m.iter()
            .any(|x| x.contains("all.yaml:8: Location target `./missing.yaml` does not exist")),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|x| x.contains("all.yaml:9:") && x.contains("not followed")),
        "{m:?}"
    );
    let cycle = m
        .iter()
        .find(|x| x.contains("Location cycle"))
        .expect("cycle reported");
    assert!(cycle.contains("a.yaml:15:"), "{cycle}");
    assert!(cycle.contains("all.yaml -> "), "{cycle}");
    // Managed-by annotations like Backstage's.
    let e = get(&c, "component:default/in-a").unwrap();
    let ann = &e["metadata"]["annotations"];
    assert_eq!(
        ann["backstage.io/managed-by-location"],
        format!("file:{}", d.0.join("a/a.yaml").display())
    );
    assert_eq!(
        ann["backstage.io/managed-by-origin-location"],
        format!("file:{}", root.display())
    );
}

#[test]
fn placeholders_resolve_from_local_files_only() {
    let d = Dir::new("ph");
    d.write("api/spec.yaml", "openapi: 3.0.0\ninfo:\n  title: X\n");
    d.write(
        "api/catalog-info.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: x-api\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ./spec.yaml\n---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: y-api\nspec:\n  type: openapi\n  lifecycle: production\n  owner: team-a\n  definition:\n    $text: https://example.com/openapi.yaml\n",
    );
    let c = LocalCatalog::load(config(&[&d.0]));
    let x = get(&c, "api:default/x-api").unwrap();
    assert_eq!(
        x["spec"]["definition"],
        "openapi: 3.0.0\ninfo:\n  title: X\n"
    );
    assert!(get(&c, "api:default/y-api").is_none());
    let m = messages(&c);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].contains(":21: api:default/y-api: Placeholder $text:") && m[0].contains("is a URL"),
        "{m:?}"
    );
}

#[test]
fn duplicates_keep_the_first_and_relations_are_built_both_ways() {
    let d = Dir::new("dup");
    d.write(
        "a/catalog-info.yaml",
        &format!(
            "{}---\n{GROUP}",
            component("web", "  dependsOn:\n    - resource:db\n")
        ),
    );
    d.write("b/catalog-info.yaml", &component("WEB", ""));
    let c = LocalCatalog::load(config(&[&d.0]));
    let m = messages(&c);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].contains("b/catalog-info.yaml:1: component:default/web: duplicate entity"),
        "{m:?}"
    );
    let web = get(&c, "component:default/web").unwrap();
    assert_eq!(
        web["relations"],
        json!([{"type": "dependsOn", "targetRef": "resource:default/db"},
               {"type": "ownedBy", "targetRef": "group:default/team-a"}])
    );
    let team = get(&c, "group:default/team-a").unwrap();
    assert_eq!(
        team["relations"],
        json!([{"type": "ownerOf", "targetRef": "component:default/web"}])
    );
    // Lookups are case-insensitive, like by-name.
    assert!(get(&c, "Component:default/Web").is_some());
}

#[test]
fn reload_sees_edits_and_keeps_the_last_good_version_of_a_broken_file() {
    let d = Dir::new("reload");
    let f = d.write("catalog-info.yaml", &component("svc", ""));
    let c = LocalCatalog::load(config(&[&d.0]));
    assert_eq!(c.snapshot().len(), 1);
    std::fs::write(&f, component("svc", "  system: shop\n")).unwrap();
    let changes = c.reload();
    assert_eq!(changes.changed, ["component:default/svc"]);
    assert_eq!(
        get(&c, "component:default/svc").unwrap()["spec"]["system"],
        "shop"
    );
    // Broken mid-edit: the last good version is served, and the problem says so.
    std::fs::write(&f, "apiVersion: [oops\n").unwrap();
    let changes = c.reload();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(
        get(&c, "component:default/svc").unwrap()["spec"]["system"],
        "shop"
    );
    let m = messages(&c);
    assert!(m[0].contains("last good version"), "{m:?}");
    // A new file appears; the old file is deleted.
    d.write("new/catalog-info.yaml", GROUP);
    std::fs::remove_file(&f).unwrap();
    let changes = c.reload();
    assert_eq!(changes.added, ["group:default/team-a"]);
    assert_eq!(changes.removed, ["component:default/svc"]);
    assert!(messages(&c).is_empty());
    assert_eq!(c.reloads(), 3);
}

#[test]
fn skeletons_are_excluded_and_only_catalog_info_files_are_read() {
    let d = Dir::new("globs");
    d.write("svc/catalog-info.yaml", &component("svc", ""));
    d.write("svc/other.yaml", "not: an entity\n");
    d.write(
        "tpl/skeleton/catalog-info.yaml",
        "name: ${{ values.name }}\n",
    );
    let c = LocalCatalog::load(config(&[&d.0]));
    assert_eq!(c.snapshot().len(), 1);
    assert!(messages(&c).is_empty(), "{:?}", messages(&c));
}

#[tokio::test]
async fn get_entity_fields_find_annotation_keys_with_dots_over_a_local_catalog() {
    let dir = Dir::new("dotted-fields");
    dir.write(
        "catalog-info.yaml",
        &component("docs-site", "").replace(
            "  name: docs-site\n",
            "  name: docs-site\n  annotations:\n    backstage.io/techdocs-ref: dir:.\n",
        ),
    );
    let catalog = Arc::new(LocalCatalog::load(config(&[&dir.0])));
    let ctx = crate::tool::ToolCtx {
        portal: Arc::new(crate::portal::Portal::local(catalog)),
        actions: None,
        call: crate::tool::CallCtx::default(),
    };
    let args = json!({
        "entityRef": "component:default/docs-site",
        "fields": ["metadata.annotations.backstage.io/techdocs-ref"]
    });
    let Some(entry) = crate::tools::find("get_entity") else {
        panic!("get_entity is registered");
    };
    let out = entry
        .call(ctx, args.as_object().cloned().unwrap_or_default())
        .await
        .unwrap();
    assert_eq!(
        out["entity"]["metadata"]["annotations"]["backstage.io/techdocs-ref"], "dir:.",
        "{out}"
    );
}

/// The configuration `--catalog` gives by default (include/exclude globs of the config).
fn default_config(paths: &[&Path]) -> CatalogConfig {
    let globs = |g: &[&str]| glob_set(&g.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let mut c = config(paths);
    c.load.include = globs(&crate::config::defaults::CATALOG_INCLUDE).unwrap();
    c.load.exclude = globs(&crate::config::defaults::CATALOG_EXCLUDE).unwrap();
    c
}

/// Every entity of a catalog, by ref, as served.
fn everything(c: &LocalCatalog) -> BTreeMap<String, Value> {
    let snap = c.snapshot();
    snap.all().map(|s| (s.key.to_string(), s.value())).collect()
}

#[test]
fn a_catalog_folder_loads_through_its_directory_exactly_as_through_its_root_file() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/catalog-folder")
        .canonicalize()
        .unwrap();
    let by_dir = LocalCatalog::load(default_config(&[&folder]));
    let by_root = LocalCatalog::load(default_config(&[&folder.join("all.yaml")]));
    assert!(messages(&by_dir).is_empty(), "{:?}", messages(&by_dir));
    assert!(messages(&by_root).is_empty(), "{:?}", messages(&by_root));
    let (dir, root) = (everything(&by_dir), everything(&by_root));
    assert_eq!(dir.len(), 12, "{:?}", dir.keys());
    // Same entities, same annotations (origin: the root Location), same relations.
    assert_eq!(dir, root);
    assert_eq!(
        dir["component:default/payments-service"]["metadata"]["annotations"]["backstage.io/managed-by-origin-location"],
        format!("file:{}", folder.join("all.yaml").display())
    );
    let snap = by_dir.snapshot();
    let skipped: Vec<String> = snap
        .skipped
        .iter()
        .map(|(p, _)| p.strip_prefix(&folder).unwrap().display().to_string())
        .collect();
    assert_eq!(
        skipped,
        [
            "apis/payments-openapi.yaml",
            "ci/pipeline.yml",
            "components/checkout/mkdocs.yml",
            "templates/new-service/content/catalog-info.yaml",
        ]
    );
    assert!(snap.skipped[3].1.contains("skeleton"), "{:?}", snap.skipped);
    assert!(by_root.snapshot().skipped.is_empty());
    let dangling: Vec<String> = snap.dangling.iter().map(|p| p.message.clone()).collect();
    assert_eq!(dangling.len(), 1, "{dangling:?}");
    assert!(
        dangling[0].starts_with("component:default/ledger: dependsOn resource:default/mainframe"),
        "{dangling:?}"
    );
}

#[test]
fn the_testbed_and_example_catalogs_load_the_same_through_their_directories() {
    for (dir, root) in [
        ("testbed/catalog", "all.yaml"),
        ("examples/catalog", "catalog-info.yaml"),
    ] {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir)
            .canonicalize()
            .unwrap();
        let by_dir = LocalCatalog::load(default_config(&[&folder]));
        let by_root = LocalCatalog::load(default_config(&[&folder.join(root)]));
        assert!(messages(&by_dir).is_empty(), "{:?}", messages(&by_dir));
        assert!(everything(&by_dir).len() >= 30, "{dir}");
        assert_eq!(everything(&by_dir), everything(&by_root), "{dir}");
    }
}

#[test]
fn a_folder_without_a_root_location_loads_every_entity_file_once() {
    let d = Dir::new("no-root");
    d.write("org.yaml", GROUP);
    d.write(
        "services.yml",
        &format!("{}---\n{}", component("a", ""), component("b", "")),
    );
    // Reached by a Location and found by the walk: loaded once, through the Location.
    d.write("nested/list.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: nested\nspec:\n  targets: [./c.yaml]\n");
    d.write("nested/c.yaml", &component("c", ""));
    d.write("docs/mkdocs.yml", "site_name: x\n");
    d.write(
        "broken.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: [\n",
    );
    let c = LocalCatalog::load(default_config(&[&d.0]));
    let all = everything(&c);
    let keys: Vec<&str> = all.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "component:default/a",
            "component:default/b",
            "component:default/c",
            "group:default/team-a",
            "location:default/nested"
        ]
    );
    assert_eq!(
        all["component:default/c"]["metadata"]["annotations"]["backstage.io/managed-by-origin-location"],
        format!("file:{}", d.0.join("nested/list.yaml").display())
    );
    // A file with a syntax error that declares a catalog apiVersion is loaded (and reported).
    let m = messages(&c);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(
        m[0].contains("broken.yaml") && m[0].contains("YAML syntax error"),
        "{m:?}"
    );
    assert_eq!(c.snapshot().skipped.len(), 1);
}

#[test]
fn an_empty_catalog_is_a_problem() {
    let d = Dir::new("empty");
    let c = LocalCatalog::load(default_config(&[&d.0]));
    assert_eq!(c.snapshot().len(), 0);
    let m = messages(&c);
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].contains("the catalog is empty"), "{m:?}");
    d.write("mkdocs.yml", "site_name: x\n");
    c.reload();
    let m = messages(&c);
    assert!(
        m[0].contains("1 YAML file(s) skipped as not entities"),
        "{m:?}"
    );
}
