"""The API tools (list_api_specs, get_api_spec) against the real Backstage testbed, through
real MCP clients.

Oracles are independent of stagedoor: the fixture file `testbed/catalog/apis/apis.yaml`
parsed by the reference parsers in the testbed's node_modules (yaml, graphql-js,
protobufjs; see spec_oracle.js), `expected-relations.txt`, and Backstage's REST API queried
directly with the testbed token (for the exact `spec.definition` text).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import call, call_error
from test_catalog import WIRES, expected_relations

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

REPO = Path(__file__).resolve().parents[2]
TESTBED = REPO / "testbed"
APIS_YAML = TESTBED / "catalog" / "apis" / "apis.yaml"
ORACLE_JS = Path(__file__).resolve().parent / "spec_oracle.js"
OPENAPI = "api:default/payments-openapi"


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    """What every fixture API defines, per the reference parsers (ref -> facts)."""
    node = shutil.which("node")
    assert node, "node is needed for the spec oracle (the testbed runs on it)"
    assert (TESTBED / "node_modules" / "graphql").is_dir(), "testbed node_modules missing (start the testbed)"
    p = subprocess.run([node, str(ORACLE_JS), str(TESTBED)], input=APIS_YAML.read_text(), capture_output=True,
                       text=True, timeout=60, check=False)
    assert p.returncode == 0, f"spec oracle failed: {p.stderr}"
    out = json.loads(p.stdout)
    assert {"openapi", "asyncapi", "graphql", "grpc"} <= {f["type"] for f in out.values()}, out.keys()
    return out


def backstage_definition(testbed: Any, ref: str) -> str:
    """spec.definition exactly as Backstage's REST API returns it."""
    kind, rest = ref.split(":", 1)
    ns, name = rest.split("/", 1)
    r = httpx.get(f"{testbed.base_url}/api/catalog/entities/by-name/{kind}/{ns}/{name}",
                  headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()["spec"]["definition"]


async def list_all(client: Any, args: dict[str, Any], limit: int = 100) -> tuple[list[dict[str, Any]], set[int]]:
    items: list[dict[str, Any]] = []
    totals: set[int] = set()
    cursor = None
    for _ in range(100):
        page = await call(client, "list_api_specs", {**args, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert len(page["items"]) <= limit
        items += page["items"]
        totals.add(page["totalItems"])
        cursor = page.get("nextCursor")
        if not cursor:
            return items, totals
    raise AssertionError("list_api_specs pagination did not end")


async def all_operations(client: Any, ref: str, limit: int = 500) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first summary page and every operation, following the cursor."""
    first = await call(client, "get_api_spec", {"entityRef": ref, "limit": limit})
    ops = list(first["summary"]["operations"])
    cursor = first.get("nextCursor")
    for _ in range(100):
        if not cursor:
            break
        page = await call(client, "get_api_spec", {"entityRef": ref, "cursor": cursor})
        assert page["summary"]["operationsOffset"] == len(ops)
        ops += page["summary"]["operations"]
        cursor = page.get("nextCursor")
    assert len(ops) == first["summary"]["totalOperations"]
    return first, ops


# --------------------------------------------------------------------------- list_api_specs


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_list_filters_server_side_before_paging(connect, testbed, transport, mode) -> None:
    fx = fixtures()
    api_refs = {r for r in testbed.expected_refs if r.startswith("api:")}
    assert set(fx) == api_refs, "apis.yaml and expected-entities.txt disagree"
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)
        everything, totals = await list_all(client, {}, limit=2)
        assert [i["ref"] for i in everything] == sorted(api_refs, key=lambda r: r.split("/")[1])
        assert totals == {len(api_refs)}
        for t in ("openapi", "asyncapi", "graphql", "grpc"):
            want = {r for r, f in fx.items() if f["type"] == t}
            # limit 1: a type filter applied after the page would show totalItems of all APIs.
            got, totals = await list_all(client, {"type": t}, limit=1)
            assert {i["ref"] for i in got} == want, t
            assert totals == {len(want)}, f"{t}: totalItems {totals} != {len(want)}"
            assert all(i["type"] == t for i in got)
        cases = [
            ({"lifecycle": "deprecated"}, lambda f: f["lifecycle"] == "deprecated"),
            ({"system": "orders"}, lambda f: f["system"] == "orders"),
            ({"owner": "fulfilment-team"}, lambda f: f["owner"] == "group:default/fulfilment-team"),
            ({"owner": "group:default/payments-team", "type": "openapi"},
             lambda f: f["owner"] == "group:default/payments-team" and f["type"] == "openapi"),
            ({"query": "gradient-boosted"}, lambda f: "gradient-boosted" in f["description"]),
        ]
        for args, pred in cases:
            want = {r for r, f in fx.items() if pred(f)}
            assert want, f"{args}: the oracle found nothing; the case proves nothing"
            page = await call(client, "list_api_specs", args)
            assert {i["ref"] for i in page["items"]} == want, args
            assert page["totalItems"] == len(want)


async def test_list_summaries_carry_owner_system_and_relation_counts(connect) -> None:
    fx = fixtures()
    rels = expected_relations()
    async with connect("http", "legacy") as client:
        page = await call(client, "list_api_specs", {"limit": 100})
    assert len(page["items"]) == len(fx)
    for item in page["items"]:
        f = fx[item["ref"]]
        assert item["title"] == f["title"] and item["type"] == f["type"] and item["lifecycle"] == f["lifecycle"]
        assert item["owner"] == f["owner"]
        assert item["system"] == f"system:default/{f['system']}"
        assert item["providedBy"] == len(rels[item["ref"]].get("apiProvidedBy", ())), item
        assert item["consumedBy"] == len(rels[item["ref"]].get("apiConsumedBy", ())), item
    assert any(i["consumedBy"] > 0 for i in page["items"]) and any(i["providedBy"] > 0 for i in page["items"])


# --------------------------------------------------------------------------- get_api_spec summary


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_summary_lists_every_operation_of_every_fixture(connect, transport, mode) -> None:
    fx = fixtures()
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)
        for ref, f in fx.items():
            first, ops = await all_operations(client, ref, limit=2)
            spec = f["spec"]
            assert first["ref"] == ref and first["type"] == f["type"] and "parseError" not in first, first
            summary = first["summary"]
            if f["type"] in ("openapi", "asyncapi"):
                assert first["format"].startswith(f["type"])
                assert summary["title"] == spec["title"] and summary["version"] == spec["version"]
                got = [{"method": o["method"], "path": o["path"], "operationId": o.get("operationId")} for o in ops]
                assert got == spec["operations"], f"{ref}: {got} != {spec['operations']}"
            elif f["type"] == "graphql":
                assert first["format"] == "graphql"
                got = [{"method": o["method"], "name": o["name"], "arguments": o.get("arguments", []),
                        "response": o["response"]} for o in ops]
                assert got == spec["operations"], f"{ref}: {got} != {spec['operations']}"
            else:
                assert first["format"] == "protobuf (proto3)" and summary["title"] == spec["title"]
                got = [{"name": o["name"], "request": o["request"], "response": o["response"],
                        "clientStreaming": o.get("clientStreaming", False),
                        "serverStreaming": o.get("serverStreaming", False)} for o in ops]
                assert got == spec["operations"], f"{ref}: {got} != {spec['operations']}"
            assert {s["name"] for s in summary.get("schemas", [])} == set(spec["schemas"]), ref
            assert summary["totalSchemas"] == len(spec["schemas"])


async def test_summary_pages_operations_with_a_cursor(connect) -> None:
    want = [o["operationId"] for o in fixtures()[OPENAPI]["spec"]["operations"]]
    async with connect("stdio", "2026-07-28") as client:
        first = await call(client, "get_api_spec", {"entityRef": OPENAPI, "limit": 2})
        assert len(first["summary"]["operations"]) == 2 and first["summary"]["totalOperations"] == len(want)
        assert first["summary"]["schemas"], "schema names come with the first page"
        second = await call(client, "get_api_spec", {"entityRef": OPENAPI, "cursor": first["nextCursor"]})
        assert "schemas" not in second["summary"], "and only with the first page"
        _, ops = await all_operations(client, OPENAPI, limit=2)
        assert [o["operationId"] for o in ops] == want
        # A cursor only continues the API it was issued for.
        msg = await call_error(client, "get_api_spec", {"entityRef": "api:default/fraud-check-api",
                                                        "cursor": first["nextCursor"]})
        assert OPENAPI in msg, msg
        assert "cursor" in await call_error(client, "get_api_spec", {"entityRef": OPENAPI, "cursor": "garbage!"})


# --------------------------------------------------------------------------- get_api_spec full


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_full_pages_concatenate_to_the_exact_definition(connect, testbed, transport, mode) -> None:
    async with connect(transport, mode) as client:
        for ref in fixtures():
            original = backstage_definition(testbed, ref)
            size = len(original.encode())
            pages: list[str] = []
            cursor = None
            expected_start = 0
            for _ in range(1000):
                args = {"entityRef": ref, **({"cursor": cursor} if cursor else {"view": "full", "maxBytes": 256})}
                out = await call(client, "get_api_spec", args)
                assert out["view"] == "full" and out["totalBytes"] == size
                text = out["text"]
                assert 0 < len(text.encode()) <= 256, f"{ref}: page of {len(text.encode())} bytes"
                assert out["range"] == {"start": expected_start, "end": expected_start + len(text.encode())}
                expected_start = out["range"]["end"]
                pages.append(text)
                cursor = out.get("nextCursor")
                if not cursor:
                    break
            assert "".join(pages) == original, f"{ref}: pages do not concatenate to spec.definition"
            assert expected_start == size
            if size > 256:
                assert len(pages) > 1
    assert len(backstage_definition(testbed, OPENAPI).encode()) > 256 * 10, "a multi-page fixture exists"


async def test_full_default_page_holds_small_definitions_whole(connect, testbed) -> None:
    async with connect("http", "legacy") as client:
        out = await call(client, "get_api_spec", {"entityRef": OPENAPI, "view": "full"})
    assert out["text"] == backstage_definition(testbed, OPENAPI) and "nextCursor" not in out
    assert out["format"] == "openapi 3.0.3"


# --------------------------------------------------------------------------- operation / schema


@pytest.mark.parametrize("transport,mode", [("http", "legacy"), ("stdio", "2026-07-28")])
async def test_operation_and_schema_views_resolve_refs_one_level(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        by_id = await call(client, "get_api_spec", {"entityRef": OPENAPI, "view": "operation", "name": "createPayment"})
        by_path = await call(client, "get_api_spec",
                             {"entityRef": OPENAPI, "view": "operation", "name": "post /payments"})
        assert by_id["item"] == by_path["item"]
        item = by_id["item"]
        assert item["name"] == "createPayment" and item["location"] == "#/paths/~1payments/post"
        d = item["definition"]
        assert (d["method"], d["path"]) == ("POST", "/payments")
        body = d["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["orderId", "amount", "cardToken"], "NewPayment was inlined"
        assert body["properties"]["amount"] == {"$ref": "#/components/schemas/Money"}, "one level only"
        assert d["parameters"][0]["name"] == "Idempotency-Key", "the parameter $ref was inlined"
        assert "#/components/schemas/NewPayment" in item["resolvedRefs"]
        assert any(u.startswith("#/components/schemas/Money") for u in item["unresolvedRefs"])
        # Path-level parameters are merged into the operation.
        cap = await call(client, "get_api_spec", {"entityRef": OPENAPI, "view": "operation", "name": "capturePayment"})
        names = [p["name"] for p in cap["item"]["definition"]["parameters"]]
        assert names == ["paymentId", "Idempotency-Key"], names

        money = await call(client, "get_api_spec", {"entityRef": OPENAPI, "view": "schema", "name": "Money"})
        assert money["item"]["definition"]["required"] == ["currency", "minorUnits"]
        assert money["item"]["location"] == "#/components/schemas/Money"

        rpc = await call(client, "get_api_spec",
                         {"entityRef": "api:default/payments-grpc", "view": "operation", "name": "WatchPayments"})
        r = rpc["item"]["definition"]
        assert r["serverStreaming"] is True and r["clientStreaming"] is False
        assert r["service"] == "quillmart.payments.v1.Payments"
        assert [f["name"] for f in r["requestMessage"]["fields"]] == ["order_id"]
        assert [f["type"] for f in r["responseMessage"]["fields"]] == ["Payment", "google.protobuf.Timestamp"]
        status = await call(client, "get_api_spec",
                            {"entityRef": "api:default/payments-grpc", "view": "schema", "name": "PaymentStatus"})
        assert status["item"]["definition"]["kind"] == "enum"
        assert len(status["item"]["definition"]["values"]) == 5

        place = await call(client, "get_api_spec",
                           {"entityRef": "api:default/orders-graphql", "view": "operation", "name": "placeOrder"})
        p = place["item"]["definition"]
        assert p["operationType"] == "mutation" and p["type"] == "Order!"
        assert {t["name"] for t in p["referencedTypes"]} == {"PlaceOrderInput", "Order"}
        order = await call(client, "get_api_spec",
                           {"entityRef": "api:default/orders-graphql", "view": "schema", "name": "Order"})
        assert "type Order {" in order["item"]["definition"]["sdl"]

        paid = await call(client, "get_api_spec",
                          {"entityRef": "api:default/order-events", "view": "operation", "name": "onOrderPaid"})
        assert paid["item"]["definition"]["message"]["payload"]["required"] == ["orderId", "paymentId"]

        msg = await call_error(client, "get_api_spec",
                               {"entityRef": OPENAPI, "view": "operation", "name": "createPaymnt"})
        assert "createPayment" in msg, msg
        msg = await call_error(client, "get_api_spec",
                               {"entityRef": "api:default/payments-grpc", "view": "schema", "name": "Paymnt"})
        assert "Payment" in msg, msg
        assert "name" in await call_error(client, "get_api_spec", {"entityRef": OPENAPI, "view": "schema"})


async def test_references_and_bad_arguments_fail_helpfully(connect) -> None:
    async with connect("stdio", "legacy") as client:
        for ref in ("payments-openapi", "api:payments-openapi", "API:default/payments-openapi"):
            out = await call(client, "get_api_spec", {"entityRef": ref})
            assert out["ref"] == OPENAPI
        msg = await call_error(client, "get_api_spec", {"entityRef": "payments-openap"})
        assert OPENAPI in msg, msg
        msg = await call_error(client, "get_api_spec", {"entityRef": "component:default/payment-service"})
        assert "not an API" in msg and OPENAPI in msg, msg
        assert "maxBytes" in await call_error(client, "get_api_spec",
                                              {"entityRef": OPENAPI, "view": "full", "maxBytes": 1})
        assert "view" in await call_error(client, "get_api_spec", {"entityRef": OPENAPI, "view": "everything"})
        assert "limit" in await call_error(client, "list_api_specs", {"limit": 0})
        assert "cannot express" in await call_error(client, "list_api_specs", {"owner": "a,kind=user"})


# --------------------------------------------------------------------------- faults a real Backstage can't show


def api_entity(definition: Any = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "openapi", "lifecycle": "production", "owner": "group:default/x"}
    if definition is not None:
        spec["definition"] = definition
    return {"apiVersion": "backstage.io/v1alpha1", "kind": "API",
            "metadata": {"name": "broken", "namespace": "default"}, "spec": spec}


async def test_missing_and_unparseable_definitions(stagedoor_http, fake_upstream) -> None:
    fake_upstream.mode = "json"
    srv = stagedoor_http(base_url=fake_upstream.url, token="e2e-token", env={"CACHE_TTL_SECONDS": "0"})
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        fake_upstream.json_body = api_entity()
        msg = await call_error(client, "get_api_spec", {"entityRef": "api:default/broken"})
        assert "spec.definition" in msg, msg

        broken = "openapi: 3.0.3\npaths:\n  /x: [unclosed\n"
        fake_upstream.json_body = api_entity(broken)
        out = await call(client, "get_api_spec", {"entityRef": "api:default/broken"})
        assert "summary" not in out and out["parseError"].startswith("not valid YAML or JSON"), out
        assert any('view "full"' in n for n in out["notes"]), out
        full = await call(client, "get_api_spec", {"entityRef": "api:default/broken", "view": "full"})
        assert full["text"] == broken
        msg = await call_error(client, "get_api_spec",
                               {"entityRef": "api:default/broken", "view": "operation", "name": "x"})
        assert "could not be parsed" in msg, msg
    # A definition is never a reason to contact anything but Backstage.
    assert all(p.startswith("/api/catalog/") for p in fake_upstream.paths()), fake_upstream.paths()


# --------------------------------------------------------------------------- Inspector CLI


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_inspector_calls_the_api_tools(inspector_cli, request, stagedoor_bin, stdio_env, transport) -> None:
    if transport == "http":
        target, kw = request.getfixturevalue("testbed_server").url, {}
    else:
        target = [str(stagedoor_bin), "serve", "--transport", "stdio"]
        kw = {"config": {"env": stdio_env}}
    listed = sup.inspector_tool_call(inspector_cli, target, "list_api_specs", {"type": "grpc"}, **kw)
    want = {r for r, f in fixtures().items() if f["type"] == "grpc"}
    assert {i["ref"] for i in listed["items"]} == want, listed
    spec = sup.inspector_tool_call(inspector_cli, target, "get_api_spec", {"entityRef": "orders-graphql"}, **kw)
    roots = Counter(o["method"] for o in spec["summary"]["operations"])
    want_roots = Counter(o["method"] for o in fixtures()["api:default/orders-graphql"]["spec"]["operations"])
    assert roots == want_roots, roots
