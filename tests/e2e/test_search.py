"""The `search` tool against the real Backstage testbed's search engine, through real MCP
clients.

Backstage fills its search index on a schedule (about 20 s after the testbed starts), so the
module first waits (bounded) until both document types answer. Oracles are independent of
stagedoor: the fixture files (which words occur in which TechDocs sources and entity
descriptions), `expected-entities.txt`, and Backstage's REST APIs queried directly.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import call, call_error
from test_catalog import backstage_refs

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "testbed" / "catalog"
INDEX_WAIT_S = 60.0
# A word only in TechDocs sources, and one only in catalog YAML (checked below, not assumed).
DOCS_WORD = "kubectl"
CATALOG_WORD = "gradient"


def search_rest(testbed: Any, **params: Any) -> httpx.Response:
    q: list[tuple[str, str]] = []
    for k, v in params.items():
        if k == "types":
            q += [(f"types[{i}]", t) for i, t in enumerate(v)]
        else:
            q.append((k, str(v)))
    return httpx.get(f"{testbed.base_url}/api/search/query", params=q,
                     headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)


@pytest.fixture(scope="module")
def search_index(testbed: Any) -> None:
    """Waits (at most INDEX_WAIT_S) until Backstage's index answers for both types."""
    deadline = time.monotonic() + INDEX_WAIT_S
    last = ""
    while time.monotonic() < deadline:
        ready = True
        for t in ("software-catalog", "techdocs"):
            r = search_rest(testbed, term="payment", types=[t])
            if r.status_code != 200 or not r.json().get("results"):
                ready, last = False, f"{t}: {r.status_code} {r.text[:200]}"
                break
        if ready:
            return
        time.sleep(2)
    pytest.fail(f"search index not ready after {INDEX_WAIT_S}s: {last}")


def docs_with(word: str) -> set[str]:
    """Entities whose TechDocs sources mention `word` (the docs dir sits beside catalog-info.yaml)."""
    out = set()
    for md in CATALOG.rglob("docs/*.md"):
        if word in md.read_text().lower():
            out.add(f"component:default/{md.parent.parent.name}")
    return out


def yaml_mentions(word: str) -> bool:
    return any(word in y.read_text().lower() for y in CATALOG.rglob("*.yaml"))


async def search_all(client: Any, args: dict[str, Any]) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await call(client, "search", {**args, **({"cursor": cursor} if cursor else {})})
        hits += page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return hits
    raise AssertionError("search pagination did not end")


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_finds_a_techdocs_page_and_an_entity_by_words_only_they_contain(
        connect, testbed, search_index, transport, mode) -> None:
    docs = docs_with(DOCS_WORD)
    assert docs and not yaml_mentions(DOCS_WORD), f"{DOCS_WORD!r} must occur only in TechDocs sources"
    assert yaml_mentions(CATALOG_WORD) and not docs_with(CATALOG_WORD), f"{CATALOG_WORD!r} must be catalog-only"
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)
        page_hits = await search_all(client, {"term": DOCS_WORD, "limit": 100})
        assert page_hits and all(h["type"] == "techdocs" for h in page_hits), page_hits
        assert {h["entityRef"] for h in page_hits} == docs, page_hits
        runbooks = [h for h in page_hits if h["path"] == "runbook/"]
        assert runbooks, f"{DOCS_WORD} is in the runbooks: {page_hits}"
        for h in page_hits:
            assert h["nextTool"] == "get_techdocs_page"
            kind, ns_name = h["entityRef"].split(":", 1)
            ns, name = ns_name.split("/", 1)
            assert h["location"].startswith(f"/docs/{ns}/{kind}/{name}/{h['path']}"), h
            if "section" in h:
                assert h["location"].endswith(f"#{h['section']}"), h
        assert any(DOCS_WORD in h["text"].lower() for h in page_hits), "the extract shows the match"

        entity_hits = await search_all(client, {"term": CATALOG_WORD, "limit": 100})
        assert entity_hits and all(h["type"] == "software-catalog" for h in entity_hits), entity_hits
        want = backstage_refs(testbed, [], CATALOG_WORD)
        assert {h["entityRef"] for h in entity_hits} == want, f"search {entity_hits} vs catalog {want}"
        for h in entity_hits:
            assert h["nextTool"] == "get_entity" and f"**{CATALOG_WORD}" in h["text"].lower(), h
            ent = await call(client, "get_entity", {"entityRef": h["entityRef"]})
            assert ent["ref"] == h["entityRef"]


@pytest.mark.parametrize("transport,mode", [("http", "legacy"), ("stdio", "2026-07-28")])
async def test_types_filters_and_paging(connect, testbed, search_index, transport, mode) -> None:
    known = set(testbed.expected_refs)
    async with connect(transport, mode) as client:
        for t in ("software-catalog", "techdocs"):
            page = await call(client, "search", {"term": "payment", "types": [t], "limit": 20})
            assert page["items"] and all(h["type"] == t for h in page["items"]), (t, page)

        # Paging: small pages, followed to the end, give exactly what one big REST page gives.
        hits = await search_all(client, {"term": "payments", "types": ["software-catalog"], "limit": 3})
        rest = search_rest(testbed, term="payments", pageLimit=100, types=["software-catalog"]).json()
        assert "nextPageCursor" not in rest, "oracle page too small"
        assert [h["location"] for h in hits] == [r["document"]["location"] for r in rest["results"]]
        assert len(hits) > 3 * 2, "the walk must span several pages"
        assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
        for h in hits:
            assert h["entityRef"] in known, f"{h['entityRef']} is not a fixture entity"
            kind, rest_ref = h["entityRef"].split(":", 1)
            ns, name = rest_ref.split("/", 1)
            assert h["location"] == f"/catalog/{ns}/{kind}/{name}"

        apis = await search_all(client, {"term": "payments", "filters": {"kind": "API"}, "limit": 50})
        assert apis and all(h["entityRef"].startswith("api:") for h in apis), apis
        # A list of values is passed through as Backstage's own client sends it (how it filters
        # is up to the engine; the default Lunr engine treats it as a preference).
        both = await call(client, "search", {"term": "payments", "filters": {"kind": ["API", "System"]}, "limit": 50})
        direct = search_rest(testbed, term="payments", pageLimit=50, **{"filters[kind][0]": "API",
                                                                         "filters[kind][1]": "System"}).json()
        assert [h["location"] for h in both["items"]] == [r["document"]["location"] for r in direct["results"]]

        msg = await call_error(client, "search", {"term": "payments", "types": ["no-such-type"]})
        assert "types" in msg, msg
        assert "cursor" in await call_error(client, "search", {"term": "x", "cursor": "nope"})
        assert "limit" in await call_error(client, "search", {"term": "x", "limit": 101})


async def test_a_missing_index_says_so(stagedoor_http, fake_upstream) -> None:
    fake_upstream.mode = "json"
    fake_upstream.json_status = 500
    fake_upstream.json_body = {"error": {"name": "MissingIndexError", "message": "Missing index for techdocs"},
                               "request": {"method": "GET", "url": "/query"}, "response": {"statusCode": 500}}
    srv = stagedoor_http(base_url=fake_upstream.url, token="e2e-token")
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        msg = await call_error(client, "search", {"term": "runbook"})
    assert msg.startswith("The search index is not built yet"), msg
    assert "Retry in a minute" in msg
    assert fake_upstream.paths() and all(p.startswith("/api/search/query") for p in fake_upstream.paths())


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_inspector_calls_search(inspector_cli, request, stagedoor_bin, stdio_env, search_index, transport) -> None:
    if transport == "http":
        target, kw = request.getfixturevalue("testbed_server").url, {}
    else:
        target = [str(stagedoor_bin), "serve", "--transport", "stdio"]
        kw = {"config": {"env": stdio_env}}
    out = sup.inspector_tool_call(inspector_cli, target, "search", {"term": "runbook", "types": ["techdocs"]}, **kw)
    assert out["items"] and all(h["type"] == "techdocs" for h in out["items"]), out
    assert {h["entityRef"] for h in out["items"]} <= docs_with("runbook")
