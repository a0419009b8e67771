"""Plain helpers for the end-to-end tests (no fixtures here; those live in conftest.py).

Everything a test needs to start, talk to and stop a real stagedoor process, and to drive
it with real third-party MCP clients: the Python `mcp` SDK (2.3.0) and the MCP Inspector
CLI (run on Node 22).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

TOOL_NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")

# Python SDK connect modes exercised everywhere: the initialize handshake, discover with
# fallback, and the stateless 2026-07-28 revision adopted directly.
SDK_MODES = ("legacy", "auto", "2026-07-28")

# The newest handshake-era revision the SDK requests in legacy mode; a dual-era server
# must echo it. `auto` against a dual-era server must land on the stateless revision.
LATEST_HANDSHAKE_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"

STOP_GRACE_S = 5.0

# Servers currently running, so a failing test can show their stderr (see conftest).
RUNNING: list["ServerProcess"] = []


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """A port nothing listens on right now (bind to :0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen | None, timeout_s: float, expect: int = 200) -> None:
    """Poll `url` until it answers `expect`; fail early if `proc` dies."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last: str = "no attempt"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code == expect:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}"
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout_s}s (last: {last})")


# --------------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def stop_pid(pid: int, grace_s: float = STOP_GRACE_S) -> str:
    """SIGTERM a process we did not spawn (no Popen handle), SIGKILL after the grace period.
    Returns "term", "kill" or "gone"."""
    if not pid_alive(pid):
        return "gone"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return "term"
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        raise RuntimeError(f"pid {pid} survived SIGKILL")
    return "kill"


@dataclass
class ServerProcess:
    """One stagedoor process we started (HTTP transport)."""

    proc: subprocess.Popen
    port: int
    stderr_path: Path
    argv: list[str]
    env: dict[str, str]
    stop_how: str | None = None  # "term" | "kill" once stopped

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_text(self, tail_lines: int | None = 200) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError as e:
            return f"<cannot read {self.stderr_path}: {e}>"
        if tail_lines is not None:
            lines = text.splitlines()
            if len(lines) > tail_lines:
                text = "\n".join([f"... ({len(lines) - tail_lines} earlier lines)"] + lines[-tail_lines:])
        return text

    def stop(self, grace_s: float = STOP_GRACE_S) -> str:
        """SIGTERM by PID, SIGKILL after the grace period; asserts the process is gone."""
        if self.stop_how is not None:
            return self.stop_how
        how = "gone"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace_s)
                how = "term"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
                how = "kill"
        assert self.proc.poll() is not None, f"stagedoor pid {self.pid} still running after SIGKILL"
        self.stop_how = how
        with contextlib.suppress(ValueError):
            RUNNING.remove(self)
        return how


def start_stagedoor_http(
    binary: Path,
    *,
    base_url: str,
    token: str | None,
    log_dir: Path,
    extra_args: Iterable[str] = (),
    config_files: Iterable[Path | str] = (),
    env: Mapping[str, str] | None = None,
    wait_path: str = "/healthz",
    start_timeout_s: float = 20.0,
    port: int | None = None,
) -> ServerProcess:
    """Start `stagedoor serve --transport http --listen 127.0.0.1:<free port>` and wait until
    `GET /healthz` answers 200. Retries on a lost port race. `port` fixes the port (e.g. to
    start a replica again where a proxy expects it); it is then tried once."""
    last_err: Exception | None = None
    fixed = port
    for _attempt in range(3 if fixed is None else 1):
        port = fixed if fixed is not None else free_port()
        argv = [str(binary), "serve"]
        for c in config_files:
            argv += ["--config", str(c)]
        argv += ["--transport", "http", "--listen", f"127.0.0.1:{port}", *extra_args]
        penv = base_env()
        penv["BACKSTAGE_BASE_URL"] = base_url
        if token is not None:
            penv["BACKSTAGE_TOKEN"] = token
        penv.update(env or {})
        log_dir.mkdir(parents=True, exist_ok=True)
        stderr_path = log_dir / f"stagedoor-http-{port}.stderr.log"
        with open(stderr_path, "wb") as errf:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=errf,  # nothing should be on stdout in http mode; keep it with the logs
                stderr=errf,
                env=penv,
                cwd=str(log_dir),
            )
        srv = ServerProcess(proc=proc, port=port, stderr_path=stderr_path, argv=argv, env=penv)
        RUNNING.append(srv)
        try:
            wait_for_http(srv.base + wait_path, proc, start_timeout_s)
            return srv
        except Exception as e:  # noqa: BLE001 - reported below with the server's stderr
            srv.stop()
            last_err = e
            if "address" in srv.stderr_text().lower() and "in use" in srv.stderr_text().lower():
                continue  # lost the port race; try another port
            raise RuntimeError(
                f"stagedoor did not become healthy: {e}\nargv: {shlex.join(argv)}\n"
                f"--- stderr ({stderr_path}) ---\n{srv.stderr_text()}"
            ) from e
    raise RuntimeError(f"stagedoor could not bind a free port after 3 attempts: {last_err}")


def base_env() -> dict[str, str]:
    """A minimal, predictable environment for child servers (no inherited Backstage or
    MCP settings from the developer's shell)."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME", "TERM")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("RUST_BACKTRACE", "1")
    if "RUST_LOG" in os.environ:
        env["RUST_LOG"] = os.environ["RUST_LOG"]
    return env


# --------------------------------------------------------------------------- Python SDK clients


@contextlib.asynccontextmanager
async def sdk_http_client(url: str, mode: str, headers: Mapping[str, str] | None = None,
                          read_timeout_s: float = 60.0, **client_kw: Any) -> AsyncIterator[Any]:
    """A connected `mcp.Client` over Streamable HTTP. `headers` go on every request (e.g.
    `Authorization` for the official plugin's endpoint); `client_kw` go to `mcp.Client`
    (e.g. `message_handler` to see notifications)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    if headers:
        async with create_mcp_http_client(headers=dict(headers)) as http:
            async with Client(streamable_http_client(url, http_client=http), mode=mode,
                              read_timeout_seconds=read_timeout_s, **client_kw) as client:
                yield client
    else:
        async with Client(url, mode=mode, read_timeout_seconds=read_timeout_s, **client_kw) as client:
            yield client


@contextlib.asynccontextmanager
async def sdk_stdio_client(binary: Path, env: Mapping[str, str], mode: str, stderr_path: Path,
                           extra_args: Iterable[str] = (), read_timeout_s: float = 60.0,
                           **client_kw: Any) -> AsyncIterator[Any]:
    """A connected `mcp.Client` that launches `stagedoor serve --transport stdio` itself.
    The child's stderr goes to `stderr_path`; `client_kw` go to `mcp.Client`."""
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=str(binary),
        args=["serve", "--transport", "stdio", *extra_args],
        env=dict(env),
        cwd=str(stderr_path.parent),
    )
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    with open(stderr_path, "a") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode,
                          read_timeout_seconds=read_timeout_s, **client_kw) as client:
            yield client


def dump(model: Any) -> Any:
    """A pydantic model from the SDK as wire JSON (camelCase aliases)."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


def text_of(result: Any) -> str:
    """The concatenated text blocks of a CallToolResult."""
    return "".join(getattr(b, "text", "") for b in result.content if getattr(b, "type", None) == "text")


# --------------------------------------------------------------------------- assertions shared by tests


def assert_tools_well_formed(tools: list[dict[str, Any]]) -> None:
    """Checks every tool in a tools/list result (wire JSON) against the design's rules."""
    assert tools, "tools/list returned no tools"
    names = [t["name"] for t in tools]
    assert len(names) == len(set(names)), f"duplicate tool names: {names}"
    for t in tools:
        name = t["name"]
        assert TOOL_NAME_RE.match(name), f"tool name {name!r} is not [a-z0-9_]{{1,64}}"
        assert isinstance(t.get("description"), str) and t["description"].strip(), f"{name}: no description"
        schema = t.get("inputSchema")
        assert isinstance(schema, dict) and schema.get("type") == "object", f"{name}: inputSchema {schema!r}"
        out = t.get("outputSchema")
        assert isinstance(out, dict) and out.get("type") == "object", f"{name}: outputSchema {out!r}"
        ann = t.get("annotations")
        assert isinstance(ann, dict) and ann, f"{name}: no annotations"
        for hint in ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"):
            if hint in ann:
                assert isinstance(ann[hint], bool), f"{name}: annotations.{hint} is {ann[hint]!r}"
        assert "readOnlyHint" in ann, f"{name}: annotations lack readOnlyHint"


PLUGIN_KEYS = ("catalog", "scaffolder", "techdocs", "search")


def assert_check_connection_shape(sc: Any) -> None:
    assert isinstance(sc, dict), f"structuredContent is {type(sc).__name__}: {sc!r}"
    for key in ("baseUrl", "reachable", "plugins", "identity", "advice"):
        assert key in sc, f"check_connection lacks {key!r}: {sorted(sc)}"
    assert isinstance(sc["reachable"], bool)
    # latencyMs is the catalog's round trip: absent when the catalog did not answer.
    if "latencyMs" in sc:
        assert isinstance(sc["latencyMs"], (int, float)) and sc["latencyMs"] >= 0, sc["latencyMs"]
    assert isinstance(sc["advice"], list) and all(isinstance(a, str) for a in sc["advice"]), sc["advice"]
    plugins = sc["plugins"]
    assert isinstance(plugins, dict), plugins
    for p in PLUGIN_KEYS:
        assert p in plugins, f"plugins lacks {p!r}: {sorted(plugins)}"
        assert isinstance(plugins[p], dict) and isinstance(plugins[p].get("ok"), bool), f"plugins.{p} = {plugins[p]!r}"


def assert_text_mirrors_structured(result_json: dict[str, Any]) -> None:
    """The design: results are structuredContent plus the same JSON as text."""
    sc = result_json.get("structuredContent")
    texts = [b for b in result_json.get("content", []) if b.get("type") == "text"]
    assert texts, f"no text content: {result_json!r}"
    parsed = json.loads("".join(b["text"] for b in texts))
    assert parsed == sc, f"text content differs from structuredContent:\n text={parsed!r}\n sc={sc!r}"


# --------------------------------------------------------------------------- Inspector CLI


@dataclass
class InspectorResult:
    rc: int
    stdout: str
    stderr: str
    json: Any = None
    argv: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"inspector rc={self.rc}\nargv: {shlex.join(self.argv)}\n--- stderr ---\n{self.stderr[-6000:]}"
                f"\n--- stdout ---\n{self.stdout[-3000:]}")


def parse_json_stdout(out: str) -> Any:
    out = out.strip()
    if not out:
        return None
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        pass
    # Tolerate noise before the JSON document (e.g. warnings printed to stdout).
    for i, ch in enumerate(out):
        if ch in "{[":
            try:
                return json.loads(out[i:])
            except json.JSONDecodeError:
                continue
    return None


def tools_env_hint() -> str:
    return "run scripts/install-test-tools.sh and `source` the env file it prints"


def load_tools_env() -> dict[str, str]:
    """INSPECTOR / CONFORMANCE / NODE22 from the environment, else from the tools env file."""
    keys = ("NODE22", "INSPECTOR", "CONFORMANCE")
    found = {k: os.environ[k] for k in keys if os.environ.get(k)}
    if len(found) == len(keys):
        return found
    tools_dir = Path(os.environ.get("STAGEDOOR_TOOLS_DIR", Path.home() / ".cache/stagedoor/tools"))
    env_file = tools_dir / "env.sh"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            m = re.match(r'^export (\w+)="(.*)"$', line.strip())
            if m and m.group(1) in keys and m.group(1) not in found:
                found[m.group(1)] = m.group(2)
    return found


def run_inspector(inspector_cmd: str, target: list[str] | str, args: Iterable[str], *, workdir: Path,
                  headers: Mapping[str, str] | None = None, config: dict[str, Any] | None = None,
                  timeout_s: float = 60.0) -> InspectorResult:
    """Run `mcp-inspector --cli` on Node 22. `target` is a URL, or a stdio command given as
    a list (written into a throwaway --config file so its flags are never parsed by the
    Inspector itself). Catalog and storage go to `workdir`."""
    argv = shlex.split(inspector_cmd) + ["--cli"]
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(target, str):
        argv.append(target)
    else:
        cfg = config or {}
        cfg_path = Path(tempfile.mkstemp(prefix="inspector-cfg-", suffix=".json", dir=workdir)[1])
        cfg_path.write_text(json.dumps({"mcpServers": {"stagedoor": {
            "type": "stdio", "command": target[0], "args": target[1:], **cfg}}}))
        argv += ["--config", str(cfg_path), "--server", "stagedoor"]
    for k, v in (headers or {}).items():
        argv += ["--header", f"{k}: {v}"]
    argv += list(args)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKSTAGE_", "MCP_"))}
    if isinstance(target, str):
        # --catalog (here via MCP_CATALOG_PATH) and --config are mutually exclusive.
        env["MCP_CATALOG_PATH"] = str(workdir / "inspector-catalog.json")
    env["HOME"] = str(workdir)  # the Inspector also creates ~/.mcp-inspector/storage
    env["NO_COLOR"] = "1"
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=str(workdir),
                       stdin=subprocess.DEVNULL)
    return InspectorResult(rc=p.returncode, stdout=p.stdout, stderr=p.stderr, json=parse_json_stdout(p.stdout),
                           argv=argv)


# --------------------------------------------------------------------------- testbed env file


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (optionally `export`, optionally quoted); # comments ignored."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].strip()
        if "=" not in line:
            continue
        k, v = line.split("=", 1)
        v = v.strip()
        if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
            v = v[1:-1]
        out[k.strip()] = v
    return out


def parse_expected_entities(path: Path) -> list[str]:
    refs = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            refs.append(line)
    return refs


async def list_all_tools(client: Any) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools += [dump(t) for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return tools
    raise AssertionError("tools/list pagination did not end after 50 pages")


def inspector_tool_call(inspector_cli: Any, target: Any, tool: str, args: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """Calls one tool through the Inspector CLI; it must succeed. Returns structuredContent
    (after checking the text block mirrors it)."""
    argv = ["--method", "tools/call", "--tool-name", tool]
    for k, v in args.items():
        argv += ["--tool-arg", f"{k}={v if isinstance(v, str) else json.dumps(v)}"]
    res = inspector_cli(target, *argv, **kw)
    assert res.rc == 0, res.describe()
    assert isinstance(res.json, dict) and not res.json.get("isError"), res.describe()
    assert_text_mirrors_structured(res.json)
    return res.json["structuredContent"]


async def call(client: Any, name: str, args: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """Calls a tool that must succeed; returns structuredContent (and checks the text mirror)."""
    result = await client.call_tool(name, args, **kw)
    wire = dump(result)
    assert not result.is_error, f"{name}({args}) failed: {text_of(result)}"
    assert_text_mirrors_structured(wire)
    assert isinstance(result.structured_content, dict), wire
    return result.structured_content


async def call_error(client: Any, name: str, args: dict[str, Any], **kw: Any) -> str:
    """Calls a tool that must fail with isError; returns the error text."""
    result = await client.call_tool(name, args, **kw)
    assert result.is_error, f"{name}({args}) should fail: {dump(result)}"
    return text_of(result)
