"""Sign-in as Backstage's auth backend 0.31 offers it, end to end through stagedoor.

auth-backend 0.31 removed dynamic client registration: an MCP client signs in with a Client
ID Metadata Document (CIMD) or as a pre-registered `auth.staticClients` entry, PKCE S256
only, refresh tokens with `offline_access`. Every step here is the real one a client runs
against the latest testbed: stagedoor's 401 challenge, its protected-resource metadata, the
authorization server's metadata (relayed by stagedoor and read from Backstage), the CIMD
document served by this test over HTTPS on loopback (a throw-away CA that start.sh hands
the testbed through NODE_EXTRA_CA_CERTS; the testbed admits exactly that client id), the
authorization request, guest sign-in and consent through the auth backend's session API
(no frontend runs), the code exchange, MCP calls as the user, refresh, revocation, and a
refused token answered with a fresh challenge. Dynamic client registration against the
previous release line is in test_compat.py.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import e2e_support as sup

pytestmark = [pytest.mark.anyio, pytest.mark.testbed]

REDIRECT = "http://127.0.0.1:8976/callback"  # the static clients' registered redirect URI
PUBLIC_CLIENT = "stagedoor-e2e-public"
CONFIDENTIAL_CLIENT = "stagedoor-e2e-confidential"
CONFIDENTIAL_SECRET = "stagedoor-e2e-client-secret-0123456789"  # testbed/app-config.yaml
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
OAUTH_CONFIG = "auth:\n  oauth:\n    enabled: true\n"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def latest(testbed) -> dict[str, str]:
    """The testbed's env file; these tests need the latest line's OAuth fixtures."""
    env = testbed.env
    if testbed.line != "latest" or not env.get("TESTBED_CIMD_CLIENT_ID"):
        pytest.skip("needs the latest-line testbed (auth-backend 0.31 with CIMD and static clients)")
    return env


class CimdServer:
    """Serves one client metadata document over HTTPS on loopback; records who fetched it."""

    def __init__(self, client_id: str, ca_cert: Path, ca_key: Path, workdir: Path) -> None:
        self.client_id = client_id
        url = urllib.parse.urlparse(client_id)
        self.path = url.path
        self.document = {
            "client_id": client_id,
            "client_name": "stagedoor e2e (CIMD)",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid offline_access",
        }
        self.fetches: list[str] = []
        cert, key = issue_leaf(ca_cert, ca_key, workdir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                outer.fetches.append(self.path)
                if self.path != outer.path:
                    self.send_error(404)
                    return
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", url.port or 443), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def issue_leaf(ca_cert: Path, ca_key: Path, workdir: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1, signed by the testbed's throw-away CIMD CA."""
    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    ca_priv = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_priv, hashes.SHA256()))
    cert_path, key_path = workdir / "cimd.pem", workdir / "cimd.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def cimd(latest, tmp_path_factory) -> Iterator[CimdServer]:
    server = CimdServer(latest["TESTBED_CIMD_CLIENT_ID"], Path(latest["TESTBED_CIMD_CA_CERT"]),
                        Path(latest["TESTBED_CIMD_CA_KEY"]), tmp_path_factory.mktemp("cimd"))
    yield server
    server.close()


@pytest.fixture
def oauth_server(stagedoor_http, testbed, tmp_path) -> sup.ServerProcess:
    cfg = tmp_path / "oauth.yaml"
    cfg.write_text(OAUTH_CONFIG)
    return stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])


# --------------------------------------------------------------------------- the client side


def post_mcp(url: str, body: dict, token: str | None = None) -> httpx.Response:
    headers = dict(ACCEPT)
    if token:
        headers["authorization"] = f"Bearer {token}"
    return httpx.post(url, json=body, headers=headers, timeout=30)


def challenge_params(resp: httpx.Response) -> dict[str, str]:
    value = resp.headers["www-authenticate"]
    assert value.startswith("Bearer "), value
    out = {}
    for part in value[len("Bearer "):].split(", "):
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip().strip('"')
    return out


def discover(srv: sup.ServerProcess) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """401 challenge -> protected-resource metadata -> authorization server metadata."""
    r = post_mcp(srv.url, INIT)
    assert r.status_code == 401, r.text
    challenge = challenge_params(r)
    prm = httpx.get(challenge["resource_metadata"], timeout=10).json()
    issuer = prm["authorization_servers"][0]
    asm = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    return challenge, prm, asm


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def guest_token(base_url: str) -> str:
    r = httpx.get(f"{base_url}/api/auth/guest/refresh", timeout=30)
    r.raise_for_status()
    return r.json()["backstageIdentity"]["token"]


def authorize(asm: dict[str, Any], client_id: str, scope: str, challenge: str, *,
              method: str = "S256") -> httpx.Response:
    q = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": REDIRECT, "response_type": "code",
                                "scope": scope, "state": "st-" + secrets.token_urlsafe(6),
                                "code_challenge": challenge, "code_challenge_method": method})
    return httpx.get(f"{asm['authorization_endpoint']}?{q}", follow_redirects=False, timeout=30)


def sign_in(testbed: Any, asm: dict[str, Any], client_id: str, scope: str,
            client_secret: str | None = None) -> dict[str, Any]:
    """Authorize with PKCE S256, sign in as guest, approve consent, exchange the code."""
    verifier, challenge = pkce()
    auth = authorize(asm, client_id, scope, challenge)
    assert auth.status_code in (302, 303), auth.text
    location = auth.headers["location"]
    assert "/oauth2/authorize/" in location, f"expected the consent page, got {location}"
    session_id = location.rstrip("/").split("/")[-1]
    issuer = asm["issuer"]
    guest = guest_token(testbed.base_url)
    session = httpx.get(f"{issuer}/v1/sessions/{session_id}", headers={"authorization": f"Bearer {guest}"},
                        timeout=10)
    assert session.status_code == 200, session.text
    assert session.json()["clientId"] == client_id
    approve = httpx.post(f"{issuer}/v1/sessions/{session_id}/approve", json={},
                         headers={"authorization": f"Bearer {guest}"}, timeout=10)
    assert approve.status_code == 200, approve.text
    back = urllib.parse.urlparse(approve.json()["redirectUrl"])
    code = urllib.parse.parse_qs(back.query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier, "client_id": client_id}
    auth_header = None
    if client_secret is not None:
        auth_header = httpx.BasicAuth(client_id, client_secret)
    tok = httpx.post(asm["token_endpoint"], data=form, auth=auth_header, timeout=10)
    assert tok.status_code == 200, tok.text
    return tok.json()


async def as_user(srv: sup.ServerProcess, access: str, name: str, args: dict | None = None) -> Any:
    async with sup.sdk_http_client(srv.url, "legacy", headers={"Authorization": f"Bearer {access}"}) as c:
        await sup.list_all_tools(c)
        return await c.call_tool(name, args or {})


async def assert_acts_as_guest(srv: sup.ServerProcess, access: str) -> None:
    result = await as_user(srv, access, "check_connection")
    assert not result.is_error, sup.text_of(result)
    ident = result.structured_content["identity"]
    assert ident["kind"] == "user" and ident["subject"] == "user:default/guest", ident
    found = await as_user(srv, access, "search_catalog", {"query": "payment", "limit": 3})
    assert not found.is_error and found.structured_content["items"], sup.text_of(found)


def assert_fresh_challenge(srv: sup.ServerProcess, token: str) -> None:
    r = post_mcp(srv.url, INIT, token=token)
    assert r.status_code == 401, r.text
    params = challenge_params(r)
    assert params.get("error") == "invalid_token", params
    assert params["resource_metadata"].endswith("/.well-known/oauth-protected-resource/mcp"), params
    assert "offline_access" in params.get("scope", "").split(), params


# --------------------------------------------------------------------------- tests


async def test_discovery_relays_what_auth_backend_031_advertises(oauth_server, testbed, latest) -> None:
    srv = oauth_server
    challenge, prm, asm = discover(srv)
    backstage = httpx.get(f"{testbed.base_url}/api/auth/.well-known/openid-configuration", timeout=10).json()
    # Backstage 0.31: S256 only, no registration endpoint, CIMD, revocation, refresh tokens.
    assert backstage["code_challenge_methods_supported"] == ["S256"], backstage
    assert "registration_endpoint" not in backstage, backstage
    assert backstage["client_id_metadata_document_supported"] is True
    assert backstage["revocation_endpoint"] == f"{backstage['issuer']}/v1/revoke"
    assert "offline_access" in backstage["scopes_supported"]
    assert "refresh_token" in backstage["grant_types_supported"]
    # stagedoor names Backstage as the authorization server and relays its metadata unchanged.
    assert prm["authorization_servers"] == [f"{testbed.base_url}/api/auth"], prm
    assert asm == backstage
    relayed = httpx.get(f"{srv.base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert relayed == backstage
    # The AS offers offline_access, so the challenge and the resource metadata ask for it.
    assert challenge["scope"].split() == ["openid", "offline_access"], challenge
    assert prm["scopes_supported"] == ["openid", "offline_access"], prm
    assert "error" not in challenge


async def test_cimd_sign_in_refresh_revocation_and_refusal(oauth_server, testbed, latest, cimd) -> None:
    srv = oauth_server
    _, _, asm = discover(srv)
    assert asm["client_id_metadata_document_supported"] is True
    # PKCE plain is gone in 0.31: the authorization request is refused before any consent.
    plain = authorize(asm, cimd.client_id, "openid", "plain-challenge-" + "x" * 40, method="plain")
    assert plain.status_code in (302, 303, 400), plain.text
    if plain.status_code != 400:
        assert "error=" in plain.headers["location"] and "/oauth2/authorize/" not in plain.headers["location"]
    # A client id outside allowedClientIdPatterns is refused.
    stranger = cimd.client_id.replace("/stagedoor-e2e/", "/somebody-else/")
    _, ch = pkce()
    refused = authorize(asm, stranger, "openid", ch)
    assert refused.status_code != 302 or "/oauth2/authorize/" not in refused.headers.get("location", ""), \
        refused.headers
    # The admitted CIMD client signs in; Backstage fetched the document from this test's server.
    before = len(cimd.fetches)
    tokens = sign_in(testbed, asm, cimd.client_id, "openid offline_access")
    assert cimd.fetches[before:] and all(p == cimd.path for p in cimd.fetches[before:]), cimd.fetches
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 600, tokens  # backstageTokenExpiration
    assert "refresh_token" in tokens, "offline_access was asked for: a refresh token is due"
    await assert_acts_as_guest(srv, tokens["access_token"])

    # Refresh (a public client: client_id only), then the new access token works too.
    fresh = httpx.post(asm["token_endpoint"], data={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"],
                                                     "client_id": cimd.client_id}, timeout=10)
    assert fresh.status_code == 200, fresh.text
    renewed = fresh.json()
    assert renewed["access_token"] != tokens["access_token"] and renewed["refresh_token"]
    await assert_acts_as_guest(srv, renewed["access_token"])
    # The rotated-out refresh token is no longer accepted.
    reuse = httpx.post(asm["token_endpoint"], data={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"],
                                                     "client_id": cimd.client_id}, timeout=10)
    assert reuse.status_code >= 400 and reuse.json().get("error") == "invalid_grant", reuse.text

    # Revocation at the advertised endpoint: the refresh token stops working.
    rv = httpx.post(asm["revocation_endpoint"], data={"token": renewed["refresh_token"],
                                                      "client_id": cimd.client_id}, timeout=10)
    assert rv.status_code == 200, rv.text
    after = httpx.post(asm["token_endpoint"], data={"grant_type": "refresh_token",
                                                     "refresh_token": renewed["refresh_token"],
                                                     "client_id": cimd.client_id}, timeout=10)
    assert after.status_code >= 400 and after.json().get("error") == "invalid_grant", after.text

    # Tokens stagedoor must refuse get a fresh challenge naming the metadata and scopes: the
    # user's real token with its subject, expiry or audience rewritten (the signature no longer
    # holds), and no JWT at all. Correctly signed expired and foreign-audience tokens are
    # refused by the verifier's unit tests (auth/jwt/tests.rs): Backstage will not mint a
    # token that lives under 10 minutes or is for another audience.
    head, payload, sig = renewed["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "backstage" and claims["sub"] == "user:default/guest", claims
    for change in ({"sub": "user:default/admin"}, {"exp": int(time.time()) - 3600},
                   {"aud": f"{srv.base}/mcp"}):
        altered = dict(claims, **change)
        forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(altered).encode()).decode().rstrip("="), sig])
        assert_fresh_challenge(srv, forged)
    assert_fresh_challenge(srv, "not-a-token-at-all")


async def test_static_clients_public_and_confidential(oauth_server, testbed, latest) -> None:
    srv = oauth_server
    _, _, asm = discover(srv)
    assert set(asm["token_endpoint_auth_methods_supported"]) == {"none", "client_secret_basic",
                                                                 "client_secret_post"}, asm
    # Public static client: PKCE, no secret, redirect URI matched exactly.
    _, ch = pkce()
    wrong_redirect = httpx.get(asm["authorization_endpoint"] + "?" + urllib.parse.urlencode({
        "client_id": PUBLIC_CLIENT, "redirect_uri": "http://127.0.0.1:8976/elsewhere", "response_type": "code",
        "scope": "openid", "code_challenge": ch, "code_challenge_method": "S256"}),
        follow_redirects=False, timeout=10)
    assert "/oauth2/authorize/" not in wrong_redirect.headers.get("location", ""), wrong_redirect.headers
    public = sign_in(testbed, asm, PUBLIC_CLIENT, "openid")
    assert "refresh_token" not in public, "no offline_access asked, no refresh token"
    await assert_acts_as_guest(srv, public["access_token"])

    # Confidential static client: the code exchange needs its secret.
    verifier, challenge = pkce()
    auth = authorize(asm, CONFIDENTIAL_CLIENT, "openid offline_access", challenge)
    assert auth.status_code in (302, 303), auth.text
    session_id = auth.headers["location"].rstrip("/").split("/")[-1]
    guest = guest_token(testbed.base_url)
    approve = httpx.post(f"{asm['issuer']}/v1/sessions/{session_id}/approve", json={},
                         headers={"authorization": f"Bearer {guest}"}, timeout=10)
    code = urllib.parse.parse_qs(urllib.parse.urlparse(approve.json()["redirectUrl"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier, "client_id": CONFIDENTIAL_CLIENT}
    no_secret = httpx.post(asm["token_endpoint"], data=form, timeout=10)
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client", no_secret.text
    wrong = httpx.post(asm["token_endpoint"], data=form, auth=httpx.BasicAuth(CONFIDENTIAL_CLIENT, "nope"),
                       timeout=10)
    assert wrong.status_code == 401, wrong.text
    ok = httpx.post(asm["token_endpoint"], data=form,
                    auth=httpx.BasicAuth(CONFIDENTIAL_CLIENT, CONFIDENTIAL_SECRET), timeout=10)
    assert ok.status_code == 200, ok.text
    confidential = ok.json()
    assert confidential.get("refresh_token"), confidential
    await assert_acts_as_guest(srv, confidential["access_token"])
    # Its refresh token is useless without the secret.
    bare = httpx.post(asm["token_endpoint"], data={"grant_type": "refresh_token", "client_id": CONFIDENTIAL_CLIENT,
                                                    "refresh_token": confidential["refresh_token"]}, timeout=10)
    assert bare.status_code >= 400, bare.text
