"""Events of the trigger context: definitions (``trigger-<id>``) and firings (``firing-<id>``).

A trigger's definition is event-sourced in its own stream. Each firing is a
stream of its own whose id is derived deterministically from what caused it
(the trigger and an event id, a schedule tick or a threshold crossing):
`TriggerFired` is always version 1 of that stream and the action's outcome
(`ActionSucceeded` or `ActionFailed`) version 2, so optimistic concurrency on
the log makes a second firing of the same cause, or a second outcome, impossible.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar, Literal

import msgspec

from shared.contracts.base import Event, register
from shared.contracts.report import ReportFilters, ReportFormat, ReportTemplate

__all__ = (
    "Action",
    "ActionFailed",
    "ActionSucceeded",
    "FindingStatusAction",
    "PublishAction",
    "ReportAction",
    "TriggerCreated",
    "TriggerDefinition",
    "TriggerDeleted",
    "TriggerDisabled",
    "TriggerEnabled",
    "TriggerEvent",
    "TriggerFired",
    "TriggerKind",
    "TriggerUpdated",
    "WebhookAction",
    "firing_id_for",
    "firing_stream",
    "trigger_stream",
)

TriggerKind = Literal["schedule", "event", "threshold"]
_FIRINGS = uuid.UUID("6a1f3c52-9d8e-4b7a-a0c4-7f1e2d3c4b5a")


def trigger_stream(trigger_id: str) -> str:
    """The id of the stream that holds one trigger's definition history."""
    return f"trigger-{trigger_id}"


def firing_stream(firing_id: uuid.UUID) -> str:
    """The id of the stream that holds one firing: `TriggerFired`, then its outcome."""
    return f"firing-{firing_id}"


def firing_id_for(trigger_id: str, cause: str) -> uuid.UUID:
    """The deterministic id of the firing of `trigger_id` for `cause`.

    `cause` names what fired it: ``event:<event id>``, ``tick:<ISO instant>`` or
    ``crossing:<n>``. Every replica computes the same id for the same cause.
    """
    return uuid.uuid5(_FIRINGS, f"{trigger_id}/{cause}")


class WebhookAction(msgspec.Struct, frozen=True, kw_only=True, tag="webhook", tag_field="type"):
    """POST the firing as JSON to `url`, signed with HMAC-SHA256 under `secret`.

    Attempts time out after `timeout_seconds`; 5xx, 408, 429 and transport
    errors are retried up to `max_attempts` in all, waiting `backoff_seconds`
    doubled after each failure.
    """

    url: str
    secret: str
    timeout_seconds: float = 10.0
    max_attempts: int = 4
    backoff_seconds: float = 1.0


class ReportAction(msgspec.Struct, frozen=True, kw_only=True, tag="report", tag_field="type"):
    """Record a `ReportRequested` (format, template, filters) as of the log head at firing."""

    format: ReportFormat = ReportFormat.PDF
    template: ReportTemplate = ReportTemplate.EXECUTIVE
    filters: ReportFilters = ReportFilters()


class PublishAction(msgspec.Struct, frozen=True, kw_only=True, tag="publish", tag_field="type"):
    """Publish the firing as JSON on the NATS subject `subject` (``Nats-Msg-Id`` = firing id)."""

    subject: str


class FindingStatusAction(
    msgspec.Struct, frozen=True, kw_only=True, tag="finding_status", tag_field="type"
):
    """Set the status of the finding the triggering event is about (event triggers only)."""

    status: str
    comment: str = ""


Action = WebhookAction | ReportAction | PublishAction | FindingStatusAction


class TriggerDefinition(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a trigger watches and what it does; fields apply by `kind`.

    - ``schedule``: `cron` (5 fields, in `timezone`) or `every_seconds`, and a
      `misfire` policy for ticks missed while no replica ran (``skip`` or
      ``fire_once``).
    - ``event``: `event_types` (exact names, ``Prefix*`` or ``*``) and an
      optional `condition` in the language of `shared.triggers.conditions`.
    - ``threshold``: `metric` over the findings read model, filtered by
      `severity`, compared with `operator` to `threshold`; it fires each
      time the comparison becomes true.
    """

    name: str
    kind: TriggerKind
    action: Action
    description: str = ""
    event_types: tuple[str, ...] = ()
    condition: str | None = None
    cron: str | None = None
    timezone: str = "UTC"
    every_seconds: int | None = None
    misfire: Literal["skip", "fire_once"] = "skip"
    metric: str | None = None
    severity: tuple[str, ...] = ()
    operator: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: float | None = None


@register
class TriggerCreated(Event, frozen=True, tag="TriggerCreated"):
    """A trigger was defined; it is enabled unless `enabled` says otherwise."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str
    definition: TriggerDefinition
    enabled: bool = True


@register
class TriggerUpdated(Event, frozen=True, tag="TriggerUpdated"):
    """A trigger's definition was replaced by `definition` (the whole new definition)."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str
    definition: TriggerDefinition


@register
class TriggerEnabled(Event, frozen=True, tag="TriggerEnabled"):
    """A disabled trigger was enabled again; missed schedule ticks are not misfires."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str


@register
class TriggerDisabled(Event, frozen=True, tag="TriggerDisabled"):
    """A trigger was disabled: it fires no more until enabled."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str


@register
class TriggerDeleted(Event, frozen=True, tag="TriggerDeleted"):
    """A trigger was deleted: it never fires again and its stream takes no more changes."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str


@register
class TriggerFired(Event, frozen=True, tag="TriggerFired"):
    """A trigger fired; its action runs after this is committed.

    `cause` is ``event``, ``schedule`` or ``threshold``; `trigger_version` is
    the version of the trigger's stream whose definition the action follows.
    """

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str
    firing_id: uuid.UUID
    cause: Literal["event", "schedule", "threshold"]
    fired_at: dt.datetime
    trigger_version: int
    source_event_id: uuid.UUID | None = None
    source_event_type: str | None = None
    source_position: int | None = None
    scheduled_for: dt.datetime | None = None
    observed_value: float | None = None


@register
class ActionSucceeded(Event, frozen=True, tag="ActionSucceeded"):
    """A firing's action did what it should; `detail` says what (e.g. ``HTTP 204``)."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str
    firing_id: uuid.UUID
    action_type: str
    attempts: int
    completed_at: dt.datetime
    detail: str = ""


@register
class ActionFailed(Event, frozen=True, tag="ActionFailed"):
    """A firing's action gave up after `attempts` attempts; `reason` says why."""

    context: ClassVar[str] = "trigger"

    workspace_id: str
    trigger_id: str
    firing_id: uuid.UUID
    action_type: str
    attempts: int
    reason: str
    failed_at: dt.datetime


TriggerEvent = (
    TriggerCreated
    | TriggerUpdated
    | TriggerEnabled
    | TriggerDisabled
    | TriggerDeleted
    | TriggerFired
    | ActionSucceeded
    | ActionFailed
)
