"""The scaffolder tools and the read-only setting against the real Backstage testbed, through
real MCP clients (Python SDK over stdio and Streamable HTTP, MCP Inspector CLI).

Oracles are independent of stagedoor: the template YAML under `testbed/catalog/templates`,
and Backstage's own REST API queried directly with the testbed token (task list, task
records, task events).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import e2e_support as sup
from e2e_support import call, call_error

pytestmark = [pytest.mark.anyio, pytest.mark.testbed, pytest.mark.compat]

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = {
    "template:default/hello-world",
    "template:default/create-node-service",
    "template:default/slow-task",
    "template:default/publish-library",
}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WRITE_TOOLS = {"run_template", "cancel_task"}
READ_TOOLS = {"list_templates", "get_template", "validate_template_values", "dry_run_template",
              "list_tasks", "get_task_status"}

# (transport, SDK mode): both transports, both protocol eras.
WIRES = [("stdio", "legacy"), ("stdio", "2026-07-28"), ("http", "legacy"), ("http", "2026-07-28")]


# --------------------------------------------------------------------------- helpers


def rest(testbed: Any, path: str, **params: Any) -> Any:
    r = httpx.get(f"{testbed.base_url}/api/scaffolder/v2{path}", params=params,
                  headers={"Authorization": f"Bearer {testbed.token}"}, timeout=40)
    r.raise_for_status()
    return r.json()


def task_count(testbed: Any) -> int:
    return rest(testbed, "/tasks", limit=1)["totalTasks"]


def find_task(testbed: Any, label: str) -> dict[str, Any]:
    """The task whose parameters carry `label` (each test run uses a fresh one)."""
    tasks = rest(testbed, "/tasks", limit=100, order="desc:created_at")["tasks"]
    hits = [t for t in tasks if t["spec"].get("parameters", {}).get("label") == label]
    assert len(hits) == 1, f"expected one task labelled {label}, found {len(hits)}"
    return hits[0]


def wait_final(testbed: Any, task_id: str, timeout_s: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        t = rest(testbed, f"/tasks/{task_id}")
        if t["status"] in ("completed", "failed", "cancelled", "skipped") or time.monotonic() > deadline:
            return t
        time.sleep(0.25)


def event_messages(testbed: Any, task_id: str) -> list[str]:
    events = rest(testbed, f"/tasks/{task_id}/events")
    return [ANSI.sub("", e["body"]["message"]).rstrip() for e in events if "message" in e["body"]]


def label() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- list / get / validate


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_list_templates_finds_every_fixture_and_filters(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)  # the SDK then validates results against outputSchema
        refs: list[str] = []
        cursor = None
        for _ in range(10):
            page = await call(client, "list_templates", {"limit": 1, **({"cursor": cursor} if cursor else {})})
            assert len(page["items"]) <= 1 and page["totalItems"] == len(TEMPLATES), page
            refs += [i["ref"] for i in page["items"]]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        assert sorted(refs) == sorted(TEMPLATES), refs
        hello = (await call(client, "list_templates", {"query": "greeting"}))["items"]
        assert [i["ref"] for i in hello] == ["template:default/hello-world"], hello
        assert hello[0]["owner"] == "group:default/platform-team" and hello[0]["type"] == "example"
        assert set(hello[0]["tags"]) == {"example", "offline"}
        offline = await call(client, "list_templates", {"tags": ["offline"]})
        assert {i["ref"] for i in offline["items"]} == {"template:default/hello-world", "template:default/slow-task"}
        service = await call(client, "list_templates", {"type": "service", "owner": "platform-team"})
        assert [i["ref"] for i in service["items"]] == ["template:default/create-node-service"]
        none = await call(client, "list_templates", {"owner": "group:default/web-team"})
        assert none["items"] == [] and none["totalItems"] == 0


@pytest.mark.parametrize("transport,mode", [("stdio", "2026-07-28"), ("http", "legacy")])
async def test_get_template_flattens_pages_and_its_guidance_finds_valid_values(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        t = await call(client, "get_template", {"templateRef": "create-node-service"})
        assert t["ref"] == "template:default/create-node-service"
        assert [p["title"] for p in t["pages"]] == ["Service details", "Placement"]
        fields = {f["name"]: f for f in t["fields"]}
        assert list(fields) == ["name", "description", "owner", "system", "lifecycle", "port"]
        assert fields["name"]["required"] and fields["name"]["pattern"] == "^[a-z0-9]+(-[a-z0-9]+)*$"
        assert fields["description"]["default"] == "A Quillmart Node.js service"
        assert fields["port"] == {**fields["port"], "step": 2, "type": "integer", "minimum": 1024,
                                  "maximum": 65535, "default": 8080}
        assert fields["lifecycle"]["enum"] == ["experimental", "production"]
        assert t["requiredWithoutDefault"] == ["name", "owner", "system"]
        assert [(s["id"], s["action"]) for s in t["steps"]] == [("fetch", "fetch:template"), ("log", "debug:log")]
        # The guidance is an exact search_catalog call; following it yields valid values.
        for field, kind in (("owner", "Group"), ("system", "System")):
            g = fields[field]["guidance"]
            assert g["tool"] == "search_catalog" and g["arguments"] == {"kind": kind}, g
            found = await call(client, "search_catalog", {**g["arguments"], "limit": 100})
            assert found["items"] and all(i["kind"] == kind for i in found["items"]), found
        lib = await call(client, "get_template", {"templateRef": "template:default/publish-library"})
        lf = {f["name"]: f for f in lib["fields"]}
        repo = lf["repoUrl"]["guidance"]
        assert repo["valueFormat"] == "host?owner=OWNER&repo=REPO"
        assert repo["example"] == "github.com?owner=quillmart&repo=REPO"
        assert "github.com" in repo["text"] and "quillmart" in repo["text"]
        assert lf["visibility"]["enumNames"][0] == "Private (team only)"
        consumers = lf["consumers"]["guidance"]
        assert consumers["arguments"] == {"filter": "kind=Component,spec.lifecycle=production"}
        prod = await call(client, "search_catalog", {**consumers["arguments"], "limit": 100})
        assert prod["items"] and all(i["kind"] == "Component" and i["lifecycle"] == "production"
                                     for i in prod["items"]), prod
        owned = lf["owner"]["guidance"]
        assert owned["arguments"]["kind"] == "Group" and "owner" in owned["arguments"]
        # A typo names the template meant.
        err = await call_error(client, "get_template", {"templateRef": "helo-world"})
        assert "template:default/hello-world" in err, err
        err = await call_error(client, "get_template", {"templateRef": "component:default/payment-service"})
        assert "not a template" in err, err


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_validate_reports_every_violation_with_its_path(connect, transport, mode) -> None:
    async with connect(transport, mode) as client:
        bad = await call(client, "validate_template_values", {
            "templateRef": "create-node-service",
            "values": {"name": "Bad Name", "port": 80, "lifecycle": "legacy", "nmae": "x"}})
        assert bad["valid"] is False
        got = sorted((e["path"], e["keyword"]) for e in bad["errors"])
        assert got == [("/lifecycle", "enum"), ("/name", "pattern"), ("/nmae", "unknown"),
                       ("/owner", "required"), ("/port", "minimum"), ("/system", "required")], got
        for e in bad["errors"]:
            assert e["message"] and e["path"].lstrip("/") in e["message"], e
        assert "did you mean `name`" in next(e["message"] for e in bad["errors"] if e["keyword"] == "unknown")
        assert [d["field"] for d in bad["appliedDefaults"]] == ["description"]
        good = await call(client, "validate_template_values", {
            "templateRef": "template:default/create-node-service",
            "values": {"name": "basket-service", "owner": "group:default/web-team", "system": "system:default/orders"}})
        assert good["valid"] is True and good["errors"] == [], good
        assert {d["field"]: d["value"] for d in good["appliedDefaults"]} == {
            "description": "A Quillmart Node.js service", "lifecycle": "experimental", "port": 8080}
        assert good["values"]["port"] == 8080 and good["values"]["name"] == "basket-service"


# --------------------------------------------------------------------------- run_template


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("http", "2026-07-28")])
async def test_invalid_values_are_refused_before_any_task_exists(connect, testbed, transport, mode) -> None:
    before = task_count(testbed)
    async with connect(transport, mode) as client:
        text = await call_error(client, "run_template", {
            "templateRef": "hello-world", "values": {"greeting": "Yo", "repeat": 0, "colour": "red"}, "wait": True})
        for path, keyword in (("/greeting", "enum"), ("/repeat", "minimum"), ("/colour", "unknown")):
            assert f"{path} [{keyword}]" in text, text
        assert "no task was created" in text
        text = await call_error(client, "run_template", {
            "templateRef": "hello-world", "values": {}, "secrets": {"apiToken": 12345}})
        assert "apiToken" in text and "12345" not in text, text
        text = await call_error(client, "dry_run_template", {"templateRef": "slow-task", "values": {"label": "NO SPACES"}})
        assert "/label [pattern]" in text, text
    assert task_count(testbed) == before, "a task was created for invalid values"


@pytest.mark.parametrize("transport,mode", WIRES)
async def test_run_with_wait_streams_progress_in_order_and_returns_the_outcome(connect, testbed, transport, mode) -> None:
    name = label()
    progress: list[tuple[float, float | None, str | None, float]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message, time.monotonic()))

    async with connect(transport, mode) as client:
        await sup.list_all_tools(client)
        out = await call(client, "run_template", {
            "templateRef": "slow-task", "values": {"label": name, "seconds": 2}, "wait": True, "logTail": 5},
            progress_callback=on_progress)
        returned = time.monotonic()
    assert out["status"] == "completed" and out["finished"] is True and out["cancelled"] is False, out
    assert [s["status"] for s in out["steps"]] == ["completed"] * 4, out["steps"]
    assert out["output"]["links"][0]["url"] == "https://backstage.io/docs/features/software-templates/"
    assert out["output"]["text"][0]["content"] == f"Waited 2 s for {name}."
    tail = [line["message"] for line in out["logTail"]]
    assert len(tail) == 5 and tail[-1] == "Run completed with status: completed", tail
    assert f"info: Finished {name}" in tail, tail
    # Backstage's own record of the task is the oracle for the progress stream.
    task = rest(testbed, f"/tasks/{out['taskId']}")
    assert task["status"] == "completed" and task["spec"]["parameters"] == {"label": name, "seconds": 2}
    expected = event_messages(testbed, out["taskId"])
    messages = [m or "" for _, _, m, _ in progress]
    assert [m.split(": ", 1)[-1] if m.startswith(("Prepare: ", "Announce the wait: ", "Wait: ", "Finish: ")) else m
            for m in messages] == expected, messages
    values = [p for p, _, _, _ in progress]
    assert values == sorted(values) and len(set(values)) == len(values), "progress must increase"
    assert not any("\x1b" in m for m in messages), "ANSI codes leaked into progress"
    assert f"Prepare: info: Preparing {name}" in messages
    # Notifications arrived while the task ran, not after it ended: the wait step lasts 2 s.
    waiting = next(t for _, _, m, t in progress if m == "Wait: Beginning step Wait")
    assert returned - waiting > 1.0, f"progress came only {returned - waiting:.2f} s before the result"


async def test_run_applies_defaults_and_without_wait_returns_the_task_id(connect, testbed) -> None:
    async with connect("stdio", "2026-07-28") as client:
        started = await call(client, "run_template", {"templateRef": "hello-world", "values": {}})
        assert started["status"] == "open" and started["finished"] is False
        assert {d["field"] for d in started["appliedDefaults"]} == {"name", "greeting", "repeat"}
        task_id = started["taskId"]
        assert task_id in started["message"]
        status: dict[str, Any] = {}
        for _ in range(80):
            status = await call(client, "get_task_status", {"taskId": task_id})
            if status["finished"]:
                break
            await anyio.sleep(0.25)
        assert status["status"] == "completed", status
        assert status["steps"] == [{"id": "log", "name": "Log the greeting", "action": "debug:log", "status": "completed"}]
        assert status["output"] == {"text": [{"title": "Greeting", "content": "Hello, world!"}]}
        lines = [line["message"] for line in status["log"]]
        assert "info: Hello, world! (x1)" in lines and not any("\x1b" in m for m in lines), lines
        # The defaults reached Backstage: the task was created with them.
        assert rest(testbed, f"/tasks/{task_id}")["spec"]["parameters"] == {"name": "world", "greeting": "Hello", "repeat": 1}
        # Paging through the log with `after` and `maxEvents`.
        first = await call(client, "get_task_status", {"taskId": task_id, "after": 0, "maxEvents": 2})
        assert len(first["log"]) == 2 and first["moreAfter"] == first["log"][-1]["id"]
        rest_of = await call(client, "get_task_status", {"taskId": task_id, "after": first["moreAfter"], "maxEvents": 500})
        assert [line["id"] for line in first["log"] + rest_of["log"]] == [line["id"] for line in status["log"]]
        assert "moreAfter" not in rest_of
        latest = await call(client, "get_task_status", {"taskId": task_id, "maxEvents": 1})
        assert latest["log"][0]["message"] == "Run completed with status: completed"
        assert latest["earlierOmitted"] == len(status["log"]) - 1
        # list_tasks shows it, newest first, and pages.
        listed = await call(client, "list_tasks", {"status": ["completed"], "limit": 1})
        assert listed["items"][0]["taskId"] == task_id and listed["items"][0]["templateRef"] == "template:default/hello-world"
        assert listed["totalTasks"] == rest(testbed, "/tasks", status="completed", limit=1)["totalTasks"]
        if listed["totalTasks"] > 1:
            second = await call(client, "list_tasks", {"cursor": listed["nextCursor"]})
            assert second["items"][0]["taskId"] != task_id
        # Ending states are refused as cancel targets, and bad ids are named.
        again = await call(client, "cancel_task", {"taskId": task_id})
        assert again["cancelRequested"] is False and "already ended" in again["message"]
        err = await call_error(client, "get_task_status", {"taskId": str(uuid.uuid4())})
        assert "No scaffolder task" in err, err
        err = await call_error(client, "get_task_status", {"taskId": "../catalog"})
        assert "not a scaffolder task id" in err, err
        err = await call_error(client, "list_tasks", {"status": ["done"]})
        assert "unknown task status" in err, err


async def cancel_mid_run(client: Any, name: str) -> None:
    """Starts slow-task (30 s) with wait and abandons the call once the wait step began."""
    in_wait = anyio.Event()

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        if message == "Wait: Beginning step Wait":
            in_wait.set()

    async def run() -> None:
        await client.call_tool("run_template", {"templateRef": "slow-task", "values": {"label": name},
                                                "wait": True}, progress_callback=on_progress)
        raise AssertionError("the call returned although it was cancelled")

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await in_wait.wait()
            tg.cancel_scope.cancel()


def assert_cancelled_in_backstage(testbed: Any, name: str, started: float) -> None:
    task = find_task(testbed, name)
    final = wait_final(testbed, task["id"])
    events = rest(testbed, f"/tasks/{task['id']}/events")
    # Backstage 4.2 records a `cancelled` event and ends the task as failed.
    assert any(e["type"] == "cancelled" for e in events), [e["type"] for e in events]
    assert final["status"] in ("failed", "cancelled"), final["status"]
    assert not any(e["body"].get("stepId") == "finish" and e["body"].get("status") == "completed" for e in events)
    assert time.monotonic() - started < 25, "the 30 s wait ran to its end"


@pytest.mark.parametrize("transport,mode", [("stdio", "legacy"), ("stdio", "2026-07-28"), ("http", "2026-07-28")])
async def test_cancelling_the_mcp_request_cancels_the_task(connect, testbed, transport, mode) -> None:
    name = label()
    started = time.monotonic()
    async with connect(transport, mode) as client:
        await cancel_mid_run(client, name)
        # The session stays usable.
        assert (await call(client, "list_templates", {"limit": 1}))["items"]
    assert_cancelled_in_backstage(testbed, name, started)


async def test_legacy_http_cancellation_needs_sessions(stagedoor_http, testbed, tmp_path) -> None:
    """Over stateless legacy HTTP a `notifications/cancelled` has no session to reach the call
    it names, so cancellation needs `server.sessions: true` (2026-07-28 cancels by closing
    the request's stream and needs nothing)."""
    cfg = tmp_path / "sessions.yaml"
    cfg.write_text("server:\n  sessions: true\n")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])
    name = label()
    started = time.monotonic()
    async with sup.sdk_http_client(srv.url, "legacy") as client:
        await cancel_mid_run(client, name)
    assert_cancelled_in_backstage(testbed, name, started)


@pytest.mark.parametrize("transport,mode", [("http", "legacy"), ("stdio", "2026-07-28")])
async def test_cancel_task_stops_a_running_task(connect, testbed, transport, mode) -> None:
    name = label()
    async with connect(transport, mode) as client:
        # Waiting is bounded: past maxWaitSeconds the answer says the task still runs.
        started = await call(client, "run_template", {"templateRef": "slow-task", "values": {"label": name},
                                                      "wait": True, "maxWaitSeconds": 2})
        assert started["timedOut"] is True and started["finished"] is False, started
        assert started["status"] in ("open", "processing") and "still" in started["message"], started
        task_id = started["taskId"]
        for _ in range(40):
            s = await call(client, "get_task_status", {"taskId": task_id})
            if any(step["id"] == "wait" and step["status"] == "processing" for step in s["steps"]):
                break
            await anyio.sleep(0.25)
        out = await call(client, "cancel_task", {"taskId": task_id})
        assert out["cancelRequested"] is True and out["finished"] is True, out
        assert out["status"] in ("failed", "cancelled"), out
        status = await call(client, "get_task_status", {"taskId": task_id})
        assert status["cancelled"] is True and status["finished"] is True, status
        assert {s["id"]: s["status"] for s in status["steps"]} == {
            "prepare": "completed", "announce": "completed", "wait": "failed", "finish": "skipped"}
    events = rest(testbed, f"/tasks/{task_id}/events")
    assert any(e["type"] == "cancelled" for e in events)


# --------------------------------------------------------------------------- dry run, tasks of a user


async def test_dry_run_applies_defaults_and_creates_no_task(connect, testbed) -> None:
    before = task_count(testbed)
    async with connect("http", "legacy") as client:
        out = await call(client, "dry_run_template", {"templateRef": "hello-world", "values": {"greeting": "Howdy"}})
        assert any("info: Howdy, world! (x1)" in line for line in out["log"]), out["log"]
        assert not any("\x1b" in line for line in out["log"])
        assert out["output"] == {"text": [{"title": "Greeting", "content": "Howdy, world!"}]}
        assert out["steps"][0]["status"] == "completed"
        assert {d["field"] for d in out["appliedDefaults"]} == {"name", "repeat"}
        err = await call_error(client, "dry_run_template", {"templateRef": "create-node-service", "values": {
            "name": "dry", "owner": "group:default/web-team", "system": "system:default/orders"}})
        assert "cannot be dry-run remotely" in err, err
    assert task_count(testbed) == before


async def test_owned_tasks_need_a_user_token(stagedoor_http, testbed, connect) -> None:
    token = httpx.get(f"{testbed.base_url}/api/auth/guest/refresh", timeout=20).json()["backstageIdentity"]["token"]
    srv = stagedoor_http(base_url=testbed.base_url, token=token)
    async with sup.sdk_http_client(srv.url, "2026-07-28") as client:
        run = await call(client, "run_template", {"templateRef": "hello-world", "values": {"name": "guest"}, "wait": True})
        assert run["status"] == "completed" and run["createdBy"] == "user:default/guest", run
        mine = await call(client, "list_tasks", {"owned": True, "limit": 100})
        assert mine["createdBy"] == "user:default/guest"
        assert run["taskId"] in {t["taskId"] for t in mine["items"]}
        assert all(t.get("createdBy") == "user:default/guest" for t in mine["items"]), mine
        assert mine["totalTasks"] == rest(testbed, "/tasks", createdBy="user:default/guest", limit=1)["totalTasks"]
    async with connect("http", "legacy") as client:
        err = await call_error(client, "list_tasks", {"owned": True})
        assert "needs a Backstage user token" in err, err


# --------------------------------------------------------------------------- read-only


async def _assert_read_only(client: Any, testbed: Any) -> None:
    tools = await sup.list_all_tools(client)
    sup.assert_tools_well_formed(tools)
    names = {t["name"] for t in tools}
    assert not names & WRITE_TOOLS, names
    assert READ_TOOLS <= names, names
    assert all(t["annotations"]["readOnlyHint"] is True for t in tools)
    before = task_count(testbed)
    for tool, args in (("run_template", {"templateRef": "hello-world", "values": {}}),
                       ("cancel_task", {"taskId": str(uuid.uuid4())})):
        text = await call_error(client, tool, args)
        assert "read-only" in text and tool in text, text
    assert task_count(testbed) == before


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_read_only_over_stdio_hides_and_refuses_write_tools(stagedoor_bin, stdio_env, stdio_stderr, testbed, mode) -> None:
    async with sup.sdk_stdio_client(stagedoor_bin, stdio_env, mode, stdio_stderr, extra_args=["--read-only"]) as client:
        await _assert_read_only(client, testbed)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_read_only_config_over_http_hides_and_refuses_write_tools(stagedoor_http, testbed, tmp_path, mode) -> None:
    cfg = tmp_path / "ro.yaml"
    cfg.write_text("server:\n  readOnly: true\n")
    srv = stagedoor_http(base_url=testbed.base_url, token=testbed.token, config_files=[cfg])
    async with sup.sdk_http_client(srv.url, mode) as client:
        await _assert_read_only(client, testbed)


async def test_write_tools_carry_their_annotations(connect) -> None:
    async with connect("http", "2026-07-28") as client:
        tools = {t["name"]: t for t in await sup.list_all_tools(client)}
    run, cancel = tools["run_template"]["annotations"], tools["cancel_task"]["annotations"]
    assert (run["readOnlyHint"], run["destructiveHint"], run["idempotentHint"]) == (False, False, False)
    assert (cancel["readOnlyHint"], cancel["destructiveHint"], cancel["idempotentHint"]) == (False, True, True)
    for name in READ_TOOLS:
        assert tools[name]["annotations"]["readOnlyHint"] is True, name


def test_stagedoor_tools_reflects_read_only(stagedoor_bin, tmp_path) -> None:
    import subprocess

    def tools(*args: str) -> list[dict[str, Any]]:
        p = subprocess.run([str(stagedoor_bin), "tools", "--json", *args], capture_output=True, text=True,
                           env=sup.base_env(), cwd=tmp_path, timeout=30)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    cfg = tmp_path / "ro.yaml"
    cfg.write_text("server:\n  readOnly: true\n")
    full = {t["name"]: t for t in tools()}
    assert WRITE_TOOLS <= set(full) and READ_TOOLS <= set(full)
    assert full["run_template"]["id"] == "scaffolder:run_template"
    for args in (["--read-only"], ["--config", str(cfg)]):
        ro = {t["name"] for t in tools(*args)}
        assert ro == {n for n, t in full.items() if t["annotations"]["readOnlyHint"]}, args
        assert not ro & WRITE_TOOLS
    table = subprocess.run([str(stagedoor_bin), "tools", "--read-only"], capture_output=True, text=True,
                           env=sup.base_env(), cwd=tmp_path, timeout=30)
    assert table.returncode == 0 and "Read-only" in table.stdout, table.stderr
    listed = {line.split()[0] for line in table.stdout.splitlines() if line.strip()}
    assert not listed & WRITE_TOOLS and "dry_run_template" in listed, listed


# --------------------------------------------------------------------------- Inspector CLI


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_inspector_lists_gets_and_validates_templates(inspector_cli, request, stagedoor_bin, stdio_env, transport) -> None:
    if transport == "http":
        target, kw = request.getfixturevalue("testbed_server").url, {}
    else:
        target = [str(stagedoor_bin), "serve", "--transport", "stdio"]
        kw = {"config": {"env": stdio_env}}
    listed = sup.inspector_tool_call(inspector_cli, target, "list_templates", {"limit": 10}, **kw)
    assert {i["ref"] for i in listed["items"]} == TEMPLATES
    got = sup.inspector_tool_call(inspector_cli, target, "get_template", {"templateRef": "hello-world"}, **kw)
    assert [f["name"] for f in got["fields"]] == ["name", "greeting", "repeat"]
    assert got["fields"][1]["enum"] == ["Hello", "Hi", "Howdy"]
    checked = sup.inspector_tool_call(inspector_cli, target, "validate_template_values",
                              {"templateRef": "hello-world", "values": {"repeat": 9}}, **kw)
    assert checked["valid"] is False and [e["path"] for e in checked["errors"]] == ["/repeat"]
    assert [d["field"] for d in checked["appliedDefaults"]] == ["name", "greeting"]
