"""Request coalescing against the real testbed: N concurrent identical `get_entity` calls make
one Backstage request per read (counted at a recording proxy between stagedoor and the
testbed), with the cache on and with it off. (That callers of different identities are
never coalesced is shown in-process: crates/stagedoor/src/portal/tests.rs.)"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import e2e_support as sup

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

N = 32
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream",
           "mcp-protocol-version": sup.LATEST_HANDSHAKE_VERSION}


# Catalog reads are held this long at the proxy, so every one of the N calls reaches
# stagedoor while the first call's read is still in flight (a slow Backstage).
HOLD_S = 1.0


class RecordingProxy:
    """Forwards every request to the testbed and counts them by method and path; catalog
    entity reads are held for HOLD_S first."""

    def __init__(self, upstream: str) -> None:
        u = urlsplit(upstream)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 80
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split("?")[0]
                with proxy.lock:
                    proxy.seen[f"{self.command} {path}"] += 1
                if path.startswith("/api/catalog/entities/by-"):
                    time.sleep(HOLD_S)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                c = http.client.HTTPConnection(proxy.host, proxy.port, timeout=30)
                c.request(self.command, self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                c.close()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _forward
            do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, prefix: str) -> int:
        with self.lock:
            return sum(n for k, n in self.seen.items() if k.startswith(prefix))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recording_proxy(testbed: Any) -> Iterator[RecordingProxy]:
    p = RecordingProxy(testbed.base_url)
    yield p
    p.close()


def by_name_path(ref: str) -> str:
    kind, rest = ref.split(":", 1)
    namespace, name = rest.split("/", 1)
    return f"GET /api/catalog/entities/by-name/{kind}/{namespace}/{name}"


async def concurrent_calls(url: str, ref: str, n: int = N,
                           headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_entity", "arguments": {"entityRef": ref}}}
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        rs = await asyncio.gather(*(http.post(url, json=body, headers=HEADERS | (headers or {}))
                                    for _ in range(n)))
    out = []
    for r in rs:
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert not result.get("isError"), result
        out.append(result)
    return out


def relation_ref(testbed: Any) -> str:
    """An expected entity with relations (so get_entity also resolves them with by-refs)."""
    for ref in testbed.expected_refs:
        if ref.startswith("component:"):
            return ref
    return testbed.expected_refs[0]


@pytest.mark.parametrize("cache", ["on", "off"])
async def test_concurrent_identical_calls_make_one_backstage_request(stagedoor_http, testbed, recording_proxy,
                                                                     cache) -> None:
    env = {"CACHE_TTL_SECONDS": "0"} if cache == "off" else {}
    srv = stagedoor_http(base_url=recording_proxy.url, token=testbed.token, env=env)
    ref = relation_ref(testbed)
    results = await concurrent_calls(srv.url, ref)
    assert all(r == results[0] for r in results), "the coalesced callers got different answers"
    assert ref.split("/")[-1] in json.dumps(results[0])
    # One by-name read of the entity and one by-refs read for its relations, for all N calls.
    assert recording_proxy.count(by_name_path(ref)) == 1, recording_proxy.seen
    assert recording_proxy.count("POST /api/catalog/entities/by-refs") == 1, recording_proxy.seen
    # Cache on: the next call is answered from it; cache off: it asks Backstage again.
    await concurrent_calls(srv.url, ref, n=1)
    assert recording_proxy.count(by_name_path(ref)) == (1 if cache == "on" else 2), recording_proxy.seen
