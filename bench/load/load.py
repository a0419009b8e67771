#!/usr/bin/env python3
"""Load harness driver (run by bench/load/run.sh): starts stagedoor (release build) against the
testbed, drives every series with wrk at each concurrency, samples stagedoor's RSS, opens
1,000 sessions, times start to ready, and prints a Markdown report.

wrk generates the load (bench/load/post.lua, get.lua); this script only starts processes,
checks one answer of each series first, reads /proc and formats. Standard library only.

  python3 bench/load/load.py --bin target/release/stagedoor --env testbed/.run/testbed.env
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import env_file, free_port  # noqa: E402

HERE = Path(__file__).resolve().parent
ENTITY = {"kind": "component", "namespace": "default", "name": "payment-service"}
ENTITY_REF = "component:default/payment-service"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": "2025-11-25"}
CONCURRENCY = (1, 8, 32, 64)


def tool_call(name: str, args: dict) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": name, "arguments": args}})


def status_of(port: int, path: str) -> int | None:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", path)
        st = c.getresponse().status
        c.close()
        return st
    except OSError:
        return None


@dataclass
class Stagedoor:
    proc: subprocess.Popen
    port: int
    ready_ms: float
    healthy_ms: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_stagedoor(binary: str, base: str, token: str, logdir: Path, name: str, *, cache_off: bool = False,
                    sessions: bool = False) -> Stagedoor:
    cfg = logdir / f"{name}.yaml"
    cfg.write_text("actions:\n  pluginSources: [catalog, scaffolder]\nlogging:\n  level: warn\n"
                   f"server:\n  sessions: {'true' if sessions else 'false'}\n")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "BACKSTAGE_BASE_URL": base, "BACKSTAGE_TOKEN": token}
    if cache_off:
        env["CACHE_TTL_SECONDS"] = "0"
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "serve", "--transport", "http", "--listen", f"127.0.0.1:{port}",
                             "--config", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                            stdout=(logdir / f"{name}.log").open("wb"), stderr=subprocess.STDOUT)
    healthy = ready = None
    while time.monotonic() - t0 < 30:
        if proc.poll() is not None:
            sys.exit(f"stagedoor ({name}) exited: {(logdir / f'{name}.log').read_text()}")
        if healthy is None and status_of(port, "/healthz") == 200:
            healthy = (time.monotonic() - t0) * 1000
        if healthy is not None and status_of(port, "/readyz") == 200:
            ready = (time.monotonic() - t0) * 1000
            break
    if ready is None or healthy is None:
        proc.kill()
        sys.exit(f"stagedoor ({name}) did not become ready")
    return Stagedoor(proc, port, ready, healthy)


def check_answer(url: str, body: str | None, headers: dict[str, str]) -> None:
    """One request of a series before it is measured: it must be a success."""
    u = url.removeprefix("http://")
    hostport, path = u.split("/", 1)
    host, port = hostport.split(":")
    deadline = time.monotonic() + 20  # the bridge lists actions in the background at start
    while True:
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.request("POST" if body else "GET", "/" + path, body=body, headers=headers)
        r = c.getresponse()
        text = r.read().decode(errors="replace")
        c.close()
        if r.status == 200 and '"isError":true' not in text and '"error":{' not in text:
            return
        if time.monotonic() > deadline:
            sys.exit(f"{url}: HTTP {r.status}: {text[:500]}")
        time.sleep(0.2)


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    bad: int
    rss_mib: float | None = None


def wrk(url: str, body: str | None, headers: dict[str, str], conc: int, duration: str,
        sampled: Stagedoor | None) -> Run:
    script = HERE / ("post.lua" if body else "get.lua")
    argv = ["wrk", "-t", str(min(conc, 2)), "-c", str(conc), "-d", duration, "--timeout", "30s",
            "-s", str(script)]
    for k, v in headers.items():
        if k.lower() != "content-type":
            argv += ["-H", f"{k}: {v}"]
    argv.append(url)
    env = dict(os.environ, BODY=body or "")
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            if sampled is not None:
                peak[0] = max(peak[0], sampled.rss_kib())
            stop.wait(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    stop.set()
    t.join()
    m = re.search(r"RESULT requests=(\d+) duration_us=(\d+) p50_us=(\d+) p99_us=(\d+) bad=(\d+) "
                  r"socket_errors=(\d+)", out.stdout)
    if not m:
        sys.exit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    req, dur, p50, p99, bad, sock = (int(x) for x in m.groups())
    return Run(rps=req / (dur / 1e6), p50_ms=p50 / 1000, p99_ms=p99 / 1000, bad=bad + sock,
               rss_mib=peak[0] / 1024 if sampled is not None else None)


def open_sessions(sd: Stagedoor, n: int) -> None:
    """`n` MCP sessions (initialize + notifications/initialized each), left open."""
    c = http.client.HTTPConnection("127.0.0.1", sd.port, timeout=30)
    init = json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                       "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                  "clientInfo": {"name": "load", "version": "1"}}})
    done = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for i in range(n):
        c.request("POST", "/mcp", body=init, headers=MCP_HEADERS)
        r = c.getresponse()
        r.read()
        sid = r.getheader("mcp-session-id")
        if r.status != 200 or not sid:
            sys.exit(f"session {i}: HTTP {r.status}, no session id")
        c.request("POST", "/mcp", body=done, headers=MCP_HEADERS | {"Mcp-Session-Id": sid})
        r = c.getresponse()
        r.read()
        if r.status != 202:
            sys.exit(f"session {i}: initialized answered {r.status}")
    c.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--env", required=True, type=Path)
    ap.add_argument("--duration", default="5s")
    ap.add_argument("--sessions", type=int, default=1000)
    args = ap.parse_args()
    tb = env_file(args.env)
    base, token = tb["BACKSTAGE_BASE_URL"].rstrip("/"), tb["BACKSTAGE_TOKEN"]
    auth = {"Authorization": f"Bearer {token}"}
    logdir = Path(tempfile.mkdtemp(prefix="stagedoor-load-"))
    started: list[Stagedoor] = []
    try:
        cached = start_stagedoor(args.bin, base, token, logdir, "cached")
        started.append(cached)
        uncached = start_stagedoor(args.bin, base, token, logdir, "uncached", cache_off=True)
        started.append(uncached)
        starts = [start_stagedoor(args.bin, base, token, logdir, f"start{i}") for i in range(5)]
        for s in starts:
            s.stop()
        series = [
            ("stagedoor get_entity, cached", cached.url, tool_call("get_entity", {"entityRef": ENTITY_REF}),
             MCP_HEADERS, cached),
            ("stagedoor get_entity, cache off", uncached.url,
             tool_call("get_entity", {"entityRef": ENTITY_REF}), MCP_HEADERS, uncached),
            ("stagedoor bridged action", cached.url, tool_call("catalog_get_catalog_entity", ENTITY),
             MCP_HEADERS, cached),
            ("official endpoint", base + "/api/mcp-actions/v1", tool_call("catalog.get-catalog-entity", ENTITY),
             MCP_HEADERS | auth, None),
            ("direct action invoke", base + "/api/catalog/.backstage/actions/v2/actions/"
             "catalog:get-catalog-entity/invoke", json.dumps({"input": ENTITY}),
             {"Content-Type": "application/json"} | auth, None),
            ("REST by-name", base + "/api/catalog/entities/by-name/component/default/payment-service", None,
             auth, None),
        ]
        for name, url, body, headers, _ in series:
            check_answer(url, body, headers)
        idle_rss = cached.rss_kib() / 1024
        results: dict[str, dict[int, Run]] = {}
        for conc in CONCURRENCY:
            for name, url, body, headers, sd in series:
                # One answer first: the target has worked off any backlog of the last cell.
                check_answer(url, body, headers)
                r = wrk(url, body, headers, conc, args.duration, sd)
                results.setdefault(name, {})[conc] = r
                print(f"# c={conc:<3} {name:<32} {r.rps:9.1f} req/s  p50 {r.p50_ms:7.2f} ms  "
                      f"p99 {r.p99_ms:7.2f} ms  bad {r.bad}"
                      + (f"  RSS {r.rss_mib:.1f} MiB" if r.rss_mib is not None else ""), file=sys.stderr)
        sess = start_stagedoor(args.bin, base, token, logdir, "sessions", sessions=True)
        started.append(sess)
        sess_idle = sess.rss_kib() / 1024
        open_sessions(sess, args.sessions)
        time.sleep(0.5)
        sess_rss = sess.rss_kib() / 1024
        report(results, starts, idle_rss, sess_idle, sess_rss, args)
    finally:
        for s in started:
            s.stop()


def report(results: dict[str, dict[int, Run]], starts: list[Stagedoor], idle_rss: float, sess_idle: float,
           sess_rss: float, args: argparse.Namespace) -> None:
    print(f"wrk, {args.duration} per cell, concurrency {', '.join(map(str, CONCURRENCY))}; "
          f"{os.cpu_count()} cores, load average {open('/proc/loadavg').read().split()[0:3]} at the end.\n")
    print("| series | c | req/s | p50 ms | p99 ms | failed | stagedoor RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, by_c in results.items():
        for conc, r in by_c.items():
            rss = f"{r.rss_mib:.1f}" if r.rss_mib is not None else ""
            if r.rps == 0:
                print(f"| {name} | {conc} | 0 (no answer within {args.duration}) | | | {r.bad} | {rss} |")
            else:
                print(f"| {name} | {conc} | {r.rps:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.bad} | {rss} |")
    ready = [s.ready_ms for s in starts]
    healthy = [s.healthy_ms for s in starts]
    print()
    print(f"- start to ready (`/readyz` 200, one Backstage probe included), median of {len(ready)}: "
          f"{statistics.median(ready):.1f} ms (min {min(ready):.1f}); to `/healthz` 200: "
          f"{statistics.median(healthy):.1f} ms")
    print(f"- RSS idle after start: {idle_rss:.1f} MiB; sessions mode idle {sess_idle:.1f} MiB, "
          f"with {args.sessions} open sessions {sess_rss:.1f} MiB")

    def ratio(a: str, b: str, c: int) -> float:
        den = results[b][c].rps
        return results[a][c].rps / den if den else float("inf")

    print()
    print("| target (issue 11) | measured | holds |")
    print("|---|---:|---|")
    cached32 = results["stagedoor get_entity, cached"][32]
    rows = [
        ("cached get_entity ≥ 200x official at c=32",
         ratio("stagedoor get_entity, cached", "official endpoint", 32), 200, "x"),
        ("cached get_entity p99 ≤ 10 ms at c=32", cached32.p99_ms, 10, "ms"),
        ("uncached get_entity ≥ 10x official at c=32",
         ratio("stagedoor get_entity, cache off", "official endpoint", 32), 10, "x"),
        ("bridged ≥ 0.95x direct invoke at c=32",
         ratio("stagedoor bridged action", "direct action invoke", 32), 0.95, "x"),
        ("RSS ≤ 40 MiB at c=64",
         max(r[64].rss_mib or 0 for r in results.values() if r[64].rss_mib is not None), 40, "MiB"),
        (f"RSS ≤ 60 MiB with {args.sessions} sessions", sess_rss, 60, "MiB"),
        ("start to ready ≤ 25 ms", statistics.median(ready), 25, "ms"),
    ]
    for label, value, target, unit in rows:
        holds = value >= target if unit == "x" else value <= target
        shown = f"{value:.2f}x" if unit == "x" else f"{value:.1f} {unit}"
        if value == float("inf"):
            shown = "∞ (the reference answered no call within the window)"
        print(f"| {label} | {shown} | {'yes' if holds else 'no'} |")


if __name__ == "__main__":
    main()
