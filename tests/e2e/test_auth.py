"""Who may call what: stagedoor's HTTP auth against the real testbed's auth backend.

Static tokens (with restrictions, from config and from a rotating file), Backstage user
tokens verified against the testbed's JWKS and forwarded so Backstage sees the user, the
OAuth discovery chain and a complete scripted OAuth flow on the previous release line (dynamic
client registration, guest sign-in, consent approved through the auth backend's session API,
PKCE; the latest line's CIMD and static clients are in test_oauth.py), session
binding, Origin/body/rate limits, and the audit log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import e2e_support as sup

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

ADMIN = "admin-token-" + "a" * 30
READER = "reader-token-" + "b" * 30
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def write_config(tmp_path: Path, body: str, name: str = "auth.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def tokens_config(tmp_path: Path, extra: str = "") -> Path:
    audit = tmp_path / "audit.log"
    return write_config(tmp_path, f"""
auth:
  tokens:
    - token: {ADMIN}
      subject: admin
    - token: {READER}
      subject: reader
      tools: ["catalog:*"]
      readOnly: true
  oauth:
    enabled: true
audit:
  path: {audit}
{extra}""")


def guest_token(testbed: Any) -> str:
    r = httpx.get(f"{testbed.base_url}/api/auth/guest/refresh", timeout=30)
    r.raise_for_status()
    return r.json()["backstageIdentity"]["token"]


def post(url: str, body: dict, token: str | None = None, **headers: str) -> httpx.Response:
    h = dict(ACCEPT)
    if token:
        h["authorization"] = f"Bearer {token}"
    h.update(headers)
    return httpx.post(url, json=body, headers=h, timeout=30)


async def tool_names(url: str, token: str) -> set[str]:
    async with sup.sdk_http_client(url, "legacy", headers={"Authorization": f"Bearer {token}"}) as c:
        return {t["name"] for t in await sup.list_all_tools(c)}


async def call_tool(url: str, token: str, name: str, args: dict | None = None) -> Any:
    async with sup.sdk_http_client(url, "legacy", headers={"Authorization": f"Bearer {token}"}) as c:
        await sup.list_all_tools(c)
        return await c.call_tool(name, args or {})


# --------------------------------------------------------------------------- challenge + metadata


@pytest.mark.compat
async def test_challenge_metadata_and_static_token_restrictions(stagedoor_http, testbed, tmp_path) -> None:
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token,
                         config_files=[tokens_config(tmp_path)])
    r = post(srv.url, INIT)
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    # openid always; offline_access too when Backstage offers refresh tokens (test_oauth.py).
    assert challenge.startswith("Bearer ") and 'scope="openid' in challenge, challenge
    meta_url = challenge.split('resource_metadata="')[1].split('"')[0]
    assert meta_url.endswith("/.well-known/oauth-protected-resource/mcp"), meta_url
    meta = httpx.get(meta_url, timeout=10).json()
    issuer = f"{testbed.base_url}/api/auth"
    assert meta["authorization_servers"] == [issuer], meta
    assert meta["resource"].endswith("/mcp")
    root = httpx.get(f"{srv.base}/.well-known/oauth-protected-resource", timeout=10).json()
    assert root["authorization_servers"] == [issuer]
    # The authorization server's metadata, from Backstage, also for clients that ask stagedoor.
    as_meta = httpx.get(f"{srv.base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert as_meta["issuer"] == issuer and as_meta["token_endpoint"].startswith(issuer), as_meta
    bad = post(srv.url, INIT, token="wrong-token")
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]

    admin_tools = await tool_names(srv.url, ADMIN)
    reader_tools = await tool_names(srv.url, READER)
    assert "check_connection" in admin_tools and "search_catalog" in admin_tools
    assert "search_catalog" in reader_tools and "check_connection" not in reader_tools, reader_tools
    refused = await call_tool(srv.url, READER, "check_connection")
    assert refused.is_error and "Forbidden" in sup.text_of(refused)
    allowed = await call_tool(srv.url, READER, "search_catalog", {"limit": 1})
    assert not allowed.is_error


# --------------------------------------------------------------------------- user tokens


def forged(claims: dict[str, Any], kid: str = "forged") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return pyjwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "vnd.backstage.user"})


@pytest.mark.compat
async def test_user_tokens_are_verified_and_forwarded(stagedoor_http, testbed, tmp_path) -> None:
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token,
                         config_files=[tokens_config(tmp_path)])
    user = guest_token(testbed)
    result = await call_tool(srv.url, user, "check_connection")
    assert not result.is_error, sup.text_of(result)
    ident = result.structured_content["identity"]
    assert ident["kind"] == "user" and ident["subject"] == "user:default/guest", ident
    assert ident["accepted"] is True

    now = int(time.time())
    issuer = f"{testbed.base_url}/api/auth"
    real_kid = pyjwt.get_unverified_header(user)["kid"]
    head, payload, sig = user.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "user:default/admin"
    tampered = ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), sig])
    cases = {
        "tampered": tampered,
        "foreign issuer": forged({"iss": "https://evil.example/api/auth", "sub": "user:default/guest",
                                  "aud": "backstage", "exp": now + 600}),
        "expired, signed with a key Backstage never issued": forged(
            {"iss": issuer, "sub": "user:default/guest", "aud": "backstage", "exp": now - 600}, kid=real_kid),
        "plugin-typed": pyjwt.encode({"iss": issuer, "sub": "plugin:x", "exp": now + 600},
                                     ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                                     headers={"kid": real_kid, "typ": "vnd.backstage.plugin"}),
    }
    for why, token in cases.items():
        r = post(srv.url, INIT, token=token)
        assert r.status_code == 401, f"{why}: {r.status_code} {r.text}"
        assert 'error="invalid_token"' in r.headers["www-authenticate"], why


# --------------------------------------------------------------------------- token file rotation


@pytest.mark.compat
async def test_token_file_rotation_without_restart(stagedoor_http, testbed, tmp_path) -> None:
    file = tmp_path / "tokens.yaml"
    first, second = "rotating-one-" + "c" * 30, "rotating-two-" + "d" * 30
    file.write_text(f"- token: {first}\n  subject: ci\n")
    cfg = write_config(tmp_path, f"auth:\n  tokensFile: {file}\n")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])
    assert post(srv.url, INIT, token=first).status_code == 200
    assert post(srv.url, INIT, token=second).status_code == 401
    time.sleep(1.1)  # a distinct mtime even on coarse file systems
    file.write_text(f"- token: {second}\n  subject: ci\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and post(srv.url, INIT, token=second).status_code != 200:
        time.sleep(0.3)
    assert post(srv.url, INIT, token=second).status_code == 200, "new token not picked up"
    assert post(srv.url, INIT, token=first).status_code == 401, "old token still accepted"
    assert srv.alive(), "rotation must not restart the server"


# --------------------------------------------------------------------------- sessions


async def test_session_belongs_to_its_principal(stagedoor_http, testbed, tmp_path) -> None:
    cfg = tokens_config(tmp_path, extra="server:\n  sessions: true\n")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])
    r = post(srv.url, INIT, token=ADMIN)
    assert r.status_code == 200
    sid = r.headers["mcp-session-id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert post(srv.url, note, token=ADMIN, **{"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}).status_code == 202
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    hijack = post(srv.url, listing, token=READER, **{"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
    assert hijack.status_code == 404, hijack.text
    own = post(srv.url, listing, token=ADMIN, **{"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
    assert own.status_code == 200 and "search_catalog" in own.text
    assert "session used by another principal" in srv.stderr_text()


# --------------------------------------------------------------------------- hardening


async def test_origin_body_and_rate_limits(stagedoor_http, testbed, tmp_path) -> None:
    cfg = tokens_config(tmp_path, extra="""
server:
  maxRequestBodyBytes: 2048
  limits:
    requestsPerMinute: 6
    burst: 6
""")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])
    assert post(srv.url, INIT, token=ADMIN, origin="http://evil.example").status_code == 403
    big = dict(INIT)
    big["params"] = dict(INIT["params"], padding="x" * 5000)
    assert post(srv.url, big, token=ADMIN).status_code == 413
    statuses = [post(srv.url, INIT, token=READER) for _ in range(12)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    assert int(limited[0].headers["retry-after"]) >= 1
    # Per principal: another principal is not affected by the reader's burst.
    assert post(srv.url, INIT, token=ADMIN).status_code != 429


# --------------------------------------------------------------------------- audit


async def test_audit_log_records_every_call_without_secrets(stagedoor_http, testbed, tmp_path) -> None:
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token,
                         config_files=[tokens_config(tmp_path)])
    user = guest_token(testbed)
    calls = [(ADMIN, "search_catalog", {"query": "payment", "limit": 2}),
             (ADMIN, "get_entity", {"entityRef": "component:default/payment-service"}),
             (READER, "check_connection", {}),
             (user, "get_entity", {"entityRef": "component:nope-not-here"}),
             (ADMIN, "search_catalog", {"query": "x", "token": ADMIN, "note": f"Bearer {user}"})]
    for token, name, args in calls:
        await call_tool(srv.url, token, name, args)
    lines = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines() if line.strip()]
    assert len(lines) == len(calls), lines
    assert [(l["principal"], l["tool"], l["outcome"]) for l in lines] == [
        ("static:admin", "catalog:search_catalog", "ok"),
        ("static:admin", "catalog:get_entity", "ok"),
        ("static:reader", "diagnostics:check_connection", "denied"),
        ("user:user:default/guest", "catalog:get_entity", "error"),
        # Unknown arguments are refused; the attempt is still audited, with secrets redacted.
        ("static:admin", "catalog:search_catalog", "error"),
    ]
    assert lines[4]["arguments"]["token"] == "[REDACTED]" and lines[4]["arguments"]["note"] == "[REDACTED]"
    assert lines[3]["backstageStatus"] == 404
    text = (tmp_path / "audit.log").read_text()
    for secret in (ADMIN, READER, user, testbed.token):
        assert secret not in text, "a secret reached the audit log"
    assert all(isinstance(l["durationMs"], int) and l["time"] for l in lines)


# --------------------------------------------------------------------------- the OAuth flow


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@pytest.mark.compat
async def test_scripted_oauth_flow_against_backstage_auth(stagedoor_http, testbed, tmp_path) -> None:
    """Dynamic client registration, as the previous release line (auth-backend 0.30) offers
    it; 0.31 removed it (its CIMD and static-client flows are in test_oauth.py)."""
    if testbed.line == "latest":
        pytest.skip("auth-backend 0.31 has no dynamic client registration (see test_oauth.py)")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token,
                         config_files=[tokens_config(tmp_path)])
    # 1. Unauthenticated request -> challenge.
    r = post(srv.url, INIT)
    assert r.status_code == 401
    meta_url = r.headers["www-authenticate"].split('resource_metadata="')[1].split('"')[0]
    # 2. Protected-resource metadata -> the authorization server.
    issuer = httpx.get(meta_url, timeout=10).json()["authorization_servers"][0]
    # 3. Authorization-server metadata (OpenID discovery at the issuer).
    asm = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    # 4. Dynamic client registration with a loopback redirect URI.
    redirect = "http://127.0.0.1:8976/callback"
    reg = httpx.post(asm["registration_endpoint"], json={"client_name": "stagedoor e2e",
                                                         "redirect_uris": [redirect]}, timeout=10)
    assert reg.status_code in (200, 201), reg.text
    client = reg.json()
    # 5. Authorize with PKCE: the auth backend parks a session and sends the browser to consent.
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(8)
    q = urllib.parse.urlencode({"client_id": client["client_id"], "redirect_uri": redirect,
                                "response_type": "code", "scope": "openid", "state": state,
                                "code_challenge": challenge, "code_challenge_method": "S256"})
    auth = httpx.get(f"{asm['authorization_endpoint']}?{q}", follow_redirects=False, timeout=10)
    assert auth.status_code in (302, 303), auth.text
    session_id = auth.headers["location"].rstrip("/").split("/")[-1]
    # 6. No frontend runs: sign in as guest and approve consent through the session API.
    guest = guest_token(testbed)
    approve = httpx.post(f"{issuer}/v1/sessions/{session_id}/approve", json={},
                         headers={"authorization": f"Bearer {guest}"}, timeout=10)
    assert approve.status_code == 200, approve.text
    back = urllib.parse.urlparse(approve.json()["redirectUrl"])
    params = urllib.parse.parse_qs(back.query)
    assert params["state"] == [state]
    # 7. Code -> token.
    tok = httpx.post(asm["token_endpoint"], json={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": redirect,
        "code_verifier": verifier, "client_id": client["client_id"],
        "client_secret": client.get("client_secret")}, timeout=10)
    assert tok.status_code == 200, tok.text
    access = tok.json()["access_token"]
    # 8. The call succeeds as that user.
    result = await call_tool(srv.url, access, "check_connection")
    assert not result.is_error, sup.text_of(result)
    assert result.structured_content["identity"]["subject"] == "user:default/guest"
    found = await call_tool(srv.url, access, "search_catalog", {"query": "payment", "limit": 3})
    assert not found.is_error and found.structured_content["items"]
