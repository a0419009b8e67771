"""The container image, run from its own file system: scripts/deploy-check.sh builds the image
with podman and exports its file system ($STAGEDOOR_IMAGE_ROOTFS); these tests chroot into a
copy of it as the image's user (what a container runtime does, minus the namespaces this
machine cannot create) and check that the binary alone is enough: it starts, resolves names
from /etc/hosts and DNS without any NSS module, and serves `get_entity` from the Backstage
testbed to the Python `mcp` SDK. Skipped unless the image was built (and unless root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import urllib.parse
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

import e2e_support as sup

pytestmark = [pytest.mark.anyio]

BINARY = "/usr/local/bin/stagedoor"
IMAGE_USER = "65532:65532"
# The name the tests give the testbed inside the image, through the image's /etc/hosts.
HOSTS_NAME = "backstage.hosts.stagedoor.test"
# Names under this zone are answered by the test's DNS server, on a loopback address.
DNS_ZONE = "dns.stagedoor.test"
DNS_SERVER = "127.53.0.1"
EXPECTED_FILES = {
    "etc/group", "etc/passwd", "etc/nsswitch.conf", "etc/ssl/certs/ca-certificates.crt",
    "etc/stagedoor/config.yaml", "usr/local/bin/stagedoor",
}


@pytest.fixture(scope="module")
def image_rootfs() -> Path:
    raw = os.environ.get("STAGEDOOR_IMAGE_ROOTFS", "")
    if not raw:
        pytest.skip("STAGEDOOR_IMAGE_ROOTFS is not set: no image was built (scripts/test.sh builds it "
                    "with scripts/deploy-check.sh --rootfs DIR)")
    path = Path(raw)
    if not (path / BINARY.lstrip("/")).is_file():
        pytest.fail(f"STAGEDOOR_IMAGE_ROOTFS={raw} holds no {BINARY}", pytrace=False)
    if os.geteuid() != 0:
        pytest.skip("running the image's binary inside its own file system needs root (chroot)")
    return path


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def copy_rootfs(src: Path, dest: Path, hosts: str, resolv: str = "") -> Path:
    """A private copy of the image's file system with /etc/hosts and /etc/resolv.conf, as a
    container runtime mounts them."""
    shutil.copytree(src, dest, symlinks=True)
    (dest / "etc" / "hosts").write_text(hosts)
    (dest / "etc" / "resolv.conf").write_text(resolv or "nameserver 127.0.0.1\n")
    return dest


def in_image(root: Path, *args: str) -> list[str]:
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    return [chroot, f"--userspec={IMAGE_USER}", str(root), BINARY, *args]


def elf_interpreter(path: Path) -> bool:
    """Whether an ELF64 file has a PT_INTERP program header (i.e. is dynamically linked)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not an ELF64 file"
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


# --------------------------------------------------------------------------- test peers


@contextlib.contextmanager
def recording_http_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[int, list[str]]]:
    """A 127.0.0.1 HTTP server (HTTPS with `tls`) that answers 404 and records each request's
    Host header."""
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            hosts.append(self.headers.get("Host", ""))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        srv.socket = tls.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1], hosts
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


@contextlib.contextmanager
def dns_server(address: str, zone: str, answer: str) -> Iterator[list[str]]:
    """A UDP DNS server on `address`:53 answering A queries under `zone` with `answer`
    (AAAA: no data; other names: NXDOMAIN). Yields the names asked."""
    asked: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((address, 53))
    except OSError as e:
        sock.close()
        pytest.skip(f"cannot bind {address}:53 for the test DNS server: {e}")
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            except OSError:
                return
            tid = struct.unpack_from(">H", query)[0]
            i, labels = 12, []
            while i < len(query) and query[i]:
                labels.append(query[i + 1:i + 1 + query[i]].decode("ascii", "replace"))
                i += 1 + query[i]
            qtype = struct.unpack_from(">H", query, i + 1)[0]
            question = query[12:i + 5]
            name = ".".join(labels).lower()
            asked.append(name)
            if name == zone or name.endswith("." + zone):
                if qtype == 1:
                    header = struct.pack(">HHHHHH", tid, 0x8180, 1, 1, 0, 0)
                    rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + socket.inet_aton(answer)
                else:
                    header, rr = struct.pack(">HHHHHH", tid, 0x8180, 1, 0, 0, 0), b""
            else:
                header, rr = struct.pack(">HHHHHH", tid, 0x8183, 1, 0, 0, 0), b""
            sock.sendto(header + question + rr, peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield asked
    finally:
        stop.set()
        t.join(5)
        sock.close()


def throwaway_ca_and_server_context(tmp_path: Path, host: str) -> tuple[str, ssl.SSLContext]:
    """A throwaway CA (PEM) and a server context whose certificate it signed for `host`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stagedoor image test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ca.public_bytes(serialization.Encoding.PEM).decode(), ctx


# --------------------------------------------------------------------------- tests


def test_image_holds_only_the_static_binary_and_its_files(image_rootfs: Path) -> None:
    assert files_under(image_rootfs) == EXPECTED_FILES
    assert not elf_interpreter(image_rootfs / BINARY.lstrip("/")), "the binary is dynamically linked"
    passwd = (image_rootfs / "etc/passwd").read_text()
    assert ":65532:65532:" in passwd, passwd


def test_binary_runs_from_the_image_as_its_user(image_rootfs: Path) -> None:
    p = subprocess.run(in_image(image_rootfs, "--version"), capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("stagedoor "), p.stdout


def test_names_resolve_in_the_image_from_hosts_and_dns(image_rootfs: Path, tmp_path: Path) -> None:
    """Static glibc resolves with its built-in `files` and `dns` sources: a name from the
    image's /etc/hosts and a name from the DNS server in /etc/resolv.conf both reach the
    server behind them; an unknown name fails with a clear error."""
    root = copy_rootfs(image_rootfs, tmp_path / "rootfs", f"127.0.0.1 localhost\n127.0.0.1 {HOSTS_NAME}\n",
                       f"nameserver {DNS_SERVER}\noptions timeout:1 attempts:1\n")
    with recording_http_server() as (port, seen), dns_server(DNS_SERVER, DNS_ZONE, "127.0.0.1") as asked:
        for host in (HOSTS_NAME, f"backstage.{DNS_ZONE}", "localhost"):
            p = subprocess.run(in_image(root, "check", "--backstage-url", f"http://{host}:{port}"),
                               capture_output=True, text=True, timeout=60)
            assert f"{host}:{port}" in seen, f"no request reached the server as {host}:\n{p.stdout}\n{p.stderr}"
        assert f"backstage.{DNS_ZONE}" in asked, asked
        unknown = f"missing.{DNS_ZONE}.invalid"
        p = subprocess.run(in_image(root, "check", "--backstage-url", f"http://{unknown}:{port}"),
                           capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "dns error" in p.stdout and unknown in p.stdout, p.stdout


def test_https_trusts_the_image_ca_bundle(image_rootfs: Path, tmp_path: Path) -> None:
    """The binary finds its TLS roots at the image's /etc/ssl/certs/ca-certificates.crt: a
    Backstage whose certificate is signed by a CA added there is reached over HTTPS; without
    that CA the handshake is refused and nothing is sent."""
    hosts = f"127.0.0.1 localhost\n127.0.0.1 {HOSTS_NAME}\n"
    trusting = copy_rootfs(image_rootfs, tmp_path / "trusting", hosts)
    plain = copy_rootfs(image_rootfs, tmp_path / "plain", hosts)
    ca_pem, server_tls = throwaway_ca_and_server_context(tmp_path, HOSTS_NAME)
    with open(trusting / "etc/ssl/certs/ca-certificates.crt", "a") as bundle:
        bundle.write("\n" + ca_pem)
    with recording_http_server(server_tls) as (port, seen):
        url = f"https://{HOSTS_NAME}:{port}"
        refused = subprocess.run(in_image(plain, "check", "--backstage-url", url),
                                 capture_output=True, text=True, timeout=60)
        assert not seen, f"a request got through without the CA: {seen}"
        assert refused.returncode == 1 and "certificate" in refused.stdout.lower(), refused.stdout
        p = subprocess.run(in_image(trusting, "check", "--backstage-url", url),
                           capture_output=True, text=True, timeout=60)
        assert f"{HOSTS_NAME}:{port}" in seen, f"no request over HTTPS:\n{p.stdout}\n{p.stderr}"


async def test_get_entity_through_the_image_binary(image_rootfs: Path, testbed, tmp_path: Path) -> None:
    """The image's binary and default config, started as the image's command starts it (on a
    loopback port here), serve `get_entity` from the testbed — reached by a host name from the
    image's /etc/hosts — to the Python SDK, and write nothing to the image's file system."""
    root = copy_rootfs(image_rootfs, tmp_path / "rootfs", f"127.0.0.1 localhost\n127.0.0.1 {HOSTS_NAME}\n")
    before = files_under(root)
    tb = urllib.parse.urlsplit(testbed.base_url)
    base_url = f"{tb.scheme}://{HOSTS_NAME}:{tb.port}"
    port = sup.free_port()
    env = {"BACKSTAGE_BASE_URL": base_url, "BACKSTAGE_TOKEN": testbed.token}
    stderr_path = tmp_path / "stagedoor.stderr.log"
    argv = in_image(root, "serve", "--config", "/etc/stagedoor/config.yaml", "--transport", "http",
                    "--listen", f"127.0.0.1:{port}")
    with open(stderr_path, "wb") as errf:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf, env=env)
    srv = sup.ServerProcess(proc=proc, port=port, stderr_path=stderr_path, argv=argv, env=env)
    sup.RUNNING.append(srv)
    try:
        sup.wait_for_http(f"{srv.base}/readyz", proc, 20)
        ref = "component:default/order-service"
        async with sup.sdk_http_client(srv.url, "auto") as client:
            await sup.list_all_tools(client)  # the SDK then checks results against outputSchema
            result = await client.call_tool("get_entity", {"entityRef": ref})
        assert not result.is_error, sup.text_of(result)
        sup.assert_text_mirrors_structured(sup.dump(result))
        rest = httpx.get(f"{testbed.base_url}/api/catalog/entities/by-name/component/default/order-service",
                         headers={"Authorization": f"Bearer {testbed.token}"}, timeout=30)
        rest.raise_for_status()
        entity = rest.json()
        sc = result.structured_content
        assert entity["metadata"]["name"] in str(sc) and entity["metadata"]["uid"] in str(sc), sc
    finally:
        how = srv.stop()
    assert how == "term" and proc.returncode == 0, f"stop: {how}, exit {proc.returncode}:\n{srv.stderr_text()}"
    assert files_under(root) == before, "the binary wrote to the image's file system"
