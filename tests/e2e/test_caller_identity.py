"""Every Backstage call runs as the caller: a signed-in user through curated and bridged tools.

A second real testbed (the same release line) runs with every Actions Registry source
(`app-config.all-actions.yaml`) and the permission policy `TESTBED_POLICY=deny-guest-catalog`:
`user:default/guest` may read no catalog entity but Users (so `auth:who-am-i` still finds its
own entity); every other principal, the static service token included, may read everything.
stagedoor reaches it through a recording proxy on 127.0.0.1, so the test sees the credentials
of every request stagedoor makes.

These tests were strict xfails until the fix of D1 (the bridge invoked actions with the
configured service token for every caller) and D2 (`check_connection` dropped the Actions
Registry section for users) landed; before it, the bridged who-am-i answered NotAllowedError,
the guest read the denied entity through the bridge, and every bridged invoke for the guest
carried the service token.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import e2e_support as sup
from e2e_support import REPO_ROOT

TESTBED_DIR = REPO_ROOT / "testbed"

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

GUEST = "user:default/guest"
DENIED_REF = "component:default/payment-service"
ACTIONS_PATH = "/.backstage/actions/"
STATIC = "caller-static-token-" + "s" * 30  # a static-token caller of stagedoor


# --------------------------------------------------------------------------- the recording proxy


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str


@dataclass
class RecordingProxy:
    """Forwards every request to the testbed unchanged and records its credentials."""
    upstream: str
    records: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        proxy = self
        client = httpx.Client(timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.records.append(Recorded(self.command, self.path, self.headers.get("authorization", "")))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length", "connection", "accept-encoding")}
                try:
                    r = client.request(self.command, proxy.upstream + self.path, headers=headers, content=body)
                except httpx.HTTPError as e:
                    self.send_error(502, str(e))
                    return
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward  # noqa: N815

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def since(self, mark: int) -> list[Recorded]:
        with self.lock:
            return list(self.records[mark:])

    def mark(self) -> int:
        with self.lock:
            return len(self.records)


# --------------------------------------------------------------------------- fixtures


@dataclass
class PolicyTestbed:
    base_url: str
    token: str
    pid: int
    issuer: str
    proxy: RecordingProxy


@pytest.fixture(scope="module")
def policy_testbed(testbed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyTestbed]:
    root = tmp_path_factory.mktemp("policy-testbed")
    run_dir = root / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "TESTBED_CONFIG", "WAIT_SEARCH")}
    env |= {"TESTBED_RUN_DIR": str(run_dir), "TESTBED_LINE": testbed.line,
            "TESTBED_POLICY": "deny-guest-catalog", "TESTBED_CONFIG": "app-config.all-actions.yaml"}
    p = subprocess.run([str(TESTBED_DIR / "start.sh")], cwd=str(TESTBED_DIR), env=env, capture_output=True,
                       text=True, timeout=600, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        pytest.fail(f"the policy testbed did not start (rc={p.returncode}):\n{p.stderr[-6000:]}", pytrace=False)
    tb_env = sup.parse_env_file(run_dir / "testbed.env")
    pid = int(tb_env["TESTBED_PID"])
    proxy = RecordingProxy(upstream=tb_env["BACKSTAGE_BASE_URL"])
    proxy.start()
    try:
        yield PolicyTestbed(base_url=tb_env["BACKSTAGE_BASE_URL"], token=tb_env["BACKSTAGE_TOKEN"], pid=pid,
                            issuer=f"{tb_env['BACKSTAGE_BASE_URL']}/api/auth", proxy=proxy)
    finally:
        proxy.stop()
        subprocess.run([str(TESTBED_DIR / "stop.sh")], cwd=str(TESTBED_DIR), capture_output=True, timeout=120,
                       env={**os.environ, "TESTBED_RUN_DIR": str(run_dir)}, stdin=subprocess.DEVNULL, check=False)
        if sup.pid_alive(pid):
            sup.stop_pid(pid, grace_s=15)
        assert not sup.pid_alive(pid), f"policy testbed pid {pid} still alive"


@pytest.fixture
def server(policy_testbed, stagedoor_http, tmp_path) -> sup.ServerProcess:
    """stagedoor in OAuth mode in front of the proxy: curated tools plus every bridged source."""
    tb = policy_testbed
    cfg = tmp_path / "caller.yaml"
    cfg.write_text(f"""
auth:
  tokens:
    - token: {STATIC}
      subject: service
  oauth:
    enabled: true
    issuer: {tb.issuer}
backend:
  actions:
    pluginSources: [catalog, scaffolder, auth]
""")
    return stagedoor_http(base_url=tb.proxy.url, token=tb.token, config_files=[cfg])


def guest_token(tb: PolicyTestbed) -> str:
    r = httpx.get(f"{tb.base_url}/api/auth/guest/refresh", timeout=30)
    r.raise_for_status()
    return r.json()["backstageIdentity"]["token"]


async def call(srv: sup.ServerProcess, token: str, name: str, args: dict | None = None) -> Any:
    async with sup.sdk_http_client(srv.url, "legacy", headers={"Authorization": f"Bearer {token}"}) as c:
        names = {t["name"] for t in await sup.list_all_tools(c)}
        assert name in names, f"{name} not served: {sorted(names)}"
        return await c.call_tool(name, args or {})


# --------------------------------------------------------------------------- the policy holds upstream


async def test_the_policy_testbed_denies_guest_catalog_reads_directly(policy_testbed) -> None:
    """The oracle: Backstage itself refuses the guest and serves the service token."""
    tb = policy_testbed
    guest = guest_token(tb)
    path = "/api/catalog/entities/by-name/component/default/payment-service"
    as_guest = httpx.get(tb.base_url + path, headers={"authorization": f"Bearer {guest}"}, timeout=30)
    as_service = httpx.get(tb.base_url + path, headers={"authorization": f"Bearer {tb.token}"}, timeout=30)
    assert as_guest.status_code == 404, as_guest.text
    assert as_service.status_code == 200, as_service.text
    own = httpx.get(tb.base_url + "/api/catalog/entities/by-name/user/default/guest",
                    headers={"authorization": f"Bearer {guest}"}, timeout=30)
    assert own.status_code == 200, "the guest still reads its own User entity"


# --------------------------------------------------------------------------- curated tools


async def test_curated_tools_run_as_the_user(policy_testbed, server) -> None:
    tb = policy_testbed
    guest = guest_token(tb)
    mark = tb.proxy.mark()
    denied = await call(server, guest, "get_entity", {"entityRef": DENIED_REF})
    assert denied.is_error, sup.text_of(denied)
    own = await call(server, guest, "get_entity", {"entityRef": GUEST})
    assert not own.is_error, sup.text_of(own)
    allowed = await call(server, STATIC, "get_entity", {"entityRef": DENIED_REF})
    assert not allowed.is_error, sup.text_of(allowed)
    catalog_calls = [r for r in tb.proxy.since(mark) if r.path.startswith("/api/catalog/entities")]
    assert catalog_calls, "no catalog request reached the proxy"
    # The guest's two calls carried the guest's token; the service's call carried the service's.
    assert {r.authorization for r in catalog_calls} == {f"Bearer {guest}", f"Bearer {tb.token}"}, \
        [(r.path, r.authorization[:20]) for r in catalog_calls]


async def test_check_connection_shows_the_user(policy_testbed, server) -> None:
    tb = policy_testbed
    result = await call(server, guest_token(tb), "check_connection")
    assert not result.is_error, sup.text_of(result)
    ident = result.structured_content["identity"]
    assert ident["kind"] == "user" and ident["subject"] == GUEST, ident


async def test_check_connection_for_a_user_shows_the_actions_registry(policy_testbed, server) -> None:
    tb = policy_testbed
    as_service = await call(server, STATIC, "check_connection")
    assert as_service.structured_content.get("actions"), "the service sees the Actions Registry section"
    as_user = await call(server, guest_token(tb), "check_connection")
    actions = as_user.structured_content.get("actions")
    assert actions and set(actions["sources"]) == set(as_service.structured_content["actions"]["sources"]), actions


# --------------------------------------------------------------------------- bridged actions


async def test_bridged_catalog_read_as_the_service_token(policy_testbed, server) -> None:
    tb = policy_testbed
    ok = await call(server, STATIC, "catalog_get_catalog_entity",
                    {"kind": "component", "namespace": "default", "name": "payment-service"})
    assert not ok.is_error, sup.text_of(ok)
    assert ok.structured_content["metadata"]["name"] == "payment-service"


async def test_bridged_who_am_i_shows_the_user(policy_testbed, server) -> None:
    tb = policy_testbed
    result = await call(server, guest_token(tb), "auth_who_am_i")
    assert not result.is_error, sup.text_of(result)
    assert result.structured_content["userInfo"]["userEntityRef"] == GUEST, result.structured_content


async def test_bridged_catalog_read_is_refused_for_the_denied_user(policy_testbed, server) -> None:
    tb = policy_testbed
    denied = await call(server, guest_token(tb), "catalog_get_catalog_entity",
                        {"kind": "component", "namespace": "default", "name": "payment-service"})
    assert denied.is_error, f"the guest read {DENIED_REF} through the bridge: {sup.text_of(denied)[:300]}"


async def test_no_bridged_call_for_a_user_carries_the_service_token(policy_testbed, server) -> None:
    tb = policy_testbed
    guest = guest_token(tb)
    mark = tb.proxy.mark()
    for name, args in (("auth_who_am_i", {}),
                       ("catalog_get_catalog_entity", {"kind": "user", "namespace": "default", "name": "guest"}),
                       ("catalog_query_catalog_entities", {"query": {"kind": "user"}, "limit": 2})):
        await call(server, guest, name, args)
    invokes = [r for r in tb.proxy.since(mark) if ACTIONS_PATH in r.path and r.path.endswith("/invoke")]
    assert len(invokes) >= 3, [r.path for r in tb.proxy.since(mark)]
    service = [r.path for r in invokes if r.authorization == f"Bearer {tb.token}"]
    assert not service, f"bridged calls for {GUEST} carried the service token: {service}"
    assert all(r.authorization == f"Bearer {guest}" for r in invokes), [r.authorization[:20] for r in invokes]
