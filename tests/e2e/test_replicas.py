"""Replicas behind a real proxy: three stagedoor processes (same config, Streamable HTTP,
against the testbed) behind HAProxy from Debian on 127.0.0.1, with active health checks on
`/readyz`.

- stateless (the default): calls are spread over every replica (HAProxy's per-server
  counters from its stats socket), and a Python SDK client session works across replicas
  with no stickiness;
- a rolling restart (SIGTERM: readiness 503 for `server.drainDelay`, requests in flight
  finish, start again) under a load of ≥ 1,000 calls at concurrency 16 fails no call;
- a replica SIGKILLed under load fails only the calls in flight on it (≤ the concurrency);
- `server.sessions: true` needs sticky routing on `Mcp-Session-Id` (a stick table fed
  from the response header): a session stays on its replica, and when that replica goes
  away the session's next request is a 404 (the spec's "start a new session"), after which
  the client initializes again.

HAProxy comes from Debian (`scripts/e2e.sh` installs it with apt-get when missing; or set
`HAPROXY`). The load is a small asyncio loop of raw JSON-RPC POSTs (httpx), so the client's
own cost does not hide the servers'.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import e2e_support as sup

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

REPLICAS = 3
CONCURRENCY = 16
CALLS = 1000
# HAProxy checks /readyz this often; one failed check takes a replica out, two good ones
# bring it back. The drain delay is several check intervals, so the proxy has stopped
# sending new requests before a replica stops accepting.
CHECK_INTER_MS = 200
DRAIN_DELAY = "1s"
SHUTDOWN_GRACE = "10s"
PROTOCOL = sup.LATEST_HANDSHAKE_VERSION

HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    # Retry (on another replica) only when the connection could not be made, so a
    # request is never sent twice.
    retries 3
    option redispatch 1
    retry-on conn-failure

frontend mcp
    bind 127.0.0.1:{port}
    default_backend stagedoor

backend stagedoor
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter {inter}ms fastinter {inter}ms downinter {inter}ms fall 1 rise 2
{sticky}{servers}
"""

# sessions: true — the replica that created a session is remembered from the response's
# Mcp-Session-Id and every request naming it goes there.
STICKY = """\
    stick-table type string len 64 size 100k expire 30m
    stick on req.hdr(mcp-session-id)
    stick store-response res.hdr(mcp-session-id)
"""


# --------------------------------------------------------------------------- cluster


@dataclass
class Cluster:
    """Replicas on fixed ports behind one HAProxy; every process stopped by PID."""

    binary: Path
    base_url: str
    token: str
    workdir: Path
    sessions: bool
    ports: list[int] = field(default_factory=list)
    replicas: list[sup.ServerProcess | None] = field(default_factory=list)
    haproxy: subprocess.Popen | None = None
    haproxy_port: int = 0
    config: Path | None = None

    @property
    def sock(self) -> Path:
        return self.workdir / "haproxy.sock"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.haproxy_port}/mcp"

    def start(self, haproxy_bin: str) -> None:
        self.config = self.workdir / "stagedoor.yaml"
        self.config.write_text(
            "server:\n"
            f"  sessions: {'true' if self.sessions else 'false'}\n"
            f"  drainDelay: {DRAIN_DELAY}\n"
            f"  shutdownGrace: {SHUTDOWN_GRACE}\n"
        )
        for i in range(REPLICAS):
            srv = self._start_replica(i, port=None)
            self.ports.append(srv.port)
            self.replicas.append(srv)
        self.haproxy_port = sup.free_port()
        servers = "".join(f"    server r{i} 127.0.0.1:{p} check\n" for i, p in enumerate(self.ports))
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(sock=self.sock, port=self.haproxy_port, inter=CHECK_INTER_MS,
                                          sticky=STICKY if self.sessions else "", servers=servers))
        check = subprocess.run([haproxy_bin, "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert check.returncode == 0, f"haproxy -c rejected the config:\n{check.stdout}{check.stderr}"
        log = open(self.workdir / "haproxy.log", "wb")  # noqa: SIM115 - closed with the process
        self.haproxy = subprocess.Popen([haproxy_bin, "-db", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=subprocess.STDOUT, cwd=str(self.workdir))
        log.close()
        self.wait_states(["UP"] * REPLICAS)

    def _start_replica(self, i: int, port: int | None) -> sup.ServerProcess:
        assert self.config is not None
        return sup.start_stagedoor_http(self.binary, base_url=self.base_url, token=self.token,
                                        log_dir=self.workdir / f"r{i}", config_files=[self.config],
                                        wait_path="/readyz", port=port)

    def restart(self, i: int) -> None:
        self.replicas[i] = self._start_replica(i, port=self.ports[i])

    def stop(self) -> None:
        for srv in self.replicas:
            if srv is not None:
                srv.stop(grace_s=15)
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
                self.haproxy.wait(timeout=5)

    # ----------------------------------------------------------------- HAProxy stats socket

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.sock))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """Per replica (`r0`...): HAProxy's `show stat` row (status, hrsp_2xx, ...)."""
        text = self.admin("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        return {r["svname"]: r for r in rows if r["pxname"] == "stagedoor" and r["svname"].startswith("r")}

    def answered(self) -> list[int]:
        """Responses each replica sent through the proxy (any status), r0..rN."""
        st = self.stats()
        return [sum(int(st[f"r{i}"][f"hrsp_{c}xx"] or 0) for c in range(1, 6)) for i in range(REPLICAS)]

    def states(self) -> list[str]:
        st = self.stats()
        return [st[f"r{i}"]["status"].split()[0] for i in range(REPLICAS)]

    def wait_states(self, want: list[str | None], timeout_s: float = 20) -> None:
        """Wait until each replica's HAProxy status is `want[i]` (None: any)."""
        deadline = time.monotonic() + timeout_s
        got: list[str] = []
        while time.monotonic() < deadline:
            if self.haproxy is not None and self.haproxy.poll() is not None:
                raise AssertionError(f"haproxy exited: {(self.workdir / 'haproxy.log').read_text()}")
            try:
                got = self.states()
                if all(w is None or g == w for g, w in zip(got, want, strict=True)):
                    return
            except (OSError, KeyError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"HAProxy states {got}, wanted {want}")


@pytest.fixture
def haproxy_bin() -> str:
    found = os.environ.get("HAPROXY") or shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if not found:
        pytest.fail("haproxy not found: `apt-get install haproxy` (scripts/e2e.sh does it), or set HAPROXY",
                    pytrace=False)
    return found


@pytest.fixture
def cluster(stagedoor_bin: Path, testbed: Any, tmp_path: Path, haproxy_bin: str,
            request: pytest.FixtureRequest) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(*, sessions: bool = False) -> Cluster:
        c = Cluster(binary=stagedoor_bin, base_url=testbed.base_url, token=testbed.token,
                    workdir=tmp_path / f"cluster{len(made)}", sessions=sessions)
        c.workdir.mkdir()
        made.append(c)
        from conftest import attach_log

        attach_log(request, c.workdir / "haproxy.log")
        c.start(haproxy_bin)
        for srv in c.replicas:
            if srv is not None:
                attach_log(request, srv.stderr_path)
        return c

    yield make
    for c in made:
        c.stop()
        for srv in c.replicas:
            assert srv is None or not srv.alive(), f"replica pid {srv.pid} still running"
        assert c.haproxy is None or c.haproxy.poll() is not None, "haproxy still running"


# --------------------------------------------------------------------------- load


def call_body(i: int, entity_ref: str) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                       "params": {"name": "get_entity", "arguments": {"entityRef": entity_ref}}}).encode()


HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": PROTOCOL}


@dataclass
class LoadResult:
    ok: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.ok + len(self.failed)


async def run_load(url: str, entity_ref: str, *, calls: int, until: asyncio.Event | None = None,
                   pace_s: float = 0.0) -> LoadResult:
    """`calls` stateless tools/call POSTs at CONCURRENCY (more if `until` is not yet set when
    they are done). A call fails unless it is HTTP 200 with a result that is not an error."""
    result = LoadResult()
    issued = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def worker(http: httpx.AsyncClient) -> None:
        nonlocal issued
        while issued < calls or (until is not None and not until.is_set()):
            issued += 1
            i = issued
            try:
                r = await http.post(url, content=call_body(i, entity_ref), headers=HEADERS)
                body = r.json() if r.status_code == 200 else None
                if body is not None and "result" in body and not body["result"].get("isError"):
                    result.ok += 1
                else:
                    result.failed.append(f"call {i}: HTTP {r.status_code} {r.text[:200]}")
            except httpx.HTTPError as e:
                result.failed.append(f"call {i}: {type(e).__name__}: {e}")
            if pace_s:
                await asyncio.sleep(pace_s)

    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    return result


def entity_of(testbed: Any) -> str:
    assert testbed.expected_refs, "the testbed lists no expected entities"
    return testbed.expected_refs[0]


# --------------------------------------------------------------------------- stateless


async def test_calls_spread_over_every_replica_and_an_sdk_session_needs_no_stickiness(cluster, testbed) -> None:
    c = cluster()
    ref = entity_of(testbed)
    before = c.answered()
    load = await run_load(c.url, ref, calls=300)
    assert not load.failed, load.failed[:5]
    spread = [a - b for a, b in zip(c.answered(), before, strict=True)]
    assert sum(spread) == 300, spread
    # Round robin: each replica answers about a third.
    assert all(n >= 300 // REPLICAS // 2 for n in spread), f"calls per replica: {spread}"

    # One SDK client session (initialize handshake, then calls) through the proxy: its
    # requests land on several replicas and every one succeeds.
    before = c.answered()
    async with sup.sdk_http_client(c.url, "legacy") as client:
        for _ in range(6):
            result = await sup.call(client, "get_entity", {"entityRef": ref})
            assert ref.split("/")[-1] in json.dumps(result), result
    used = [a - b for a, b in zip(c.answered(), before, strict=True)]
    assert sum(1 for n in used if n) >= 2, f"the session's requests all went to one replica: {used}"


async def test_rolling_restart_under_load_fails_no_call(cluster, testbed) -> None:
    c = cluster()
    ref = entity_of(testbed)
    restarted = asyncio.Event()
    restarts: list[str] = []

    async def roll() -> None:
        await asyncio.sleep(0.5)  # load running
        for i in range(REPLICAS):
            srv = c.replicas[i]
            assert srv is not None
            srv.proc.send_signal(signal.SIGTERM)
            # Readiness turns 503 first: HAProxy takes the replica out while it still serves.
            want: list[str | None] = [None] * REPLICAS
            want[i] = "DOWN"
            await asyncio.to_thread(c.wait_states, want, 10)
            assert srv.alive(), "the replica stopped before the proxy took it out"
            rc = await asyncio.to_thread(srv.proc.wait, 30)
            assert rc == 0, f"replica r{i} exited with {rc} after SIGTERM:\n{srv.stderr_text()}"
            srv.stop()
            with_stop = srv.stderr_text(tail_lines=None)
            assert "draining" in with_stop, with_stop
            await asyncio.to_thread(c.restart, i)
            want[i] = "UP"
            await asyncio.to_thread(c.wait_states, want, 20)
            restarts.append(f"r{i}")
        restarted.set()

    load, _ = await asyncio.gather(run_load(c.url, ref, calls=CALLS, until=restarted, pace_s=0.04), roll())
    assert restarts == [f"r{i}" for i in range(REPLICAS)]
    assert load.total >= CALLS
    assert not load.failed, f"{len(load.failed)} of {load.total} calls failed: {load.failed[:5]}"


async def test_a_killed_replica_fails_only_the_calls_in_flight_on_it(cluster, testbed) -> None:
    c = cluster()
    ref = entity_of(testbed)
    killed = asyncio.Event()

    async def kill() -> None:
        await asyncio.sleep(1.0)
        victim = c.replicas[1]
        assert victim is not None
        victim.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(victim.proc.wait, 10)
        victim.stop()
        await asyncio.to_thread(c.wait_states, [None, "DOWN", None], 10)
        killed.set()

    load, _ = await asyncio.gather(run_load(c.url, ref, calls=CALLS, until=killed, pace_s=0.04), kill())
    # Only requests already sent to the killed replica can fail: at most one per client
    # connection. Every other call is answered (connection failures are retried elsewhere).
    assert len(load.failed) <= CONCURRENCY, f"{len(load.failed)} failed: {load.failed[:5]}"
    assert load.ok == load.total - len(load.failed) and load.ok >= CALLS - CONCURRENCY
    print(f"SIGKILL under load: {len(load.failed)} of {load.total} calls failed")
    # The survivors keep serving.
    after = await run_load(c.url, ref, calls=60)
    assert not after.failed, after.failed[:5]


# --------------------------------------------------------------------------- sessions


async def initialize(http: httpx.AsyncClient, url: str) -> str:
    r = await http.post(url, headers=HEADERS, json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                   "clientInfo": {"name": "replica-test", "version": "1"}}})
    assert r.status_code == 200, r.text
    session = r.headers.get("mcp-session-id")
    assert session, "sessions mode issued no Mcp-Session-Id"
    r = await http.post(url, headers={**HEADERS, "mcp-session-id": session},
                        json={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert r.status_code == 202, r.text
    return session


async def session_call(http: httpx.AsyncClient, url: str, session: str, i: int, ref: str) -> httpx.Response:
    return await http.post(url, headers={**HEADERS, "mcp-session-id": session}, content=call_body(i, ref))


def sse_result(r: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer of a sessions-mode POST (an event stream or plain JSON)."""
    if r.headers.get("content-type", "").startswith("application/json"):
        return r.json()
    for line in r.text.splitlines():
        if line.startswith("data:") and line[5:].strip():
            msg = json.loads(line[5:])
            if "result" in msg or "error" in msg:
                return msg
    raise AssertionError(f"no JSON-RPC answer in {r.text[:500]}")


async def test_sessions_stick_to_their_replica_and_are_recreated_when_it_goes(cluster, testbed) -> None:
    c = cluster(sessions=True)
    ref = entity_of(testbed)
    async with httpx.AsyncClient(timeout=30) as http:
        before = c.answered()
        session = await initialize(http, c.url)
        for i in range(9):
            r = await session_call(http, c.url, session, i + 1, ref)
            assert r.status_code == 200, r.text
            assert "result" in sse_result(r)
        used = [a - b for a, b in zip(c.answered(), before, strict=True)]
        assert sum(1 for n in used if n) == 1, f"a session's requests went to several replicas: {used}"
        home = next(i for i, n in enumerate(used) if n)
        assert used[home] == 11, used  # initialize, initialized, 9 calls

        # The SDK client in legacy mode (initialize, session id on every request, its GET
        # stream) works through the sticky proxy.
        async with sup.sdk_http_client(c.url, "legacy") as client:
            for _ in range(6):
                result = await sup.call(client, "get_entity", {"entityRef": ref})
                assert ref.split("/")[-1] in json.dumps(result), result

        # The session's replica goes away: its next request lands elsewhere and is a 404,
        # the spec's signal to start a new session; a new one works.
        srv = c.replicas[home]
        assert srv is not None
        srv.stop(grace_s=15)
        want: list[str | None] = [None] * REPLICAS
        want[home] = "DOWN"
        c.wait_states(want)
        r = await session_call(http, c.url, session, 100, ref)
        assert r.status_code == 404, f"HTTP {r.status_code}: {r.text}"
        assert r.text.strip(), "the 404 says nothing"
        fresh = await initialize(http, c.url)
        assert fresh != session
        r = await session_call(http, c.url, fresh, 101, ref)
        assert r.status_code == 200, r.text
        assert "result" in sse_result(r)
