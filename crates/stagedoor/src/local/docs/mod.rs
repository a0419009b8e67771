//! TechDocs straight from mkdocs sources: an entity's `backstage.io/techdocs-ref: dir:<path>`
//! names a directory (relative to the entity's file) holding `mkdocs.yml` and its
//! `docs_dir`; the site a TechDocs build would publish is produced from it on each call.
//!
//! The site has the same shape as a published one — `techdocs_metadata.json` fields, page
//! files at mkdocs' URLs (`runbook.md` → `runbook/index.html`), a primary navigation in
//! `index.html` as mkdocs-material writes it, and `search/search_index.json` with every
//! page's title — so the TechDocs tools read it exactly as they read Backstage's.
//! Navigation follows `nav` in `mkdocs.yml`, or mkdocs' automatic order without one; page
//! titles follow mkdocs (nav title, front matter `title`, first `#` heading, file name).
//!
//! Only files inside the catalog roots are read: the docs directory must resolve inside a
//! configured catalog path, symlinks are not followed, and the pages read are the ones the
//! directory walk found, never a path taken from a request.

pub(crate) mod render;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::UNIX_EPOCH;

use backstage_client::{BackstageError, EntityRef, TechDocsMetadata};
use serde_json::{Value, json};

use self::render::{PageContext, is_markdown, normalize};
use super::{LOCAL_URL, LocalCatalog, input_error};

/// The annotation naming an entity's docs source.
pub(crate) const REF_ANNOTATION: &str = "backstage.io/techdocs-ref";
/// Most pages read from one docs directory.
const MAX_PAGES: usize = 5_000;
/// The search index file of a site.
pub(crate) const SEARCH_INDEX: &str = "search/search_index.json";

/// One entry of the site navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NavItem {
    /// A page (index into [`Site::pages`]) with the title the navigation gives it.
    Page { page: usize, title: Option<String> },
    /// A section and its entries.
    Section { title: String, items: Vec<NavItem> },
}

/// One Markdown page of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Page {
    /// Path inside `docs_dir`, `/`-separated.
    pub src: String,
    /// File in the published site (`runbook/index.html`).
    pub file: String,
    /// The file on disk.
    pub path: PathBuf,
}

/// A docs site read from its mkdocs sources.
#[derive(Debug)]
pub(crate) struct Site {
    /// `site_name`.
    pub site_name: Option<String>,
    /// `site_description`.
    pub site_description: Option<String>,
    /// Every page, sorted as mkdocs sorts files.
    pub pages: Vec<Page>,
    /// The navigation.
    pub nav: Vec<NavItem>,
    /// The newest modification time of `mkdocs.yml` and the pages, in ms since the epoch.
    pub newest: Option<u64>,
    /// `use_directory_urls`.
    directory_urls: bool,
    /// Each page's own title (front matter, first `#`, file name), read once per site.
    titles: Vec<OnceLock<String>>,
    /// Largest page read.
    max_bytes: u64,
}

/// Where to find a site: the entity's file and its `techdocs-ref` value.
pub(crate) struct Source<'a> {
    /// The file the entity came from.
    pub entity_file: &'a Path,
    /// The annotation's value, e.g. `dir:.`.
    pub techdocs_ref: &'a str,
    /// Canonical catalog roots the docs must be inside.
    pub roots: &'a [PathBuf],
    /// Largest file read.
    pub max_bytes: u64,
}

impl Site {
    /// Reads `mkdocs.yml` and walks `docs_dir`.
    pub(crate) fn open(src: &Source<'_>) -> Result<Self, String> {
        let ref_value = src.techdocs_ref.trim();
        let Some(rel) = ref_value.strip_prefix("dir:") else {
            return Err(format!(
                "its docs are at `{REF_ANNOTATION}: {ref_value}`; a local catalog reads TechDocs only from `dir:` sources next to its catalog file (set backstage.baseUrl to read sites Backstage publishes)"
            ));
        };
        let base = src.entity_file.parent().unwrap_or(Path::new("/"));
        let dir = inside(&base.join(rel.trim()), src.roots).map_err(|e| {
            format!(
                "`{REF_ANNOTATION}: {ref_value}` of {}: {e}",
                src.entity_file.display()
            )
        })?;
        let (config_path, text) = ["mkdocs.yml", "mkdocs.yaml"]
            .iter()
            .map(|n| dir.join(n))
            .find_map(|p| read_capped(&p, src.max_bytes).ok().map(|t| (p, t)))
            .ok_or_else(|| {
                format!(
                    "no mkdocs.yml in {} (the directory `{REF_ANNOTATION}: {ref_value}` of {} names)",
                    dir.display(),
                    src.entity_file.display()
                )
            })?;
        let config = parse_config(&text)
            .map_err(|e| format!("{} is not valid YAML: {e}", config_path.display()))?;
        let text_at = |key: &str| {
            config
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let docs_rel = text_at("docs_dir").unwrap_or_else(|| "docs".into());
        let docs_dir = inside(&dir.join(&docs_rel), src.roots)
            .map_err(|e| format!("docs_dir `{docs_rel}` of {}: {e}", config_path.display()))?;
        let directory_urls = config
            .get("use_directory_urls")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut newest = mtime(&config_path);
        let mut pages = walk(&docs_dir, directory_urls)?;
        for p in &pages {
            newest = newest.max(mtime(&p.path));
        }
        pages.sort_by_key(|p| sort_key(&p.src));
        let nav = match config.get("nav").and_then(Value::as_array) {
            Some(items) => configured_nav(items, &pages),
            None => auto_nav(&pages),
        };
        Ok(Self {
            site_name: text_at("site_name"),
            site_description: text_at("site_description"),
            titles: pages.iter().map(|_| OnceLock::new()).collect(),
            pages,
            nav,
            newest,
            directory_urls,
            max_bytes: src.max_bytes,
        })
    }

    /// The published `techdocs_metadata.json` this site would have.
    pub(crate) fn metadata(&self) -> TechDocsMetadata {
        let mut files: Vec<String> = self.pages.iter().map(|p| p.file.clone()).collect();
        files.push(SEARCH_INDEX.into());
        TechDocsMetadata {
            site_name: self.site_name.clone(),
            site_description: self.site_description.clone(),
            build_timestamp: self.newest,
            etag: None,
            files,
        }
    }

    /// A published file of the site, or `None` if the site has no such file.
    pub(crate) fn file(&self, file: &str) -> Option<Result<String, String>> {
        if file == SEARCH_INDEX {
            return Some(Ok(self.search_index()));
        }
        let i = self.pages.iter().position(|p| p.file == file)?;
        Some(self.page_html(i))
    }

    /// The site file of the page at source path `src`.
    fn page_file(&self, src: &str) -> Option<String> {
        self.pages
            .iter()
            .find(|p| p.src == src)
            .map(|p| p.file.clone())
    }

    /// The title mkdocs gives page `i`: navigation title, front matter, first `#`, file name.
    fn title(&self, i: usize) -> String {
        if let Some(t) = nav_title(&self.nav, i) {
            return t;
        }
        self.titles.get(i).map_or_else(String::new, |t| {
            t.get_or_init(|| {
                self.rendered(i)
                    .ok()
                    .and_then(|r| r.title)
                    .unwrap_or_else(|| self.file_title(i))
            })
            .clone()
        })
    }

    /// mkdocs' fallback title: `Home` for the home page, else the file (or directory) name.
    fn file_title(&self, i: usize) -> String {
        let Some(page) = self.pages.get(i) else {
            return String::new();
        };
        if page.file == "index.html" {
            return "Home".into();
        }
        let mut parts: Vec<&str> = page.src.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let stem = if matches!(stem, "index" | "README") {
            parts.pop().unwrap_or(stem)
        } else {
            stem
        };
        dirname_to_title(stem)
    }

    fn rendered(&self, i: usize) -> Result<render::Rendered, String> {
        let page = self
            .pages
            .get(i)
            .ok_or_else(|| "no such page".to_string())?;
        let text = read_capped(&page.path, self.max_bytes)?;
        let lookup = |src: &str| self.page_file(src);
        Ok(render::render(
            &text,
            &PageContext {
                src: &page.src,
                site_file: &page.file,
                page_file: &lookup,
            },
        ))
    }

    /// Page `i` as the HTML page a TechDocs build publishes (the home page carries the
    /// primary navigation).
    fn page_html(&self, i: usize) -> Result<String, String> {
        let page = self
            .pages
            .get(i)
            .ok_or_else(|| "no such page".to_string())?;
        let rendered = self.rendered(i)?;
        let title = nav_title(&self.nav, i)
            .or_else(|| rendered.title.clone())
            .unwrap_or_else(|| self.file_title(i));
        let mut html = String::from("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>");
        html.push_str(&escape(&title));
        if let Some(site) = &self.site_name {
            html.push_str(" - ");
            html.push_str(&escape(site));
        }
        html.push_str("</title></head><body>\n");
        if page.file == "index.html" {
            html.push_str("<nav class=\"md-nav md-nav--primary\"><ul class=\"md-nav__list\">\n");
            self.nav_html(&self.nav, &mut html);
            html.push_str("</ul></nav>\n");
        }
        html.push_str("<article class=\"md-content__inner md-typeset\">\n");
        if !rendered.html.contains("<h1") {
            // mkdocs-material titles a page that has no level-1 heading of its own.
            html.push_str(&format!("<h1>{}</h1>\n", escape(&title)));
        }
        html.push_str(&rendered.html);
        html.push_str("</article>\n</body></html>\n");
        Ok(html)
    }

    fn nav_html(&self, items: &[NavItem], out: &mut String) {
        for item in items {
            match item {
                NavItem::Page { page, title } => {
                    let Some(p) = self.pages.get(*page) else {
                        continue;
                    };
                    let title = title.clone().unwrap_or_else(|| self.title(*page));
                    out.push_str(&format!(
                        "<li class=\"md-nav__item\"><a class=\"md-nav__link\" href=\"{}\">{}</a></li>\n",
                        escape(&p.file),
                        escape(&title)
                    ));
                }
                NavItem::Section { title, items } => {
                    out.push_str(&format!(
                        "<li class=\"md-nav__item md-nav__item--nested\"><label class=\"md-nav__link\">{}</label><nav class=\"md-nav\"><ul class=\"md-nav__list\">\n",
                        escape(title)
                    ));
                    self.nav_html(items, out);
                    out.push_str("</ul></nav></li>\n");
                }
            }
        }
    }

    /// Every section of every page, for document search: the page's location in the site
    /// (`runbook/`), its title, and per heading the anchor, the heading and the text under
    /// it (the text before the first heading is the page's own section, anchor `None`).
    pub(crate) fn sections(&self) -> Vec<DocSection> {
        let mut out = Vec::new();
        for (i, p) in self.pages.iter().enumerate() {
            let Ok(text) = read_capped(&p.path, self.max_bytes) else {
                continue;
            };
            let page = if self.directory_urls {
                p.file
                    .strip_suffix("index.html")
                    .unwrap_or(&p.file)
                    .to_string()
            } else {
                p.file.clone()
            };
            let page_title = self.title(i);
            let (_, body) = render::front_matter(&text);
            let mut ids = std::collections::HashSet::new();
            let mut current = DocSection {
                page: page.clone(),
                anchor: None,
                title: page_title.clone(),
                text: String::new(),
            };
            let mut fence: Option<&str> = None;
            for line in body.lines() {
                let t = line.trim_start();
                if let Some(f) = fence {
                    if t.starts_with(f) {
                        fence = None;
                    }
                } else if t.starts_with("```") || t.starts_with("~~~") {
                    fence = Some(&t[..3]);
                } else if let Some(h) = heading(t) {
                    let id = render::unique(&mut ids, render::slugify(h));
                    let done = std::mem::replace(
                        &mut current,
                        DocSection {
                            page: page.clone(),
                            anchor: Some(id),
                            title: h.to_string(),
                            text: String::new(),
                        },
                    );
                    if done.anchor.is_some() || !done.text.trim().is_empty() {
                        out.push(done);
                    }
                    continue;
                }
                current.text.push_str(line);
                current.text.push('\n');
            }
            out.push(current);
        }
        out
    }

    /// `search/search_index.json` with one document per page (title and location), in
    /// navigation order and then the pages outside it.
    fn search_index(&self) -> String {
        let mut order: Vec<usize> = Vec::new();
        nav_pages(&self.nav, &mut order);
        for i in 0..self.pages.len() {
            if !order.contains(&i) {
                order.push(i);
            }
        }
        let docs: Vec<Value> = order
            .into_iter()
            .filter_map(|i| {
                let p = self.pages.get(i)?;
                let location = if self.directory_urls {
                    p.file
                        .strip_suffix("index.html")
                        .unwrap_or(&p.file)
                        .to_string()
                } else {
                    p.file.clone()
                };
                Some(json!({"location": location, "title": self.title(i), "text": ""}))
            })
            .collect();
        json!({"config": {"lang": ["en"]}, "docs": docs}).to_string()
    }
}

/// One section of a docs page, as document search indexes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DocSection {
    /// The page's location in the site, e.g. `runbook/` (empty: the home page).
    pub page: String,
    /// The heading's anchor (`None`: the text before the first heading).
    pub anchor: Option<String>,
    /// The heading (or the page title).
    pub title: String,
    /// The Markdown under it.
    pub text: String,
}

/// The text of an ATX heading line (`## Runbook {#id}` → `Runbook`).
fn heading(line: &str) -> Option<&str> {
    let level = line.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim();
    let text = match text.rfind(" {") {
        Some(i) if text.ends_with('}') => text[..i].trim(),
        _ => text,
    };
    (!text.is_empty()).then_some(text)
}

/// The page indexes of a navigation, in order.
fn nav_pages(items: &[NavItem], out: &mut Vec<usize>) {
    for item in items {
        match item {
            NavItem::Page { page, .. } => {
                if !out.contains(page) {
                    out.push(*page);
                }
            }
            NavItem::Section { items, .. } => nav_pages(items, out),
        }
    }
}

/// The title the navigation gives page `i`, if it gives one.
fn nav_title(items: &[NavItem], i: usize) -> Option<String> {
    items.iter().find_map(|item| match item {
        NavItem::Page { page, title } if *page == i => title.clone(),
        NavItem::Page { .. } => None,
        NavItem::Section { items, .. } => nav_title(items, i),
    })
}

/// `mkdocs.yml` as JSON. Python tags (`!!python/name:...`, `!ENV`) are read as their text:
/// they configure extensions, not anything read here.
fn parse_config(text: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// `path` made canonical, if it is a directory inside one of `roots`.
fn inside(path: &Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    let canon = match crate::local::confine::resolve_inside(path, &roots) {
        Ok(c) => c,
        Err(crate::local::confine::Refused::Unresolved(e)) => {
            return Err(format!("cannot read {}: {e}", path.display()));
        }
        Err(crate::local::confine::Refused::Outside(canon)) => {
            return Err(format!(
                "{} is outside the catalog paths; docs are read only from inside them",
                canon.display()
            ));
        }
    };
    if !canon.is_dir() {
        return Err(format!("{} is not a directory", canon.display()));
    }
    Ok(canon)
}

/// Reads a UTF-8 file of at most `max` bytes.
fn read_capped(path: &Path, max: u64) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > max {
        return Err(format!(
            "{} is {} bytes, more than the {max} bytes read from one file (catalog.maxFileBytes)",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn mtime(path: &Path) -> Option<u64> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Every Markdown page under `docs_dir` (dotfiles and symlinks skipped), with its site file.
fn walk(docs_dir: &Path, directory_urls: bool) -> Result<Vec<Page>, String> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    let walker = walkdir::WalkDir::new(docs_dir)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker.flatten() {
        if !entry.file_type().is_file() || !is_markdown(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(docs_dir) else {
            continue;
        };
        let src: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        found.push((src.join("/"), entry.path().to_path_buf()));
        if found.len() > MAX_PAGES {
            return Err(format!(
                "{} has more than {MAX_PAGES} Markdown pages",
                docs_dir.display()
            ));
        }
    }
    let srcs: Vec<String> = found.iter().map(|(s, _)| s.clone()).collect();
    let mut pages = Vec::new();
    for (src, path) in found {
        // README.md is the index of its directory unless an index.md is there too.
        let (dir, name) = src
            .rsplit_once('/')
            .map_or(("", src.as_str()), |(d, n)| (d, n));
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        if stem == "README" {
            let index_md = if dir.is_empty() {
                "index.md".to_string()
            } else {
                format!("{dir}/index.md")
            };
            if srcs.contains(&index_md) {
                continue;
            }
        }
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let file = if matches!(stem, "index" | "README") {
            format!("{prefix}index.html")
        } else if directory_urls {
            format!("{prefix}{stem}/index.html")
        } else {
            format!("{prefix}{stem}.html")
        };
        pages.push(Page { src, file, path });
    }
    Ok(pages)
}

/// mkdocs' `file_sort_key`: per path segment, the index page first, then files, then
/// directories, each by name.
fn sort_key(src: &str) -> Vec<(u8, String)> {
    let parts: Vec<&str> = src.split('/').collect();
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let rank = if i < last {
                2
            } else {
                let stem = p.rsplit_once('.').map_or(*p, |(s, _)| s);
                u8::from(!matches!(stem, "index" | "README"))
            };
            (rank, (*p).to_string())
        })
        .collect()
}

/// mkdocs' `dirname_to_title`.
fn dirname_to_title(name: &str) -> String {
    let t = name.replace(['-', '_'], " ");
    if t.to_lowercase() == t {
        let mut c = t.chars();
        match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => t,
        }
    } else {
        t
    }
}

/// The navigation mkdocs builds without `nav`: pages in file order, directories as sections.
fn auto_nav(pages: &[Page]) -> Vec<NavItem> {
    fn insert(items: &mut Vec<NavItem>, dirs: &[&str], page: usize) {
        let Some((first, rest)) = dirs.split_first() else {
            items.push(NavItem::Page { page, title: None });
            return;
        };
        let title = dirname_to_title(first);
        let at = items
            .iter()
            .position(|i| matches!(i, NavItem::Section { title: t, .. } if *t == title));
        let idx = match at {
            Some(i) => i,
            None => {
                items.push(NavItem::Section {
                    title,
                    items: Vec::new(),
                });
                items.len() - 1
            }
        };
        if let Some(NavItem::Section { items, .. }) = items.get_mut(idx) {
            insert(items, rest, page);
        }
    }
    let mut nav = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        let parts: Vec<&str> = p.src.split('/').collect();
        insert(&mut nav, &parts[..parts.len().saturating_sub(1)], i);
    }
    nav
}

/// The navigation of `nav:` in `mkdocs.yml`; entries naming no page (external links,
/// missing files) are left out, as they have no page to read.
fn configured_nav(items: &[Value], pages: &[Page]) -> Vec<NavItem> {
    let by_src: HashMap<&str, usize> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.src.as_str(), i))
        .collect();
    let page_of =
        |target: &str| normalize(target.trim()).and_then(|t| by_src.get(t.as_str()).copied());
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::String(target) => {
                if let Some(page) = page_of(target) {
                    out.push(NavItem::Page { page, title: None });
                }
            }
            Value::Object(map) => {
                for (title, target) in map {
                    match target {
                        Value::String(t) => {
                            if let Some(page) = page_of(t) {
                                out.push(NavItem::Page {
                                    page,
                                    title: Some(title.clone()),
                                });
                            }
                        }
                        Value::Array(children) => out.push(NavItem::Section {
                            title: title.clone(),
                            items: configured_nav(children, pages),
                        }),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl LocalCatalog {
    /// The docs site of entity `r` as of `build` (its newest source file time), when
    /// [`LocalCatalog::techdocs_metadata`] opened it moments ago; else read now.
    fn site_at(&self, r: &EntityRef, build: Option<u64>) -> Result<Arc<Site>, BackstageError> {
        let key = (r.to_string_ref().to_ascii_lowercase(), build);
        if let Some(site) = self.sites.get(&key) {
            return Ok(site);
        }
        self.site_of(r)
    }

    /// The docs site of entity `r`, read from its mkdocs sources now (and kept for the
    /// file reads that follow under the same build time).
    pub(crate) fn site_of(&self, r: &EntityRef) -> Result<Arc<Site>, BackstageError> {
        let entity = self.entity(r)?;
        let shown = r.to_string_ref();
        let techdocs_ref = entity
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(REF_ANNOTATION))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                input_error(format!(
                    "{shown} has no `{REF_ANNOTATION}` annotation, so it has no docs"
                ))
            })?;
        let (file, _) = self
            .source_of(r)
            .ok_or_else(|| input_error(format!("the file {shown} came from is unknown")))?;
        let site = Arc::new(
            Site::open(&Source {
                entity_file: &file,
                techdocs_ref,
                roots: &self.roots,
                max_bytes: self.config().load.max_file_bytes,
            })
            .map_err(input_error)?,
        );
        self.sites
            .insert((shown.to_ascii_lowercase(), site.newest), site.clone());
        Ok(site)
    }

    /// Every entity whose `dir:` docs cannot be read (no `mkdocs.yml`, bad YAML, a
    /// directory outside the catalog), as a problem at the entity's file and line. `url:`
    /// sources are not problems: a Backstage would read them, a local catalog only skips them.
    pub fn docs_problems(&self) -> Vec<super::Problem> {
        let snap = self.snapshot();
        let mut out = Vec::new();
        for stored in snap.all().filter(|s| s.json.contains(REF_ANNOTATION)) {
            let entity = stored.value();
            let dir_ref = entity
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REF_ANNOTATION))
                .and_then(Value::as_str)
                .is_some_and(|v| v.trim().starts_with("dir:"));
            let Some(r) = EntityRef::from_entity(&entity).filter(|_| dir_ref) else {
                continue;
            };
            if let Err(e) = self.site_of(&r) {
                let message = match &e {
                    BackstageError::Api { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                out.push(super::Problem {
                    file: stored.file.to_path_buf(),
                    line: Some(stored.line as usize),
                    message: format!("{}: TechDocs: {message}", r.to_string_ref()),
                });
            }
        }
        out
    }

    /// The `techdocs_metadata.json` the site of `r` would have if Backstage built it.
    pub fn techdocs_metadata(&self, r: &EntityRef) -> Result<TechDocsMetadata, BackstageError> {
        self.site_of(r).map(|s| s.metadata())
    }

    /// One file of the site of `r` (`index.html`, `runbook/index.html`,
    /// `search/search_index.json`); a file the site does not have is a 404.
    /// `build` is the metadata's build time, so the site read for the metadata is reused.
    pub fn techdocs_file(
        &self,
        r: &EntityRef,
        build: Option<u64>,
        file: &str,
    ) -> Result<String, BackstageError> {
        let site = self.site_at(r, build)?;
        match site.file(file) {
            Some(Ok(text)) => Ok(text),
            Some(Err(e)) => Err(input_error(format!(
                "page {file} of the docs of {} cannot be read: {e}",
                r.to_string_ref()
            ))),
            None => Err(BackstageError::Api {
                status: 404,
                name: Some("NotFoundError".into()),
                message: format!("The docs of {} have no page {file}", r.to_string_ref()),
                url: LOCAL_URL.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
