"""Differential test: the testbed's catalog fixtures served two ways give the same answers.

One stagedoor serves the real Backstage testbed (which loaded `testbed/catalog/all.yaml`);
another serves the same file from disk with `--catalog`. The catalog tools, the API tools
(list_api_specs, get_api_spec in every view) and the template tools (list_templates,
get_template, validate_template_values) are called with the same arguments on both, through
the Python MCP SDK, and the structured results (or error texts) are compared field by field.
The only differences allowed are the ones only Backstage computes:

- `metadata.uid` and `metadata.etag` (database ids and hashes; the local catalog omits them);
- the `location:default/generated-<sha1>` entity Backstage adds for its app-config location;
- the absolute directory in the `backstage.io/managed-by-(origin-)location` annotations, which
  is compared relative to the catalog root (the testbed may run from another checkout);
- the value of a list's `nextCursor` (it wraps Backstage's own opaque catalog cursor): lists
  are walked page by page on each side and the pages compared, with the cursor's presence;
- for TechDocs (read from the mkdocs sources locally, from the site mkdocs built in Backstage):
  the build time, and blank lines in a page's Markdown (Python-Markdown makes a list item
  loose only from the first blank line on, CommonMark the whole list).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import REPO_ROOT, call

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

ROOT_FILE = REPO_ROOT / "testbed" / "catalog" / "all.yaml"
# The fixture manifest: the API and template cases below are derived from it, so a fixture
# added there is compared too, and one removed there cannot silently vanish from both sides.
FIXTURE_REFS = sup.parse_expected_entities(REPO_ROOT / "testbed" / "catalog" / "expected-entities.txt")
API_REFS = [r for r in FIXTURE_REFS if r.startswith("api:")]
TEMPLATE_REFS = [r for r in FIXTURE_REFS if r.startswith("template:")]
MANAGED = ("backstage.io/managed-by-location", "backstage.io/managed-by-origin-location")


@pytest.fixture(scope="module")
def local_server(stagedoor_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sup.ServerProcess]:
    srv = sup.start_stagedoor_http(stagedoor_bin, base_url="", token=None,
                                   log_dir=tmp_path_factory.mktemp("local-diff"),
                                   extra_args=["--catalog", str(ROOT_FILE)])
    yield srv
    srv.stop()
    assert not srv.alive(), f"stagedoor pid {srv.pid} did not exit"


@pytest.fixture(scope="module")
def generated(testbed: Any) -> dict[str, Any]:
    """The Location entity Backstage generates for its configured root location."""
    r = httpx.get(f"{testbed.base_url}/api/catalog/entities/by-query",
                  params=[("filter", "kind=location"), ("limit", "100")],
                  headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)
    r.raise_for_status()
    gen = [e for e in r.json()["items"] if e["metadata"]["name"].startswith("generated-")]
    assert len(gen) == 1, [e["metadata"]["name"] for e in r.json()["items"]]
    return gen[0]


def gen_ref(generated: dict[str, Any]) -> str:
    return f"location:default/{generated['metadata']['name']}"


def root_of(annotations: dict[str, str]) -> str:
    origin = annotations["backstage.io/managed-by-origin-location"]
    assert origin.startswith("file:") and origin.endswith("/all.yaml"), origin
    return origin[len("file:"):-len("all.yaml")]


def normalize(value: Any) -> Any:
    """Drops uid/etag and makes managed-by paths relative to the catalog root, anywhere."""
    value = copy.deepcopy(value)

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            meta = v.get("metadata")
            if isinstance(meta, dict):
                meta.pop("uid", None)
                meta.pop("etag", None)
                ann = meta.get("annotations")
                if isinstance(ann, dict) and "backstage.io/managed-by-origin-location" in ann:
                    root = root_of(ann)
                    for k in MANAGED:
                        if k in ann:
                            ann[k] = ann[k].replace(root, "<root>/")
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(value)
    return value


async def both(local: Any, remote: Any, name: str, args: dict[str, Any]) -> tuple[Any, Any]:
    return normalize(await call(local, name, args)), normalize(await call(remote, name, args))


def assert_same(what: str, got: Any, want: Any) -> None:
    if got != want:
        pytest.fail(f"{what}: local and Backstage differ\n--- local ---\n{json.dumps(got, indent=1)[:6000]}"
                    f"\n--- backstage ---\n{json.dumps(want, indent=1)[:6000]}", pytrace=False)


# How each side words a 400 it relays: Backstage's `InputError` is quoted as Backstage's, the
# local catalog's own as the local catalog's (no Backstage is involved). Only that wording may
# differ; what was being done and the message itself must agree.
RELAYED = (re.compile(r"(?P<doing>.*?): the local catalog (?P<rest>rejected the request \(400 .*)", re.S),
           re.compile(r"(?P<doing>.*?): Backstage (?P<rest>rejected the request \(400 .*)", re.S))


def assert_same_error(what: str, local: Any, remote: Any) -> None:
    """Both calls failed with isError and the same text, up to who is named as answering."""
    lt, rt = sup.text_of(local), sup.text_of(remote)
    assert local.is_error and remote.is_error, f"{what}: local {sup.dump(local)}, backstage {sup.dump(remote)}"
    if lt == rt:
        return
    lm, rm = RELAYED[0].fullmatch(lt), RELAYED[1].fullmatch(rt)
    if not (lm and rm and lm.groupdict() == rm.groupdict()):
        pytest.fail(f"{what}: local and Backstage fail differently\n--- local ---\n{lt}\n--- backstage ---\n{rt}",
                    pytrace=False)


class Clients:
    def __init__(self, local: Any, remote: Any) -> None:
        self.local = local
        self.remote = remote


@pytest.fixture
async def clients(local_server: sup.ServerProcess, testbed_server: sup.ServerProcess):
    async with sup.sdk_http_client(local_server.url, "2026-07-28") as local:
        async with sup.sdk_http_client(testbed_server.url, "2026-07-28") as remote:
            await sup.list_all_tools(local)  # the SDK then checks results against outputSchema
            await sup.list_all_tools(remote)
            yield Clients(local, remote)


async def walk(client: Any, args: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    total = -1
    cursor = None
    for _ in range(100):
        page = await call(client, "search_catalog", {**args, "limit": limit, **({"cursor": cursor} if cursor else {})})
        items += page["items"]
        total = page["totalItems"]
        cursor = page.get("nextCursor")
        if not cursor:
            return items, total
    raise AssertionError("pagination did not end")


# --------------------------------------------------------------------------- search_catalog


async def test_paging_through_everything_gives_the_same_entities_in_the_same_order(clients, generated, testbed) -> None:
    local, l_total = await walk(clients.local, {"fields": ["spec.system", "metadata.annotations"]}, limit=7)
    remote, r_total = await walk(clients.remote, {"fields": ["spec.system", "metadata.annotations"]}, limit=7)
    remote = [i for i in remote if i["ref"] != gen_ref(generated)]
    assert l_total == r_total - 1 == len(local) == len(testbed.expected_refs)
    assert_same("all entities, paged by 7", normalize(local), normalize(remote))


SEARCHES: list[dict[str, Any]] = [
    {"kind": "Component"},
    {"kind": "API", "type": "openapi"},
    {"kind": "component", "owner": "payments-team", "lifecycle": "production"},
    {"owner": "group:default/platform-team"},
    {"system": "payments"},
    {"tags": ["payments", "graphql"]},
    {"lifecycle": "deprecated"},
    {"namespace": "default", "kind": "group", "query": "team"},
    {"query": "idempotency"},
    {"query": "IDEMPOTENCY"},
    {"query": "gradient-boosted"},
    {"query": "pay", "kind": "API"},
    {"query": "zzz-no-such-word-zzz"},
    {"filter": "metadata.annotations.backstage.io/techdocs-ref"},
    {"filter": ["kind=api", "kind=resource"], "owner": "group:default/payments-team"},
    {"filter": "relations.dependsOn=resource:default/payments-db"},
    {"filter": "relations.hasMember"},
    {"filter": "spec.type=service,spec.lifecycle=production,spec.lifecycle=experimental"},
    {"filter": "kind=template", "fields": ["spec.parameters", "spec.owner"]},
    {"filter": "kind=api", "fields": ["spec.definition"]},
    {"kind": "User", "fields": ["spec.memberOf", "spec.profile"]},
    {"kind": "Location", "fields": ["spec"]},
]


@pytest.mark.parametrize("args", SEARCHES, ids=[json.dumps(a, sort_keys=True) for a in SEARCHES])
async def test_searches_agree(clients, generated, args) -> None:
    local = normalize(await call(clients.local, "search_catalog", {**args, "limit": 100}))
    remote = normalize(await call(clients.remote, "search_catalog", {**args, "limit": 100}))
    if any(i["ref"] == gen_ref(generated) for i in remote["items"]):
        remote["items"] = [i for i in remote["items"] if i["ref"] != gen_ref(generated)]
        remote["totalItems"] -= 1
    if args.get("query") != "zzz-no-such-word-zzz":
        assert local["items"], f"{args} matches nothing; the case proves nothing"
    assert_same(f"search_catalog {args}", local, remote)


async def test_bad_filters_fail_the_same_way(clients) -> None:
    for args in ({"filter": "=x"}, {"fields": ["metadata.tags[0]"]}):
        lr = await clients.local.call_tool("search_catalog", args)
        rr = await clients.remote.call_tool("search_catalog", args)
        assert_same_error(f"search_catalog {args}", lr, rr)


# --------------------------------------------------------------------------- get_entity / get_entities


async def test_every_entity_with_its_relations_is_the_same(clients, testbed) -> None:
    assert len(testbed.expected_refs) >= 54, "the fixture set must not shrink"
    for ref in testbed.expected_refs:
        local, remote = await both(clients.local, clients.remote, "get_entity", {"entityRef": ref})
        assert_same(f"get_entity {ref}", local, remote)
    # Lenient refs and projections resolve the same way.
    for args in ({"entityRef": "payment-service"}, {"entityRef": "Component:payment-service"},
                 {"entityRef": "payments", "kind": "system"},
                 {"entityRef": "component:default/payment-service", "fields": ["metadata.name", "spec"]}):
        local, remote = await both(clients.local, clients.remote, "get_entity", args)
        assert_same(f"get_entity {args}", local, remote)


async def test_unknown_refs_fail_with_the_same_suggestions(clients) -> None:
    for args in ({"entityRef": "component:default/paymnt-service"}, {"entityRef": "order-servic"},
                 {"entityRef": "group:nobody-like-this"}):
        lr = await clients.local.call_tool("get_entity", args)
        rr = await clients.remote.call_tool("get_entity", args)
        assert_same_error(f"get_entity {args}", lr, rr)


async def test_batches_agree(clients, testbed) -> None:
    refs = testbed.expected_refs
    for i in range(0, len(refs), 25):
        batch = refs[i:i + 25] + ["component:default/does-not-exist", "not a ref:"]
        local, remote = await both(clients.local, clients.remote, "get_entities", {"entityRefs": batch})
        assert_same(f"get_entities {i}", local, remote)
    args = {"entityRefs": refs[:10], "fields": ["kind", "metadata.name", "relations", "spec.owner"]}
    local, remote = await both(clients.local, clients.remote, "get_entities", args)
    assert_same("get_entities with fields", local, remote)


# --------------------------------------------------------------------------- related walks


WALKS: list[dict[str, Any]] = [
    {"entityRef": "component:default/payment-service"},
    {"entityRef": "component:default/payment-service", "depth": 3},
    {"entityRef": "group:default/engineering", "relations": ["parentOf", "hasMember"], "depth": 2},
    {"entityRef": "domain:default/commerce", "relations": ["hasPart"], "depth": 3},
    {"entityRef": "resource:default/kafka-cluster", "relations": ["dependencyOf", "dependsOn"], "depth": 3},
    {"entityRef": "user:default/chen-wei", "depth": 2, "maxEntities": 5},
]


@pytest.mark.parametrize("args", WALKS, ids=[json.dumps(a, sort_keys=True) for a in WALKS])
async def test_related_walks_agree(clients, args) -> None:
    local, remote = await both(clients.local, clients.remote, "get_related_entities", args)
    assert local["entities"], "the walk must reach something"
    assert_same(f"get_related_entities {args}", local, remote)


# --------------------------------------------------------------------------- facets


def values_at(entity: Any, path: str) -> list[str]:
    """Every scalar value of a dotted field path in an entity (arrays flattened)."""
    cur: list[Any] = [entity]
    for part in path.split("."):
        nxt: list[Any] = []
        for c in cur:
            if isinstance(c, dict) and part in c:
                v = c[part]
                nxt += v if isinstance(v, list) else [v]
        cur = nxt
    return [str(v) for v in cur if isinstance(v, (str, int, float, bool))]


FACETS: list[dict[str, Any]] = [
    {"facets": ["kind", "spec.type", "spec.lifecycle", "spec.owner", "metadata.tags", "metadata.namespace"]},
    {"facets": ["relations.ownedBy", "relations.partOf", "spec.system"], "kind": "Component"},
    {"facets": ["spec.type"], "filter": ["kind=api", "kind=resource"]},
    {"facets": ["metadata.tags"], "filter": "spec.lifecycle=production", "limit": 3},
]


@pytest.mark.parametrize("args", FACETS, ids=[json.dumps(a, sort_keys=True) for a in FACETS])
async def test_facets_agree(clients, generated, args) -> None:
    local, remote = await both(clients.local, clients.remote, "list_entity_facets", {**args, "limit": 500})
    unfiltered = "kind" not in args and "filter" not in args
    if unfiltered:
        # Take Backstage's generated Location out of its counts.
        for facet in remote["facets"]:
            for v in values_at(generated, facet["field"]):
                for fv in facet["values"]:
                    if fv["value"] == v:
                        fv["count"] -= 1
            facet["values"] = [fv for fv in facet["values"] if fv["count"] > 0]
            facet["values"].sort(key=lambda fv: (-fv["count"], fv["value"]))
            facet["totalValues"] = len(facet["values"])
    assert all(f["values"] for f in local["facets"]), local
    assert_same(f"list_entity_facets {args}", local, remote)
    if "limit" in args:
        lim = {**args}
        local, remote = await both(clients.local, clients.remote, "list_entity_facets", lim)
        assert_same(f"list_entity_facets {lim}", local, remote)


# --------------------------------------------------------------------------- the tool set

SPEC_AND_TEMPLATE_TOOLS = ("list_api_specs", "get_api_spec", "list_templates", "get_template",
                           "validate_template_values", "get_techdocs", "get_techdocs_page")


async def test_local_lists_the_api_and_template_tools_as_backstage_mode_does(clients) -> None:
    local = {t["name"]: t for t in await sup.list_all_tools(clients.local)}
    remote = {t["name"]: t for t in await sup.list_all_tools(clients.remote)}
    for name in SPEC_AND_TEMPLATE_TOOLS:
        assert name in local, f"{name} missing in local mode: {sorted(local)}"
        assert_same(f"tools/list entry {name}", local[name], remote[name])


def name_of(ref: str) -> str:
    return ref.split("/", 1)[1]


async def walk_list(client: Any, tool: str, args: dict[str, Any], limit: int) -> dict[str, Any]:
    """Every page of a list tool: the pages' items and totals, and whether each had a cursor."""
    pages: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await call(client, tool, {**args, "limit": limit, **({"cursor": cursor} if cursor else {})})
        cursor = page.pop("nextCursor", None)
        pages.append({**page, "more": cursor is not None})
        if not cursor:
            return {"pages": pages, "items": [i for p in pages for i in p["items"]]}
    raise AssertionError(f"{tool} pagination did not end")


async def assert_lists_agree(clients: Any, tool: str, args: dict[str, Any], may_be_empty: bool) -> None:
    """One full page and a walk one item at a time give the same answers on both sides."""
    local, remote = await both(clients.local, clients.remote, tool, {**args, "limit": 100})
    if not may_be_empty:
        assert local["items"], f"{args} matches nothing; the case proves nothing"
    assert_same(f"{tool} {args}", local, remote)
    local = await walk_list(clients.local, tool, args, limit=1)
    remote = await walk_list(clients.remote, tool, args, limit=1)
    assert_same(f"{tool} {args} paged by 1", local, remote)


# --------------------------------------------------------------------------- list_api_specs


async def test_both_sides_list_exactly_the_fixture_apis(clients) -> None:
    assert len(API_REFS) >= 7, "the API fixtures must not shrink"
    local = await walk_list(clients.local, "list_api_specs", {}, limit=3)
    remote = await walk_list(clients.remote, "list_api_specs", {}, limit=3)
    assert [i["ref"] for i in local["items"]] == sorted(API_REFS, key=name_of)
    assert {i["type"] for i in local["items"]} >= {"openapi", "asyncapi", "graphql", "grpc"}
    assert_same("list_api_specs paged by 3", local, remote)


API_LISTS: list[dict[str, Any]] = [
    {},
    {"type": "openapi"},
    {"type": "asyncapi"},
    {"type": "graphql"},
    {"type": "grpc"},
    {"type": "GRPC"},
    {"lifecycle": "deprecated"},
    {"lifecycle": "experimental"},
    {"system": "orders"},
    {"system": "system:default/payments", "type": "openapi"},
    {"owner": "fulfilment-team"},
    {"owner": "group:default/payments-team", "type": "openapi"},
    {"tags": ["kafka", "ml"]},
    {"tags": ["payments"], "lifecycle": "production"},
    {"namespace": "default", "owner": "data-team"},
    {"query": "gradient-boosted"},
    {"query": "PAYMENTS"},
    {"query": "grpc", "system": "inventory"},
    {"query": "zzz-no-such-word-zzz"},
    {"owner": "web-team"},
]


@pytest.mark.parametrize("args", API_LISTS, ids=[json.dumps(a, sort_keys=True) for a in API_LISTS])
async def test_api_lists_agree(clients, args) -> None:
    await assert_lists_agree(clients, "list_api_specs", args,
                             may_be_empty=args.get("query") == "zzz-no-such-word-zzz" or args.get("owner") == "web-team")


# --------------------------------------------------------------------------- get_api_spec


async def spec_pages(client: Any, first: dict[str, Any]) -> list[dict[str, Any]]:
    """A get_api_spec call and every continuation page, cursors included (they are ours)."""
    ref = first["entityRef"]
    pages = [await call(client, "get_api_spec", first)]
    for _ in range(1000):
        cursor = pages[-1].get("nextCursor")
        if not cursor:
            return pages
        pages.append(await call(client, "get_api_spec", {"entityRef": ref, "cursor": cursor}))
    raise AssertionError(f"get_api_spec {first} pagination did not end")


@pytest.mark.parametrize("ref", API_REFS, ids=[name_of(r) for r in API_REFS])
async def test_every_view_of_every_api_spec_agrees(clients, ref) -> None:
    calls = 0

    async def same(args: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        local, remote = await both(clients.local, clients.remote, "get_api_spec", {"entityRef": ref, **args})
        calls += 1
        assert_same(f"get_api_spec {ref} {args}", local, remote)
        return local

    summary = await same({})
    assert summary["ref"] == ref and "parseError" not in summary, summary
    ops = summary["summary"]["operations"]
    schemas = summary["summary"].get("schemas", [])
    assert ops and len(ops) == summary["summary"]["totalOperations"], summary
    await same({"view": "summary", "limit": 1})
    # Summary pages of one operation each, following our own cursor.
    local_pages = await spec_pages(clients.local, {"entityRef": ref, "limit": 1})
    remote_pages = await spec_pages(clients.remote, {"entityRef": ref, "limit": 1})
    assert len(local_pages) == len(ops)
    assert_same(f"get_api_spec {ref} summary paged by 1", local_pages, remote_pages)
    # Every operation and every schema by name, inlined one level.
    for op in ops:
        item = await same({"view": "operation", "name": op["name"]})
        assert item["item"]["name"] == op["name"]
    for sch in schemas:
        await same({"view": "schema", "name": sch["name"]})
    for view in ("operation", "schema"):
        args = {"entityRef": ref, "view": view, "name": "zzz-nothing"}
        lr, rr = await clients.local.call_tool("get_api_spec", args), await clients.remote.call_tool("get_api_spec", args)
        assert_same_error(f"get_api_spec {args}", lr, rr)
    # The raw text whole, and in 256-byte pages that concatenate to it.
    full = await same({"view": "full"})
    assert "nextCursor" not in full and full["totalBytes"] == len(full["text"].encode())
    local_pages = await spec_pages(clients.local, {"entityRef": ref, "view": "full", "maxBytes": 256})
    remote_pages = await spec_pages(clients.remote, {"entityRef": ref, "view": "full", "maxBytes": 256})
    assert_same(f"get_api_spec {ref} full paged by 256 bytes", local_pages, remote_pages)
    assert "".join(p["text"] for p in local_pages) == full["text"]
    assert calls == 3 + len(ops) + len(schemas)


async def test_api_spec_references_resolve_and_fail_the_same_way(clients) -> None:
    first = API_REFS[0]
    for args in ({"entityRef": name_of(first)}, {"entityRef": f"API:{name_of(first)}"},
                 {"entityRef": name_of(first), "namespace": "default", "view": "full", "maxBytes": 300}):
        local, remote = await both(clients.local, clients.remote, "get_api_spec", args)
        assert_same(f"get_api_spec {args}", local, remote)
    for args in ({"entityRef": "payments-openap"}, {"entityRef": "api:default/no-such-api-anywhere"},
                 {"entityRef": "component:default/payment-service"}, {"entityRef": "api:other/payments-openapi"},
                 {"entityRef": first, "view": "operation"}, {"entityRef": first, "cursor": "garbage!"}):
        lr = await clients.local.call_tool("get_api_spec", args)
        rr = await clients.remote.call_tool("get_api_spec", args)
        assert_same_error(f"get_api_spec {args}", lr, rr)


# --------------------------------------------------------------------------- list_templates


async def test_both_sides_list_exactly_the_fixture_templates(clients) -> None:
    assert len(TEMPLATE_REFS) >= 4, "the template fixtures must not shrink"
    local = await walk_list(clients.local, "list_templates", {}, limit=1)
    remote = await walk_list(clients.remote, "list_templates", {}, limit=1)
    assert [i["ref"] for i in local["items"]] == sorted(TEMPLATE_REFS, key=name_of)
    assert_same("list_templates paged by 1", local, remote)


TEMPLATE_LISTS: list[dict[str, Any]] = [
    {},
    {"type": "example"},
    {"type": "service", "owner": "platform-team"},
    {"type": "library"},
    {"tags": ["offline"]},
    {"tags": ["pickers", "nodejs"]},
    {"tags": ["offline"], "type": "example", "owner": "group:default/platform-team"},
    {"owner": "group:default/platform-team"},
    {"query": "greeting"},
    {"query": "OFFLINE"},
    {"query": "picker", "type": "library"},
    {"query": "node", "tags": ["recommended"]},
    {"owner": "group:default/web-team"},
    {"query": "zzz-no-such-word-zzz"},
]


@pytest.mark.parametrize("args", TEMPLATE_LISTS, ids=[json.dumps(a, sort_keys=True) for a in TEMPLATE_LISTS])
async def test_template_lists_agree(clients, args) -> None:
    await assert_lists_agree(clients, "list_templates", args,
                             may_be_empty=args.get("query") == "zzz-no-such-word-zzz"
                             or args.get("owner") == "group:default/web-team")


# --------------------------------------------------------------------------- get_template / validate


def sample(field: dict[str, Any]) -> Any:
    """A value a field accepts, from what get_template says about it."""
    if field.get("enum"):
        return field["enum"][-1]
    t = field.get("type", "string")
    if t in ("integer", "number"):
        return field.get("maximum", field.get("minimum", 1))
    if t == "boolean":
        return True
    if t == "array":
        items = field.get("items") or {}
        return [items["enum"][0]] if items.get("enum") else ["component:default/payment-service"]
    return "e2e-sample"  # matches the fixtures' name/label patterns


def wrong_type(field: dict[str, Any]) -> Any:
    return "not-a-number" if field.get("type") in ("integer", "number", "array", "boolean") else 42


def value_sets(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    top = [f for f in fields if "." not in f["name"]]
    required = [f for f in top if f["required"]]
    valid = {f["name"]: sample(f) for f in top}
    return {
        "empty": {},
        "only-required": {f["name"]: sample(f) for f in required},
        "every-field": valid,
        "missing-required": {f["name"]: sample(f) for f in top if not f["required"]},
        "wrong-types": {f["name"]: wrong_type(f) for f in top},
        "unknown-key": {**valid, top[0]["name"] + "x": "typo", "zzz": 1},
    }


@pytest.mark.parametrize("ref", TEMPLATE_REFS, ids=[name_of(r) for r in TEMPLATE_REFS])
async def test_every_template_form_and_value_check_agrees(clients, ref) -> None:
    for args in ({"templateRef": ref}, {"templateRef": name_of(ref)}, {"templateRef": f"Template:{name_of(ref)}"}):
        local, remote = await both(clients.local, clients.remote, "get_template", args)
        assert_same(f"get_template {args}", local, remote)
    assert local["ref"] == ref and local["fields"] and local["pages"], local
    sets = value_sets(local["fields"])
    for label, values in sets.items():
        args = {"templateRef": ref, "values": values}
        local_v, remote_v = await both(clients.local, clients.remote, "validate_template_values", args)
        assert_same(f"validate_template_values {ref} {label}", local_v, remote_v)
        if label in ("only-required", "every-field"):
            assert remote_v["valid"], f"{label} should be valid: {remote_v['errors']}"
        if label in ("wrong-types", "unknown-key") or (label == "missing-required" and local["requiredWithoutDefault"]):
            assert not remote_v["valid"] and remote_v["errors"], f"{label} should be invalid"


TEMPLATE_ERRORS: list[dict[str, Any]] = [
    {"templateRef": "helo-world"},
    {"templateRef": "template:default/no-such-template-anywhere"},
    {"templateRef": "template:other/hello-world"},
    {"templateRef": "template:default/payment-service"},
    {"templateRef": "component:default/payment-service"},
    {"templateRef": "api:payments-openapi"},
    {"templateRef": "not a ref:"},
]


@pytest.mark.parametrize("args", TEMPLATE_ERRORS, ids=[a["templateRef"] for a in TEMPLATE_ERRORS])
async def test_unknown_and_non_template_refs_fail_the_same_way(clients, args) -> None:
    for tool, call_args in (("get_template", args), ("validate_template_values", {**args, "values": {"name": "x"}})):
        lr = await clients.local.call_tool(tool, call_args)
        rr = await clients.remote.call_tool(tool, call_args)
        assert_same_error(f"{tool} {call_args}", lr, rr)


# --------------------------------------------------------------------------- TechDocs

SITE_ONLY = ("buildTimestamp", "builtAt", "etag", "build")


def docs_view(page: dict[str, Any]) -> dict[str, Any]:
    """A page result without what only a build decides: its time, cursors, blank lines."""
    page = {k: v for k, v in page.items() if k not in ("nextCursor", "totalChars")}
    page["markdown"] = "\n".join(line for line in page["markdown"].splitlines() if line.strip())
    return page


async def docs_entities(client: Any) -> list[str]:
    found = await call(client, "search_catalog", {"filter": "metadata.annotations.backstage.io/techdocs-ref",
                                                  "limit": 100})
    return sorted(i["ref"] for i in found["items"])


async def test_every_docs_site_and_page_agrees(clients) -> None:
    refs = await docs_entities(clients.local)
    assert refs == await docs_entities(clients.remote) and len(refs) >= 2, refs
    for ref in refs:
        local_site = await call(clients.local, "get_techdocs", {"entityRef": ref})
        remote_site = await call(clients.remote, "get_techdocs", {"entityRef": ref})
        assert local_site["pageSource"] == "navigation" and local_site["totalPages"] >= 3, local_site
        assert_same(f"get_techdocs {ref}",
                    {k: v for k, v in local_site.items() if k not in SITE_ONLY},
                    {k: v for k, v in remote_site.items() if k not in SITE_ONLY})
        for page in local_site["pages"]:
            args = {"entityRef": ref, "path": page["path"]}
            local_page = await call(clients.local, "get_techdocs_page", args)
            remote_page = await call(clients.remote, "get_techdocs_page", args)
            assert local_page["markdown"].startswith("# "), local_page["markdown"][:200]
            assert_same(f"get_techdocs_page {args}", docs_view(local_page), docs_view(remote_page))
            for heading in local_page["headings"]:
                section = {**args, "section": heading["anchor"]}
                assert_same(f"get_techdocs_page {section}",
                            docs_view(await call(clients.local, "get_techdocs_page", section)),
                            docs_view(await call(clients.remote, "get_techdocs_page", section)))


async def test_a_long_page_reads_back_whole_in_slices(clients) -> None:
    ref = (await docs_entities(clients.local))[0]
    whole = await call(clients.local, "get_techdocs_page", {"entityRef": ref, "path": "runbook"})
    parts, cursor = [], None
    for _ in range(50):
        args = {"cursor": cursor} if cursor else {"path": "runbook", "maxChars": 500}
        part = await call(clients.local, "get_techdocs_page", {"entityRef": ref, **args})
        parts.append(part["markdown"])
        cursor = part.get("nextCursor")
        if not cursor:
            break
    assert len(parts) >= 2 and "".join(parts) == whole["markdown"], parts


DOCS_ERRORS: list[dict[str, Any]] = [
    {"entityRef": "component:payment-service", "path": "no-such-page"},
    {"entityRef": "component:payment-service", "path": "runbook", "section": "no-such-anchor"},
    {"entityRef": "component:fraud-check"},
    {"entityRef": "component:no-such-service"},
]


@pytest.mark.parametrize("args", DOCS_ERRORS, ids=[json.dumps(a, sort_keys=True) for a in DOCS_ERRORS])
async def test_docs_errors_agree(clients, args) -> None:
    local = await clients.local.call_tool("get_techdocs_page", args)
    remote = await clients.remote.call_tool("get_techdocs_page", args)
    assert_same_error(f"get_techdocs_page {args}", local, remote)
