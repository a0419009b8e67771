"""Fixtures for stagedoor's end-to-end tests.

- `stagedoor_bin`     the binary under test ($STAGEDOOR_BIN, default target/debug/stagedoor)
- `testbed`           a real Backstage backend (reused from testbed/.run/testbed.env, or
                      started with testbed/start.sh and stopped by PID at session end)
- `stagedoor_http`    factory: start `stagedoor serve --transport http` on a free port
- `testbed_server`    one HTTP stagedoor against the testbed, shared by the session
- `stdio_env`         env for `stagedoor serve --transport stdio` against the testbed
- `inspector_cli`     run the MCP Inspector CLI (Node 22) against a URL or a command
- `fake_upstream`     a misbehaving "Backstage" (hang / 500 / garbage / drop / 401)
- `dead_port`         a 127.0.0.1 port with nothing listening

Every server binds 127.0.0.1 on a free port and is stopped by PID by whoever started it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import e2e_support as sup
from e2e_support import REPO_ROOT


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# --------------------------------------------------------------------------- failure reports


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """On a failing test, attach the stderr of every stagedoor still running."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        own = {str(p) for p in getattr(item, "_stagedoor_logs", [])}
        for srv in list(sup.RUNNING):
            if str(srv.stderr_path) in own:
                continue  # shown below
            rep.sections.append((f"stagedoor stderr (pid {srv.pid}, {srv.url})", srv.stderr_text()))
        for path in getattr(item, "_stagedoor_logs", []):
            try:
                text = Path(path).read_text(errors="replace")[-20000:]
            except OSError as e:
                text = f"<unreadable: {e}>"
            rep.sections.append((f"log {path}", text))


def attach_log(request: pytest.FixtureRequest, path: Path) -> None:
    """Show `path` in the report if the current test fails."""
    logs = getattr(request.node, "_stagedoor_logs", None)
    if logs is None:
        logs = []
        request.node._stagedoor_logs = logs
    logs.append(path)


# --------------------------------------------------------------------------- binary


@pytest.fixture(scope="session")
def stagedoor_bin() -> Path:
    raw = os.environ.get("STAGEDOOR_BIN", "target/debug/stagedoor")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"stagedoor binary not found or not executable at {path} "
                    f"(build it with `cargo build`, or set STAGEDOOR_BIN)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def session_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


# --------------------------------------------------------------------------- testbed


@dataclass
class Testbed:
    base_url: str
    token: str
    pid: int
    expected_refs: list[str]
    env_file: Path
    started_here: bool
    # The Backstage release line: "latest" (testbed/package.json) or "previous"
    # (testbed/previous/package.json; the compatibility subset, `pytest -m compat`).
    line: str = "latest"
    # Everything start.sh recorded (TESTBED_CIMD_CLIENT_ID, TESTBED_POLICY, ...).
    env: dict[str, str] = field(default_factory=dict)


TESTBED_DIR = REPO_ROOT / "testbed"
# TESTBED_LINE=previous runs against the previous release line, in its own run dir (the
# same default as scripts/lib/common.sh), so both lines can be up at once.
TESTBED_LINE = os.environ.get("TESTBED_LINE", "latest")
DEFAULT_RUN_DIR = TESTBED_DIR / ".run" / ("" if TESTBED_LINE == "latest" else TESTBED_LINE)
DEFAULT_TESTBED_ENV = DEFAULT_RUN_DIR / "testbed.env"
EXPECTED_ENTITIES = TESTBED_DIR / "catalog" / "expected-entities.txt"


def _alive_testbed(env_file: Path) -> dict[str, str] | None:
    if not env_file.is_file():
        return None
    env = sup.parse_env_file(env_file)
    try:
        pid = int(env.get("TESTBED_PID", ""))
    except ValueError:
        return None
    if not sup.pid_alive(pid) or not env.get("BACKSTAGE_BASE_URL"):
        return None
    return env


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    env_file = Path(os.environ.get("TESTBED_ENV", DEFAULT_TESTBED_ENV))
    env = _alive_testbed(env_file)
    started_here = False
    if env is None:
        start = TESTBED_DIR / "start.sh"
        if not start.is_file():
            pytest.fail(f"no running testbed ({env_file}) and no {start} to start one", pytrace=False)
        log = tmp_path_factory.mktemp("testbed") / "start.log"
        start_env = dict(os.environ, TESTBED_LINE=TESTBED_LINE, TESTBED_RUN_DIR=str(DEFAULT_RUN_DIR))
        with open(log, "wb") as f:
            p = subprocess.run([str(start)], cwd=str(TESTBED_DIR), stdout=f, stderr=subprocess.STDOUT, env=start_env,
                               stdin=subprocess.DEVNULL, timeout=int(os.environ.get("TESTBED_START_TIMEOUT", "900")))
        env_file = DEFAULT_TESTBED_ENV
        env = _alive_testbed(env_file)
        if p.returncode != 0 or env is None:
            pytest.fail(f"testbed/start.sh failed (rc={p.returncode}); log:\n{log.read_text(errors='replace')[-8000:]}",
                        pytrace=False)
        started_here = True
    refs = sup.parse_expected_entities(EXPECTED_ENTITIES) if EXPECTED_ENTITIES.is_file() else []
    tb = Testbed(base_url=env["BACKSTAGE_BASE_URL"].rstrip("/"), token=env.get("BACKSTAGE_TOKEN", ""),
                 pid=int(env["TESTBED_PID"]), expected_refs=refs, env_file=env_file, started_here=started_here,
                 line=env.get("TESTBED_LINE", "latest"), env=env)
    yield tb
    if started_here:
        # testbed/stop.sh signals the process group led by TESTBED_PID (Backstage and any
        # mkdocs child); fall back to signalling the PID ourselves.
        subprocess.run([str(TESTBED_DIR / "stop.sh")], cwd=str(TESTBED_DIR), stdin=subprocess.DEVNULL,
                       env=dict(os.environ, TESTBED_RUN_DIR=str(env_file.parent)),
                       capture_output=True, timeout=60, check=False)
        if sup.pid_alive(tb.pid):
            sup.stop_pid(tb.pid, grace_s=15)
        assert not sup.pid_alive(tb.pid), f"testbed pid {tb.pid} still alive"


# --------------------------------------------------------------------------- stagedoor over HTTP


StartFn = Callable[..., sup.ServerProcess]


@pytest.fixture
def stagedoor_http(stagedoor_bin: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StartFn]:
    """Factory: `stagedoor_http(base_url=..., token=..., extra_args=[...], config_files=[...],
    env={...})` starts a server and returns a ServerProcess (`.url` is `http://127.0.0.1:<port>/mcp`).
    Every server started is stopped by PID when the test ends; it must exit."""
    started: list[sup.ServerProcess] = []

    def start(*, base_url: str, token: str | None = None, **kw: Any) -> sup.ServerProcess:
        srv = sup.start_stagedoor_http(stagedoor_bin, base_url=base_url, token=token,
                                       log_dir=tmp_path / "stagedoor", **kw)
        started.append(srv)
        attach_log(request, srv.stderr_path)
        return srv

    yield start
    for srv in started:
        srv.stop()
        assert not srv.alive(), f"stagedoor pid {srv.pid} did not exit"


@pytest.fixture(scope="session")
def testbed_server(stagedoor_bin: Path, testbed: Testbed, session_logs: Path) -> Iterator[sup.ServerProcess]:
    """One HTTP stagedoor against the testbed, shared by read-only tests."""
    srv = sup.start_stagedoor_http(stagedoor_bin, base_url=testbed.base_url, token=testbed.token,
                                   log_dir=session_logs / "testbed-server")
    yield srv
    srv.stop()
    assert not srv.alive(), f"stagedoor pid {srv.pid} did not exit"


# --------------------------------------------------------------------------- stagedoor over stdio


@pytest.fixture
def stdio_env(testbed: Testbed) -> dict[str, str]:
    """Environment for `stagedoor serve --transport stdio` against the testbed."""
    env = sup.base_env()
    env["BACKSTAGE_BASE_URL"] = testbed.base_url
    env["BACKSTAGE_TOKEN"] = testbed.token
    return env


@pytest.fixture
def stdio_stderr(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """Where a stdio stagedoor's stderr goes (shown when the test fails)."""
    path = tmp_path / "stagedoor-stdio.stderr.log"
    attach_log(request, path)
    return path


# --------------------------------------------------------------------------- Inspector CLI


@pytest.fixture(scope="session")
def tools_env() -> dict[str, str]:
    env = sup.load_tools_env()
    missing = [k for k in ("NODE22", "INSPECTOR", "CONFORMANCE") if k not in env]
    if missing:
        pytest.fail(f"test tools not installed ({', '.join(missing)} unknown): {sup.tools_env_hint()}", pytrace=False)
    return env


@pytest.fixture
def inspector_cli(tools_env: dict[str, str], tmp_path: Path) -> Callable[..., sup.InspectorResult]:
    """`inspector_cli(target, *args, headers=None, config=None, timeout_s=60)`.
    target: a URL (`.../mcp` → Streamable HTTP) or a stdio command as a list; for a command,
    `config={"env": {...}}` sets its environment. Returns rc, stdout, stderr and parsed JSON."""

    def run(target: str | list[str], *args: str, headers: dict[str, str] | None = None,
            config: dict[str, Any] | None = None, timeout_s: float = 60.0) -> sup.InspectorResult:
        return sup.run_inspector(tools_env["INSPECTOR"], target, args, workdir=tmp_path / "inspector",
                                 headers=headers, config=config, timeout_s=timeout_s)

    return run


# --------------------------------------------------------------------------- fault injection


@dataclass
class FakeUpstream:
    """A misbehaving Backstage on 127.0.0.1. Set `.mode` per test:
    hang | 500 | garbage | drop | 401 | ok (ok answers 200 `{}` / `[]`) |
    json (answers `.json_status` with `.json_body`, whatever the request)."""

    port: int
    mode: str = "500"
    json_status: int = 200
    json_body: Any = None
    hang_s: float = 30.0
    requests: list[tuple[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        with self.lock:
            return [p for _, p in self.requests]


def _make_handler(state: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            with state.lock:
                state.requests.append((self.command, self.path))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            mode = state.mode
            if mode == "hang":
                state.release.wait(state.hang_s)
                self.close_connection = True
                return
            if mode == "drop":
                self.close_connection = True
                try:
                    # RST instead of FIN: the peer sees the connection die without an answer.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if mode == "500":
                self._json(500, {"error": {"name": "Error", "message": "boom"},
                                 "request": {"method": self.command, "url": self.path},
                                 "response": {"statusCode": 500}})
                return
            if mode == "401":
                self._json(401, {"error": {"name": "AuthenticationError", "message": "Illegal token"},
                                 "request": {"method": self.command, "url": self.path},
                                 "response": {"statusCode": 401}})
                return
            if mode == "garbage":
                data = b"<html><body>definitely not json \x00\xff{[</body>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if mode == "ok":
                self._json(200, {} if "entities/by-name" in self.path else [])
                return
            if mode == "json":
                self._json(state.json_status, state.json_body)
                return
            self._json(599, {"error": {"message": f"unknown fake mode {mode}"}})

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

    return Handler


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    state = FakeUpstream(port=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-upstream", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()  # let hanging handlers finish
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A 127.0.0.1 port with nothing listening. The socket stays bound (not listening) for the
    test, so no other process can take the port and connects are refused."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def open_client(transport: str, mode: str, *, server: sup.ServerProcess | None, binary: Path,
                env: dict[str, str], stderr: Path):
    if transport == "http":
        assert server is not None
        return sup.sdk_http_client(server.url, mode)
    return sup.sdk_stdio_client(binary, env, mode, stderr)


@pytest.fixture
def connect(request, stagedoor_bin, stdio_env, stdio_stderr):
    """connect(transport, mode) -> async context manager yielding a connected mcp.Client."""

    def make(transport: str, mode: str):
        server = request.getfixturevalue("testbed_server") if transport == "http" else None
        return open_client(transport, mode, server=server, binary=stagedoor_bin, env=stdio_env, stderr=stdio_stderr)

    return make
