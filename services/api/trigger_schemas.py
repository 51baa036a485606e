"""Request and response bodies of ``/api/v1/workspaces/{ws}/triggers``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec

from shared.contracts.trigger import Action, TriggerDefinition

__all__ = ("CreateTrigger", "Firing", "FiringList", "Trigger", "TriggerList")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CreateTrigger(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST .../triggers``; which fields apply depends on `kind`.

    - ``schedule``: `cron` + `timezone`, or `every_seconds`; `misfire` is
      ``skip`` (default) or ``fire_once``.
    - ``event``: `event_types` (``FindingDetected``, ``Finding*``, ``*``) and
      an optional `condition`, e.g. ``severity in ["high", "critical"] and cvss >= 7``.
    - ``threshold``: `metric` (``open_findings`` or ``findings``), optional
      `severity` list, `operator` and `threshold`, e.g. open criticals > 10.

    `action` is one of ``{"type": "webhook", "url", "secret", ...}``,
    ``{"type": "report", "format", "template", "filters"}``,
    ``{"type": "publish", "subject"}`` or
    ``{"type": "finding_status", "status", "comment"}``.
    """

    name: Name
    kind: Literal["schedule", "event", "threshold"]
    action: Action
    description: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    enabled: bool = True
    event_types: list[Annotated[str, msgspec.Meta(min_length=1, max_length=200)]] = []
    condition: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    cron: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "UTC"
    every_seconds: int | None = None
    misfire: Literal["skip", "fire_once"] = "skip"
    metric: str | None = None
    severity: list[str] = []
    operator: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    threshold: float | None = None

    def definition(self) -> TriggerDefinition:
        """The definition this body describes (not yet validated)."""
        fields = msgspec.structs.asdict(self)
        fields.pop("enabled")
        fields["event_types"] = tuple(self.event_types)
        fields["severity"] = tuple(self.severity)
        return TriggerDefinition(**fields)


class Trigger(msgspec.Struct, frozen=True, kw_only=True):
    """A trigger as clients see it; a webhook's secret is never shown."""

    id: str
    workspace_id: str
    name: str
    description: str
    kind: str
    enabled: bool
    event_types: list[str]
    condition: str | None
    cron: str | None
    timezone: str
    every_seconds: int | None
    misfire: str
    metric: str | None
    severity: list[str]
    operator: str
    threshold: float | None
    action: dict[str, Any]
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TriggerList(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../triggers``."""

    triggers: list[Trigger]


class Firing(msgspec.Struct, frozen=True, kw_only=True):
    """One firing and, once its action ran, its outcome.

    `status` is ``pending``, ``succeeded`` or ``failed``; `reason` says why a
    failed action failed, `detail` what a successful one did; `attempts`
    counts the webhook deliveries tried.
    """

    firing_id: uuid.UUID
    trigger_id: str
    cause: str
    fired_at: dt.datetime
    scheduled_for: dt.datetime | None
    source_event_id: uuid.UUID | None
    source_event_type: str | None
    observed_value: float | None
    status: str
    action_type: str | None
    attempts: int
    detail: str | None
    reason: str | None
    completed_at: dt.datetime | None
    event_id: uuid.UUID


class FiringList(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET .../triggers/{id}/firings``, newest first."""

    firings: list[Firing]
