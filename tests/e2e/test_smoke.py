"""Smoke tests that must hold whatever the tool details: stagedoor against the real
Backstage testbed, driven over stdio and Streamable HTTP by the Python `mcp` SDK in every
connect mode (legacy handshake, auto-negotiation, stateless 2026-07-28) and by the MCP
Inspector CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import e2e_support as sup

pytestmark = [pytest.mark.anyio, pytest.mark.testbed, pytest.mark.compat]

TRANSPORTS = ("stdio", "http")


def assert_negotiated(client: Any, mode: str) -> None:
    if mode == "legacy":
        assert client.protocol_version == sup.LATEST_HANDSHAKE_VERSION, client.protocol_version
    else:
        # auto against a dual-era server must pick the stateless revision.
        assert client.protocol_version == sup.MODERN_VERSION, client.protocol_version


@pytest.mark.parametrize("mode", sup.SDK_MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_tools_list_well_formed(connect, transport: str, mode: str) -> None:
    async with connect(transport, mode) as client:
        assert_negotiated(client, mode)
        tools = await sup.list_all_tools(client)
    sup.assert_tools_well_formed(tools)
    names = {t["name"] for t in tools}
    for required in ("check_connection", "search_catalog", "get_entity"):
        assert required in names, f"{required} missing from {sorted(names)}"


@pytest.mark.parametrize("mode", sup.SDK_MODES)
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_check_connection_reaches_testbed(connect, testbed, transport: str, mode: str) -> None:
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)  # lets the SDK validate the result against outputSchema
        result = await client.call_tool("check_connection", {})
    wire = sup.dump(result)
    assert not result.is_error, f"check_connection failed: {wire}"
    sc = result.structured_content
    sup.assert_check_connection_shape(sc)
    assert sc["reachable"] is True, sc
    assert sc["baseUrl"].rstrip("/") == testbed.base_url, (sc["baseUrl"], testbed.base_url)
    assert sc["plugins"]["catalog"]["ok"] is True, f"catalog not ok against the testbed: {sc['plugins']['catalog']}"
    assert "latencyMs" in sc, f"no latencyMs although the catalog answered: {sc}"
    sup.assert_text_mirrors_structured(wire)


async def test_same_answer_on_stdio_and_http(connect) -> None:
    """Both transports serve the same tool list (the list must not vary per connection)."""
    async with connect("stdio", "legacy") as c1:
        stdio_tools = await sup.list_all_tools(c1)
    async with connect("http", "legacy") as c2:
        http_tools = await sup.list_all_tools(c2)
    assert stdio_tools == http_tools


# --------------------------------------------------------------------------- Inspector CLI


def _inspector_tools(res: sup.InspectorResult) -> list[dict[str, Any]]:
    assert res.rc == 0, res.describe()
    assert isinstance(res.json, dict) and isinstance(res.json.get("tools"), list), res.describe()
    return res.json["tools"]


def test_inspector_tools_list_http(inspector_cli, testbed_server) -> None:
    tools = _inspector_tools(inspector_cli(testbed_server.url, "--method", "tools/list"))
    sup.assert_tools_well_formed(tools)
    assert "check_connection" in {t["name"] for t in tools}


def test_inspector_tools_list_stdio(inspector_cli, stagedoor_bin, stdio_env) -> None:
    cmd = [str(stagedoor_bin), "serve", "--transport", "stdio"]
    tools = _inspector_tools(inspector_cli(cmd, "--method", "tools/list", config={"env": stdio_env}))
    sup.assert_tools_well_formed(tools)
    assert "check_connection" in {t["name"] for t in tools}


def test_inspector_call_check_connection_http(inspector_cli, testbed_server) -> None:
    res = inspector_cli(testbed_server.url, "--method", "tools/call", "--tool-name", "check_connection")
    assert res.rc == 0, res.describe()
    assert isinstance(res.json, dict), res.describe()
    assert res.json.get("isError") in (None, False), res.describe()
    sc = res.json.get("structuredContent")
    sup.assert_check_connection_shape(sc)
    assert sc["reachable"] is True, sc
    sup.assert_text_mirrors_structured(res.json)


def test_inspector_strict_schema_portability(inspector_cli, testbed_server) -> None:
    """`--strict` reports tool-schema portability problems (exit 6 on error severity)."""
    res = inspector_cli(testbed_server.url, "--method", "tools/list", "--strict")
    if res.rc == 6:
        # Show only the error-severity findings (warnings are informational).
        lines = res.stderr.splitlines()
        errors = ["\n".join(lines[i:i + 4]) for i, line in enumerate(lines) if line.startswith("Error:")]
        pytest.fail("Inspector --strict found unportable tool schemas:\n" + "\n".join(errors), pytrace=False)
    assert res.rc == 0, res.describe()


def test_stdio_stdout_is_pure_jsonrpc(stagedoor_bin, stdio_env, tmp_path) -> None:
    """stdio: nothing but newline-delimited JSON-RPC on stdout (logs go to stderr), and the
    process exits by itself, with status 0, soon after stdin closes."""
    import subprocess
    import threading

    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": sup.LATEST_HANDSHAKE_VERSION, "capabilities": {},
                       "clientInfo": {"name": "e2e", "version": "0"}}}
    inited = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    lst = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    errf = open(tmp_path / "stderr.log", "wb")
    p = subprocess.Popen([str(stagedoor_bin), "serve", "--transport", "stdio"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=errf, env=stdio_env, cwd=tmp_path, text=True)
    try:
        lines: list[str] = []
        done = threading.Event()

        def reader() -> None:
            for line in p.stdout:
                lines.append(line)
                if len([x for x in lines if x.strip()]) >= 2:
                    done.set()
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        for m in (init, inited, lst):
            p.stdin.write(json.dumps(m) + "\n")
        p.stdin.flush()
        assert done.wait(15), f"no answers within 15 s; stdout so far: {lines!r}"
        p.stdin.close()  # the spec's shutdown: close stdin, then wait for the exit
        rc = p.wait(timeout=5)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        errf.close()
    stderr = (tmp_path / "stderr.log").read_text(errors="replace")
    msgs = [json.loads(x) for x in lines if x.strip()]  # every stdout line must be one JSON document
    assert all(m.get("jsonrpc") == "2.0" for m in msgs), msgs
    by_id = {m.get("id"): m for m in msgs}
    assert "result" in by_id.get(1, {}), (msgs, stderr[-2000:])
    assert by_id.get(2, {}).get("result", {}).get("tools"), (msgs, stderr[-2000:])
    assert rc == 0, (rc, stderr[-2000:])


def test_http_sigterm_exits_cleanly(stagedoor_http, testbed) -> None:
    """SIGTERM stops the HTTP server within the grace period, with status 0 (graceful shutdown)."""
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token)
    how = srv.stop()
    assert how == "term", f"stagedoor needed SIGKILL (did not exit within {sup.STOP_GRACE_S}s of SIGTERM)"
    assert srv.proc.returncode == 0, f"exit status after SIGTERM: {srv.proc.returncode}"


async def test_get_entity_for_every_fixture_entity(testbed, testbed_server) -> None:
    """Every entity the testbed promises (testbed/catalog/expected-entities.txt) is found by
    get_entity, the result validates against the tool's outputSchema (the SDK checks it),
    and its text is the JSON of its structuredContent."""
    assert testbed.expected_refs, "testbed/catalog/expected-entities.txt lists no entities"
    problems: list[str] = []
    async with sup.sdk_http_client(testbed_server.url, "legacy") as client:
        await sup.list_all_tools(client)  # the SDK validates results against listed outputSchemas
        for ref in testbed.expected_refs:
            try:
                result = await client.call_tool("get_entity", {"entityRef": ref})
            except Exception as e:  # noqa: BLE001 - e.g. the result does not match outputSchema
                problems.append(f"{ref}: {type(e).__name__}: {(str(e).splitlines() or [''])[0][:300]}")
                continue
            wire = sup.dump(result)
            if result.is_error:
                problems.append(f"{ref}: isError: {sup.text_of(result)[:200]}")
                continue
            try:
                sup.assert_text_mirrors_structured(wire)
            except AssertionError as e:
                problems.append(f"{ref}: {str(e)[:300]}")
                continue
            name = ref.split("/")[-1]
            if name not in json.dumps(result.structured_content):
                problems.append(f"{ref}: structuredContent does not mention {name!r}")
    assert not problems, f"{len(problems)}/{len(testbed.expected_refs)} entities failed:\n" + "\n".join(problems[:15])
