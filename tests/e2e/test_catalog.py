"""The catalog tools against the real Backstage testbed, through real MCP clients.

Oracles are independent of stagedoor: the fixture files (`testbed/catalog/expected-*.txt`,
generated from the catalog YAML) and, for filter semantics, Backstage's own REST API
queried directly with the testbed token.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import call, call_error

pytestmark = [pytest.mark.anyio, pytest.mark.testbed, pytest.mark.compat]

REPO = Path(__file__).resolve().parents[2]
RELATIONS_FILE = REPO / "testbed" / "catalog" / "expected-relations.txt"
PAYMENT = "component:default/payment-service"

# (transport, SDK mode): both transports, both protocol eras.
WIRES = [("stdio", "legacy"), ("stdio", "2026-07-28"), ("http", "legacy"), ("http", "2026-07-28")]


def expected_relations() -> dict[str, dict[str, set[str]]]:
    rels: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for line in RELATIONS_FILE.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            src, typ, dst = parts
            rels[src][typ].add(dst)
    return rels


async def search_all(client: Any, args: dict[str, Any], limit: int) -> tuple[list[str], list[int]]:
    """Follows nextCursor to the end; returns every ref seen (in order) and each page's totalItems."""
    refs: list[str] = []
    totals: list[int] = []
    cursor = None
    for _ in range(200):
        page_args = {**args, "limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await call(client, "search_catalog", page_args)
        assert len(page["items"]) <= limit, page
        refs += [i["ref"] for i in page["items"]]
        totals.append(page["totalItems"])
        cursor = page.get("nextCursor")
        if not cursor:
            return refs, totals
    raise AssertionError("search_catalog pagination did not end")


def backstage_refs(testbed: Any, filters: list[str], term: str | None = None) -> set[str]:
    """The same question asked of Backstage's REST API directly: the oracle for filters."""
    params: list[tuple[str, str]] = [("filter", f) for f in filters]
    params += [("fields", "kind,metadata.namespace,metadata.name"), ("limit", "1000")]
    if term:
        params += [("fullTextFilterTerm", term),
                   ("fullTextFilterFields", "metadata.name,metadata.title,metadata.description,metadata.tags")]
    r = httpx.get(f"{testbed.base_url}/api/catalog/entities/by-query", params=params,
                  headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)
    r.raise_for_status()
    body = r.json()
    assert "nextCursor" not in body.get("pageInfo", {}), "oracle query needs a bigger limit"
    return {f"{e['kind'].lower()}:{e['metadata']['namespace']}/{e['metadata']['name']}" for e in body["items"]}


# --------------------------------------------------------------------------- search_catalog


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_search_paginates_through_every_entity_exactly_once(connect, testbed, transport, mode) -> None:
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)  # the SDK then validates results against outputSchema
        refs, totals = await search_all(client, {}, limit=7)
    dupes = [r for r, n in Counter(refs).items() if n > 1]
    assert not dupes, f"entities returned twice: {dupes}"
    expected = set(testbed.expected_refs)
    missing = expected - set(refs)
    assert not missing, f"fixture entities never returned: {sorted(missing)}"
    # Backstage adds exactly one generated Location for the configured root location.
    extra = set(refs) - expected
    assert len(extra) == 1 and next(iter(extra)).startswith("location:default/generated-"), extra
    assert set(totals) == {len(refs)}, f"totalItems {set(totals)} vs {len(refs)} returned"
    assert len(refs) > 7 * 5, "the walk must span many pages"


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_free_text_finds_entities_by_description_words(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        # Words that appear only in descriptions of the fixtures, not in names or titles.
        page = await call(client, "search_catalog", {"query": "idempotency", "limit": 50})
        refs = {i["ref"] for i in page["items"]}
        assert PAYMENT in refs and "api:default/payments-openapi" in refs, refs
        for item in page["items"]:
            hay = " ".join([item["ref"], item.get("title", ""), item.get("description", ""),
                            " ".join(item.get("tags", []))]).lower()
            assert "idempotency" in hay, f"{item['ref']} does not mention the term: {item}"
        assert page["totalItems"] == len(page["items"]) and "nextCursor" not in page
        # Case-insensitive, and a word found nowhere finds nothing.
        upper = await call(client, "search_catalog", {"query": "IDEMPOTENCY", "limit": 50})
        assert {i["ref"] for i in upper["items"]} == refs
        none = await call(client, "search_catalog", {"query": "zzz-no-such-word-zzz"})
        assert none["items"] == [] and none["totalItems"] == 0


def word_oracle(testbed: Any, query: str, filters: list[str]) -> list[str]:
    """Word-wise search computed here from every entity Backstage returns: each query word must
    start a word of the name, title, tags or description; ranked by name (4) > title (3) >
    tags (2) > description (1), doubled for an exact word, summed over the words; ties by name, ref."""
    import re
    params: list[tuple[str, str]] = [("filter", f) for f in filters] + [("limit", "1000")]
    r = httpx.get(f"{testbed.base_url}/api/catalog/entities/by-query", params=params,
                  headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)
    r.raise_for_status()
    split = lambda t: [w for w in re.split(r"[^0-9a-z]+", (t or "").lower()) if w]  # noqa: E731
    words = list(dict.fromkeys(split(query)))
    scored = []
    for e in r.json()["items"]:
        m = e["metadata"]
        terms: dict[str, int] = {}
        for text, tier in [(m.get("name"), 4), (m.get("title"), 3), (" ".join(m.get("tags", [])), 2),
                           (m.get("description"), 1)]:
            for w in split(text):
                terms[w] = max(terms.get(w, 0), tier)
        total = 0
        for w in words:
            best = max([t * 2 if term == w else t for term, t in terms.items() if term.startswith(w)], default=0)
            if not best:
                break
            total += best
        else:
            ref = f"{e['kind'].lower()}:{m.get('namespace', 'default')}/{m['name']}"
            scored.append((-total, m["name"].lower(), ref.lower(), ref))
    return [s[3] for s in sorted(scored)]


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_free_text_is_word_wise_prefix_and_ranked_over_backstage(connect, testbed, transport, mode) -> None:
    async with connect(transport, mode) as client:
        for query, filters, args in [("service payment", [], {}), ("pay", ["kind=api"], {"kind": "API"}),
                                     ("team", ["kind=group"], {"kind": "group"}),
                                     ("order service", [], {})]:
            want = word_oracle(testbed, query, filters)
            assert want, f"{query}: the oracle finds nothing; the case proves nothing"
            refs, totals = await search_all(client, {"query": query, **args}, limit=2)
            assert refs == want, f"{query} {args}: stagedoor {refs} != oracle {want}"
            assert set(totals) == {len(want)}, totals
        page = await call(client, "search_catalog", {"query": "payment service"})
        assert page["items"][0]["ref"] == PAYMENT, page
        # An empty result says what would have matched.
        none = await call(client, "search_catalog", {"query": "paymnet"})
        assert none["totalItems"] == 0 and none["hints"]["didYouMean"].startswith("payment"), none
        none = await call(client, "search_catalog", {"query": "payment zzzqqq"})
        alone = {w["word"]: w["matches"] for w in none["hints"]["wordsAlone"]}
        assert alone["payment"] > 0 and alone["zzzqqq"] == 0, none
        none = await call(client, "search_catalog", {"kind": "service"})
        assert "`type`" in none["hints"]["filters"][0], none


@pytest.mark.parametrize("transport,mode", [("http", "legacy"), ("stdio", "2026-07-28")])
async def test_filters_combine_like_backstage(connect, testbed, transport, mode) -> None:
    cases: list[tuple[dict[str, Any], list[str], str | None]] = [
        ({"kind": "Component", "owner": "payments-team", "lifecycle": "production"},
         ["kind=component,relations.ownedBy=group:default/payments-team,spec.lifecycle=production"], None),
        ({"kind": "API", "type": "openapi"}, ["kind=api,spec.type=openapi"], None),
        ({"system": "payments", "kind": "Component"},
         ["kind=component,relations.partOf=system:default/payments"], None),
        ({"tags": ["payments", "graphql"]}, ["metadata.tags=payments,metadata.tags=graphql"], None),
        ({"namespace": "default", "kind": "group", "query": "team"},
         ["kind=group,metadata.namespace=default"], "team"),
        # Raw filter expressions are ORed with each other and ANDed with the structured filters.
        ({"filter": ["kind=api", "kind=resource"], "owner": "group:default/payments-team"},
         ["kind=api,relations.ownedBy=group:default/payments-team",
          "kind=resource,relations.ownedBy=group:default/payments-team"], None),
    ]
    async with connect(transport, mode) as client:
        for args, oracle_filters, term in cases:
            page = await call(client, "search_catalog", {**args, "limit": 100})
            got = {i["ref"] for i in page["items"]}
            want = backstage_refs(testbed, oracle_filters, term)
            assert want, f"oracle found nothing for {args}; the case proves nothing"
            assert got == want, f"{args}: stagedoor {sorted(got)} != Backstage {sorted(want)}"
            assert page["totalItems"] == len(want)
        # Every structured filter narrows: the combination is no bigger than any part.
        both = await call(client, "search_catalog", {"kind": "Component", "lifecycle": "deprecated"})
        assert all(i["kind"] == "Component" and i["lifecycle"] == "deprecated" for i in both["items"]), both
        assert both["items"], "fixtures have a deprecated component"


async def test_search_rejects_bad_arguments(connect) -> None:
    async with connect("stdio", "legacy") as client:
        assert "limit" in await call_error(client, "search_catalog", {"limit": 500})
        assert "cursor" in await call_error(client, "search_catalog", {"cursor": "garbage!"})
        assert "qeury" in await call_error(client, "search_catalog", {"qeury": "x"})
        assert "cannot express" in await call_error(client, "search_catalog", {"owner": "a,kind=user"})


# --------------------------------------------------------------------------- get_entity


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_get_entity_resolves_every_relation_type_with_titles(connect, transport, mode) -> None:
    rels = expected_relations()
    # payment-service carries every component relation type; the group and the user carry
    # the organisational ones (parentOf/childOf, hasMember/memberOf, ownerOf).
    subjects = [PAYMENT, "group:default/payments-team", "group:default/engineering"]
    subjects += [next(s for s, r in rels.items() if s.startswith("user:") and "memberOf" in r)]
    seen_types: set[str] = set()
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)
        for ref in subjects:
            out = await call(client, "get_entity", {"entityRef": ref})
            assert out["ref"] == ref
            assert "relations" not in out["entity"], "raw relations are replaced by the resolved ones"
            got = {t: {x["ref"] for x in targets} for t, targets in out["relations"].items()}
            want = {t: set(v) for t, v in rels[ref].items()}
            assert got == want, f"{ref}: relations {got} != fixtures {want}"
            for t, targets in out["relations"].items():
                for x in targets:
                    assert x.get("title"), f"{ref} {t} {x['ref']} has no title"
                    assert not x.get("missing"), x
            seen_types |= set(got)
    assert seen_types >= {"ownedBy", "ownerOf", "dependsOn", "dependencyOf", "providesApi", "apiProvidedBy",
                          "consumesApi", "apiConsumedBy", "partOf", "hasPart", "memberOf", "hasMember",
                          "parentOf", "childOf"} - {"apiProvidedBy", "apiConsumedBy"}, seen_types
    assert {"dependsOn", "dependencyOf", "providesApi", "consumesApi", "partOf", "hasPart", "ownedBy"} <= set(
        expected_relations()[PAYMENT])


async def test_get_entity_is_lenient_and_suggests_close_matches(connect) -> None:
    async with connect("http", "legacy") as client:
        for args in ({"entityRef": "component:default/payment-service"},
                     {"entityRef": "Component:payment-service"},
                     {"entityRef": "payment-service", "kind": "component"},
                     {"entityRef": "payment-service"},
                     {"entityRef": "default/payment-service", "kind": "Component"}):
            out = await call(client, "get_entity", args)
            assert out["ref"] == PAYMENT, (args, out["ref"])
        out = await call(client, "get_entity", {"entityRef": "api:payments-openapi", "fields": ["spec.type"]})
        assert out["entity"] == {"spec": {"type": "openapi"}}, out["entity"]
        assert out["relations"]["apiProvidedBy"][0]["ref"] == PAYMENT
        msg = await call_error(client, "get_entity", {"entityRef": "component:default/payment-servce"})
        assert "component:default/payment-servce" in msg and PAYMENT in msg, msg
        msg = await call_error(client, "get_entity", {"entityRef": "no-such-thing-anywhere"})
        assert "no-such-thing-anywhere" in msg and "search_catalog" in msg, msg
        msg = await call_error(client, "get_entity", {"entityRef": "a:b:c/d"})
        assert "entityRef" in msg, msg


# --------------------------------------------------------------------------- get_entities


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_get_entities_reports_missing_and_invalid(connect, transport, mode) -> None:
    refs = [PAYMENT, "api:payments-openapi", "component:default/ghost-service", "::"]
    async with connect(transport, mode) as client:
        out = await call(client, "get_entities", {"entityRefs": refs, "fields": ["kind", "metadata.name"]})
    names = [e["metadata"]["name"] for e in out["entities"]]
    assert names == ["payment-service", "payments-openapi"], out
    assert all(set(e) <= {"kind", "metadata"} for e in out["entities"]), "fields were not applied"
    assert out["missing"] == ["component:default/ghost-service"], out
    assert [i["input"] for i in out["invalid"]] == ["::"], out


# --------------------------------------------------------------------------- get_related_entities


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_related_entities_walk_is_bounded_and_acyclic(connect, transport, mode) -> None:
    rels = expected_relations()
    async with connect(transport, mode) as client:
        one = await call(client, "get_related_entities", {"entityRef": PAYMENT, "relations": ["dependsOn"]})
        assert {e["ref"] for e in one["entities"]} == rels[PAYMENT]["dependsOn"]
        assert all(e["depth"] == 1 for e in one["entities"])
        # Two hops along ownedBy/ownerOf: the team, then everything the team owns.
        two = await call(client, "get_related_entities",
                         {"entityRef": PAYMENT, "relations": ["ownedBy", "ownerOf"], "depth": 2})
        team = next(iter(rels[PAYMENT]["ownedBy"]))
        reached = {e["ref"]: e["depth"] for e in two["entities"]}
        assert reached[team] == 1
        for owned in rels[team]["ownerOf"] - {PAYMENT}:
            assert reached.get(owned) == 2, f"{owned} not reached at depth 2: {reached}"
        assert PAYMENT not in reached, "the root is not repeated (cycle back through ownerOf)"
        assert len(reached) == len(two["entities"]), "each entity appears once"
        for e in two["edges"]:
            assert e["target"] in reached or e["target"] == PAYMENT
        small = await call(client, "get_related_entities",
                           {"entityRef": "group:engineering", "depth": 3, "maxEntities": 3})
        assert len(small["entities"]) == 3 and small["truncated"] is True
        msg = await call_error(client, "get_related_entities", {"entityRef": PAYMENT, "relations": ["friendOf"]})
        assert "friendOf" in msg and "dependsOn" in msg


# --------------------------------------------------------------------------- list_entity_facets


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_facets_count_the_fixtures(connect, testbed, transport, mode) -> None:
    by_kind = Counter(r.split(":")[0] for r in testbed.expected_refs)
    by_kind["location"] += 1  # the generated root Location
    async with connect(transport, mode) as client:
        out = await call(client, "list_entity_facets", {"facets": ["kind", "spec.lifecycle"]})
        kinds = {v["value"].lower(): v["count"] for v in out["facets"][0]["values"]}
        assert out["facets"][0]["field"] == "kind"
        assert kinds == dict(by_kind), f"{kinds} != {dict(by_kind)}"
        counts = [v["count"] for v in out["facets"][0]["values"]]
        assert counts == sorted(counts, reverse=True), "most frequent first"
        apis = await call(client, "list_entity_facets", {"facets": ["spec.type"], "kind": "API"})
        types = {v["value"] for v in apis["facets"][0]["values"]}
        assert {"openapi", "asyncapi", "graphql", "grpc"} <= types, types
        assert sum(v["count"] for v in apis["facets"][0]["values"]) == by_kind["api"]


# --------------------------------------------------------------------------- Inspector CLI


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_inspector_calls_every_catalog_tool(inspector_cli, request, stagedoor_bin, stdio_env, transport) -> None:
    if transport == "http":
        target, kw = request.getfixturevalue("testbed_server").url, {}
    else:
        target = [str(stagedoor_bin), "serve", "--transport", "stdio"]
        kw = {"config": {"env": stdio_env}}
    found = sup.inspector_tool_call(inspector_cli, target, "search_catalog", {"query": "refund", "kind": "Component"}, **kw)
    assert PAYMENT in {i["ref"] for i in found["items"]}, found
    ent = sup.inspector_tool_call(inspector_cli, target, "get_entity", {"entityRef": PAYMENT}, **kw)
    assert ent["entity"]["metadata"]["name"] == "payment-service"
    assert {x["ref"] for x in ent["relations"]["providesApi"]} == expected_relations()[PAYMENT]["providesApi"]
    many = sup.inspector_tool_call(inspector_cli, target, "get_entities",
                           {"entityRefs": [PAYMENT, "system:default/payments"]}, **kw)
    assert [e["kind"] for e in many["entities"]] == ["Component", "System"], many
    rel = sup.inspector_tool_call(inspector_cli, target, "get_related_entities",
                          {"entityRef": "system:payments", "relations": ["hasPart"]}, **kw)
    assert PAYMENT in {e["ref"] for e in rel["entities"]}, rel
    fac = sup.inspector_tool_call(inspector_cli, target, "list_entity_facets", {"facets": ["kind"]}, **kw)
    assert any(v["value"] == "Component" and v["count"] >= 10 for v in fac["facets"][0]["values"]), fac
    conn = sup.inspector_tool_call(inspector_cli, target, "check_connection", {}, **kw)
    assert conn["reachable"] is True and conn["plugins"]["catalog"]["ok"] is True
