"""The TechDocs tools against real Backstage testbeds, through real MCP clients.

Oracles are independent of stagedoor: the Markdown sources of the fixture docs
(`testbed/catalog/components/*/docs/*.md` and their `mkdocs.yml`) and Backstage's own REST
answers (`techdocs_metadata.json`, whether `/static/...` serves a page).

The sync (build) path runs against a second, real testbed started by this module with an
app-config overlay: its own publish directory, and a catalog location whose file only
appears after start.sh has pre-built the fixture sites, so its entities have never been
built when the test asks for their docs. Only the timeout of a hung build uses a fake.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import call, call_error

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

REPO = Path(__file__).resolve().parents[2]
TESTBED_DIR = REPO / "testbed"
COMPONENTS = TESTBED_DIR / "catalog" / "components"
DOCS = {"component:default/payment-service": COMPONENTS / "payment-service",
        "component:default/order-service": COMPONENTS / "order-service"}
PAYMENT = "component:default/payment-service"
ORDER = "component:default/order-service"
NO_DOCS = "component:default/fraud-check"

WIRES = [("stdio", "legacy"), ("stdio", "2026-07-28"), ("http", "legacy"), ("http", "2026-07-28")]
# Theme chrome: text of mkdocs-material's header, sidebars, footer and permalinks.
CHROME = ("Table of contents", "Skip to content", "Made with", "Material for MkDocs", "Permanent link", "¶",
          "__md_", "md-nav", "Type to start searching")
CHROME_LINES = ("Previous", "Next", "Search", "Overview")  # footer / header words on a line of their own


# --------------------------------------------------------------------------- the oracle


def mkdocs_nav(site: Path) -> tuple[str, list[tuple[str, str]]]:
    """(site_name, [(page file, nav title)]) from a fixture's mkdocs.yml (flat `- T: f.md` navs)."""
    text = (site / "mkdocs.yml").read_text()
    name = re.search(r"^site_name:\s*(.+)$", text, re.M)
    assert name, text
    pages = []
    for title, src in re.findall(r"^\s*-\s*([^:\n]+):\s*(\S+\.md)\s*$", text, re.M):
        stem = src[:-3]
        pages.append(("index.html" if stem == "index" else f"{stem}/index.html", title.strip()))
    return name.group(1).strip(), pages


def unescape(md: str) -> str:
    """Markdown backslash escapes removed (`\\>`, `\\_`), for comparing text with the source."""
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!>|<])", r"\1", md)


def fenced_blocks(md: str) -> list[tuple[str, str]]:
    """(language, dedented content) of every fenced code block."""
    blocks = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3)
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        blocks.append((lang, "\n".join(body)))
        i += 1
    return blocks


def outside_fences(md: str) -> list[str]:
    out, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^\s*(```+|~~~+)", line)
        if fence:
            if line.strip() == fence:
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        out.append(line)
    return out


def table_rows(md: str) -> list[list[str]]:
    rows = []
    for line in outside_fences(md):
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append([unescape(c) for c in cells])
    return rows


def headings(md: str) -> list[str]:
    return [unescape(l.strip()) for l in outside_fences(md) if re.match(r"^#{1,6} ", l.strip())]


def list_items(md: str) -> list[str]:
    """List item texts, with wrapped continuation lines joined (whitespace collapsed)."""
    items: list[str] = []
    open_item = False
    for line in outside_fences(md):
        m = re.match(r"^\s*(?:[-*+]|\d+\.)\s+(.*)$", line)
        if m:
            items.append(m.group(1).strip())
            open_item = True
        elif open_item and line.strip() and line[:1].isspace():
            items[-1] += " " + line.strip()
        else:
            open_item = False
    return [unescape(" ".join(i.split())) for i in items]


def assert_page_matches_source(page: dict[str, Any], source: str) -> None:
    md = page["markdown"]
    got_headings = headings(md)
    for h in headings(source):
        assert h in got_headings, f"heading {h!r} missing; got {got_headings}\n{md}"
    got_blocks = fenced_blocks(md)
    for lang, body in fenced_blocks(source):
        assert (lang, body) in got_blocks, f"code block ({lang}) {body!r} missing; got {got_blocks}"
    got_rows = table_rows(md)
    for row in table_rows(source):
        assert row in got_rows, f"table row {row} missing; got {got_rows}"
    got_items = list_items(md)
    for item in list_items(source):
        assert item in got_items, f"list item {item!r} missing; got {got_items}"
    for chrome in CHROME:
        assert chrome not in md, f"chrome {chrome!r} in page:\n{md}"
    lines = {line.strip() for line in md.splitlines()}
    for chrome in CHROME_LINES:
        assert chrome not in lines, f"chrome line {chrome!r} in page:\n{md}"


def backstage_get(base_url: str, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


# --------------------------------------------------------------------------- get_techdocs


@pytest.mark.parametrize("transport,mode", WIRES)
@pytest.mark.compat
async def test_get_techdocs_lists_pages_in_nav_order(connect, testbed, transport, mode) -> None:
    async with connect(transport, mode) as client:
        tools = {t["name"]: t for t in await sup.list_all_tools(client)}
        for name in ("get_techdocs", "get_techdocs_page"):
            assert tools[name]["annotations"]["readOnlyHint"] is True, tools[name]
        for ref, site in DOCS.items():
            out = await call(client, "get_techdocs", {"entityRef": ref})
            site_name, nav = mkdocs_nav(site)
            assert out["ref"] == ref
            assert out["siteName"] == site_name
            assert [(p["path"], p.get("title")) for p in out["pages"]] == nav, out["pages"]
            assert out["totalPages"] == len(nav) and out["pageSource"] == "navigation"
            assert "nextCursor" not in out
            assert "build" not in out, "start.sh built these sites; nothing to build"
            name = ref.rsplit("/", 1)[1]
            meta = backstage_get(testbed.base_url, testbed.token,
                                 f"/api/techdocs/static/docs/default/component/{name}/techdocs_metadata.json")
            assert meta.status_code == 200, meta.text
            assert out["buildTimestamp"] == meta.json()["build_timestamp"]
            assert out["siteDescription"] == meta.json()["site_description"]
            assert out["builtAt"].endswith("Z")
        # The lenient reference forms of get_entity work here too.
        short = await call(client, "get_techdocs", {"entityRef": "order-service", "limit": 2})
        assert short["ref"] == ORDER and len(short["pages"]) == 2 and short["totalPages"] == 3
        rest = await call(client, "get_techdocs", {"entityRef": "Component:order-service",
                                                   "cursor": short["nextCursor"], "limit": 2})
        assert [p["path"] for p in short["pages"] + rest["pages"]] == [p for p, _ in mkdocs_nav(DOCS[ORDER])[1]]
        assert "nextCursor" not in rest


@pytest.mark.compat
async def test_entity_without_docs_and_unknown_entity(connect) -> None:
    async with connect("http", "legacy") as client:
        for tool in ("get_techdocs", "get_techdocs_page"):
            msg = await call_error(client, tool, {"entityRef": NO_DOCS})
            assert NO_DOCS in msg and "no TechDocs" in msg and "backstage.io/techdocs-ref" in msg, msg
        msg = await call_error(client, "get_techdocs", {"entityRef": "component:default/payment-servise"})
        assert "payment-service" in msg, f"no close match suggested: {msg}"
        assert "limit" in await call_error(client, "get_techdocs", {"entityRef": PAYMENT, "limit": 0})
        assert "cursor" in await call_error(client, "get_techdocs", {"entityRef": PAYMENT, "cursor": "x!"})


# --------------------------------------------------------------------------- get_techdocs_page


@pytest.mark.parametrize("transport,mode", WIRES)
@pytest.mark.compat
async def test_pages_match_their_markdown_sources(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        for ref, site in DOCS.items():
            for path, title in mkdocs_nav(site)[1]:
                source = (site / "docs" / ("index.md" if path == "index.html" else path.split("/")[0] + ".md")).read_text()
                page = await call(client, "get_techdocs_page", {"entityRef": ref, "path": path})
                assert page["ref"] == ref and page["path"] == path
                assert page["offset"] == 0 and "nextCursor" not in page
                assert page["totalChars"] == len(page["markdown"])
                assert page["title"] == headings(source)[0].lstrip("# ")
                assert_page_matches_source(page, source)
                assert [h["title"] for h in page["headings"]] == [h.lstrip("# ") for h in headings(source)]


@pytest.mark.compat
async def test_runbook_in_every_path_form_and_without_chrome(connect) -> None:
    source = (DOCS[PAYMENT] / "docs" / "runbook.md").read_text()
    async with connect("stdio", "2026-07-28") as client:
        pages = []
        for path in ("runbook/", "runbook/index.html", "runbook", "/runbook/", "runbook.md",
                     "/docs/default/component/payment-service/runbook/"):
            pages.append(await call(client, "get_techdocs_page", {"entityRef": "payment-service", "path": path}))
        assert all(p["path"] == "runbook/index.html" for p in pages)
        assert len({p["markdown"] for p in pages}) == 1
        assert_page_matches_source(pages[0], source)
        md = pages[0]["markdown"]
        assert "```bash\n   kubectl -n payments set env deploy/payment-service ACQUIRER=secondary\n   ```" in md, md
        # Home page by default.
        home = await call(client, "get_techdocs_page", {"entityRef": PAYMENT})
        assert home["path"] == "index.html" and home["title"] == "Payment service"


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
@pytest.mark.compat
async def test_sections_by_anchor(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        page = await call(client, "get_techdocs_page", {"entityRef": ORDER, "path": "runbook/"})
        anchors = {h["anchor"]: h for h in page["headings"]}
        assert set(anchors) >= {"runbook", "outbox-lag"}, anchors
        lag = await call(client, "get_techdocs_page", {"entityRef": ORDER, "path": "runbook/", "section": "outbox-lag"})
        assert lag["section"] == "outbox-lag"
        md = lag["markdown"]
        assert md.startswith("## Outbox lag"), md
        assert "kubectl -n orders rollout restart deploy/order-service-outbox" in md
        assert "Orders stuck in" not in md and "On-call guide" not in md, md
        # The same through a fragment in the path.
        frag = await call(client, "get_techdocs_page", {"entityRef": ORDER, "path": "runbook/#outbox-lag"})
        assert frag["markdown"] == md
        msg = await call_error(client, "get_techdocs_page", {"entityRef": ORDER, "path": "runbook/",
                                                              "section": "no-such-heading"})
        assert "no-such-heading" in msg and "outbox-lag" in msg, msg


@pytest.mark.compat
async def test_long_page_paginates_with_a_cursor(connect) -> None:
    async with connect("http", "legacy") as client:
        whole = await call(client, "get_techdocs_page", {"entityRef": PAYMENT, "path": "index.html"})
        total = whole["totalChars"]
        assert total > 1000, "the fixture page must span several slices"
        parts, cursor, offsets = [], None, []
        for _ in range(50):
            args = {"entityRef": PAYMENT, "path": "index.html", "maxChars": 500}
            if cursor:
                args["cursor"] = cursor
            page = await call(client, "get_techdocs_page", args)
            assert page["totalChars"] == total
            assert len(page["markdown"]) <= 500
            offsets.append(page["offset"])
            parts.append(page["markdown"])
            cursor = page.get("nextCursor")
            if not cursor:
                break
        assert len(parts) >= 3, offsets
        assert "".join(parts) == whole["markdown"], "slices do not concatenate to the page"
        assert offsets == sorted(set(offsets)) and offsets[0] == 0
        # Slices end at paragraph or line breaks, not mid-line.
        assert all(p.endswith("\n") for p in parts[:-1]), parts
        first = await call(client, "get_techdocs_page", {"entityRef": PAYMENT, "maxChars": 500})
        other = await call_error(client, "get_techdocs_page", {"entityRef": ORDER, "cursor": first["nextCursor"]})
        assert "belongs to" in other, other
        assert "cursor" in await call_error(client, "get_techdocs_page", {"entityRef": ORDER, "cursor": "garbage"})
        assert "maxChars" in await call_error(client, "get_techdocs_page", {"entityRef": ORDER, "maxChars": 10})


@pytest.mark.compat
async def test_unknown_page_lists_the_pages(connect) -> None:
    async with connect("stdio", "legacy") as client:
        msg = await call_error(client, "get_techdocs_page", {"entityRef": PAYMENT, "path": "deployment/"})
        assert "deployment/" in msg
        for path, title in mkdocs_nav(DOCS[PAYMENT])[1]:
            assert f"{path} ({title})" in msg, msg
        assert "inside the site" in await call_error(client, "get_techdocs_page",
                                                     {"entityRef": PAYMENT, "path": "../order-service/index.html"})


# --------------------------------------------------------------------------- Inspector CLI


@pytest.mark.parametrize("transport", ["http", "stdio"])
@pytest.mark.compat
def test_inspector_reads_the_runbook(inspector_cli, request, stagedoor_bin, stdio_env, transport) -> None:
    if transport == "http":
        target, kw = request.getfixturevalue("testbed_server").url, {}
    else:
        target = [str(stagedoor_bin), "serve", "--transport", "stdio"]
        kw = {"config": {"env": stdio_env}}
    site = sup.inspector_tool_call(inspector_cli, target, "get_techdocs", {"entityRef": PAYMENT}, **kw)
    assert "runbook/index.html" in [p["path"] for p in site["pages"]]
    page = sup.inspector_tool_call(inspector_cli, target, "get_techdocs_page",
                           {"entityRef": PAYMENT, "path": "runbook/index.html"}, **kw)
    assert_page_matches_source(page, (DOCS[PAYMENT] / "docs" / "runbook.md").read_text())


# --------------------------------------------------------------------------- the sync (build) path


PROBE_CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: td-fresh-docs
  description: Probe entity whose docs were never built.
  annotations:
    backstage.io/techdocs-ref: dir:./fresh
spec:
  type: service
  lifecycle: experimental
  owner: group:default/platform-team
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: td-broken-docs
  description: Probe entity whose mkdocs.yml does not parse.
  annotations:
    backstage.io/techdocs-ref: dir:./broken
spec:
  type: service
  lifecycle: experimental
  owner: group:default/platform-team
"""

PROBE_GUIDE = """\
# Deploy guide

Roll out with the **blue-green** switch.

## Steps

1. Build the image.
2. Flip the router:

   ```bash
   quillctl router flip --to green
   ```

| Stage | Owner |
|-------|-------|
| build | ci |
| flip | on-call |
"""


@dataclass
class FreshTestbed:
    base_url: str
    token: str
    pid: int
    probe: Path


def _start_fresh_testbed(root: Path) -> tuple[dict[str, str], Path]:
    probe = root / "probe"
    overlay = root / "overlay.yaml"
    overlay.write_text(
        "catalog:\n"
        "  processingInterval: {seconds: 2}\n"
        "  locations:\n"
        "    - type: file\n"
        "      target: ./catalog/all.yaml\n"
        "    - type: file\n"
        f"      target: {probe}/catalog-info.yaml\n"
        "techdocs:\n"
        "  publisher:\n"
        "    local:\n"
        f"      publishDirectory: {root}/site\n")
    run_dir = root / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "TESTBED_CONFIG", "WAIT_SEARCH")}
    env |= {"TESTBED_RUN_DIR": str(run_dir), "TESTBED_CONFIG": str(overlay)}
    p = subprocess.run([str(TESTBED_DIR / "start.sh")], cwd=str(TESTBED_DIR), env=env, capture_output=True,
                       text=True, timeout=600, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail(f"second testbed did not start (rc={p.returncode}):\n{p.stderr[-6000:]}", pytrace=False)
    return sup.parse_env_file(run_dir / "testbed.env"), run_dir


@pytest.fixture(scope="module")
def fresh_testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshTestbed]:
    """A second real Backstage whose probe entities appear only after start.sh pre-built the
    fixture sites (their catalog file is written afterwards), so their docs were never built."""
    root = tmp_path_factory.mktemp("fresh-testbed")
    env, run_dir = _start_fresh_testbed(root)
    tb = FreshTestbed(base_url=env["BACKSTAGE_BASE_URL"], token=env["BACKSTAGE_TOKEN"],
                      pid=int(env["TESTBED_PID"]), probe=root / "probe")
    try:
        fresh = tb.probe / "fresh"
        (fresh / "docs").mkdir(parents=True)
        (fresh / "mkdocs.yml").write_text("site_name: Fresh probe\nsite_description: Built on demand\n"
                                          "nav:\n  - Home: index.md\n  - Deploy guide: guide.md\n"
                                          "plugins:\n  - techdocs-core\n")
        (fresh / "docs" / "index.md").write_text("# Fresh probe\n\nBuilt by the first reader.\n")
        (fresh / "docs" / "guide.md").write_text(PROBE_GUIDE)
        broken = tb.probe / "broken"
        (broken / "docs").mkdir(parents=True)
        (broken / "mkdocs.yml").write_text("site_name: [this does not parse\nnav: {{{\n")
        (broken / "docs" / "index.md").write_text("# Broken\n")
        (tb.probe / "catalog-info.yaml").write_text(PROBE_CATALOG)
        deadline = time.monotonic() + 90
        for name in ("td-fresh-docs", "td-broken-docs"):
            while backstage_get(tb.base_url, tb.token,
                                f"/api/catalog/entities/by-name/component/default/{name}").status_code != 200:
                assert time.monotonic() < deadline, f"probe entity {name} never ingested"
                time.sleep(0.5)
        yield tb
    finally:
        subprocess.run([str(TESTBED_DIR / "stop.sh")], cwd=str(TESTBED_DIR), capture_output=True, timeout=120,
                       env={**os.environ, "TESTBED_RUN_DIR": str(run_dir)}, stdin=subprocess.DEVNULL, check=False)
        if sup.pid_alive(tb.pid):
            sup.stop_pid(tb.pid, grace_s=15)
        assert not sup.pid_alive(tb.pid), f"second testbed pid {tb.pid} still alive"


@pytest.mark.timeout(300)  # includes starting the second testbed
async def test_a_missing_site_is_built_on_first_read(fresh_testbed, stagedoor_http) -> None:
    tb = fresh_testbed
    static = "/api/techdocs/static/docs/default/component/td-fresh-docs/index.html"
    assert backstage_get(tb.base_url, tb.token, static).status_code == 404, "the probe site must not exist yet"
    srv = stagedoor_http(base_url=tb.base_url, token=tb.token)
    progress: list[tuple[float, str | None]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message))

    async with sup.sdk_http_client(srv.url, "legacy", read_timeout_s=90) as client:
        t0 = time.monotonic()
        out = await call(client, "get_techdocs", {"entityRef": "td-fresh-docs"}, progress_callback=on_progress)
        took = time.monotonic() - t0
        build = out["build"]
        assert build["builtNow"] is True, build
        assert 0 < build["durationMs"] <= took * 1000 + 50, (build, took)
        assert build["logLines"] > 0 and build["logTail"], build
        assert out["siteName"] == "Fresh probe" and out["siteDescription"] == "Built on demand"
        assert [(p["path"], p.get("title")) for p in out["pages"]] == [
            ("index.html", "Home"), ("guide/index.html", "Deploy guide")]
        # Backstage itself now serves the site.
        assert backstage_get(tb.base_url, tb.token, static).status_code == 200
        # Progress: the announcement, then the build log, in order.
        assert progress, "no progress notifications during the build"
        assert "Building the TechDocs site of component:default/td-fresh-docs" in (progress[0][1] or "")
        values = [v for v, _ in progress]
        assert values == sorted(values) and len(set(values)) == len(values), values
        assert any("Step 1 of 3" in (m or "") for _, m in progress), progress
        assert not any("\x1b[" in (m or "") for _, m in progress), "ANSI colours leaked into progress"

        # Built now, the next read builds nothing.
        again = await call(client, "get_techdocs", {"entityRef": "td-fresh-docs"})
        assert "build" not in again and again["buildTimestamp"] == out["buildTimestamp"]
        page = await call(client, "get_techdocs_page", {"entityRef": "td-fresh-docs", "path": "guide/"})
        assert_page_matches_source(page, PROBE_GUIDE)
        # refresh asks Backstage again; it checked a moment ago, so it builds nothing and says so.
        refreshed = await call(client, "get_techdocs", {"entityRef": "td-fresh-docs", "refresh": True})
        assert refreshed["build"]["builtNow"] is False, refreshed["build"]
    print(f"measured: first read with build {took:.2f}s, Backstage sync {build['durationMs']} ms")


@pytest.mark.timeout(300)  # includes starting the second testbed
async def test_a_failing_build_is_reported(fresh_testbed, stdio_stderr, stagedoor_bin) -> None:
    tb = fresh_testbed
    env = sup.base_env() | {"BACKSTAGE_BASE_URL": tb.base_url, "BACKSTAGE_TOKEN": tb.token}
    async with sup.sdk_stdio_client(stagedoor_bin, env, "2026-07-28", stdio_stderr, read_timeout_s=90) as client:
        messages = [await call_error(client, tool, {"entityRef": "component:default/td-broken-docs"})
                    for tool in ("get_techdocs", "get_techdocs_page")]
    # The oracle: Backstage's own answer to the same sync (a failed build is not remembered,
    # so every sync tries again and fails the same way).
    with httpx.stream("GET", f"{tb.base_url}/api/techdocs/sync/default/component/td-broken-docs",
                      headers={"Authorization": f"Bearer {tb.token}", "Accept": "text/event-stream"},
                      timeout=60) as r:
        stream = r.read().decode()
    m = re.search(r"^event: error\ndata: (.*)$", stream, re.M)
    assert m, f"Backstage's sync did not fail: {stream}"
    backstage_error = json.loads(m.group(1))
    for msg in messages:
        assert "could not build the docs of component:default/td-broken-docs" in msg, msg
        assert backstage_error in msg, f"{backstage_error!r} not in {msg!r}"
    assert backstage_get(tb.base_url, tb.token,
                         "/api/techdocs/static/docs/default/component/td-broken-docs/index.html").status_code == 404


# --------------------------------------------------------------------------- a build that never ends (fake)


class _HungBuild(BaseHTTPRequestHandler):
    """A Backstage whose docs build never finishes: the entity exists, the site does not,
    and the sync stream sends one log line and then nothing."""

    protocol_version = "HTTP/1.1"
    release: threading.Event

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api/catalog/entities/by-name/component/default/slow-docs"):
            self._json(200, {"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
                             "metadata": {"name": "slow-docs", "namespace": "default",
                                          "annotations": {"backstage.io/techdocs-ref": "dir:."}},
                             "spec": {"type": "service", "owner": "team", "lifecycle": "production"}})
        elif self.path.startswith("/api/techdocs/static/"):
            self._json(404, {"error": {"name": "NotFoundError", "message": "File Not Found"}})
        elif self.path.startswith("/api/techdocs/sync/default/component/slow-docs"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'event: log\ndata: "\\u001b[32minfo\\u001b[39m: Step 1 of 3: Preparing docs"\n\n')
            self.wfile.flush()
            self.release.wait(60)
            self.close_connection = True
        else:
            self._json(404, {"error": {"name": "NotFoundError", "message": self.path}})


@pytest.fixture
def hung_build() -> Iterator[str]:
    release = threading.Event()
    handler = type("Handler", (_HungBuild,), {"release": release})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="hung-build", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_a_hung_build_is_bounded_by_the_timeout(hung_build, stagedoor_http) -> None:
    srv = stagedoor_http(base_url=hung_build, token="e2e-token")
    messages: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        messages.append(message or "")

    async with sup.sdk_http_client(srv.url, "2026-07-28", read_timeout_s=30) as client:
        t0 = time.monotonic()
        msg = await call_error(client, "get_techdocs", {"entityRef": "component:default/slow-docs",
                                                         "buildTimeoutSeconds": 5}, progress_callback=on_progress)
        took = time.monotonic() - t0
    assert 5 <= took < 12, f"took {took:.1f}s for a 5 s build budget"
    assert "still building after 5s" in msg and "Step 1 of 3: Preparing docs" in msg, msg
    assert "info: Step 1 of 3: Preparing docs" in messages, messages
