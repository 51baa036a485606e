"""Defining triggers over REST: validation at the edge, event-sourced changes, no secrets shown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from services.api.tokens import Role
from services.triggers.app import TriggersService
from shared.contracts import trigger_stream
from shared.eventstore import EventStore
from tests.integration.triggers.conftest import create_trigger, wait_until, webhook

HOOK = "https://soc.example/hook"


def event_trigger(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "criticals to SOC",
        "kind": "event",
        "event_types": ["FindingDetected", "FindingReopened"],
        "condition": 'severity in ["high", "critical"]',
        "action": webhook(HOOK),
        **overrides,
    }


async def test_the_issue_examples_are_accepted_and_recorded_as_trigger_created(
    client: httpx.AsyncClient, workspace: str, store: EventStore
) -> None:
    hook = await create_trigger(client, workspace, **event_trigger())
    report = await create_trigger(
        client,
        workspace,
        name="weekly executive report",
        kind="schedule",
        cron="0 8 * * 1",
        timezone="Europe/Paris",
        action={"type": "report", "format": "pdf", "template": "executive"},
    )

    assert hook["kind"] == "event"
    assert hook["enabled"] is True
    assert hook["action"] == {
        "type": "webhook",
        "url": HOOK,
        "timeout_seconds": 10.0,
        "max_attempts": 4,
        "backoff_seconds": 1.0,
    }
    assert report["cron"] == "0 8 * * 1"
    assert report["timezone"] == "Europe/Paris"
    events = await store.read_stream(trigger_stream(hook["id"]))
    assert [e.type for e in events] == ["TriggerCreated"]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"kind": "schedule", "cron": "61 * * * *", "event_types": []}, "cron: minute: 61"),
        ({"kind": "schedule", "cron": "* * *", "event_types": []}, "cron: a cron expression has 5"),
        (
            {"kind": "schedule", "cron": "0 8 * * 1", "timezone": "Mars/Olympus"},
            "timezone: unknown time zone",
        ),
        ({"kind": "schedule", "event_types": []}, "exactly one of 'cron' and 'every_seconds'"),
        ({"condition": 'severity in ["high"'}, "condition: expected ',' or ']' at 19"),
        ({"condition": "severity = 'high'"}, "condition: unexpected character '='"),
        ({"condition": "__import__('os')"}, "condition: expected 'and', 'or'"),
        ({"event_types": ["NoSuchEvent"]}, "event_types: unknown event type 'NoSuchEvent'"),
        ({"action": webhook("ftp://soc.example/x")}, "action.url: a webhook URL must be http"),
        ({"action": webhook("http://10.1.2.3/x")}, "action.url: 10.1.2.3 is not a public address"),
        ({"action": {**webhook(HOOK), "secret": "short"}}, "action.secret: must be at least 16"),
        ({"action": {"type": "publish", "subject": "a.*"}}, "action.subject"),
        (
            {"kind": "threshold", "metric": "mood", "threshold": 1, "event_types": []},
            "metric: 'mood' is not supported",
        ),
    ],
)
async def test_an_invalid_definition_is_refused_with_a_clear_422_and_records_nothing(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    overrides: dict[str, Any],
    says: str,
) -> None:
    response = await client.post(
        f"/api/v1/workspaces/{workspace}/triggers", json=event_trigger(**overrides)
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert says in response.json()["detail"]
    assert not await store.read_all(workspace_id=workspace, types=["TriggerCreated"])


async def test_a_malformed_body_is_refused_with_the_offending_field(
    client: httpx.AsyncClient, workspace: str
) -> None:
    response = await client.post(
        f"/api/v1/workspaces/{workspace}/triggers", json=event_trigger(kind="sometimes")
    )

    assert response.status_code == 400
    assert "kind" in response.json()["detail"]


async def test_a_viewer_may_read_but_not_define_triggers(
    api: Any,
    workspace: str,
    make_token: Callable[..., Awaitable[str]],
    client: httpx.AsyncClient,
) -> None:
    token = await make_token(Role.VIEWER, workspace)
    created = await create_trigger(client, workspace, **event_trigger())
    async with httpx.AsyncClient(
        base_url=api.http, headers={"Authorization": f"Bearer {token}"}
    ) as viewer:
        refused = await viewer.post(
            f"/api/v1/workspaces/{workspace}/triggers", json=event_trigger()
        )
        shown = await viewer.get(f"/api/v1/workspaces/{workspace}/triggers/{created['id']}")

    assert refused.status_code == 403
    assert shown.status_code == 200


async def test_change_enable_disable_and_delete_are_events_of_the_trigger_stream(
    client: httpx.AsyncClient, workspace: str, store: EventStore, replica: TriggersService
) -> None:
    created = await create_trigger(client, workspace, **event_trigger())
    url = f"/api/v1/workspaces/{workspace}/triggers/{created['id']}"

    changed = await client.patch(url, json={"condition": "cvss >= 9", "name": "only the worst"})
    disabled = await client.post(f"{url}/disable")
    again = await client.post(f"{url}/disable")
    enabled = await client.post(f"{url}/enable")
    bad = await client.patch(url, json={"cron": "nope"})
    unknown = await client.patch(url, json={"colour": "red"})

    assert changed.status_code == 200, changed.text
    assert changed.json()["condition"] == "cvss >= 9"
    assert changed.json()["action"]["url"] == HOOK
    assert disabled.json()["enabled"] is False
    assert again.json()["version"] == disabled.json()["version"]
    assert enabled.json()["enabled"] is True
    assert bad.status_code == 422
    assert unknown.status_code == 422
    events = await store.read_stream(trigger_stream(created["id"]))
    assert [e.type for e in events] == [
        "TriggerCreated",
        "TriggerUpdated",
        "TriggerDisabled",
        "TriggerEnabled",
    ]
    kept = events[1].data
    assert kept.definition.action.secret == created_secret()

    async def listed() -> bool:
        body = (await client.get(f"/api/v1/workspaces/{workspace}/triggers")).json()
        return [t["name"] for t in body["triggers"]] == ["only the worst"]

    await wait_until(listed, "the list to show the changed trigger")
    deleted = await client.delete(url)
    assert deleted.status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404

    async def gone() -> bool:
        body = (await client.get(f"/api/v1/workspaces/{workspace}/triggers")).json()
        return body["triggers"] == []

    await wait_until(gone, "the list to drop the deleted trigger")


def created_secret() -> str:
    from tests.integration.triggers.conftest import SECRET

    return SECRET


async def test_an_unknown_trigger_or_workspace_is_a_404(
    client: httpx.AsyncClient, workspace: str
) -> None:
    missing = await client.get(f"/api/v1/workspaces/{workspace}/triggers/nope")
    no_workspace = await client.post("/api/v1/workspaces/no-such-ws/triggers", json=event_trigger())

    assert missing.status_code == 404
    assert no_workspace.status_code == 404
