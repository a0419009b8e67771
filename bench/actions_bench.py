"""Latency of one catalog lookup, five ways, on the same testbed in one run.

    source "$(scripts/install-test-tools.sh)"
    export TESTBED_ENV=testbed/.run/testbed.env          # a running testbed (testbed/start.sh)
    $E2E_PYTHON bench/actions_bench.py --bin target/release/stagedoor [--calls 300]

Series (all for component:default/payment-service, all over one keep-alive connection each,
sequential, interleaved round by round so drift hits every series alike; every answer is
decoded and checked, as a client would):

  bridged   stagedoor  tools/call catalog_get_catalog_entity   (Actions Registry bridge)
  official  Backstage  tools/call catalog.get-catalog-entity   (POST /api/mcp-actions/v1)
  action    Backstage  POST /api/catalog/.backstage/actions/v2/actions/catalog:get-catalog-entity/invoke
  curated   stagedoor  tools/call get_entity                    (curated tool)
  rest      Backstage  GET /api/catalog/entities/by-name/component/default/payment-service

stagedoor is started twice by this script (stateless Streamable HTTP, JSON responses): with
its default response cache (60 s) and with the cache off (CACHE_TTL_SECONDS=0), and stopped
by PID at the end. Prints a Markdown table (median / p90 / p99 in ms, ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import httpx
from benchlib import env_file, free_port

REPO = Path(__file__).resolve().parents[1]
INPUT = {"kind": "component", "namespace": "default", "name": "payment-service"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
               "MCP-Protocol-Version": "2025-11-25"}


def start_stagedoor(binary: str, base: str, token: str, cache_off: bool, log: Path) -> tuple[subprocess.Popen, str]:
    cfg = Path(tempfile.mkstemp(suffix=".yaml")[1])
    cfg.write_text("actions:\n  pluginSources: [catalog, scaffolder]\nlogging:\n  level: warn\n")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "BACKSTAGE_BASE_URL": base, "BACKSTAGE_TOKEN": token}
    if cache_off:
        env["CACHE_TTL_SECONDS"] = "0"
    proc = subprocess.Popen([binary, "serve", "--transport", "http", "--listen", f"127.0.0.1:{port}",
                             "--config", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"stagedoor did not start; see {log}")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def mcp_result(r: httpx.Response) -> dict[str, Any]:
    r.raise_for_status()
    text = r.text
    if r.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(line[6:] for line in text.splitlines() if line.startswith("data: "))
    msg = json.loads(text)
    result = msg.get("result")
    if not result or result.get("isError"):
        raise RuntimeError(f"call failed: {msg}")
    return result


def tool_call(client: httpx.Client, url: str, name: str, args: dict[str, Any],
              headers: dict[str, str]) -> Callable[[], None]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}}

    def run() -> None:
        result = mcp_result(client.post(url, json=body, headers=headers))
        if "payment-service" not in json.dumps(result["structuredContent"]):
            raise RuntimeError(f"unexpected answer from {name}: {result}")

    return run


def direct(r: httpx.Response) -> None:
    """A direct Backstage answer, decoded like the MCP ones (every series parses its JSON)."""
    r.raise_for_status()
    if "payment-service" not in json.dumps(r.json()):
        raise RuntimeError(f"unexpected answer: {r.text[:300]}")


def measure(series: dict[str, Callable[[], None]], calls: int, warmup: int) -> dict[str, list[float]]:
    for fn in series.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in series}
    order = list(series)
    for _ in range(calls):
        random.shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            series[k]()
            times[k].append((time.perf_counter() - t0) * 1000)
    return times


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("STAGEDOOR_BIN", str(REPO / "target/release/stagedoor")))
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    tb = env_file(Path(os.environ.get("TESTBED_ENV", REPO / "testbed/.run/testbed.env")))
    base, token = tb["BACKSTAGE_BASE_URL"].rstrip("/"), tb["BACKSTAGE_TOKEN"]
    auth = {"Authorization": f"Bearer {token}"}
    logdir = Path(tempfile.mkdtemp(prefix="stagedoor-bench-"))
    procs = []
    try:
        sd, sd_url = start_stagedoor(args.bin, base, token, False, logdir / "cached.log")
        procs.append(sd)
        sd0, sd0_url = start_stagedoor(args.bin, base, token, True, logdir / "uncached.log")
        procs.append(sd0)
        clients = [httpx.Client(timeout=30) for _ in range(7)]
        series = {
            "bridged (stagedoor)": tool_call(clients[0], sd_url + "/mcp", "catalog_get_catalog_entity", INPUT,
                                             MCP_HEADERS),
            "official endpoint": tool_call(clients[1], base + "/api/mcp-actions/v1", "catalog.get-catalog-entity",
                                           INPUT, MCP_HEADERS | auth),
            "action invoke (direct)": lambda c=clients[2]: direct(c.post(
                base + "/api/catalog/.backstage/actions/v2/actions/catalog:get-catalog-entity/invoke",
                json={"input": INPUT}, headers=auth)),
            "curated get_entity (cache on)": tool_call(clients[3], sd_url + "/mcp", "get_entity",
                                                       {"entityRef": "component:default/payment-service"},
                                                       MCP_HEADERS),
            "curated get_entity (cache off)": tool_call(clients[4], sd0_url + "/mcp", "get_entity",
                                                        {"entityRef": "component:default/payment-service"},
                                                        MCP_HEADERS),
            "bridged (cache off)": tool_call(clients[5], sd0_url + "/mcp", "catalog_get_catalog_entity", INPUT,
                                             MCP_HEADERS),
            "REST by-name (direct)": lambda c=clients[6]: direct(c.get(
                base + "/api/catalog/entities/by-name/component/default/payment-service", headers=auth)),
        }
        times = measure(series, args.calls, args.warmup)
    finally:
        for p in procs:
            stop(p)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.calls} sequential calls per series, interleaved; stagedoor {args.bin}; Backstage {base}\n")
    print("| series | median ms | p90 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    for k, v in times.items():
        print(f"| {k} | {med[k]:.2f} | {pct(v, 90):.2f} | {pct(v, 99):.2f} |")
    print()
    b, a, o = med["bridged (stagedoor)"], med["action invoke (direct)"], med["official endpoint"]
    c, c0, r = med["curated get_entity (cache on)"], med["curated get_entity (cache off)"], med["REST by-name (direct)"]
    print(f"bridged / direct action invoke: {b / a:.2f}x (median)")
    print(f"official endpoint / bridged: {o / b:.1f}x (median)")
    print(f"curated get_entity / direct REST: {c / r:.2f}x with the cache, {c0 / r:.2f}x without")
    print(f"official endpoint / curated get_entity: {o / c:.1f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
