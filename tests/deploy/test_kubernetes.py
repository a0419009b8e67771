"""deploy/kubernetes: every overlay renders with `kubectl kustomize`, validates strictly against
Kubernetes' JSON schemas (the oldest version the manifests claim and the newest the validator
knows), and keeps the promises the README makes: probes, resource limits, the restricted
security context, selectors that select, references that resolve, and a stagedoor config
that stagedoor itself accepts."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from deploy_support import KUBERNETES_DIR, OVERLAYS, find, one

# The oldest Kubernetes the manifests are written for: `lifecycle.preStop.sleep` is 1.30.
OLDEST_KUBERNETES = "1.30.0"
KUBERNETES_VERSIONS = (OLDEST_KUBERNETES, kubernetes_validate.latest_version())
SERVICEMONITOR_SCHEMA = json.loads((Path(__file__).parent / "schemas" / "servicemonitor-v1.json").read_text())
PORT = 7008


def deployment(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return one(resources, "Deployment", "stagedoor")


def container(resources: list[dict[str, Any]]) -> dict[str, Any]:
    containers = deployment(resources)["spec"]["template"]["spec"]["containers"]
    named = [c for c in containers if c["name"] == "stagedoor"]
    assert len(named) == 1, [c["name"] for c in containers]
    return named[0]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --------------------------------------------------------------------------- schemas


def test_every_overlay_is_found() -> None:
    assert set(OVERLAYS) >= {"backstage", "oauth", "local-catalog"}, OVERLAYS


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_against_kubernetes_schemas(rendered, overlay: str, version: str) -> None:
    """Strict: an unknown field anywhere is an error, as `kubectl apply --validate=strict` has it."""
    problems = []
    checked = 0
    for r in rendered[overlay]:
        if r["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: see test_servicemonitor_validates_against_its_crd_schema
        try:
            kubernetes_validate.validate(r, version, strict=True)
            checked += 1
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
            problems.append(f"{r['kind']}/{r['metadata'].get('name')}: {e}")
    assert not problems, f"{overlay} against Kubernetes {version}:\n" + "\n".join(problems)
    assert checked >= 8, f"only {checked} resources validated in {overlay}"


def test_strict_validation_rejects_a_misspelled_field(rendered) -> None:
    """The check above is not vacuous: one typo in the security context fails it."""
    d = copy.deepcopy(deployment(rendered["backstage"]))
    d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(d, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servicemonitor_validates_against_its_crd_schema(rendered, overlay: str) -> None:
    sm = one(rendered[overlay], "ServiceMonitor", "stagedoor")
    jsonschema.validate(sm, SERVICEMONITOR_SCHEMA)
    bad = copy.deepcopy(sm)
    bad["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SERVICEMONITOR_SCHEMA)


# --------------------------------------------------------------------------- the Deployment


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_has_probes_on_healthz_and_readyz(rendered, overlay: str) -> None:
    c = container(rendered[overlay])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports.get("http") == PORT, ports
    expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        assert probe in c, f"{overlay}: no {probe}"
        get = c[probe].get("httpGet", {})
        assert get.get("path") == path, f"{overlay}: {probe} {get}"
        assert ports.get(get.get("port"), get.get("port")) == PORT, f"{overlay}: {probe} port {get.get('port')}"
    # No exec probes: the image has no shell.
    assert not any("exec" in c[p] for p in expected)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_has_resource_requests_and_limits(rendered, overlay: str) -> None:
    res = container(rendered[overlay]).get("resources", {})
    for kind in ("requests", "limits"):
        for what in ("cpu", "memory"):
            assert res.get(kind, {}).get(what), f"{overlay}: no resources.{kind}.{what}: {res}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_security_context_is_restricted(rendered, overlay: str) -> None:
    """The Pod Security Standards' "restricted" profile, plus a read-only root file system."""
    pod = deployment(rendered[overlay])["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    for c in pod["containers"] + pod.get("initContainers", []):
        sc = c.get("securityContext", {})
        where = f"{overlay}: container {c['name']}"
        assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation {sc}"
        assert sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem {sc}"
        assert sc.get("privileged") in (None, False), where
        assert sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot"
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        assert uid is not None and uid != 0, f"{where}: runAsUser {uid}"
        caps = sc.get("capabilities", {})
        assert caps.get("drop") == ["ALL"], f"{where}: capabilities {caps}"
        assert not caps.get("add"), f"{where}: adds capabilities {caps}"
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {}))
        assert seccomp.get("type") == "RuntimeDefault", f"{where}: seccompProfile {seccomp}"
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host), f"{overlay}: {host}"
    assert not any("hostPath" in v for v in pod.get("volumes", [])), f"{overlay}: hostPath volume"
    assert pod.get("automountServiceAccountToken") is False, f"{overlay}: service account token mounted"


def test_namespace_enforces_the_restricted_pod_security_standard(rendered) -> None:
    for overlay, res in rendered.items():
        ns = one(res, "Namespace")
        assert ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") == "restricted", overlay
        namespaced = [r for r in res if r["kind"] != "Namespace"]
        wrong = [f"{r['kind']}/{r['metadata']['name']}" for r in namespaced
                 if r["metadata"].get("namespace") != ns["metadata"]["name"]]
        assert not wrong, f"{overlay}: not in namespace {ns['metadata']['name']}: {wrong}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_serves_http_on_all_interfaces_with_the_mounted_config(rendered, overlay: str) -> None:
    c = container(rendered[overlay])
    args = c.get("args", [])
    assert args[:1] == ["serve"], args
    flags = dict(zip(args[1::2], args[2::2]))
    assert flags.get("--transport") == "http", args
    assert flags.get("--listen") == f"0.0.0.0:{PORT}", args
    config = flags.get("--config", "")
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    mount = mounts.get(os.path.dirname(config))
    assert mount and mount.get("readOnly") is True, f"{overlay}: {config} is not under a read-only mount: {mounts}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_configmap_and_secret_reference_resolves(rendered, overlay: str) -> None:
    """Generated names carry a content hash; the Deployment must name the generated object."""
    res = rendered[overlay]
    pod = deployment(res)["spec"]["template"]["spec"]
    names = {(r["kind"], r["metadata"]["name"]) for r in res}
    refs = []
    for v in pod.get("volumes", []):
        if "configMap" in v:
            refs.append(("ConfigMap", v["configMap"]["name"]))
        if "secret" in v:
            refs.append(("Secret", v["secret"]["secretName"]))
    for c in pod["containers"]:
        for e in c.get("envFrom", []):
            if "secretRef" in e:
                refs.append(("Secret", e["secretRef"]["name"]))
            if "configMapRef" in e:
                refs.append(("ConfigMap", e["configMapRef"]["name"]))
        for e in c.get("env", []):
            src = e.get("valueFrom", {})
            if "secretKeyRef" in src:
                refs.append(("Secret", src["secretKeyRef"]["name"]))
    assert refs, f"{overlay}: the Deployment references no ConfigMap"
    missing = [r for r in refs if r not in names]
    assert not missing, f"{overlay}: references to objects not in the output: {missing}"


# --------------------------------------------------------------------------- the other objects


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_pdb_hpa_and_policy_select_the_pods(rendered, overlay: str) -> None:
    res = rendered[overlay]
    d = deployment(res)
    pod_labels = d["spec"]["template"]["metadata"]["labels"]
    assert labels_match(d["spec"]["selector"]["matchLabels"], pod_labels)

    svc = one(res, "Service", "stagedoor")
    assert labels_match(svc["spec"]["selector"], pod_labels), svc["spec"]
    container_ports = {p["name"] for p in container(res)["ports"]}
    for p in svc["spec"]["ports"]:
        assert p["targetPort"] in container_ports or p["targetPort"] == PORT, p

    pdb = one(res, "PodDisruptionBudget", "stagedoor")
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], pod_labels), pdb["spec"]

    hpa = one(res, "HorizontalPodAutoscaler", "stagedoor")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", d["metadata"]["name"]), ref
    assert hpa["spec"]["minReplicas"] >= 2, "one replica cannot survive a drain with the PDB"

    np = one(res, "NetworkPolicy", "stagedoor")
    assert labels_match(np["spec"]["podSelector"]["matchLabels"], pod_labels), np["spec"]
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress_ports = {p["port"] for rule in np["spec"]["ingress"] for p in rule.get("ports", [])}
    assert ingress_ports & {"http", PORT}, ingress_ports

    sm = one(res, "ServiceMonitor", "stagedoor")
    assert labels_match(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]), sm["spec"]
    svc_ports = {p["name"] for p in svc["spec"]["ports"]}
    for ep in sm["spec"]["endpoints"]:
        assert ep["port"] in svc_ports, (ep, svc_ports)
        assert ep["path"] == "/metrics"


def test_local_catalog_mode_has_no_egress(rendered) -> None:
    np = one(rendered["local-catalog"], "NetworkPolicy", "stagedoor")
    assert np["spec"]["egress"] == [], np["spec"]


@pytest.mark.parametrize("overlay", ["backstage", "oauth"])
def test_backstage_modes_reach_only_dns_and_backstage(rendered, overlay: str) -> None:
    np = one(rendered[overlay], "NetworkPolicy", "stagedoor")
    ports = sorted((p["port"], p["protocol"]) for rule in np["spec"]["egress"] for p in rule["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (7007, "TCP")], ports
    assert all(rule.get("to") for rule in np["spec"]["egress"]), "an egress rule without `to` allows any peer"


# --------------------------------------------------------------------------- stagedoor's config


def config_of(resources: list[dict[str, Any]]) -> str:
    cm = one(resources, "ConfigMap", "stagedoor-config")
    return cm["data"]["config.yaml"]


def run_check(binary: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run([str(binary), "check", *args], capture_output=True, text=True, env={**base, **env},
                          cwd=str(cwd), timeout=60, stdin=subprocess.DEVNULL)


def dead_backstage() -> str:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("overlay", ["backstage", "oauth"])
def test_backstage_mode_config_is_accepted_by_stagedoor(rendered, stagedoor_bin, tmp_path, overlay: str) -> None:
    """`stagedoor check` with the ConfigMap's config and the Secret's keys in the environment:
    the config is valid (exit 1, Backstage unreachable, not 64, a configuration error)."""
    res = rendered[overlay]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_of(res))
    secret = one(res, "Secret", "stagedoor-secrets")
    import base64
    env = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    p = run_check(stagedoor_bin, ["--config", str(cfg), "--backstage-url", dead_backstage()], env, tmp_path)
    assert p.returncode == 1, f"{overlay}: check exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    # Every ${VAR} of the config is provided by the Secret.
    unset = run_check(stagedoor_bin, ["--config", str(cfg), "--backstage-url", dead_backstage()], {}, tmp_path)
    assert unset.returncode == 64 or "${" not in config_of(res), \
        f"{overlay}: without the Secret's variables check exited {unset.returncode}"


def kubelet_configmap_volume(root: Path, files: dict[str, str]) -> Path:
    """A directory laid out as the kubelet mounts a ConfigMap: the files in a hidden
    timestamped directory, `..data` linking to it, and each key a link through `..data`."""
    root.mkdir(parents=True)
    ts = root / "..2026_12_04_18_00_00.000000001"
    ts.mkdir()
    for name, text in files.items():
        (ts / name).write_text(text)
    (root / "..data").symlink_to(ts.name)
    for name in files:
        (root / name).symlink_to(f"..data/{name}")
    return root


def test_local_catalog_config_serves_the_configmap_as_the_kubelet_mounts_it(rendered, stagedoor_bin, tmp_path) -> None:
    res = rendered["local-catalog"]
    cfg_text = config_of(res)
    cfg = yaml.safe_load(cfg_text)
    catalog_cm = one(res, "ConfigMap", "stagedoor-catalog")
    (mount_path,) = cfg["catalog"]["paths"]
    mounts = {m["mountPath"]: m["name"] for m in container(res)["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment(res)["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts[mount_path]]["configMap"]["name"] == catalog_cm["metadata"]["name"]

    catalog_dir = kubelet_configmap_volume(tmp_path / "catalog", catalog_cm["data"])
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(cfg_text)
    p = run_check(stagedoor_bin, ["--config", str(cfg_file), "--catalog", str(catalog_dir)], {}, tmp_path)
    assert p.returncode == 0, f"check exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    documents = sum(len([d for d in yaml.safe_load_all(t) if d]) for t in catalog_cm["data"].values())
    out = p.stdout + p.stderr
    assert f"{documents} entities" in out, f"expected {documents} entities loaded:\n{out}"


def test_image_default_config_is_accepted_by_stagedoor(stagedoor_bin, tmp_path) -> None:
    cfg = KUBERNETES_DIR.parent / "container" / "config.yaml"
    p = run_check(stagedoor_bin, ["--config", str(cfg), "--backstage-url", dead_backstage()],
                  {"BACKSTAGE_TOKEN": "t"}, tmp_path)
    assert p.returncode == 1, f"check exited {p.returncode}\n{p.stdout}\n{p.stderr}"
