"""Differential test: the testbed's catalog fixtures served two ways give the same answers.

One stagedoor serves the real Backstage testbed (which loaded `testbed/catalog/all.yaml`);
another serves the same file from disk with `--catalog`. The catalog tools are called with the
same arguments on both, through the Python MCP SDK, and the structured results are compared
field by field. The only differences allowed are the ones only Backstage computes:

- `metadata.uid` and `metadata.etag` (database ids and hashes; the local catalog omits them);
- the `location:default/generated-<sha1>` entity Backstage adds for its app-config location;
- the absolute directory in the `backstage.io/managed-by-(origin-)location` annotations, which
  is compared relative to the catalog root (the testbed may run from another checkout).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import REPO_ROOT, call

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

ROOT_FILE = REPO_ROOT / "testbed" / "catalog" / "all.yaml"
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
        assert lr.is_error and rr.is_error, (sup.dump(lr), sup.dump(rr))
        assert sup.text_of(lr) == sup.text_of(rr)


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
        assert lr.is_error and rr.is_error
        assert sup.text_of(lr) == sup.text_of(rr), (sup.text_of(lr), sup.text_of(rr))


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
