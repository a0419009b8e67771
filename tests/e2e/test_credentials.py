"""Credentials go to the configured Backstage and nowhere else.

A hostile Backstage (a fake upstream: a real one cannot be made to answer like this) serves
an API whose definition names a canary host in `servers`, `externalDocs` and external
`$ref`s, and redirects some catalog reads to that canary. Every tool that could be tempted
is called. The canary must see no request at all — and certainly no credential — while the
configured Backstage does receive the token, so the test is not vacuous.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import e2e_support as sup

pytestmark = pytest.mark.anyio

SECRET = "credential-canary-" + "z" * 32


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self.requests.append({"path": handler.path, "headers": headers})


def serve(handler_cls: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def canary():
    rec = Recorder()

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            rec.add(self)
            body = b"openapi: 3.0.0\ninfo: {title: stolen, version: '1'}\npaths: {}\n"
            self.send_response(200)
            self.send_header("content-type", "application/yaml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

    srv = serve(H)
    rec.url = f"http://127.0.0.1:{srv.server_address[1]}"  # type: ignore[attr-defined]
    yield rec
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def hostile_backstage(canary):
    rec = Recorder()
    leak = canary.url
    definition = f"""openapi: 3.0.3
info: {{title: Leaky API, version: '1.0', description: 'docs at {leak}/docs'}}
externalDocs: {{url: '{leak}/external-docs'}}
servers: [{{url: '{leak}/api'}}]
paths:
  /orders:
    get:
      operationId: listOrders
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {{$ref: '{leak}/schemas/order.yaml#/Order'}}
components:
  schemas:
    Remote: {{$ref: '{leak}/schemas/remote.json'}}
"""
    api = {"apiVersion": "backstage.io/v1alpha1", "kind": "API",
           "metadata": {"name": "leaky", "namespace": "default", "title": "Leaky",
                        "links": [{"url": f"{leak}/link"}]},
           "spec": {"type": "openapi", "lifecycle": "production", "owner": "group:default/x",
                    "definition": definition},
           "relations": []}

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("content-type", "application/json")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            rec.add(self)
            if self.path.startswith("/api/catalog/entities/by-name/api/default/leaky"):
                self.reply(200, api)
            elif self.path.startswith("/api/catalog/entities/by-name/"):
                self.reply(302, headers={"location": f"{leak}/steal{self.path}"})
            elif self.path.startswith("/api/catalog/entities/by-query"):
                self.reply(307, headers={"location": f"{leak}/steal-query"})
            elif self.path.startswith("/api/techdocs/"):
                self.reply(301, headers={"location": f"{leak}/steal-docs"})
            else:
                self.reply(404, {"error": {"name": "NotFoundError", "message": "nope"}})

        def do_POST(self) -> None:  # noqa: N802
            rec.add(self)
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            if self.path.startswith("/api/catalog/entities/by-refs"):
                self.reply(307, headers={"location": f"{leak}/steal-refs"})
            else:
                self.reply(404, {"error": {"name": "NotFoundError", "message": "nope"}})

    srv = serve(H)
    rec.url = f"http://127.0.0.1:{srv.server_address[1]}"  # type: ignore[attr-defined]
    yield rec
    srv.shutdown()
    srv.server_close()


CALLS = [
    ("get_api_spec", {"entityRef": "api:default/leaky"}),
    ("get_api_spec", {"entityRef": "api:default/leaky", "view": "full"}),
    ("get_api_spec", {"entityRef": "api:default/leaky", "view": "operation", "name": "listOrders"}),
    ("get_api_spec", {"entityRef": "api:default/leaky", "view": "schema", "name": "Remote"}),
    ("get_entity", {"entityRef": "api:default/leaky"}),
    ("get_entity", {"entityRef": "component:default/redirected"}),
    ("search_catalog", {"query": "orders"}),
    ("get_entities", {"entityRefs": ["component:default/a"]}),
    ("get_techdocs_page", {"entityRef": "api:default/leaky", "path": "index.html"}),
    ("check_connection", {}),
]


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_no_credential_leaves_for_another_host(stagedoor_http, stagedoor_bin, tmp_path,
                                                     canary, hostile_backstage, transport) -> None:
    env = {"BACKSTAGE_BASE_URL": hostile_backstage.url, "BACKSTAGE_TOKEN": SECRET,
           "REQUEST_TIMEOUT_MS": "3000", "CACHE_TTL_SECONDS": "0"}
    if transport == "http":
        srv = stagedoor_http(base_url=hostile_backstage.url, token=SECRET,
                             env={"REQUEST_TIMEOUT_MS": "3000", "CACHE_TTL_SECONDS": "0"})
        client_cm = sup.sdk_http_client(srv.url, "legacy")
    else:
        client_cm = sup.sdk_stdio_client(stagedoor_bin, {**sup.base_env(), **env}, "legacy",
                                         tmp_path / "stdio.stderr.log")
    async with client_cm as client:
        for name, args in CALLS:
            await client.call_tool(name, args)  # outcomes vary; where requests go is the point
    to_backstage = [r for r in hostile_backstage.requests
                    if r["headers"].get("authorization") == f"Bearer {SECRET}"]
    assert len(to_backstage) >= len(CALLS) - 1, "the configured Backstage must get the token"
    leaked = [r for r in canary.requests if SECRET in json.dumps(r)]
    assert not leaked, f"credential sent to another host: {leaked}"
    assert canary.requests == [], f"stagedoor fetched a URL named by Backstage: {canary.requests}"
