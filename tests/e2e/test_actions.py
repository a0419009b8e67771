"""The Actions Registry bridge against the real testbed and its official MCP plugin.

The oracle is Backstage itself: the testbed runs `@backstage/plugin-mcp-actions-backend`
at `/api/mcp-actions/v1` with `pluginSources: [catalog, scaffolder]`, and every comparison
asks it the same question through the same third-party client (the Python `mcp` SDK).
A fake registry on 127.0.0.1 is used only where a real Backstage cannot show the fact:
that no request reaches Backstage, a list that changes on demand, a source that stops.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import e2e_support as sup
from e2e_support import call_error

pytestmark = [pytest.mark.anyio, pytest.mark.compat]

OFFICIAL_PATH = "/api/mcp-actions/v1"
CURATED_CATALOG = {"search_catalog", "get_entity", "get_entities", "get_related_entities", "list_entity_facets"}
HINTS = ("readOnlyHint", "destructiveHint", "idempotentHint")

BRIDGED_ONLY = """
backend:
  actions:
    pluginSources: [catalog, scaffolder]
tools:
  curated: false
"""

WITH_SERVERS = """
backend:
  actions:
    pluginSources: [catalog, scaffolder]
mcpActions:
  servers:
    catalog-safe:
      name: Catalog without destructive actions
      filter:
        include:
          - id: 'catalog:*'
        exclude:
          - attributes:
              destructive: true
"""


def safe_name(official: str) -> str:
    """The official plugin's `pluginId.action-name` in stagedoor's default style."""
    return re.sub(r"[^a-z0-9]+", "_", official.lower()).strip("_")


def action_refs(official_name: str) -> tuple[str, str]:
    """How a description may name an action: its official tool name and its id."""
    plugin, action = official_name.split(".", 1)
    return official_name, f"{plugin}:{action}"


def ref_pattern(ref: str) -> re.Pattern[str]:
    """`ref` as a whole word: not inside a longer name, a sentence's full stop may follow."""
    return re.compile(r"(?<![A-Za-z0-9_.:-])" + re.escape(ref) + r"(?![A-Za-z0-9_-])(?![.:][A-Za-z0-9])")


def served_description(description: str, served: dict[str, str]) -> str:
    """The official description with references to actions in the served names
    (`served`: official name -> served name)."""
    out = description
    for official_name, name in sorted(served.items(), key=lambda kv: -len(kv[0])):
        for ref in action_refs(official_name):
            out = ref_pattern(ref).sub(name, out)
    return out


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("actions-config")


@pytest.fixture(scope="module")
def bridged_server(stagedoor_bin, testbed, config_dir) -> Iterator[sup.ServerProcess]:
    """HTTP stagedoor serving only bridged tools ([catalog, scaffolder])."""
    srv = sup.start_stagedoor_http(stagedoor_bin, base_url=testbed.base_url, token=testbed.token,
                                   log_dir=config_dir / "bridged",
                                   config_files=[write(config_dir, "bridged.yaml", BRIDGED_ONLY)])
    yield srv
    srv.stop()
    assert not srv.alive()


@pytest.fixture(scope="module")
def servers_server(stagedoor_bin, testbed, config_dir) -> Iterator[sup.ServerProcess]:
    """HTTP stagedoor with curated + bridged tools and the named server `catalog-safe`."""
    srv = sup.start_stagedoor_http(stagedoor_bin, base_url=testbed.base_url, token=testbed.token,
                                   log_dir=config_dir / "servers",
                                   config_files=[write(config_dir, "servers.yaml", WITH_SERVERS)])
    yield srv
    srv.stop()
    assert not srv.alive()


def official(testbed: Any, mode: str = "legacy"):
    """A client of the official plugin's endpoint on the testbed (static token)."""
    return sup.sdk_http_client(testbed.base_url + OFFICIAL_PATH, mode,
                               headers={"Authorization": f"Bearer {testbed.token}"})


async def tools_by_name(client: Any) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in await sup.list_all_tools(client)}


async def call_ok(client: Any, name: str, args: dict[str, Any]) -> Any:
    result = await client.call_tool(name, args)
    assert not result.is_error, f"{name}({args}) failed: {sup.text_of(result)}"
    sup.assert_text_mirrors_structured(sup.dump(result))
    return result.structured_content


# --------------------------------------------------------------------------- tools/list


@pytest.mark.testbed
@pytest.mark.parametrize("transport,mode", [("http", "legacy"), ("stdio", "2026-07-28")])
async def test_bridged_tools_list_matches_the_official_endpoint(
        testbed, bridged_server, stagedoor_bin, stdio_env, stdio_stderr, config_dir, transport, mode) -> None:
    async with official(testbed) as off:
        theirs = await tools_by_name(off)
    assert len(theirs) == 12, sorted(theirs)
    if transport == "http":
        opener = sup.sdk_http_client(bridged_server.url, mode)
    else:
        opener = sup.sdk_stdio_client(stagedoor_bin, stdio_env, mode, stdio_stderr,
                                      extra_args=["--config", str(config_dir / "bridged.yaml")])
    async with opener as client:
        ours = await tools_by_name(client)
    # The same actions, differing only in naming style.
    assert set(ours) == {safe_name(n) for n in theirs}, (sorted(ours), sorted(theirs))
    for name, t in theirs.items():
        mine = ours[safe_name(name)]
        assert sup.TOOL_NAME_RE.match(mine["name"]), mine["name"]
        assert mine["inputSchema"] == t["inputSchema"], f"{name}: input schemas differ"
        for hint in HINTS:
            assert mine["annotations"][hint] == t["annotations"][hint], f"{name}: {hint}"
        assert mine["annotations"]["openWorldHint"] is False
        assert mine["annotations"]["title"] == t["annotations"]["title"]
        # The same text, with references to other actions in the names served here.
        assert mine["description"] == served_description(t["description"].strip(),
                                                         {n: safe_name(n) for n in theirs}), name
        # The official plugin omits outputSchema; stagedoor serves the action's object schema.
        assert mine["outputSchema"]["type"] == "object", name


@pytest.mark.testbed
async def test_official_style_names_are_the_official_names(testbed, stagedoor_bin, stdio_env, stdio_stderr,
                                                           config_dir) -> None:
    cfg = write(config_dir, "official-style.yaml", BRIDGED_ONLY + "actions:\n  toolNames: official\n")
    async with official(testbed) as off:
        theirs = await tools_by_name(off)
    async with sup.sdk_stdio_client(stagedoor_bin, stdio_env, "legacy", stdio_stderr,
                                    extra_args=["--config", str(cfg)]) as client:
        ours = await tools_by_name(client)
        entity = await call_ok(client, "catalog.get-catalog-entity", {"name": "payment-service"})
    assert set(ours) == set(theirs)
    for name, t in theirs.items():
        assert ours[name]["inputSchema"] == t["inputSchema"], name
        assert {h: ours[name]["annotations"][h] for h in HINTS} == {h: t["annotations"][h] for h in HINTS}
    assert entity["metadata"]["name"] == "payment-service"
    # namespacedToolNames: false gives the bare action names, as the official plugin does.
    bare = write(config_dir, "official-bare.yaml",
                 BRIDGED_ONLY + "actions:\n  toolNames: official\nmcpActions:\n  namespacedToolNames: false\n")
    async with sup.sdk_stdio_client(stagedoor_bin, stdio_env, "legacy", stdio_stderr,
                                    extra_args=["--config", str(bare)]) as client:
        names = set(await tools_by_name(client))
    assert names == {n.split(".", 1)[1] for n in theirs}


@pytest.mark.testbed
async def test_default_server_serves_curated_and_bridged_and_stagedoor_tools_shows_groups(
        testbed, servers_server, stagedoor_bin, config_dir) -> None:
    async with sup.sdk_http_client(servers_server.url, "legacy") as client:
        tools = await sup.list_all_tools(client)
    sup.assert_tools_well_formed(tools)
    names = {t["name"] for t in tools}
    assert CURATED_CATALOG | {"check_connection"} <= names
    assert "catalog_get_catalog_entity" in names and "scaffolder_execute_template" in names
    env = sup.base_env() | {"BACKSTAGE_BASE_URL": testbed.base_url, "BACKSTAGE_TOKEN": testbed.token}
    p = subprocess.run([str(stagedoor_bin), "tools", "--json", "--config", str(config_dir / "servers.yaml")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    listed = json.loads(p.stdout)
    groups = {t["name"]: t["group"] for t in listed}
    assert groups["search_catalog"] == "curated" and groups["catalog_get_catalog_entity"] == "bridged"
    assert {t["id"] for t in listed if t["group"] == "bridged"} >= {"catalog:get-catalog-entity",
                                                                    "scaffolder:execute-template"}
    assert set(groups) == names
    p = subprocess.run([str(stagedoor_bin), "tools", "--config", str(config_dir / "servers.yaml"),
                        "--server", "catalog-safe"], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    header, *rows = p.stdout.splitlines()
    assert "GROUP" in header
    assert any(" bridged " in r and "catalog_register_entity" in r for r in rows), p.stdout
    assert not any("scaffolder" in r for r in rows), p.stdout


@pytest.mark.testbed
@pytest.mark.parametrize("style", ["safe", "official", "safe-bare", "official-bare"])
async def test_no_description_names_a_tool_that_is_not_served(testbed, stagedoor_bin, stdio_env, stdio_stderr,
                                                               config_dir, style) -> None:
    """The scaffolder's execute-template tells the model to use `catalog.get-catalog-entity`:
    in `safe` style (or without namespaces) that tool does not exist, so the reference is
    rewritten to the served name. Checked over every served description, curated ones too."""
    async with official(testbed) as off:
        theirs = await tools_by_name(off)
    assert any("catalog.get-catalog-entity" in t["description"] for t in theirs.values()), \
        "the testbed's actions no longer reference each other; this test would prove nothing"
    names_style, _, bare = style.partition("-")
    cfg_text = "backend:\n  actions:\n    pluginSources: [catalog, scaffolder]\n" \
               f"actions:\n  toolNames: {names_style}\n"
    if bare:
        cfg_text += "mcpActions:\n  namespacedToolNames: false\n"
    cfg = write(config_dir, f"descriptions-{style}.yaml", cfg_text)
    async with sup.sdk_stdio_client(stagedoor_bin, stdio_env, "legacy", stdio_stderr,
                                    extra_args=["--config", str(cfg)]) as client:
        ours = await tools_by_name(client)
    # Every way a description can name one of Backstage's actions, in every style.
    refs = set()
    for official_name in theirs:
        refs.update(action_refs(official_name))
        refs.add(safe_name(official_name))
        refs.add(official_name.split(".", 1)[1])
        refs.add(safe_name(official_name.split(".", 1)[1]))
    named = 0
    for name, tool in ours.items():
        for ref in refs:
            if ref_pattern(ref).search(tool["description"]):
                named += 1
                assert ref in ours, f"{style}: {name}'s description names {ref!r}, which this server does not serve"
    assert named, "no description named another tool"


# --------------------------------------------------------------------------- tools/call


CALLS = [
    ("catalog.get-catalog-entity", {"kind": "component", "namespace": "default", "name": "payment-service"}),
    ("catalog.query-catalog-entities", {"query": {"kind": "system"}, "fields": ["metadata.name"]}),
    ("scaffolder.list-scaffolder-actions", {}),
]


@pytest.mark.testbed
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_calls_return_what_the_official_endpoint_returns(testbed, bridged_server, mode) -> None:
    async with official(testbed) as off, sup.sdk_http_client(bridged_server.url, mode) as client:
        await sup.list_all_tools(client)  # the SDK then validates results against outputSchema
        for name, args in CALLS:
            theirs = await call_ok(off, name, args)
            ours = await call_ok(client, safe_name(name), args)
            assert ours == theirs, f"{name}: structuredContent differs"
    assert theirs["actions"], "list-scaffolder-actions returned nothing"


@pytest.mark.testbed
async def test_backstage_errors_arrive_as_the_official_endpoint_reports_them(testbed, bridged_server) -> None:
    async with official(testbed) as off, sup.sdk_http_client(bridged_server.url, "legacy") as client:
        for name, args in [("catalog.get-catalog-entity", {"name": "no-such-entity"}),
                           ("scaffolder.get-scaffolder-task-logs", {"taskId": "no-such-task"})]:
            theirs = await call_error(off, name, args)
            ours = await call_error(client, safe_name(name), args)
            assert ours == theirs, (ours, theirs)
            assert re.match(r"^[A-Za-z]+Error: ", ours), ours
    assert ours.startswith("NotFoundError:") or ours.startswith("InputError:"), ours


@pytest.mark.testbed
async def test_invalid_arguments_name_every_violation(bridged_server) -> None:
    async with sup.sdk_http_client(bridged_server.url, "legacy") as client:
        text = await call_error(client, "catalog_get_catalog_entity", {"kind": 5, "bogus": True})
        assert "3 problems" in text and "nothing was sent to Backstage" in text, text
        assert "`/kind`" in text and '5 is not of type "string"' in text, text
        assert "'bogus' was unexpected" in text, text
        assert '"name" is a required property' in text, text
        text = await call_error(client, "scaffolder_list_scaffolder_tasks", {"limit": 0, "status": 7})
        assert "`/limit`" in text and "`/status`" in text, text


# --------------------------------------------------------------------------- a fake registry


@dataclass
class FakeRegistry:
    """An Actions Registry on 127.0.0.1: per-plugin listings (a list of actions, or an HTTP
    status to answer), v2 invoke echoing its input, and a log of every request."""

    port: int = 0
    lists: dict[str, Any] = field(default_factory=dict)
    seen: list[tuple[str, str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, plugin: str, listing: Any) -> None:
        with self.lock:
            self.lists[plugin] = listing

    def invokes(self) -> list[tuple[str, Any]]:
        with self.lock:
            return [(p, b) for m, p, b in self.seen if m == "POST"]


def _registry_handler(state: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            with state.lock:
                state.seen.append(("GET", self.path, None))
                m = re.fullmatch(r"/api/([^/]+)/\.backstage/actions/v1/actions", self.path)
                listing = state.lists.get(m.group(1)) if m else None
            if listing is None:
                self._send(404, None)
            elif isinstance(listing, int):
                self._send(listing, {"error": {"name": "ServiceUnavailableError", "message": "stopped"}})
            else:
                self._send(200, {"actions": listing})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            with state.lock:
                state.seen.append(("POST", self.path, body))
            m = re.fullmatch(r"/api/([^/]+)/\.backstage/actions/v2/actions/([^/]+)/invoke", self.path)
            if not m:
                self._send(404, None)
                return
            self._send(200, {"output": {"action": m.group(2), "input": body.get("input")}})

    return Handler


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    state = FakeRegistry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _registry_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-registry", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def simple_action(plugin: str, name: str, read_only: bool = True) -> dict[str, Any]:
    return {
        "id": f"{plugin}:{name}", "name": name, "title": name.title(), "description": f"Does {name}.",
        "pluginId": plugin,
        "attributes": {"destructive": not read_only, "idempotent": read_only, "readOnly": read_only},
        "schema": {"input": {"type": "object", "properties": {"x": {"type": "string"}},
                             "additionalProperties": False},
                   "output": {"type": "object", "properties": {}, "additionalProperties": True}},
    }


def real_listing(testbed: Any, plugin: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{testbed.base_url}/api/{plugin}/.backstage/actions/v1/actions",
                  headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)
    r.raise_for_status()
    return r.json()["actions"]


@pytest.mark.testbed
async def test_invalid_arguments_never_reach_backstage(testbed, fake_registry, stagedoor_http, tmp_path) -> None:
    # The testbed's real catalog actions, served by a registry that records every request.
    fake_registry.set("catalog", real_listing(testbed, "catalog"))
    cfg = write(tmp_path, "fake.yaml", "actions:\n  pluginSources: [catalog]\n")
    srv = stagedoor_http(base_url=fake_registry.url, token="t", config_files=[cfg])
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        await sup.list_all_tools(client)
        for args in ({}, {"name": 5}, {"name": "a", "namespace": ["x"], "color": "red"}):
            text = await call_error(client, "catalog_get_catalog_entity", args)
            assert "nothing was sent to Backstage" in text, text
        assert fake_registry.invokes() == [], "an invalid call reached the registry"
        # The positive control: a valid call is one v2 request carrying the input.
        out = await call_ok(client, "catalog_get_catalog_entity", {"name": "payment-service"})
    assert out == {"action": "catalog:get-catalog-entity", "input": {"name": "payment-service"}}
    invokes = fake_registry.invokes()
    assert len(invokes) == 1 and invokes[0][0].endswith("/v2/actions/catalog:get-catalog-entity/invoke"), invokes
    assert invokes[0][1] == {"input": {"name": "payment-service"}}


# --------------------------------------------------------------------------- named servers


@pytest.mark.testbed
@pytest.mark.parametrize("prefix", ["/mcp", OFFICIAL_PATH])
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_named_server_exposes_exactly_its_filtered_tools(testbed, servers_server, prefix, mode) -> None:
    async with official(testbed) as off:
        theirs = await tools_by_name(off)
    expected = CURATED_CATALOG | {
        safe_name(n) for n, t in theirs.items()
        if n.startswith("catalog.") and not t["annotations"]["destructiveHint"]
    }
    assert "catalog_register_entity" in expected and "catalog_unregister_entity" not in expected
    async with sup.sdk_http_client(f"{servers_server.base}{prefix}/catalog-safe", mode) as client:
        tools = await sup.list_all_tools(client)
        assert {t["name"] for t in tools} == expected
        entity = await call_ok(client, "catalog_get_catalog_entity", {"name": "payment-service"})
        assert entity["metadata"]["name"] == "payment-service"
        # A tool outside the view is unknown here, as on the official plugin.
        with pytest.raises(Exception, match="(?i)unknown tool"):
            await client.call_tool("catalog_unregister_entity", {"type": {"locationId": "x"}})
    async with sup.sdk_http_client(f"{servers_server.base}{prefix}", mode) as client:
        everything = {t["name"] for t in await sup.list_all_tools(client)}
    assert expected < everything and "scaffolder_execute_template" in everything


@pytest.mark.testbed
def test_unknown_server_paths_are_404(servers_server) -> None:
    for path in ("/mcp/nope", f"{OFFICIAL_PATH}/nope"):
        r = httpx.post(servers_server.base + path, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                       headers={"Accept": "application/json, text/event-stream"}, timeout=10)
        assert r.status_code == 404, (path, r.status_code, r.text)


# --------------------------------------------------------------------------- failing sources


@pytest.mark.testbed
async def test_a_wrong_source_leaves_the_others_served(testbed, stagedoor_http, stagedoor_bin, tmp_path) -> None:
    cfg = write(tmp_path, "wrong.yaml", "actions:\n  pluginSources: [catalog, no-such-plugin, scaffolder]\n")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        names = {t["name"] for t in await sup.list_all_tools(client)}
        assert {"catalog_get_catalog_entity", "scaffolder_list_scaffolder_actions"} <= names
        assert len([n for n in names if n.startswith(("catalog_", "scaffolder_"))]) == 12
        diag = await call_ok(client, "check_connection", {})
    sources = diag["actions"]["sources"]
    assert sources["catalog"]["ok"] and sources["catalog"]["actions"] == 7, sources
    assert sources["scaffolder"]["ok"] and sources["scaffolder"]["actions"] == 5, sources
    assert not sources["no-such-plugin"]["ok"] and "404" in sources["no-such-plugin"]["error"], sources
    assert any("no-such-plugin" in a for a in diag["advice"]), diag["advice"]
    env = sup.base_env() | {"BACKSTAGE_BASE_URL": testbed.base_url, "BACKSTAGE_TOKEN": testbed.token}
    p = subprocess.run([str(stagedoor_bin), "check", "--config", str(cfg)], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert re.search(r"actions no-such-plugin\s+FAIL", p.stdout), p.stdout
    assert re.search(r"actions catalog\s+ok - 7 actions", p.stdout), p.stdout


async def test_a_stopped_source_leaves_the_others_served(fake_registry, stagedoor_http, tmp_path) -> None:
    fake_registry.set("alpha", [simple_action("alpha", "read-a")])
    fake_registry.set("beta", [simple_action("beta", "read-b")])
    cfg = write(tmp_path, "two.yaml", "actions:\n  pluginSources: [alpha, beta]\n  refreshInterval: 200ms\n")
    srv = stagedoor_http(base_url=fake_registry.url, token="t", config_files=[cfg])
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        names = {t["name"] for t in await sup.list_all_tools(client)}
        assert {"alpha_read_a", "beta_read_b"} <= names
        fake_registry.set("beta", 503)  # beta stops answering
        deadline = time.monotonic() + 10
        while True:
            diag = await call_ok(client, "check_connection", {})
            beta = diag["actions"]["sources"]["beta"]
            if not beta["ok"] or time.monotonic() > deadline:
                break
            await anyio.sleep(0.1)
        assert not beta["ok"] and beta["stale"], beta
        assert diag["actions"]["sources"]["alpha"]["ok"]
        assert await call_ok(client, "alpha_read_a", {"x": "1"}) == {"action": "alpha:read-a", "input": {"x": "1"}}
        fake_registry.set("beta", None)  # beta is gone (404): its tools go, alpha's stay
        deadline = time.monotonic() + 10
        while "beta_read_b" in names and time.monotonic() < deadline:
            await anyio.sleep(0.1)
            names = {t["name"] for t in await sup.list_all_tools(client)}
        assert "beta_read_b" not in names and "alpha_read_a" in names, names


# --------------------------------------------------------------------------- list_changed


def _is_list_changed(message: Any) -> bool:
    root = getattr(message, "root", message)
    return getattr(root, "method", None) == "notifications/tools/list_changed"


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http-sessions", "legacy"),
                                            ("http", "2026-07-28"), ("stdio", "2026-07-28")])
async def test_list_changed_reaches_session_clients(fake_registry, stagedoor_bin, stagedoor_http, tmp_path,
                                                    stdio_stderr, transport, mode) -> None:
    fake_registry.set("alpha", [simple_action("alpha", "one")])
    cfg = write(tmp_path, "changing.yaml",
                "actions:\n  pluginSources: [alpha]\n  refreshInterval: 200ms\n"
                + ("server:\n  sessions: true\n" if transport == "http-sessions" else ""))
    heard = anyio.Event()

    async def on_message(message: Any) -> None:
        if _is_list_changed(message):
            heard.set()

    if transport == "stdio":
        env = sup.base_env() | {"BACKSTAGE_BASE_URL": fake_registry.url, "BACKSTAGE_TOKEN": "t"}
        opener = sup.sdk_stdio_client(stagedoor_bin, env, mode, stdio_stderr,
                                      extra_args=["--config", str(cfg)], message_handler=on_message)
    else:
        srv = stagedoor_http(base_url=fake_registry.url, token="t", config_files=[cfg])
        opener = sup.sdk_http_client(srv.url, mode, message_handler=on_message)
    async with opener as client:
        before = {t["name"] for t in await sup.list_all_tools(client)}
        assert "alpha_one" in before and "alpha_two" not in before
        if mode == "2026-07-28":
            async with client.listen(tools_list_changed=True) as sub:
                assert sub.honored.tools_list_changed, sub.honored
                fake_registry.set("alpha", [simple_action("alpha", "one"), simple_action("alpha", "two")])
                with anyio.fail_after(10):
                    async for _event in sub:
                        break
        else:
            fake_registry.set("alpha", [simple_action("alpha", "one"), simple_action("alpha", "two")])
            with anyio.fail_after(10):
                await heard.wait()
        after = {t["name"] for t in await sup.list_all_tools(client)}
    assert after == before | {"alpha_two"}
