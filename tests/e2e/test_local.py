"""Local mode: catalog files served without Backstage, through real MCP clients.

No testbed is needed here: every catalog is either the shipped example (`examples/catalog`)
or written into a temporary directory by the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import REPO_ROOT, call

pytestmark = [pytest.mark.anyio]

EXAMPLE = REPO_ROOT / "examples" / "catalog"


def component(name: str, title: str = "A service", extra: str = "") -> str:
    return (f"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}\n  title: {title}\n"
            f"spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n{extra}")


GROUP = ("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\n  title: Team A\n"
         "spec:\n  type: team\n  children: []\n")


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def broken_catalog(root: Path) -> Path:
    """A root Location with a good file, a bad entity, a malformed file and a cycle."""
    write(root, "all.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: root\n"
                            "spec:\n  targets:\n    - ./good.yaml\n    - ./bad.yaml\n    - ./malformed.yaml\n"
                            "    - ./loop/loop.yaml\n")
    write(root, "good.yaml", component("good-service") + "---\n" + GROUP)
    # Line 4 holds the bad name; the second document is fine and must still load.
    write(root, "bad.yaml", component("Not A Valid Name!") + "---\n" + component("fine-service"))
    write(root, "malformed.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: [oops\n")
    # Line 7 of loop.yaml points back at the root.
    write(root, "loop/loop.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: loop\n"
                                  "spec:\n  targets:\n    - ../all.yaml\n")
    return root / "all.yaml"


# --------------------------------------------------------------------------- the example catalog


def test_the_example_catalog_loads_with_zero_problems(stagedoor_bin: Path) -> None:
    p = subprocess.run([str(stagedoor_bin), "check", "--catalog", str(EXAMPLE)], capture_output=True, text=True,
                       timeout=60, env=sup.base_env(), stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "loaded:   30 entities from 13 files" in p.stdout, p.stdout
    assert "problems: 0" in p.stdout, p.stdout
    for kind in ("API 4", "Component 7", "Domain 2", "Group 4", "Location 1", "Resource 3", "System 3",
                 "Template 1", "User 5"):
        assert kind in p.stdout, p.stdout


FOLDER = REPO_ROOT / "tests" / "fixtures" / "catalog-folder"


def check(stagedoor_bin: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(stagedoor_bin), "check", "--catalog", str(path)], capture_output=True, text=True,
                          timeout=60, env=sup.base_env(), stdin=subprocess.DEVNULL)


def test_a_catalog_folder_loads_through_its_directory_as_through_its_root_file(stagedoor_bin: Path) -> None:
    by_dir, by_root = check(stagedoor_bin, FOLDER), check(stagedoor_bin, FOLDER / "all.yaml")
    for p in (by_dir, by_root):
        assert p.returncode == 0, p.stdout + p.stderr
        assert "loaded:   12 entities from 9 files" in p.stdout, p.stdout
        assert "problems: 0" in p.stdout, p.stdout
        # The one dangling reference is a warning, not a problem.
        assert "warnings: 1" in p.stdout, p.stdout
        assert "ledger/catalog-info.yaml:1: warning: component:default/ledger: dependsOn resource:default/mainframe" \
            in p.stdout, p.stdout
    kinds = lambda out: next(line for line in out.splitlines() if line.startswith("kinds:"))  # noqa: E731
    assert kinds(by_dir.stdout) == kinds(by_root.stdout)
    assert "skipped:  4 YAML files hold no catalog entity" in by_dir.stdout, by_dir.stdout
    for f in ("apis/payments-openapi.yaml", "ci/pipeline.yml", "components/checkout/mkdocs.yml",
              "templates/new-service/content/catalog-info.yaml: a template skeleton"):
        assert f in by_dir.stdout, by_dir.stdout


def test_an_empty_catalog_folder_is_a_problem(stagedoor_bin: Path, tmp_path: Path) -> None:
    p = check(stagedoor_bin, tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "problems: 1" in p.stdout and "the catalog is empty" in p.stdout, p.stdout


@pytest.mark.parametrize("token", [None, "exported-for-another-backstage"])
async def test_run_sh_serves_the_example_catalog(stagedoor_bin: Path, tmp_path: Path, token: str | None) -> None:
    port = sup.free_port()
    env = sup.base_env()
    env.update(STAGEDOOR_BIN=str(stagedoor_bin), LISTEN=f"127.0.0.1:{port}")
    if token:
        # A token without a base URL (left in the shell) does not stop local mode.
        env["BACKSTAGE_TOKEN"] = token
    log = tmp_path / "run.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(["bash", str(REPO_ROOT / "scripts" / "run.sh")], cwd=str(tmp_path), env=env,
                                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        sup.wait_for_http(f"http://127.0.0.1:{port}/healthz", proc, 30)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json()
        assert ready == {"status": "ready", "catalog": {"entities": 30, "files": 13, "problems": 0}}, ready
        async with sup.sdk_http_client(f"http://127.0.0.1:{port}/mcp", "legacy") as client:
            names = {t["name"] for t in await sup.list_all_tools(client)}
            assert {"search_catalog", "get_entity", "check_catalog"} <= names, names
            page = await call(client, "search_catalog", {"query": "idempotency"})
            assert {i["ref"] for i in page["items"]} >= {"component:default/booking-service", "api:default/booking-api"}
            api = await call(client, "get_entity", {"entityRef": "api:booking-api"})
            # The $text placeholder was resolved from apis/booking-openapi.yaml.
            assert api["entity"]["spec"]["definition"].startswith("openapi: 3.0.3"), api["entity"]["spec"]
            assert {r["ref"] for r in api["relations"]["apiProvidedBy"]} == {"component:default/booking-service"}
    finally:
        proc.send_signal(signal.SIGTERM)  # run.sh execs stagedoor: this PID is the server
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    assert proc.returncode is not None
    assert "serving the local catalog" in log.read_text(), log.read_text()
    if token:
        assert "the token is not used" in log.read_text(), log.read_text()
        assert token not in log.read_text()


# --------------------------------------------------------------------------- tools and transports


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_local_mode_lists_catalog_tools_without_backstage_ones(stagedoor_bin, stagedoor_http, tmp_path,
                                                                     transport, mode) -> None:
    if transport == "http":
        srv = stagedoor_http(base_url="", extra_args=["--catalog", str(EXAMPLE)])
        opened = sup.sdk_http_client(srv.url, mode)
    else:
        opened = sup.sdk_stdio_client(stagedoor_bin, sup.base_env(), mode, tmp_path / "stdio.log",
                                      extra_args=["--catalog", str(EXAMPLE)])
    async with opened as client:
        tools = await sup.list_all_tools(client)
        sup.assert_tools_well_formed(tools)
        names = [t["name"] for t in tools]
        assert names[:1] != ["check_connection"] and "check_connection" not in names, names
        assert {"search_catalog", "get_entity", "get_entities", "get_related_entities", "list_entity_facets",
                "check_catalog"} <= set(names), names
        status = await call(client, "check_catalog", {})
        assert status["entities"] == 30 and status["files"] == 13 and status["totalProblems"] == 0, status
        assert status["kinds"]["Component"] == 7 and status["watching"] is True, status
        facets = await call(client, "list_entity_facets", {"facets": ["kind"]})
        assert {v["value"]: v["count"] for v in facets["facets"][0]["values"]}["User"] == 5
        walk = await call(client, "get_related_entities", {"entityRef": "group:ferrylane", "relations": ["parentOf"]})
        assert {e["ref"] for e in walk["entities"]} == {"group:default/passenger-team", "group:default/ops-team",
                                                        "group:default/platform-team"}
        # A Backstage-only tool is not there at all: calling it is a protocol error.
        with pytest.raises(Exception) as err:
            await client.call_tool("check_connection", {})
        assert "Unknown tool" in str(err.value) or "check_connection" in str(err.value)


def test_inspector_cli_calls_a_tool_over_stdio(inspector_cli, stagedoor_bin) -> None:
    r = inspector_cli([str(stagedoor_bin), "serve", "--catalog", str(EXAMPLE)], "--method", "tools/call",
                      "--tool-name", "get_entity", "--tool-arg", "entityRef=component:fare-engine",
                      config={"env": sup.base_env()})
    assert r.rc == 0, r.describe()
    sc = r.json.get("structuredContent") if isinstance(r.json, dict) else None
    assert sc and sc["ref"] == "component:default/fare-engine", r.describe()
    assert {x["ref"] for x in sc["relations"]["providesApi"]} == {"api:default/fares-grpc"}


def test_tools_command_lists_the_local_tool_set(stagedoor_bin) -> None:
    p = subprocess.run([str(stagedoor_bin), "tools", "--json", "--catalog", str(EXAMPLE)], capture_output=True,
                       text=True, timeout=30, env=sup.base_env())
    assert p.returncode == 0, p.stderr
    names = [t["name"] for t in json.loads(p.stdout)]
    assert "check_catalog" in names and "check_connection" not in names, names


# --------------------------------------------------------------------------- problems are precise


async def test_bad_entity_malformed_file_and_cycle_are_reported_and_the_rest_is_served(stagedoor_bin, tmp_path) -> None:
    root = broken_catalog(tmp_path / "cat")
    p = subprocess.run([str(stagedoor_bin), "check", "--catalog", str(root)], capture_output=True, text=True,
                       timeout=60, env=sup.base_env())
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    bad = tmp_path / "cat" / "bad.yaml"
    assert f"{bad}:4: component:default/Not A Valid Name!: `metadata.name` is not valid" in out, out
    assert f"{tmp_path / 'cat' / 'malformed.yaml'}:3: YAML syntax error" in out, out
    assert f"{tmp_path / 'cat' / 'loop' / 'loop.yaml'}:7: Location cycle: " in out, out
    assert "problems: 3" in out and "loaded:   5 entities" in out, out

    async with sup.sdk_stdio_client(stagedoor_bin, sup.base_env(), "legacy", tmp_path / "stdio.log",
                                    extra_args=["--catalog", str(root)]) as client:
        status = await call(client, "check_catalog", {"limit": 2})
        assert status["totalProblems"] == 3 and status["truncated"] is True and len(status["problems"]) == 2
        status = await call(client, "check_catalog", {})
        where = {(Path(p["file"]).name, p.get("line")) for p in status["problems"]}
        assert where == {("bad.yaml", 4), ("malformed.yaml", 3), ("loop.yaml", 7)}, status["problems"]
        page = await call(client, "search_catalog", {"kind": "Component"})
        assert {i["ref"] for i in page["items"]} == {"component:default/good-service", "component:default/fine-service"}
        team = await call(client, "get_entity", {"entityRef": "group:team-a"})
        assert {r["ref"] for r in team["relations"]["ownerOf"]} == {"component:default/good-service",
                                                                     "component:default/fine-service"}


async def test_placeholders_resolve_from_relative_files_only(stagedoor_bin, tmp_path) -> None:
    root = tmp_path / "ph"
    write(root, "specs/pets.yaml", "openapi: 3.0.0\ninfo: {title: Pets, version: '1'}\npaths: {}\n")
    write(root, "specs/extra.json", '{"tier": "gold", "regions": ["eu", "us"]}')
    write(root, "catalog-info.yaml",
          "apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: pets\nspec:\n  type: openapi\n"
          "  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ./specs/pets.yaml\n"
          "  support:\n    $json: ./specs/extra.json\n"
          "---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: remote\nspec:\n  type: openapi\n"
          "  lifecycle: production\n  owner: team-a\n  definition:\n    $text: https://example.com/openapi.yaml\n"
          "---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: escape\nspec:\n  type: openapi\n"
          "  lifecycle: production\n  owner: team-a\n  definition:\n    $text: ../../etc/passwd\n")
    async with sup.sdk_stdio_client(stagedoor_bin, sup.base_env(), "2026-07-28", tmp_path / "stdio.log",
                                    extra_args=["--catalog", str(root)]) as client:
        pets = await call(client, "get_entity", {"entityRef": "api:pets"})
        assert pets["entity"]["spec"]["definition"] == "openapi: 3.0.0\ninfo: {title: Pets, version: '1'}\npaths: {}\n"
        assert pets["entity"]["spec"]["support"] == {"tier": "gold", "regions": ["eu", "us"]}
        status = await call(client, "check_catalog", {})
        msgs = {p.get("line"): p["message"] for p in status["problems"]}
        assert "is a URL" in msgs[23] and "api:default/remote" in msgs[23], msgs
        assert "outside the catalog root" in msgs[34] or "cannot read" in msgs[34], msgs
        missing = await client.call_tool("get_entity", {"entityRef": "api:remote"})
        assert missing.is_error


# --------------------------------------------------------------------------- docs and templates from files

BOOKING_DOCS = EXAMPLE / "components" / "booking-service"


async def test_example_docs_are_read_from_the_mkdocs_sources(stagedoor_http) -> None:
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(EXAMPLE)])
    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        site = await call(client, "get_techdocs", {"entityRef": "booking-service"})
        assert site["siteName"] == "Booking service" and site["pageSource"] == "navigation", site
        assert [(p["path"], p["title"], p.get("section")) for p in site["pages"]] == [
            ("index.html", "Overview", None),
            ("architecture/index.html", "Architecture", None),
            ("runbook/index.html", "Runbook", None),
            ("guides/local-development/index.html", "Local development", "Guides"),
            ("guides/releasing/index.html", "Releasing", "Guides"),  # nav entry without a title: the page's #
        ], site["pages"]
        assert "build" not in site, "nothing is built in local mode"
        page = await call(client, "get_techdocs_page", {"entityRef": "booking-service", "path": "guides/local-development"})
        source = (BOOKING_DOCS / "docs" / "guides" / "local-development.md").read_text()
        assert page["title"] == "Running the booking service locally", page
        assert [h["anchor"] for h in page["headings"]] == ["running-the-booking-service-locally", "test-data"]
        # The admonition's title and body are there, its indented body is not a code block.
        assert "> **Seat holds expire**\n>\n> Holds last ten minutes" in page["markdown"], page["markdown"]
        assert "```sh\ndocker compose up -d bookings-db fare-engine-stub" in page["markdown"], page["markdown"]
        assert "make seed" in source and "`make seed` loads two islands" in page["markdown"]
        # The link to another page's section is a site path that get_techdocs_page accepts.
        link = "runbook/index.html#holds-are-not-expiring"
        assert f"]({link})" in page["markdown"], page["markdown"]
        section = await call(client, "get_techdocs_page", {"entityRef": "booking-service", "path": link})
        assert section["section"] == "holds-are-not-expiring"
        assert section["markdown"].startswith("## Holds are not expiring") and "Duplicate" not in section["markdown"]
        missing = await client.call_tool("get_techdocs_page", {"entityRef": "booking-service", "path": "nope"})
        assert missing.is_error and "guides/releasing/index.html (Releasing)" in sup.text_of(missing)
        no_docs = await client.call_tool("get_techdocs", {"entityRef": "fare-engine"})
        assert no_docs.is_error and "no `backstage.io/techdocs-ref`" in sup.text_of(no_docs)


async def test_example_template_is_described_and_checked_from_its_file(stagedoor_http) -> None:
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(EXAMPLE)])
    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        listed = await call(client, "list_templates", {"type": "service"})
        assert [t["ref"] for t in listed["items"]] == ["template:default/new-service"], listed
        form = await call(client, "get_template", {"templateRef": "new-service"})
        assert form["requiredWithoutDefault"] == ["name", "owner"], form
        assert [f["name"] for f in form["fields"]] == ["name", "owner", "system"]
        owner = next(f for f in form["fields"] if f["name"] == "owner")
        assert owner["guidance"]["tool"] == "search_catalog", owner
        bad = await call(client, "validate_template_values", {"templateRef": "new-service",
                                                               "values": {"name": "X!", "colour": "red"}})
        assert not bad["valid"], bad
        assert {(e["path"], e["keyword"]) for e in bad["errors"]} == {
            ("/name", "pattern"), ("/owner", "required"), ("/colour", "unknown")}, bad["errors"]
        good = await call(client, "validate_template_values", {"templateRef": "new-service",
                                                                "values": {"name": "seat-map", "owner": "group:ops-team"}})
        assert good["valid"] and good["values"]["system"] == "booking", good
        # Running needs a live Backstage: the tool is not there at all.
        names = {t["name"] for t in await sup.list_all_tools(client)}
        assert not names & {"run_template", "dry_run_template", "list_tasks", "get_task_status", "cancel_task"}, names
        # Document search is answered from the local files.
        assert "search" in names, names


def test_inspector_cli_reads_local_docs_over_stdio(inspector_cli, stagedoor_bin) -> None:
    r = inspector_cli([str(stagedoor_bin), "serve", "--catalog", str(EXAMPLE)], "--method", "tools/call",
                      "--tool-name", "get_techdocs_page", "--tool-arg", "entityRef=booking-service",
                      "--tool-arg", "path=runbook", "--tool-arg", "section=database-failover",
                      config={"env": sup.base_env()})
    assert r.rc == 0, r.describe()
    sc = r.json.get("structuredContent") if isinstance(r.json, dict) else None
    assert sc and sc["markdown"].startswith("## Database failover"), r.describe()
    assert "idempotency key" in sc["markdown"], sc


async def test_docs_sources_that_cannot_be_read_are_reported_by_check(stagedoor_bin, stagedoor_http, tmp_path) -> None:
    root = tmp_path / "nodocs"
    write(root, "team/catalog-info.yaml", GROUP)
    svc = write(root, "svc/catalog-info.yaml",
                component("undocumented").replace("  title: A service\n", "  title: A service\n  annotations:\n"
                                                  "    backstage.io/techdocs-ref: dir:./handbook\n"))
    p = subprocess.run([str(stagedoor_bin), "check", "--catalog", str(root)], capture_output=True, text=True,
                       timeout=60, env=sup.base_env(), stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "problems: 1" in p.stdout, p.stdout
    assert f"{svc}:1: component:default/undocumented: TechDocs: " in p.stdout and "handbook" in p.stdout, p.stdout
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(root)])
    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        status = await call(client, "check_catalog", {})
        assert status["totalProblems"] == 1 and "TechDocs" in status["problems"][0]["message"], status
        # Once the docs exist, the problem is gone and the docs are served.
        write(root, "svc/handbook/mkdocs.yml", "site_name: Handbook\n")
        write(root, "svc/handbook/docs/index.md", "# Handbook\n")
        assert (await call(client, "check_catalog", {}))["totalProblems"] == 0
        assert (await call(client, "get_techdocs", {"entityRef": "undocumented"}))["siteName"] == "Handbook"


async def test_a_docs_edit_shows_on_the_next_call_and_voids_old_cursors(stagedoor_http, tmp_path) -> None:
    root = tmp_path / "docs"
    write(root, "team/catalog-info.yaml", GROUP)
    write(root, "svc/catalog-info.yaml",
          component("docs-service", extra="").replace("  title: A service\n",
                                                      "  title: A service\n  annotations:\n"
                                                      "    backstage.io/techdocs-ref: dir:.\n"))
    write(root, "svc/mkdocs.yml", "site_name: Docs service\n")
    page = write(root, "svc/docs/index.md", "# Home\n\n" + "Old words. " * 200 + "\n")
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(root)])
    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        first = await call(client, "get_techdocs_page", {"entityRef": "docs-service", "maxChars": 500})
        assert "Old words." in first["markdown"] and first.get("nextCursor"), first
        await _sleep(0.05)
        page.write_text("# Home\n\nNew words.\n\n## Added\n")
        again = await call(client, "get_techdocs_page", {"entityRef": "docs-service"})
        assert "New words." in again["markdown"] and [h["anchor"] for h in again["headings"]] == ["home", "added"]
        stale = await client.call_tool("get_techdocs_page", {"entityRef": "docs-service",
                                                             "cursor": first["nextCursor"]})
        assert stale.is_error and "rebuilt since this cursor" in sup.text_of(stale), sup.text_of(stale)
        # A page added to the docs directory is listed at once (no nav: mkdocs' file order).
        write(root, "svc/docs/faq.md", "# Questions\n")
        site = await call(client, "get_techdocs", {"entityRef": "docs-service"})
        assert [(p["path"], p["title"]) for p in site["pages"]] == [("index.html", "Home"),
                                                                    ("faq/index.html", "Questions")], site
        # A file name with a space: listed by its file name, reachable by its URL form too.
        write(root, "svc/docs/on call.md", "# Pager duty\n")
        write(root, "svc/docs/index.md", "# Home\n\nSee [on call](on%20call.md).\n")
        site = await call(client, "get_techdocs", {"entityRef": "docs-service"})
        assert ("on call/index.html", "Pager duty") in [(p["path"], p["title"]) for p in site["pages"]], site
        home = await call(client, "get_techdocs_page", {"entityRef": "docs-service"})
        assert "[on call](on%20call/index.html)" in home["markdown"], home["markdown"]
        pager = await call(client, "get_techdocs_page", {"entityRef": "docs-service", "path": "on%20call/index.html"})
        assert pager["path"] == "on call/index.html" and pager["title"] == "Pager duty", pager


# --------------------------------------------------------------------------- live edits


async def test_an_edit_is_visible_to_the_next_call_within_two_seconds(stagedoor_http, tmp_path) -> None:
    root = tmp_path / "live"
    svc = write(root, "svc/catalog-info.yaml", component("live-service", title="Before"))
    write(root, "team/catalog-info.yaml", GROUP)
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(root)])

    async def title(client: Any) -> str | None:
        r = await client.call_tool("get_entity", {"entityRef": "component:live-service"})
        return None if r.is_error else r.structured_content["entity"]["metadata"].get("title")

    async def until(client: Any, check, what: str, limit_s: float = 2.0) -> float:
        start = time.monotonic()
        while True:
            if await check(client):
                return time.monotonic() - start
            if time.monotonic() - start > limit_s:
                pytest.fail(f"{what}: not visible within {limit_s} s\n{srv.stderr_text()}", pytrace=False)
            await _sleep(0.05)

    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        assert await title(client) == "Before"
        # 1. An edit.
        svc.write_text(component("live-service", title="After"))
        took = await until(client, lambda c: _eq(title(c), "After"), "edited title")
        # 2. A new file in a watched directory.
        write(root, "new/catalog-info.yaml", component("brand-new"))
        await until(client, lambda c: _ok(c, "component:brand-new"), "new file")
        # 3. A broken edit keeps the last good version and says so.
        svc.write_text("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: [\n")

        async def reported(c: Any) -> bool:
            s = (await c.call_tool("check_catalog", {})).structured_content
            return any("last good version" in p["message"] for p in s["problems"])

        await until(client, reported, "broken file reported")
        assert await title(client) == "After"
        # 4. A deletion removes the entity.
        (root / "new" / "catalog-info.yaml").unlink()
        await until(client, lambda c: _not(_ok(c, "component:brand-new")), "deleted file")
    assert "catalog reloaded" in srv.stderr_text()
    assert took < 2.0


async def test_edits_below_a_root_location_are_watched_too(stagedoor_http, tmp_path) -> None:
    root = tmp_path / "loc"
    write(root, "all.yaml", "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: root\n"
                            "spec:\n  targets:\n    - ./teams/team.yaml\n    - ./services/*/catalog-info.yaml\n")
    write(root, "teams/team.yaml", GROUP)
    svc = write(root, "services/a/catalog-info.yaml", component("svc-a", title="Before"))
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(root / "all.yaml")])
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        async def seen(check) -> None:
            start = time.monotonic()
            while not await check():
                assert time.monotonic() - start < 2.0, f"not visible within 2 s\n{srv.stderr_text()}"
                await _sleep(0.05)

        async def title() -> str:
            return (await call(client, "get_entity", {"entityRef": "component:svc-a"}))["entity"]["metadata"]["title"]

        assert await title() == "Before"
        svc.write_text(component("svc-a", title="After"))
        await seen(lambda: _eq(title(), "After"))
        # A new directory matching the Location's glob target.
        write(root, "services/b/catalog-info.yaml", component("svc-b"))
        await seen(lambda: _ok(client, "component:svc-b"))
        team = await call(client, "get_entity", {"entityRef": "group:team-a"})
        assert {r["ref"] for r in team["relations"]["ownerOf"]} == {"component:default/svc-a", "component:default/svc-b"}


async def _sleep(s: float) -> None:
    import anyio
    await anyio.sleep(s)


async def _eq(coro, want: Any) -> bool:
    return (await coro) == want


async def _ok(client: Any, ref: str) -> bool:
    return not (await client.call_tool("get_entity", {"entityRef": ref})).is_error


async def _not(coro) -> bool:
    return not await coro


def test_nothing_to_serve_is_a_usage_error(stagedoor_bin) -> None:
    env = {k: v for k, v in sup.base_env().items() if not k.startswith("BACKSTAGE_")}
    p = subprocess.run([str(stagedoor_bin), "serve", "--transport", "http", "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 64, p.stderr
    assert "--catalog" in p.stderr, p.stderr
    p = subprocess.run([str(stagedoor_bin), "serve", "--catalog", "/no/such/catalog"], capture_output=True,
                       text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert p.returncode == 64 and "catalog.paths" in p.stderr and "does not exist" in p.stderr, p.stderr
    assert os.path.exists(EXAMPLE)


async def test_local_search_finds_techdocs_by_body_words_and_follows_edits(stagedoor_http, tmp_path) -> None:
    import shutil
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, root)
    srv = stagedoor_http(base_url="", extra_args=["--catalog", str(root)])
    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        await sup.list_all_tools(client)  # results are then validated against outputSchema
        # Words of a section's body (not its heading), stemmed: "answer" finds "answers".
        found = await call(client, "search", {"term": "503 answer seconds", "types": ["techdocs"]})
        hit = found["items"][0]
        assert hit["type"] == "techdocs" and hit["entityRef"] == "component:default/booking-service", found
        assert hit["nextTool"] == "get_techdocs_page" and hit["path"] == "runbook/", hit
        assert hit["section"] == "database-failover" and "**" in hit["text"], hit
        page = await call(client, "get_techdocs_page", {"entityRef": hit["entityRef"], "path": hit["path"],
                                                         "section": hit["section"]})
        assert "failover" in json.dumps(page).lower(), page
        # Entities are documents too, pointing at get_entity.
        ent = await call(client, "search", {"term": "booking", "types": ["software-catalog"]})
        assert ent["items"] and all(i["nextTool"] == "get_entity" for i in ent["items"]), ent
        # An edit to a docs file is searchable within 2 s.
        runbook = root / "components" / "booking-service" / "docs" / "runbook.md"
        runbook.write_text(runbook.read_text() + "\n## Tide tables\n\nConsult the quartermaster before sailing.\n")
        started = time.monotonic()
        while True:
            got = await call(client, "search", {"term": "quartermaster"})
            if got["items"]:
                break
            assert time.monotonic() - started < 2.0, "the edit was not searchable within 2 s"
            time.sleep(0.1)
        assert got["items"][0]["section"] == "tide-tables", got
