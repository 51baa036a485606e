"""Findings, hosts and services over HTTP, after real imports by the real ingest service."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from services.api.tokens import Role
from shared.settings import Settings
from tests.integration.api.conftest import Api
from tests.support.scans import import_scan, jsonl_scan
from tests.support.services import running_ingest

MakeToken = Callable[..., Awaitable[str]]
LOG4J = "Apache Log4j RCE@10.0.0.1"
OPENSSH = "Outdated OpenSSH@10.0.0.1"
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def finding(host: str, title: str, severity: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"finding": host, "title": title, "severity": severity, "port": port, **extra}


FIRST_SCAN = jsonl_scan(
    {"host": "10.0.0.1"},
    {"service": "10.0.0.1", "port": 443, "name": "https"},
    {"service": "10.0.0.1", "port": 22, "name": "ssh"},
    finding(
        "10.0.0.1", "Apache Log4j RCE", "critical", 443,
        cve=["CVE-2021-44228"], description="Remote code execution in a logging library",
    ),
    finding("10.0.0.1", "Weak TLS ciphers", "medium", 443),
    finding("10.0.0.1", "Outdated OpenSSH", "high", 22, cve=["CVE-2023-38408"]),
    {"host": "10.0.0.2"},
    {"service": "10.0.0.2", "port": 80, "name": "http"},
    finding("10.0.0.2", "Weak TLS ciphers", "medium", 443),
    finding("10.0.0.2", "Directory listing enabled", "low", 80),
    finding("10.0.0.2", "Server banner disclosure", "info", 80),
    {"host": "10.0.0.3"},
    finding("10.0.0.3", "Signing not required for SMB", "medium", 445),
)  # fmt: skip
# A re-scan of 10.0.0.1 only: it reports log4j and OpenSSH again, no longer the TLS ciphers.
SECOND_SCAN = jsonl_scan(
    {"host": "10.0.0.1"},
    finding(
        "10.0.0.1", "Apache Log4j RCE", "critical", 443,
        cve=["CVE-2021-44228"], description="Remote code execution in a logging library",
    ),
    finding("10.0.0.1", "Outdated OpenSSH", "high", 22, cve=["CVE-2023-38408"]),
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
async def ingest(api: Api, settings: Settings) -> AsyncIterator[None]:
    async with running_ingest(settings):
        yield


@pytest.fixture(scope="module")
async def admin(api: Api, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=api.http, headers=headers, timeout=30) as client:
        yield client


async def new_workspace(client: httpx.AsyncClient) -> str:
    workspace_id = f"ws-{secrets.token_hex(6)}"
    response = await client.post("/api/v1/workspaces", json={"id": workspace_id, "name": "t"})
    assert response.status_code == 201, response.text
    return workspace_id


@pytest.fixture(scope="module")
async def inventory(admin: httpx.AsyncClient, pool: asyncpg.Pool) -> str:
    """A workspace with both scans imported: 7 findings, one of them fixed by the re-scan."""
    workspace_id = await new_workspace(admin)
    await import_scan(admin, pool, workspace_id, FIRST_SCAN)
    second = await import_scan(admin, pool, workspace_id, SECOND_SCAN)
    assert second["counts"]["findings_closed"] == 1
    return workspace_id


async def everything(admin: httpx.AsyncClient, workspace_id: str) -> list[dict[str, Any]]:
    response = await admin.get(f"/api/v1/workspaces/{workspace_id}/findings?limit=500")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    return list(page["findings"])


async def titles(admin: httpx.AsyncClient, workspace_id: str, **params: Any) -> list[str]:
    response = await admin.get(f"/api/v1/workspaces/{workspace_id}/findings", params=params)
    assert response.status_code == 200, response.text
    return sorted(f"{f['title']}@{f['asset']['key']}" for f in response.json()["findings"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"severity": "critical,high"}, [LOG4J, OPENSSH]),
        ({"severity": ["critical", "high"]}, [LOG4J, OPENSSH]),
        ({"status": "fixed"}, ["Weak TLS ciphers@10.0.0.1"]),
        ({"status": "fixed", "severity": "critical"}, []),
        (
            {"asset": "10.0.0.2"},
            ["Directory listing enabled@10.0.0.2", "Server banner disclosure@10.0.0.2",
             "Weak TLS ciphers@10.0.0.2"],
        ),
        ({"cve": "cve-2021-44228"}, ["Apache Log4j RCE@10.0.0.1"]),
        ({"q": "ciphers"}, ["Weak TLS ciphers@10.0.0.1", "Weak TLS ciphers@10.0.0.2"]),
        ({"q": "log4j"}, ["Apache Log4j RCE@10.0.0.1"]),
        ({"q": "executions"}, ["Apache Log4j RCE@10.0.0.1"]),  # english stemming of the description
        ({"q": "10.0.0.3"}, ["Signing not required for SMB@10.0.0.3"]),
    ],
    ids=["severity-csv", "severity-repeated", "status", "status-and-severity", "asset", "cve",
         "q-title", "q-word", "q-description", "q-asset"],
)  # fmt: skip
async def test_findings_are_filtered(
    admin: httpx.AsyncClient, inventory: str, params: dict[str, Any], expected: list[str]
) -> None:
    assert await titles(admin, inventory, **params) == expected


async def test_findings_are_filtered_by_when_they_were_seen(
    admin: httpx.AsyncClient, inventory: str
) -> None:
    rows = {f"{f['title']}@{f['asset']['key']}": f for f in await everything(admin, inventory)}
    rescanned = rows["Apache Log4j RCE@10.0.0.1"]["last_seen"]
    first_scan = rows["Server banner disclosure@10.0.0.2"]["last_seen"]

    recent = await titles(admin, inventory, last_seen_after=rescanned)
    older = await titles(admin, inventory, last_seen_before=rescanned)
    first = await titles(admin, inventory, first_seen_after=first_scan, first_seen_before=rescanned)

    assert recent == ["Apache Log4j RCE@10.0.0.1", "Outdated OpenSSH@10.0.0.1"]
    assert len(older) == 5
    assert set(older).isdisjoint(recent)
    assert len(first) == 7


@pytest.mark.parametrize(
    ("sort", "order", "key"),
    [
        ("severity", None, lambda f: (-RANK[f["severity"]], _neg(f["id"]))),
        ("severity", "asc", lambda f: (RANK[f["severity"]], f["id"])),
        ("title", None, lambda f: (f["title"], f["id"])),
        ("title", "desc", lambda f: (_neg(f["title"]), _neg(f["id"]))),
        ("last_seen", None, lambda f: (-_when(f["last_seen"]), _neg(f["id"]))),
        ("first_seen", "asc", lambda f: (_when(f["first_seen"]), f["id"])),
    ],
)
async def test_findings_are_sorted_and_paged_with_a_cursor(
    admin: httpx.AsyncClient, inventory: str, sort: str, order: str | None, key: Any
) -> None:
    expected = [f["id"] for f in sorted(await everything(admin, inventory), key=key)]
    params: dict[str, Any] = {"sort": sort, "limit": 2} | ({"order": order} if order else {})

    paged: list[str] = []
    for _page in range(10):
        response = await admin.get(f"/api/v1/workspaces/{inventory}/findings", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["findings"]) <= 2
        paged += [f["id"] for f in page["findings"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert paged == expected
    assert len(expected) == 7


def _when(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def _neg(text: str) -> tuple[int, ...]:
    """A key that sorts strings in reverse (for mixed-direction sort keys)."""
    return (*(-ord(c) for c in text), 1)


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"severity": "urgent"}, "Unknown severity 'urgent'"),
        ({"status": "closed"}, "Unknown status 'closed'"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"sort": "cvss"}, "sort"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_bad_listing_parameters_are_400_problems(
    admin: httpx.AsyncClient, inventory: str, params: dict[str, Any], detail: str
) -> None:
    response = await admin.get(f"/api/v1/workspaces/{inventory}/findings", params=params)

    assert response.status_code == 400
    assert detail in response.json()["detail"]


async def test_a_cursor_is_refused_under_another_sort(
    admin: httpx.AsyncClient, inventory: str
) -> None:
    url = f"/api/v1/workspaces/{inventory}/findings"
    cursor = (await admin.get(url, params={"limit": 2})).json()["next_cursor"]

    response = await admin.get(url, params={"limit": 2, "sort": "title", "cursor": cursor})

    assert response.status_code == 400
    assert "another sort order" in response.json()["detail"]


async def test_a_finding_shows_its_details_and_its_history(
    admin: httpx.AsyncClient, inventory: str
) -> None:
    rows = await everything(admin, inventory)
    fixed = next(f for f in rows if f["status"] == "fixed")
    base = f"/api/v1/workspaces/{inventory}/findings/{fixed['id']}"

    shown = (await admin.get(base)).json()
    history = (await admin.get(f"{base}/history")).json()

    assert (shown["title"], shown["asset"]["key"], shown["port"]) == (
        "Weak TLS ciphers",
        "10.0.0.1",
        443,
    )
    assert shown["closed_at"] is not None
    assert history["id"] == fixed["id"]
    assert [e["type"] for e in history["events"]] == ["FindingDetected", "FindingClosed"]
    assert [e["stream_version"] for e in history["events"]] == [1, 2]


async def test_hosts_and_services_are_listed_filtered_and_paged(
    admin: httpx.AsyncClient, inventory: str
) -> None:
    base = f"/api/v1/workspaces/{inventory}"
    hosts = (await admin.get(f"{base}/hosts", params={"limit": 500})).json()["hosts"]
    first = (await admin.get(f"{base}/hosts", params={"limit": 2})).json()
    rest = (
        await admin.get(f"{base}/hosts", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    matching = (await admin.get(f"{base}/hosts", params={"q": "0.0.2"})).json()["hosts"]
    services = (await admin.get(f"{base}/services")).json()["services"]
    on_host = (await admin.get(f"{base}/services", params={"asset": "10.0.0.1"})).json()["services"]
    ssh = (await admin.get(f"{base}/services", params={"port": 22})).json()["services"]

    assert sorted(h["key"] for h in hosts) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert [h["id"] for h in first["hosts"] + rest["hosts"]] == [h["id"] for h in hosts]
    assert rest["next_cursor"] is None
    assert [h["key"] for h in matching] == ["10.0.0.2"]
    assert sorted((s["asset"]["key"], s["port"]) for s in services) == [
        ("10.0.0.1", 22), ("10.0.0.1", 443), ("10.0.0.2", 80),
    ]  # fmt: skip
    assert sorted(s["port"] for s in on_host) == [22, 443]
    assert [(s["asset"]["key"], s["name"]) for s in ssh] == [("10.0.0.1", "ssh")]


async def test_an_analyst_changes_a_status_with_a_comment_and_the_event_names_them(
    api: Api, admin: httpx.AsyncClient, pool: asyncpg.Pool, make_token: MakeToken
) -> None:
    workspace_id = await new_workspace(admin)
    await import_scan(admin, pool, workspace_id, FIRST_SCAN)
    target = next(f for f in await everything(admin, workspace_id) if f["severity"] == "info")
    url = f"/api/v1/workspaces/{workspace_id}/findings/{target['id']}"
    token = await make_token(Role.ANALYST, workspace_id, name="alice")
    async with httpx.AsyncClient(
        base_url=api.http, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as analyst:
        response = await analyst.patch(
            url, json={"status": "risk_accepted", "comment": "Banner is harmless here"}
        )
        again = await analyst.patch(url, json={"status": "risk_accepted", "comment": "again"})

    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["status"] == "risk_accepted"
    assert changed["status_comment"] == "Banner is harmless here"
    assert changed["status_actor"].startswith("token:alice:")
    assert changed["version"] == target["version"] + 1
    shown = (await admin.get(url)).json()
    assert (shown["status"], shown["version"]) == ("risk_accepted", changed["version"])
    listed = await titles(admin, workspace_id, status="risk_accepted")
    assert listed == ["Server banner disclosure@10.0.0.2"]
    events = (await admin.get(f"{url}/history")).json()["events"]
    assert [e["type"] for e in events] == ["FindingDetected", "FindingStatusChanged"]
    data, metadata = events[-1]["data"], events[-1]["metadata"]
    assert (data["status"], data["previous_status"]) == ("risk_accepted", "open")
    assert data["comment"] == "Banner is harmless here"
    assert data["actor"] == metadata["actor"] == changed["status_actor"]
    assert again.status_code == 200  # already risk accepted: nothing more recorded
    assert again.json()["version"] == changed["version"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"status": "false_positive"}, 422, "needs a comment"),
        ({"status": "risk_accepted", "comment": "  "}, 422, "needs a comment"),
        ({"status": "reopened", "comment": "x"}, 422, "set by scans"),
        ({"status": "closed"}, 422, "Unknown status 'closed'"),
        ({"status": "fixed", "version": 99}, 409, "changed meanwhile"),
        ({"status": "fixed", "bogus": 1}, 400, "bogus"),
    ],
    ids=[
        "no-comment",
        "blank-comment",
        "scan-only-status",
        "unknown-status",
        "stale",
        "unknown-field",
    ],
)
async def test_a_status_change_that_breaks_a_rule_is_refused_and_records_nothing(
    admin: httpx.AsyncClient, inventory: str, body: dict[str, Any], status: int, detail: str
) -> None:
    target = next(f for f in await everything(admin, inventory) if f["severity"] == "low")
    url = f"/api/v1/workspaces/{inventory}/findings/{target['id']}"

    response = await admin.patch(url, json=body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in response.json()["detail"]
    assert len((await admin.get(f"{url}/history")).json()["events"]) == 1


async def test_a_viewer_may_read_findings_but_not_change_them(
    api: Api, admin: httpx.AsyncClient, inventory: str, make_token: MakeToken
) -> None:
    target = (await everything(admin, inventory))[0]
    url = f"/api/v1/workspaces/{inventory}/findings/{target['id']}"
    token = await make_token(Role.VIEWER)
    async with httpx.AsyncClient(
        base_url=api.http, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as viewer:
        read = await viewer.get(url)
        patched = await viewer.patch(url, json={"status": "fixed"})

    assert read.status_code == 200
    assert patched.status_code == 403
    assert (await admin.get(url)).json()["version"] == target["version"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/workspaces/no-such-ws/findings",
        "/api/v1/workspaces/no-such-ws/hosts",
        "/api/v1/workspaces/no-such-ws/services",
        "/api/v1/workspaces/{ws}/findings/0123456789abcdef",
        "/api/v1/workspaces/{ws}/findings/0123456789abcdef/history",
    ],
)
async def test_unknown_workspaces_and_findings_are_404_problems(
    admin: httpx.AsyncClient, inventory: str, path: str
) -> None:
    response = await admin.get(path.format(ws=inventory))
    patched = await admin.patch(path.format(ws=inventory), json={"status": "fixed"})

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert patched.status_code in (404, 405)
