//! Tests of the HTML to Markdown conversion, on a page shaped like what mkdocs-material 9
//! (through `techdocs-core`) publishes: header, skip link, primary navigation with a nested
//! section and the in-page table of contents, the article, and the footer.

use super::*;

const PAGE: &str = r##"<!doctype html>
<html lang="en" class="no-js">
<head>
  <meta charset="utf-8">
  <title>Runbook - Payment service</title>
  <link rel="stylesheet" href="../assets/stylesheets/main.min.css">
  <script>__md_scope=new URL("..",location)</script>
</head>
<body dir="ltr">
  <input class="md-toggle" data-md-toggle="drawer" type="checkbox" id="__drawer">
  <div data-md-component="skip"><a href="#runbook" class="md-skip">Skip to content</a></div>
  <header class="md-header" data-md-component="header">
    <nav class="md-header__inner md-grid" aria-label="Header">
      <a href=".." title="Payment service" class="md-header__button md-logo"><svg viewBox="0 0 24 24"><path d="M12 8"/></svg></a>
      <div class="md-header__title"><span class="md-ellipsis">Payment service</span></div>
      <form class="md-search__form" name="search"><input type="text" placeholder="Search"></form>
    </nav>
  </header>
  <div class="md-container" data-md-component="container">
    <main class="md-main" data-md-component="main">
      <div class="md-main__inner md-grid">
        <div class="md-sidebar md-sidebar--primary" data-md-type="navigation">
          <nav class="md-nav md-nav--primary" aria-label="Navigation" data-md-level="0">
            <label class="md-nav__title" for="__drawer">Payment service</label>
            <ul class="md-nav__list">
              <li class="md-nav__item"><a href="../" class="md-nav__link"><span class="md-ellipsis">Overview</span></a></li>
              <li class="md-nav__item md-nav__item--nested">
                <input class="md-nav__toggle md-toggle" type="checkbox" id="__nav_2">
                <label class="md-nav__link" for="__nav_2"><span class="md-ellipsis">Guides</span><span class="md-nav__icon md-icon"></span></label>
                <nav class="md-nav" data-md-level="1" aria-label="Guides">
                  <label class="md-nav__title" for="__nav_2">Guides</label>
                  <ul class="md-nav__list">
                    <li class="md-nav__item"><a href="../guides/setup/" class="md-nav__link"><span class="md-ellipsis">Setup</span></a></li>
                    <li class="md-nav__item"><a href="../architecture/" class="md-nav__link"><span class="md-ellipsis">Architecture</span></a></li>
                  </ul>
                </nav>
              </li>
              <li class="md-nav__item md-nav__item--active">
                <input class="md-nav__toggle md-toggle" type="checkbox" id="__toc">
                <label class="md-nav__link md-nav__link--active" for="__toc"><span class="md-ellipsis">Runbook</span></label>
                <a href="./" class="md-nav__link md-nav__link--active"><span class="md-ellipsis">Runbook</span></a>
                <nav class="md-nav md-nav--secondary" aria-label="Table of contents">
                  <label class="md-nav__title" for="__toc">Table of contents</label>
                  <ul class="md-nav__list" data-md-component="toc">
                    <li class="md-nav__item"><a href="#alerts" class="md-nav__link"><span class="md-ellipsis">Alerts</span></a></li>
                  </ul>
                </nav>
              </li>
              <li class="md-nav__item"><a href="https://status.example.com/" class="md-nav__link">Status page</a></li>
            </ul>
          </nav>
        </div>
        <div class="md-sidebar md-sidebar--secondary" data-md-type="toc">
          <nav class="md-nav md-nav--secondary" aria-label="Table of contents">
            <label class="md-nav__title" for="__toc">Table of contents</label>
            <ul class="md-nav__list"><li class="md-nav__item"><a href="#alerts" class="md-nav__link">Alerts</a></li></ul>
          </nav>
        </div>
        <div class="md-content" data-md-component="content">
          <article class="md-content__inner md-typeset">
            <a href="https://git.example.com/edit/main/docs/runbook.md" title="Edit this page" class="md-content__button md-icon"><svg viewBox="0 0 24 24"><path d="M10 20"/></svg></a>
<h1 id="runbook">Runbook<a class="headerlink" href="#runbook" title="Permanent link">&para;</a></h1>
<p>On-call guide. Page the <code>payments-team</code> rotation; see <a href="../architecture/#idempotency">idempotency</a>, <a href="#alerts">the alerts</a> and <a href="https://grafana.example.com/d/payments">the dashboard</a>.</p>
<h2 id="alerts">Alerts<a class="headerlink" href="#alerts" title="Permanent link">&para;</a></h2>
<table>
<thead><tr><th>Alert</th><th>Threshold</th><th>First action</th></tr></thead>
<tbody>
<tr><td><code>PaymentCaptureErrorRate</code></td><td>2 % over 5 min</td><td>Check acquirer status page</td></tr>
<tr><td><code>FraudCheckLatencyHigh</code></td><td>p99 800 ms</td><td>Fail open to <code>review</code></td></tr>
</tbody>
</table>
<h3 id="silencing">Silencing<a class="headerlink" href="#silencing" title="Permanent link">&para;</a></h3>
<div class="admonition warning">
<p class="admonition-title">Warning</p>
<p>Never silence <strong>PaymentCaptureErrorRate</strong> for more than an hour.</p>
</div>
<h2 id="acquirer-outage">Acquirer outage<a class="headerlink" href="#acquirer-outage" title="Permanent link">&para;</a></h2>
<ol>
<li>Confirm on the acquirer status page.</li>
<li>
<p>Switch traffic to the secondary acquirer:</p>
<div class="language-bash highlight"><table class="highlighttable"><tr><td class="linenos"><div class="linenodiv"><pre><span></span><span class="normal">1</span>
<span class="normal">2</span></pre></div></td><td class="code"><div><pre><span></span><code>kubectl<span class="w"> </span>-n<span class="w"> </span>payments<span class="w"> </span><span class="nb">set</span><span class="w"> </span>env<span class="w"> </span>deploy/payment-service<span class="w"> </span><span class="nv">ACQUIRER</span><span class="o">=</span>secondary
kubectl<span class="w"> </span>rollout<span class="w"> </span>status<span class="w"> </span>deploy/payment-service
</code></pre></div></td></tr></table></div>
</li>
<li>
<p>Post in <code>#incident-payments</code>.</p>
</li>
</ol>
<div class="language-python highlight"><span class="filename">check.py</span><pre><span></span><code><button class="md-clipboard md-icon" title="Copy to clipboard"></button><span class="k">def</span><span class="w"> </span><span class="nf">ok</span><span class="p">(</span><span class="n">x</span><span class="p">):</span>
    <span class="k">return</span> <span class="n">x</span> <span class="o">&lt;</span> <span class="mi">2</span>
</code></pre></div>
<h2 id="reconciling">Reconciling a stuck capture<a class="headerlink" href="#reconciling" title="Permanent link">&para;</a></h2>
<ul>
<li>Find the intent older than 24 hours:<ul>
<li>in <em>requires_capture</em></li>
</ul>
</li>
<li>Re-run with the <strong>original</strong> key.</li>
</ul>
<p><img alt="Capture flow" src="../img/capture.png" /></p>
<aside class="md-source-file"><span class="md-source-file__fact">Last update: 2026-11-21</span></aside>
          </article>
        </div>
      </div>
    </main>
    <footer class="md-footer">
      <nav class="md-footer__inner md-grid" aria-label="Footer">
        <a href="../architecture/" class="md-footer__link md-footer__link--prev"><div class="md-footer__title"><span class="md-footer__direction">Previous</span><div class="md-ellipsis">Architecture</div></div></a>
      </nav>
      <div class="md-footer-meta md-typeset"><div class="md-copyright">Made with <a href="https://squidfunk.github.io/mkdocs-material/">Material for MkDocs</a></div></div>
    </footer>
  </div>
  <script id="__config" type="application/json">{"base": "..", "features": ["navigation.footer"]}</script>
  <script src="../assets/javascripts/bundle.min.js"></script>
</body>
</html>"##;

fn convert(section: Option<&str>) -> Converted {
    match page_to_markdown(PAGE, "runbook/index.html", section) {
        Ok(c) => c,
        Err(e) => panic!("section {section:?} unknown; available {:?}", e.available),
    }
}

#[test]
fn chrome_is_stripped() {
    let md = convert(None).markdown;
    for chrome in [
        "Skip to content",
        "Table of contents",
        "Made with",
        "Material for MkDocs",
        "Previous",
        "Payment service",
        "Search",
        "Guides",
        "Edit this page",
        "git.example.com",
        "Copy to clipboard",
        "Last update",
        "__md_scope",
        "navigation.footer",
        "¶",
        "Permanent link",
    ] {
        assert!(!md.contains(chrome), "chrome {chrome:?} left in:\n{md}");
    }
    assert!(md.starts_with("# Runbook\n"), "{md}");
}

#[test]
fn headings_tables_lists_and_code_survive() {
    let md = convert(None).markdown;
    for heading in [
        "# Runbook",
        "## Alerts",
        "### Silencing",
        "## Acquirer outage",
        "## Reconciling a stuck capture",
    ] {
        assert!(
            md.lines().any(|l| l == heading),
            "heading {heading:?} missing:\n{md}"
        );
    }
    // The table as a GFM table, every row kept.
    assert!(
        md.lines().any(|l| l.starts_with("| Alert")
            && l.contains("| Threshold")
            && l.contains("First action")),
        "{md}"
    );
    assert!(md.contains("| `PaymentCaptureErrorRate`"), "{md}");
    assert!(md.contains("Fail open to `review`"), "{md}");
    // The line-numbered block: language kept, plain code, no gutter numbers.
    let bash = "```bash\n   kubectl -n payments set env deploy/payment-service ACQUIRER=secondary\n   kubectl rollout status deploy/payment-service\n   ```";
    assert!(md.contains(bash), "bash block not found in:\n{md}");
    assert!(!md.contains("1\n2"), "line numbers leaked:\n{md}");
    // A plain highlighted block, with `<` unescaped inside the fence.
    assert!(
        md.contains("```python\ndef ok(x):\n    return x < 2\n```"),
        "{md}"
    );
    // Ordered list with a nested paragraph, and a nested bullet list.
    assert!(
        md.contains("1. Confirm on the acquirer status page."),
        "{md}"
    );
    assert!(
        md.contains("2. Switch traffic to the secondary acquirer:"),
        "{md}"
    );
    assert!(md.contains("3. Post in `#incident-payments`."), "{md}");
    assert!(
        md.contains("- Find the intent older than 24 hours:"),
        "{md}"
    );
    assert!(md.contains("  - in *requires\\_capture*"), "{md}");
    assert!(md.contains("**original**"), "{md}");
    // The admonition's text stays.
    assert!(
        md.contains("Never silence **PaymentCaptureErrorRate**"),
        "{md}"
    );
}

#[test]
fn links_point_at_site_paths() {
    let md = convert(None).markdown;
    assert!(
        md.contains("[idempotency](architecture/index.html#idempotency)"),
        "{md}"
    );
    assert!(md.contains("[the alerts](#alerts)"), "{md}");
    assert!(
        md.contains("[the dashboard](https://grafana.example.com/d/payments)"),
        "{md}"
    );
    assert!(md.contains("![Capture flow](img/capture.png)"), "{md}");
}

#[test]
fn headings_and_title_are_listed() {
    let c = convert(None);
    assert_eq!(c.title.as_deref(), Some("Runbook"));
    let got: Vec<(&str, u8, &str)> = c
        .headings
        .iter()
        .map(|h| (h.anchor.as_str(), h.level, h.title.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("runbook", 1, "Runbook"),
            ("alerts", 2, "Alerts"),
            ("silencing", 3, "Silencing"),
            ("acquirer-outage", 2, "Acquirer outage"),
            ("reconciling", 2, "Reconciling a stuck capture"),
        ]
    );
}

#[test]
fn a_section_runs_to_the_next_heading_of_its_level() {
    let alerts = convert(Some("alerts")).markdown;
    assert!(alerts.starts_with("## Alerts\n"), "{alerts}");
    assert!(alerts.contains("| `FraudCheckLatencyHigh`"), "{alerts}");
    assert!(
        alerts.contains("### Silencing"),
        "subsection kept:\n{alerts}"
    );
    assert!(!alerts.contains("Acquirer outage"), "{alerts}");
    assert!(!alerts.contains("On-call guide"), "{alerts}");
    // A deeper heading ends at the next heading of any level at or above it.
    let silencing = convert(Some("#silencing")).markdown;
    assert!(silencing.starts_with("### Silencing"), "{silencing}");
    assert!(!silencing.contains("## Acquirer"), "{silencing}");
    // The last section runs to the end; anchors match case-insensitively as a fallback.
    let last = convert(Some("Reconciling")).markdown;
    assert!(last.starts_with("## Reconciling a stuck capture"), "{last}");
    assert!(last.contains("**original**"), "{last}");
    // The h1 section is the whole article.
    assert_eq!(convert(Some("runbook")).markdown, convert(None).markdown);
}

#[test]
fn an_unknown_section_lists_the_anchors() {
    match page_to_markdown(PAGE, "runbook/index.html", Some("nope")) {
        Err(UnknownSection { available }) => {
            assert_eq!(available.len(), 5);
            assert_eq!(available[1].anchor, "alerts");
        }
        Ok(c) => panic!("expected an error, got {}", c.markdown),
    }
}

#[test]
fn navigation_lists_pages_in_order_without_the_toc() {
    let nav = nav_entries(PAGE, "runbook/index.html");
    let got: Vec<(&str, &str, String)> = nav
        .iter()
        .map(|e| (e.path.as_str(), e.title.as_str(), e.sections.join(" / ")))
        .collect();
    assert_eq!(
        got,
        vec![
            ("index.html", "Overview", String::new()),
            ("guides/setup/index.html", "Setup", "Guides".to_string()),
            (
                "architecture/index.html",
                "Architecture",
                "Guides".to_string()
            ),
            ("runbook/index.html", "Runbook", String::new()),
        ]
    );
    assert!(nav_entries("<html><body><p>no nav</p></body></html>", "index.html").is_empty());
}

#[test]
fn relative_links_resolve_against_the_page() {
    let cases = [
        (
            "runbook/index.html",
            "../architecture/",
            Some("architecture/index.html"),
        ),
        ("runbook/index.html", "./", Some("runbook/index.html")),
        ("runbook/index.html", "..", Some("index.html")),
        ("index.html", ".", Some("index.html")),
        (
            "index.html",
            "runbook/#alerts",
            Some("runbook/index.html#alerts"),
        ),
        ("a/b/index.html", "../../c.html", Some("c.html")),
        ("index.html", "#alerts", None),
        ("index.html", "/docs/default/component/x/", None),
        ("index.html", "https://example.com/", None),
        ("index.html", "mailto:team@example.com", None),
        ("index.html", "//cdn.example.com/x.js", None),
    ];
    for (page, href, want) in cases {
        assert_eq!(
            resolve_link(page, href).as_deref(),
            want,
            "{href} from {page}"
        );
    }
}

#[test]
fn other_themes_fall_back_to_the_body() {
    let html = "<html><head><title>Plain</title></head><body><nav>menu</nav><h2 id=\"x\">Only</h2><p>text</p></body></html>";
    let c = page_to_markdown(html, "index.html", None).ok();
    let c = c.as_ref();
    assert_eq!(c.map(|c| c.markdown.as_str()), Some("## Only\n\ntext"));
    assert_eq!(c.and_then(|c| c.title.as_deref()), Some("Plain"));
}

#[test]
fn tabs_keep_each_label_with_its_body() {
    let html = r#"<article class="md-content__inner"><h2 id="install">Install</h2>
<div class="tabbed-set tabbed-alternate" data-tabs="1:2"><input checked="checked" id="__tabbed_1_1" name="__tabbed_1" type="radio" /><input id="__tabbed_1_2" name="__tabbed_1" type="radio" /><div class="tabbed-labels"><label for="__tabbed_1_1">macOS</label><label for="__tabbed_1_2">Linux</label></div>
<div class="tabbed-content">
<div class="tabbed-block"><p>Use brew.</p></div>
<div class="tabbed-block"><p>Use apt.</p></div>
</div></div></article>"#;
    let md = page_to_markdown(html, "index.html", None)
        .map(|c| c.markdown)
        .unwrap_or_default();
    assert_eq!(md, "## Install\n\nmacOS\n\nUse brew.\n\nLinux\n\nUse apt.");
}

#[test]
fn admonitions_and_details_become_titled_block_quotes() {
    // What Python-Markdown's admonition and pymdownx.details write.
    let html = r#"<html><body><article class="md-content__inner md-typeset">
<h1 id="ops">Ops</h1>
<div class="admonition warning">
<p class="admonition-title">Mind the gap</p>
<p>Do <strong>not</strong> run this in production.</p>
</div>
<details class="note">
<summary>Why?</summary>
<p>Because.</p>
</details>
<div class="plain"><p>Ordinary text.</p></div>
</article></body></html>"#;
    let page = page_to_markdown(html, "ops/index.html", None).expect("page");
    assert_eq!(
        page.markdown,
        "# Ops\n\n> **Mind the gap**\n>\n> Do **not** run this in production.\n\n> **Why?**\n>\n> Because.\n\nOrdinary text."
    );
}

#[test]
fn nav_paths_are_file_names() {
    let html = r#"<html><body><nav class="md-nav md-nav--primary"><ul>
<li class="md-nav__item"><a class="md-nav__link" href="on%20call/">On call</a></li>
<li class="md-nav__item"><a class="md-nav__link" href="caf%C3%A9/index.html#menu">Café</a></li>
</ul></nav></body></html>"#;
    let paths: Vec<String> = nav_entries(html, "index.html")
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["on call/index.html", "café/index.html"]);
}
