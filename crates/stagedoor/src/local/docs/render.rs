//! One mkdocs Markdown page to the HTML a TechDocs build would publish for it.
//!
//! CommonMark with the GitHub extensions (tables, strikethrough, task lists, footnotes) via
//! pulldown-cmark, plus what `techdocs-core` adds that changes the text a reader sees:
//! - heading ids slugified as Python-Markdown's `toc` extension does (NFKD folded to ASCII,
//!   `[^\w\s-]` dropped, lowercased, runs of spaces and dashes joined with `-`, duplicates
//!   suffixed `_1`, `_2`, ...), or the id given with `{#id}`;
//! - admonitions (`!!! note "Title"`), collapsible blocks (`??? tip`) and content tabs
//!   (`=== "Tab"`) with their indented bodies, rendered as titled blocks;
//! - YAML front matter removed (its `title` names the page);
//! - relative links to Markdown files rewritten to the site file of that page, and other
//!   relative links to where the file sits in the site, as mkdocs does with
//!   `use_directory_urls`.

use std::collections::HashSet;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use unicode_normalization::UnicodeNormalization;

/// Where a page sits, so that its relative links can be resolved.
pub(crate) struct PageContext<'a> {
    /// The page's source path inside `docs_dir`, `/`-separated (`guides/setup.md`).
    pub src: &'a str,
    /// The page's file in the site (`guides/setup/index.html`).
    pub site_file: &'a str,
    /// The site file of another page, by its source path (`None` if there is no such page).
    pub page_file: &'a dyn Fn(&str) -> Option<String>,
}

/// A rendered page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rendered {
    /// The article's HTML.
    pub html: String,
    /// `title` from the front matter, else the first level-1 heading.
    pub title: Option<String>,
}

/// Renders `markdown` (a whole file) as the page described by `ctx`.
pub(crate) fn render(markdown: &str, ctx: &PageContext<'_>) -> Rendered {
    let (front_title, body) = front_matter(markdown);
    let body = blocks(body);
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES;
    let mut ids = HashSet::new();
    let mut first_h1: Option<String> = None;
    let mut out: Vec<Event<'_>> = Vec::new();
    // A heading is buffered until its end, so that its id can come from its text.
    let mut heading: Option<(HeadingLevel, Option<CowStr<'_>>, Vec<Event<'_>>)> = None;
    for event in Parser::new_ext(&body, options) {
        let event = match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Link {
                link_type,
                dest_url: rewrite_link(&dest_url, ctx).map_or(dest_url, CowStr::from),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Image {
                link_type,
                dest_url: rewrite_link(&dest_url, ctx).map_or(dest_url, CowStr::from),
                title,
                id,
            }),
            other => other,
        };
        match event {
            Event::Start(Tag::Heading { level, id, .. }) => heading = Some((level, id, Vec::new())),
            Event::End(TagEnd::Heading(_)) => {
                let Some((level, given, inner)) = heading.take() else {
                    continue;
                };
                let text = plain_text(&inner);
                if level == HeadingLevel::H1 && first_h1.is_none() && !text.is_empty() {
                    first_h1 = Some(text.clone());
                }
                let id = unique(
                    &mut ids,
                    given.map_or_else(|| slugify(&text), |g| g.to_string()),
                );
                out.push(Event::Start(Tag::Heading {
                    level,
                    id: Some(id.into()),
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
                out.extend(inner);
                out.push(Event::End(TagEnd::Heading(level)));
            }
            e => match &mut heading {
                Some((_, _, inner)) => inner.push(e),
                None => out.push(e),
            },
        }
    }
    let mut html = String::with_capacity(body.len() * 2);
    pulldown_cmark::html::push_html(&mut html, out.into_iter());
    Rendered {
        html,
        title: front_title.or(first_h1),
    }
}

/// The text of a heading's events (code spans included, markup dropped).
fn plain_text(events: &[Event<'_>]) -> String {
    let mut s = String::new();
    for e in events {
        match e {
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) => s.push_str(t),
            Event::SoftBreak | Event::HardBreak => s.push(' '),
            _ => {}
        }
    }
    s.trim().to_string()
}

/// Python-Markdown's `toc` slugify (ASCII mode, `-` separator).
pub(crate) fn slugify(text: &str) -> String {
    let folded: String = text.nfkd().filter(char::is_ascii).collect();
    let kept: String = folded
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || c.is_whitespace())
        .collect();
    let lowered = kept.trim().to_lowercase();
    let mut out = String::with_capacity(lowered.len());
    let mut in_run = false;
    for c in lowered.chars() {
        if c == '-' || c.is_whitespace() {
            if !in_run {
                out.push('-');
                in_run = true;
            }
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// Python-Markdown's `toc` unique(): `id`, else `id_1`, `id_2`, ... (an empty id is `_1`).
pub(crate) fn unique(ids: &mut HashSet<String>, mut id: String) -> String {
    while id.is_empty() || ids.contains(&id) {
        id = match id.rsplit_once('_') {
            Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let next = n.parse::<u64>().map_or(1, |n| n.saturating_add(1));
                format!("{stem}_{next}")
            }
            _ => format!("{id}_1"),
        };
    }
    ids.insert(id.clone());
    id
}

/// Splits off YAML front matter (`---` … `---` or `...` at the very start); returns its
/// `title` and the rest.
pub(crate) fn front_matter(markdown: &str) -> (Option<String>, &str) {
    let text = markdown.strip_prefix('\u{feff}').unwrap_or(markdown);
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (None, text);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare == "..." {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let title = serde_saphyr::from_str::<serde_json::Value>(yaml)
                .ok()
                .and_then(|v| v.get("title")?.as_str().map(str::trim).map(str::to_string))
                .filter(|t| !t.is_empty());
            return (title, body);
        }
        offset += line.len();
    }
    (None, text)
}

/// Rewrites admonitions (`!!!`), collapsible blocks (`???`, `???+`) and content tabs
/// (`===`, `===+`) into HTML blocks around their (dedented) Markdown bodies.
fn blocks(markdown: &str) -> String {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut out = String::with_capacity(markdown.len() + 64);
    emit_blocks(&lines, &mut out);
    out
}

fn emit_blocks(lines: &[&str], out: &mut String) {
    let mut i = 0;
    let mut fences = crate::markdown::Fences::default();
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if fences.in_code(line) {
            push_line(out, line);
            i += 1;
            continue;
        }
        let indent = line.len() - trimmed.len();
        let Some(head) = block_head(trimmed) else {
            push_line(out, line);
            i += 1;
            continue;
        };
        // The body: following lines indented by at least indent + 4, or blank.
        let mut j = i + 1;
        let mut body: Vec<&str> = Vec::new();
        while j < lines.len() {
            let l = lines[j];
            if l.trim().is_empty() {
                body.push("");
            } else if leading_width(l) >= indent + 4 {
                body.push(strip_width(l, indent + 4));
            } else {
                break;
            }
            j += 1;
        }
        while body.last().is_some_and(|l| l.is_empty()) {
            body.pop();
            j -= 1;
        }
        let pad = " ".repeat(indent);
        out.push('\n');
        out.push_str(&format!(
            "{pad}<div class=\"{}\">\n",
            html_escape(&head.class)
        ));
        if let Some(title) = &head.title {
            out.push_str(&format!(
                "{pad}<p class=\"admonition-title\">{}</p>\n",
                html_escape(title)
            ));
        }
        out.push('\n');
        let mut inner = String::new();
        emit_blocks(&body, &mut inner);
        for l in inner.lines() {
            if l.is_empty() {
                out.push('\n');
            } else {
                push_line(out, &format!("{pad}{l}"));
            }
        }
        out.push('\n');
        out.push_str(&format!("{pad}</div>\n\n"));
        i = j;
    }
}

/// The start of a titled block.
struct BlockHead {
    class: String,
    title: Option<String>,
}

fn block_head(trimmed: &str) -> Option<BlockHead> {
    let (marker, rest) = ["!!!", "???+", "???", "===+", "==="]
        .iter()
        .find_map(|m| trimmed.strip_prefix(m).map(|r| (*m, r)))?;
    if !rest.starts_with(' ') && !rest.is_empty() {
        return None;
    }
    let rest = rest.trim();
    let (kinds, quoted) = match rest.find('"') {
        Some(q) => {
            let inner = rest[q + 1..].strip_suffix('"')?;
            (&rest[..q], Some(inner.to_string()))
        }
        None => (rest, None),
    };
    let kinds: Vec<&str> = kinds.split_whitespace().collect();
    if marker.starts_with("===") {
        // Tabs: `=== "Title"`.
        return Some(BlockHead {
            class: "tabbed-block".into(),
            title: quoted.filter(|t| !t.is_empty()),
        });
    }
    let kind = kinds.first()?;
    if !kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    let title = match quoted {
        Some(t) if t.is_empty() => None,
        Some(t) => Some(t),
        None => {
            let mut c = kind.chars();
            c.next().map(|f| {
                f.to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect()
            })
        }
    };
    Some(BlockHead {
        class: format!("admonition {}", kinds.join(" ")),
        title,
    })
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

/// Columns of leading whitespace (a tab counts to the next multiple of 4).
fn leading_width(line: &str) -> usize {
    let mut w = 0;
    for c in line.chars() {
        match c {
            ' ' => w += 1,
            '\t' => w += 4 - w % 4,
            _ => break,
        }
    }
    w
}

/// `line` without its first `width` columns of indentation.
fn strip_width(line: &str, width: usize) -> &str {
    let mut w = 0;
    for (i, c) in line.char_indices() {
        if w >= width {
            return &line[i..];
        }
        match c {
            ' ' => w += 1,
            '\t' => w += 4 - w % 4,
            _ => return &line[i..],
        }
    }
    ""
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// True if `href` names a scheme (`https:`, `mailto:`).
fn has_scheme(href: &str) -> bool {
    href.find(':').is_some_and(|i| {
        let s = &href[..i];
        !s.is_empty()
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// The Markdown extensions mkdocs treats as pages.
pub(crate) const MD_EXTENSIONS: [&str; 5] = [".md", ".markdown", ".mdown", ".mkdn", ".mkd"];

/// True for a file name mkdocs renders as a page.
pub(crate) fn is_markdown(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    MD_EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// `a/./b/../c` → `a/c`; `None` when `..` climbs above the root.
pub(crate) fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The directory part of a `/`-separated path (`a/b.md` → `a/`, `b.md` → ``).
fn dir_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..=i])
}

/// What a path inside an `href` must escape (mkdocs writes `on call.md` as `on%20call/`).
const HREF_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'%');

/// The site-relative link for a relative link of the page in `ctx`, or `None` to keep it.
fn rewrite_link(href: &str, ctx: &PageContext<'_>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() || href.starts_with(['#', '/', '?']) || has_scheme(href) {
        return None;
    }
    let (path, fragment) = match href.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (href, None),
    };
    let path = path.split('?').next().unwrap_or(path);
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?
        .into_owned();
    let target = normalize(&format!("{}{decoded}", dir_of(ctx.src)))?;
    let site_target = if is_markdown(&target) {
        (ctx.page_file)(&target)?
    } else {
        target
    };
    let mut rel =
        percent_encoding::utf8_percent_encode(&relative(ctx.site_file, &site_target), HREF_PATH)
            .to_string();
    if let Some(f) = fragment {
        rel.push('#');
        rel.push_str(f);
    }
    Some(rel)
}

/// A relative URL from the site file `from` to the site path `to`.
fn relative(from: &str, to: &str) -> String {
    let from_dir: Vec<&str> = dir_of(from).split('/').filter(|s| !s.is_empty()).collect();
    let to_parts: Vec<&str> = to.split('/').collect();
    let common = from_dir
        .iter()
        .zip(to_parts.iter())
        .take_while(|(a, b)| a == b)
        .count()
        .min(to_parts.len().saturating_sub(1));
    let mut out = "../".repeat(from_dir.len() - common);
    out.push_str(&to_parts[common..].join("/"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(src: &str, site: &str, md: &str) -> Rendered {
        let lookup = |p: &str| -> Option<String> {
            match p {
                "index.md" => Some("index.html".into()),
                "runbook.md" => Some("runbook/index.html".into()),
                "guides/setup.md" => Some("guides/setup/index.html".into()),
                "on call.md" => Some("on call/index.html".into()),
                _ => None,
            }
        };
        render(
            md,
            &PageContext {
                src,
                site_file: site,
                page_file: &lookup,
            },
        )
    }

    #[test]
    fn slugs_match_python_markdown_toc() {
        assert_eq!(slugify("Acquirer outage"), "acquirer-outage");
        assert_eq!(slugify("  Café  &  Crème — v2.0 "), "cafe-creme-v20");
        assert_eq!(slugify("What's `new`?"), "whats-new");
        assert_eq!(slugify("a - b"), "a-b");
        assert_eq!(slugify("snake_case stays"), "snake_case-stays");
    }

    #[test]
    fn duplicate_headings_get_numbered_ids() {
        let r = page(
            "index.md",
            "index.html",
            "# A\n\n## Setup\n\n## Setup\n\n## Setup\n\n### \n",
        );
        assert!(r.html.contains(r#"<h2 id="setup">"#), "{}", r.html);
        assert!(r.html.contains(r#"<h2 id="setup_1">"#), "{}", r.html);
        assert!(r.html.contains(r#"<h2 id="setup_2">"#), "{}", r.html);
        assert_eq!(r.title.as_deref(), Some("A"));
    }

    #[test]
    fn explicit_heading_ids_win() {
        let r = page("index.md", "index.html", "## Alerts {#on-call-alerts}\n");
        assert!(
            r.html.contains(r#"<h2 id="on-call-alerts">Alerts</h2>"#),
            "{}",
            r.html
        );
    }

    #[test]
    fn links_to_pages_become_site_paths() {
        let r = page(
            "guides/setup.md",
            "guides/setup/index.html",
            "[run](../runbook.md#alerts) [home](../index.md) [img](pic.png) [web](https://x.io/a.md) [same](#top) [gone](nope.md)",
        );
        assert!(
            r.html.contains(r#"href="../../runbook/index.html#alerts""#),
            "{}",
            r.html
        );
        assert!(r.html.contains(r#"href="../../index.html""#), "{}", r.html);
        assert!(r.html.contains(r#"href="../pic.png""#), "{}", r.html);
        assert!(r.html.contains(r#"href="https://x.io/a.md""#), "{}", r.html);
        assert!(r.html.contains(r##"href="#top""##), "{}", r.html);
        assert!(r.html.contains(r#"href="nope.md""#), "{}", r.html);
        let r = page("index.md", "index.html", "[on call](on%20call.md#pager)");
        assert!(
            r.html.contains(r#"href="on%20call/index.html#pager""#),
            "{}",
            r.html
        );
    }

    #[test]
    fn front_matter_titles_the_page_and_is_not_shown() {
        let r = page(
            "index.md",
            "index.html",
            "---\ntitle: Overview\ntags: [a]\n---\n# Heading\n\nBody\n",
        );
        assert_eq!(r.title.as_deref(), Some("Overview"));
        assert!(!r.html.contains("tags"), "{}", r.html);
    }

    #[test]
    fn admonitions_keep_their_title_and_markdown_body() {
        let md = "Intro\n\n!!! warning \"Mind the gap\"\n    Do **not** run this\n\n    ```sh\n    rm -rf /\n    ```\n\n!!! note\n    Plain note\n\nAfter\n";
        let r = page("index.md", "index.html", md);
        assert!(
            r.html.contains(r#"<div class="admonition warning">"#),
            "{}",
            r.html
        );
        assert!(
            r.html
                .contains(r#"<p class="admonition-title">Mind the gap</p>"#),
            "{}",
            r.html
        );
        assert!(r.html.contains("<strong>not</strong>"), "{}", r.html);
        assert!(
            r.html.contains(r#"<code class="language-sh">rm -rf /"#),
            "{}",
            r.html
        );
        assert!(
            r.html.contains(r#"<p class="admonition-title">Note</p>"#),
            "{}",
            r.html
        );
        assert!(r.html.contains("<p>After</p>"), "{}", r.html);
    }

    #[test]
    fn markers_inside_code_fences_are_left_alone() {
        let r = page("index.md", "index.html", "```\n!!! note\n    x\n```\n");
        assert!(!r.html.contains("admonition"), "{}", r.html);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative("index.html", "runbook/index.html"),
            "runbook/index.html"
        );
        assert_eq!(
            relative("a/b/index.html", "a/c/index.html"),
            "../c/index.html"
        );
        assert_eq!(relative("a/index.html", "a/index.html"), "index.html");
        assert_eq!(normalize("a/../../b"), None);
        assert_eq!(normalize("a/./b/../c").as_deref(), Some("a/c"));
    }
}
