"""Fault injection: faults a real Backstage cannot be made to show on demand.

stagedoor is pointed at a port with nothing listening, or at a fake upstream that hangs,
answers 500 / 401, answers 200 with garbage, or drops the connection. Every tool call must
come back as a tool result (isError, or for check_connection a report that says the portal
is not usable) within a bounded time, and the same server must keep serving afterwards.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

import e2e_support as sup

pytestmark = pytest.mark.anyio

BOUND_S = 10.0  # no call may take longer than this, whatever the upstream does

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("check_connection", {}),
    ("search_catalog", {}),
    ("get_entity", {"entityRef": "component:default/payment-service"}),
    ("get_entities", {"entityRefs": ["component:default/payment-service"]}),
    ("get_related_entities", {"entityRef": "component:default/payment-service"}),
    ("list_entity_facets", {"facets": ["kind"]}),
    ("list_api_specs", {"type": "openapi"}),
    ("get_api_spec", {"entityRef": "api:default/payments-openapi"}),
    ("search", {"term": "payments"}),
    ("get_techdocs", {"entityRef": "component:default/payment-service"}),
    ("get_techdocs_page", {"entityRef": "component:default/payment-service", "path": "runbook/"}),
]

FAULTS = ("dead_port", "hang", "500", "garbage", "drop", "401")


def portal_unusable(result: Any) -> tuple[bool, str]:
    """check_connection may answer normally, but then it must say the portal is not usable."""
    if result.is_error:
        return True, "isError"
    sc = result.structured_content
    if not isinstance(sc, dict):
        return False, f"no structuredContent: {sup.dump(result)}"
    try:
        sup.assert_check_connection_shape(sc)
    except AssertionError as e:
        return False, f"malformed check_connection result: {e}"
    if sc["reachable"] is False:
        return True, "reachable=false"
    bad = [p for p, v in sc["plugins"].items() if not v.get("ok")]
    if bad:
        return True, f"plugins not ok: {bad}"
    return False, f"check_connection reports a healthy portal: {sc}"


async def exercise(client: Any, fault: str) -> list[str]:
    """Call every tool once; return a list of problems (empty = all good)."""
    problems: list[str] = []
    for name, args in CALLS:
        t0 = time.monotonic()
        try:
            result = await client.call_tool(name, args)
        except Exception as e:  # noqa: BLE001 - a protocol error instead of a tool result is a failure
            problems.append(f"{name}: raised {type(e).__name__}: {e} after {time.monotonic() - t0:.1f}s")
            continue
        took = time.monotonic() - t0
        if took >= BOUND_S:
            problems.append(f"{name}: took {took:.1f}s (bound {BOUND_S}s)")
        if name == "check_connection":
            ok, why = portal_unusable(result)
            if not ok:
                problems.append(f"{name}: {why}")
            elif fault == "dead_port" and not result.is_error and result.structured_content["reachable"] is not False:
                problems.append(f"{name}: reachable should be false for a refused connection: "
                                f"{result.structured_content}")
        else:
            if not result.is_error:
                problems.append(f"{name}: expected isError, got {sup.dump(result)}")
            elif not sup.text_of(result).strip():
                problems.append(f"{name}: isError result without a message: {sup.dump(result)}")
    return problems


def upstream_for(fault: str, fake_upstream, dead_port: int) -> tuple[str, dict[str, str]]:
    if fault == "dead_port":
        return f"http://127.0.0.1:{dead_port}", {}
    fake_upstream.mode = fault
    env = {"REQUEST_TIMEOUT_MS": "500"} if fault == "hang" else {}
    return fake_upstream.url, env


@pytest.mark.parametrize("fault", FAULTS)
async def test_http_fault_is_a_tool_result_and_server_keeps_serving(fault, stagedoor_http, fake_upstream,
                                                                    dead_port) -> None:
    base_url, env = upstream_for(fault, fake_upstream, dead_port)
    srv = stagedoor_http(base_url=base_url, token="e2e-token", env=env)

    async with sup.sdk_http_client(srv.url, "legacy", read_timeout_s=BOUND_S + 5) as client:
        problems = await exercise(client, fault)
        # The same session still answers.
        tools = (await client.list_tools(cache_mode="bypass")).tools
    assert not problems, "\n".join(problems)
    assert tools, "tools/list empty after faults"

    if fault != "dead_port":
        assert fake_upstream.paths(), "stagedoor never called the fake upstream"
    assert srv.alive(), f"stagedoor exited (status {srv.proc.returncode}) during {fault}"
    # A fresh connection, in the other era, is served too.
    async with sup.sdk_http_client(srv.url, sup.MODERN_VERSION, read_timeout_s=BOUND_S) as client:
        fresh = (await client.list_tools(cache_mode="bypass")).tools
    assert fresh, "tools/list empty on a fresh 2026-07-28 connection"
    assert httpx.get(srv.base + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("fault", ("dead_port", "hang"))
async def test_stdio_fault_is_a_tool_result(fault, stagedoor_bin, fake_upstream, dead_port, stdio_stderr) -> None:
    base_url, extra = upstream_for(fault, fake_upstream, dead_port)
    env = sup.base_env() | {"BACKSTAGE_BASE_URL": base_url, "BACKSTAGE_TOKEN": "e2e-token"} | extra
    async with sup.sdk_stdio_client(stagedoor_bin, env, sup.MODERN_VERSION, stdio_stderr,
                                    read_timeout_s=BOUND_S + 5) as client:
        problems = await exercise(client, fault)
        tools = (await client.list_tools(cache_mode="bypass")).tools
    assert not problems, "\n".join(problems)
    assert tools, "tools/list empty after faults"

