//! Published TechDocs HTML (mkdocs-material, as `techdocs-core` builds it) to clean Markdown.
//!
//! The page is parsed once with htmd's html5ever DOM. The article (`article.md-content__inner`)
//! is kept and the theme's chrome inside it dropped (permalink `¶` anchors, edit/view-source
//! buttons, copy buttons, source-file footers, scripts, forms, SVG icons). Pygments code
//! blocks (with or without a line-number table) become one `<pre><code class="language-x">`
//! holding the plain code, relative links are rewritten to site paths (`runbook/index.html#x`)
//! that `get_techdocs_page` accepts, and then htmd writes the Markdown.

use std::rc::Rc;

use htmd::element_handler::{HandlerResult, Handlers};
use htmd::options::{BulletListMarker, HrStyle, Options};
use htmd::{Element, HtmlToMarkdown};
use markup5ever_rcdom::{Handle, NodeData};
use url::Url;

use super::dom::{
    attr, children, classes, collapse, find_first, has_class, heading_level, parent, set_attr, tag,
    text_of,
};

/// A base URL standing for the site root while resolving relative links.
const SITE_ROOT: &str = "http://techdocs.site.invalid/";

/// Elements that are never content.
const DROPPED_TAGS: [&str; 15] = [
    "script", "style", "noscript", "template", "svg", "button", "input", "form", "nav", "header",
    "footer", "iframe", "object", "embed", "link",
];

/// Classes of mkdocs-material chrome that can appear inside the article.
const DROPPED_CLASSES: [&str; 15] = [
    "headerlink",
    "md-content__button",
    "md-source-file",
    "md-feedback",
    "md-clipboard",
    "md-top",
    "md-dialog",
    "md-search",
    "md-sidebar",
    "md-header",
    "md-footer",
    "md-tabs",
    "md-skip",
    "linenos",
    "linenodiv",
];

/// One heading of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Heading {
    /// The heading's `id` (the URL fragment that links to it).
    pub anchor: String,
    /// 1 for `h1` ... 6 for `h6`.
    pub level: u8,
    /// The heading text.
    pub title: String,
}

/// A page converted to Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Converted {
    /// The page's first `h1`, else the HTML `<title>` without the site name.
    pub title: Option<String>,
    /// The Markdown of the whole article, or of the requested section.
    pub markdown: String,
    /// Every heading of the article that has an anchor, in document order.
    pub headings: Vec<Heading>,
}

/// The requested section anchor is not a heading of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownSection {
    /// Headings that can be asked for instead.
    pub available: Vec<Heading>,
}

/// A page listed in the site's navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NavEntry {
    /// Site path of the page's file, e.g. `runbook/index.html`.
    pub path: String,
    /// The title the navigation shows.
    pub title: String,
    /// Enclosing navigation sections, outermost first.
    pub sections: Vec<String>,
}

/// Converts the published page at site path `page` (e.g. `runbook/index.html`) to
/// Markdown, optionally only the section under the heading whose anchor is `section`.
pub(crate) fn page_to_markdown(
    html: &str,
    page: &str,
    section: Option<&str>,
) -> Result<Converted, UnknownSection> {
    let converter = converter();
    let Ok(doc) = converter.html_to_tree(html) else {
        // html5ever does not fail on any input; an I/O error here cannot happen.
        return Ok(Converted {
            title: None,
            markdown: String::new(),
            headings: Vec::new(),
        });
    };
    let root = content_root(&doc);
    clean(&root, page);
    let headings = headings(&root);
    let title = find_first(&root, &|n| tag(n) == Some("h1"))
        .map(|h| collapse(&text_of(&h)))
        .filter(|t| !t.is_empty())
        .or_else(|| html_title(&doc));
    let target = match section.map(|s| s.trim().trim_start_matches('#')) {
        Some(anchor) if !anchor.is_empty() => {
            keep_section(&root, anchor).ok_or_else(|| UnknownSection {
                available: headings.clone(),
            })?
        }
        _ => root,
    };
    let markdown = tidy(&converter.tree_to_markdown(&target));
    Ok(Converted {
        title,
        markdown,
        headings,
    })
}

/// The pages of mkdocs-material's primary navigation in `html` (a page of the site at
/// site path `page`), in navigation order, each once. Links outside the site and the
/// in-page table of contents are left out.
pub(crate) fn nav_entries(html: &str, page: &str) -> Vec<NavEntry> {
    let Ok(doc) = converter().html_to_tree(html) else {
        return Vec::new();
    };
    let Some(nav) = find_first(&doc, &|n| {
        tag(n) == Some("nav") && has_class(n, "md-nav--primary")
    }) else {
        return Vec::new();
    };
    let mut out: Vec<NavEntry> = Vec::new();
    walk_nav(&nav, page, &mut Vec::new(), &mut out);
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| seen.insert(e.path.clone()));
    out
}

/// The site path a relative link of page `page` points to (`runbook/index.html#alerts`);
/// `None` for links that are not relative site links (absolute URLs, `/paths`, `#anchors`).
pub(crate) fn resolve_link(page: &str, href: &str) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with(['#', '/', '?']) || has_scheme(href) {
        return None;
    }
    let root = Url::parse(SITE_ROOT).ok()?;
    let target = root.join(page).ok()?.join(href).ok()?;
    if target.origin() != root.origin() {
        return None;
    }
    let mut path = canonical_file(target.path().trim_start_matches('/'));
    if let Some(fragment) = target.fragment().filter(|f| !f.is_empty()) {
        path.push('#');
        path.push_str(fragment);
    }
    Some(path)
}

/// The file behind a directory-style site path: `""` → `index.html`,
/// `runbook/` → `runbook/index.html`; file paths are kept.
pub(crate) fn canonical_file(path: &str) -> String {
    if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    }
}

fn converter() -> HtmlToMarkdown {
    HtmlToMarkdown::builder()
        .options(Options {
            bullet_list_marker: BulletListMarker::Dash,
            ul_bullet_spacing: 1,
            ol_number_spacing: 1,
            hr_style: HrStyle::Dashes,
            ..Options::default()
        })
        .add_handler(vec!["div", "details"], callout)
        .add_handler(vec!["p", "summary"], callout_title)
        .build()
}

/// An admonition (`div.admonition`) or a collapsible block (`details`) as a block quote, so
/// that where it starts and ends survives in the Markdown.
fn callout(handlers: &dyn Handlers, element: Element<'_>) -> Option<HandlerResult> {
    if element.tag == "div" && !has_class(element.node, "admonition") {
        return handlers.fallback(element);
    }
    let content = handlers.walk_children(element.node).content;
    let quoted: Vec<String> = content
        .trim()
        .lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect();
    Some(format!("\n\n{}\n\n", quoted.join("\n")).into())
}

/// An admonition's title (`p.admonition-title`) or a `summary`, in bold on its own line.
fn callout_title(handlers: &dyn Handlers, element: Element<'_>) -> Option<HandlerResult> {
    if element.tag == "p" && !has_class(element.node, "admonition-title") {
        return handlers.fallback(element);
    }
    let content = handlers.walk_children(element.node).content;
    let title = collapse(content.trim());
    if title.is_empty() {
        return Some(String::new().into());
    }
    Some(format!("\n\n**{title}**\n\n").into())
}

fn has_scheme(href: &str) -> bool {
    match href.find(':') {
        Some(i) => {
            let scheme = &href[..i];
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn html_title(doc: &Handle) -> Option<String> {
    let title = find_first(doc, &|n| tag(n) == Some("title"))?;
    let text = collapse(&text_of(&title));
    // mkdocs-material writes "<page> - <site name>".
    let page = text.rsplit_once(" - ").map_or(text.as_str(), |(p, _)| p);
    (!page.is_empty()).then(|| page.to_string())
}

// ------------------------------------------------------------------ content

/// The article of a mkdocs-material page, or the best stand-in for another theme.
fn content_root(doc: &Handle) -> Handle {
    let candidates: [&dyn Fn(&Handle) -> bool; 5] = [
        &|n| tag(n) == Some("article") && has_class(n, "md-content__inner"),
        &|n| has_class(n, "md-content"),
        &|n| tag(n) == Some("article"),
        &|n| tag(n) == Some("main"),
        &|n| tag(n) == Some("body"),
    ];
    candidates
        .iter()
        .find_map(|pred| find_first(doc, pred))
        .unwrap_or_else(|| doc.clone())
}

/// Drops chrome below `node`, flattens code blocks and rewrites relative links.
fn clean(node: &Handle, page: &str) {
    let kids = node.children.take();
    let mut kept = Vec::with_capacity(kids.len());
    for child in kids {
        match &child.data {
            NodeData::Comment { .. } | NodeData::ProcessingInstruction { .. } => continue,
            NodeData::Element { .. } => {}
            _ => {
                kept.push(child);
                continue;
            }
        }
        let name = tag(&child).unwrap_or_default();
        let class_list = classes(&child);
        if DROPPED_TAGS.contains(&name)
            || class_list
                .iter()
                .any(|c| DROPPED_CLASSES.contains(&c.as_str()))
        {
            continue;
        }
        if class_list.iter().any(|c| c == "highlight")
            && let Some(pre) = code_block(&child, &class_list)
        {
            pre.parent.set(Some(Rc::downgrade(node)));
            kept.push(pre);
            continue;
        }
        match name {
            "a" => rewrite(&child, "href", page),
            "img" => rewrite(&child, "src", page),
            _ => {}
        }
        if class_list.iter().any(|c| c == "tabbed-set") {
            interleave_tabs(&child);
        }
        clean(&child, page);
        kept.push(child);
    }
    *node.children.borrow_mut() = kept;
}

/// pymdownx.tabbed puts every tab label first and every tab body after; a reader needs
/// each label right before its body.
fn interleave_tabs(set: &Handle) {
    let part = |class: &str| children(set).into_iter().find(|k| has_class(k, class));
    let (Some(labels), Some(bodies)) = (part("tabbed-labels"), part("tabbed-content")) else {
        return;
    };
    let label_list: Vec<Handle> = children(&labels)
        .into_iter()
        .filter(|k| tag(k) == Some("label"))
        .collect();
    let body_list: Vec<Handle> = children(&bodies)
        .into_iter()
        .filter(|k| has_class(k, "tabbed-block"))
        .collect();
    if label_list.len() != body_list.len() {
        return;
    }
    // Detach them first: dropping the old containers empties every node they still hold.
    labels.children.borrow_mut().clear();
    bodies.children.borrow_mut().clear();
    let mut order = Vec::with_capacity(label_list.len() * 2);
    for (label, body) in label_list.into_iter().zip(body_list) {
        label.parent.set(Some(Rc::downgrade(set)));
        body.parent.set(Some(Rc::downgrade(set)));
        order.push(label);
        order.push(body);
    }
    *set.children.borrow_mut() = order;
}

fn rewrite(node: &Handle, key: &str, page: &str) {
    if let Some(target) = attr(node, key).and_then(|v| resolve_link(page, &v)) {
        set_attr(node, key, &target);
    }
}

/// A Pygments block (`div.highlight`, possibly with a line-number table, or
/// `pre.highlight`) as one `<pre><code class="language-x">` holding the plain code.
fn code_block(block: &Handle, block_classes: &[String]) -> Option<Handle> {
    let code = find_first(block, &|n| {
        tag(n) == Some("code")
            && parent(n).is_some_and(|p| tag(&p) == Some("pre"))
            && !find_ancestor_class(n, block, "linenos")
    })?;
    let pre = parent(&code)?;
    let text = text_of(&code);
    let language = block_classes
        .iter()
        .chain(classes(&code).iter())
        .find_map(|c| c.strip_prefix("language-").map(str::to_string));
    // Reuse the first text node so no node has to be built from scratch.
    let first_text = first_text_node(&code);
    match first_text {
        Some(t) => {
            if let NodeData::Text { contents } = &t.data {
                *contents.borrow_mut() = text.as_str().into();
            }
            t.parent.set(Some(Rc::downgrade(&code)));
            *code.children.borrow_mut() = vec![t];
        }
        None => code.children.borrow_mut().clear(),
    }
    if let Some(lang) = language {
        let class = format!("language-{lang}");
        if !set_attr(&code, "class", &class) {
            // Borrow the block's own `class` attribute for its name.
            if let (NodeData::Element { attrs: from, .. }, NodeData::Element { attrs: to, .. }) =
                (&block.data, &code.data)
                && let Some(mut a) = from
                    .borrow()
                    .iter()
                    .find(|a| &*a.name.local == "class")
                    .cloned()
            {
                a.value = class.as_str().into();
                to.borrow_mut().push(a);
            }
        }
    }
    *pre.children.borrow_mut() = vec![code.clone()];
    if tag(block) == Some("pre") {
        return Some(block.clone());
    }
    // Detach `pre` from the block before the block is dropped: rcdom's `Drop` empties every
    // descendant it reaches, shared or not.
    if let Some(old) = parent(&pre) {
        old.children.borrow_mut().retain(|c| !Rc::ptr_eq(c, &pre));
    }
    Some(pre)
}

fn find_ancestor_class(node: &Handle, stop: &Handle, class: &str) -> bool {
    let mut cur = parent(node);
    while let Some(n) = cur {
        if Rc::ptr_eq(&n, stop) {
            return false;
        }
        if has_class(&n, class) {
            return true;
        }
        cur = parent(&n);
    }
    false
}

fn first_text_node(node: &Handle) -> Option<Handle> {
    for child in node.children.borrow().iter() {
        if matches!(child.data, NodeData::Text { .. }) {
            return Some(child.clone());
        }
        if let Some(t) = first_text_node(child) {
            return Some(t);
        }
    }
    None
}

fn headings(root: &Handle) -> Vec<Heading> {
    let mut out = Vec::new();
    collect_headings(root, &mut out);
    out
}

fn collect_headings(node: &Handle, out: &mut Vec<Heading>) {
    for child in node.children.borrow().iter() {
        if let Some(level) = heading_level(child) {
            if let Some(anchor) = attr(child, "id").filter(|a| !a.is_empty()) {
                out.push(Heading {
                    anchor,
                    level,
                    title: collapse(&text_of(child)),
                });
            }
        } else {
            collect_headings(child, out);
        }
    }
}

/// Keeps only the heading `anchor` and what follows it up to the next heading of the same
/// or a higher level (among its siblings); returns the node to convert.
fn keep_section(root: &Handle, anchor: &str) -> Option<Handle> {
    let exact = |n: &Handle| heading_level(n).is_some() && attr(n, "id").as_deref() == Some(anchor);
    let loose = |n: &Handle| {
        heading_level(n).is_some() && attr(n, "id").is_some_and(|a| a.eq_ignore_ascii_case(anchor))
    };
    let heading = find_first(root, &exact).or_else(|| find_first(root, &loose))?;
    let level = heading_level(&heading)?;
    let container = parent(&heading).unwrap_or_else(|| root.clone());
    let kids = children(&container);
    let start = kids.iter().position(|k| Rc::ptr_eq(k, &heading))?;
    let end = kids[start + 1..]
        .iter()
        .position(|k| heading_level(k).is_some_and(|l| l <= level))
        .map_or(kids.len(), |i| start + 1 + i);
    *container.children.borrow_mut() = kids[start..end].to_vec();
    Some(container)
}

fn walk_nav(node: &Handle, page: &str, sections: &mut Vec<String>, out: &mut Vec<NavEntry>) {
    for child in children(node) {
        match tag(&child) {
            Some("nav") if has_class(&child, "md-nav--secondary") => {}
            Some("li") if has_class(&child, "md-nav__item") => {
                let items = children(&child);
                let link = items
                    .iter()
                    .find(|k| tag(k) == Some("a") && has_class(k, "md-nav__link"))
                    .cloned()
                    .or_else(|| {
                        // navigation.indexes: the section's own page sits in a container.
                        items
                            .iter()
                            .filter(|k| has_class(k, "md-nav__container"))
                            .find_map(|k| {
                                find_first(k, &|n| {
                                    tag(n) == Some("a") && has_class(n, "md-nav__link")
                                })
                            })
                    });
                if let Some(a) = &link
                    && let Some(path) = attr(a, "href").and_then(|h| resolve_link(page, &h))
                {
                    // A file name, as the metadata's file list has it (`my page/index.html`).
                    let file = path.split('#').next().unwrap_or_default();
                    out.push(NavEntry {
                        path: percent_encoding::percent_decode_str(file)
                            .decode_utf8_lossy()
                            .into_owned(),
                        title: collapse(&text_of(a)),
                        sections: sections.clone(),
                    });
                }
                let nested = items
                    .iter()
                    .find(|k| tag(k) == Some("nav") && !has_class(k, "md-nav--secondary"));
                if let Some(nested) = nested {
                    let label = items
                        .iter()
                        .find(|k| tag(k) == Some("label") || has_class(k, "md-nav__container"))
                        .map(|l| collapse(&text_of(l)))
                        .unwrap_or_default();
                    sections.push(label);
                    walk_nav(nested, page, sections, out);
                    sections.pop();
                }
            }
            Some(_) => walk_nav(&child, page, sections, out),
            None => {}
        }
    }
}

/// Trims trailing spaces (outside code fences) and collapses runs of blank lines.
fn tidy(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut blank_run = 0;
    let mut fences = crate::markdown::Fences::default();
    for line in markdown.lines() {
        if fences.in_code(line) {
            out.push_str(line);
            out.push('\n');
            blank_run = 0;
            continue;
        }
        // Two trailing spaces are a hard line break; keep those.
        let line = if line.ends_with("  ") && !line.trim().is_empty() {
            line
        } else {
            line.trim_end()
        };
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests;
