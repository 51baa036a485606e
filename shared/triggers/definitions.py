"""A trigger's state folded from its stream, and the rules a definition must satisfy.

Both the gateway (which refuses an invalid definition with a 422 before
anything is recorded) and the triggers service (which loads definitions from
the log) need these; they are pure.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import msgspec

from shared.contracts.base import registered_types
from shared.contracts.finding import ANALYST_STATUSES, FindingStatus
from shared.contracts.trigger import (
    FindingStatusAction,
    PublishAction,
    TriggerCreated,
    TriggerDefinition,
    TriggerDeleted,
    TriggerDisabled,
    TriggerEnabled,
    TriggerUpdated,
    WebhookAction,
)
from shared.triggers.conditions import InvalidCondition, compile_condition
from shared.triggers.cron import CronExpression, InvalidSchedule, time_zone
from shared.triggers.targets import AddressPolicy, InvalidTarget, check_webhook_url

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.contracts.base import RecordedEvent

__all__ = (
    "DEFINITION_EVENTS",
    "METRICS",
    "SEVERITIES",
    "InvalidTrigger",
    "TriggerState",
    "evolve",
    "fold",
    "type_matches",
    "validate_definition",
)

METRICS = {
    "open_findings": "findings whose status is open or reopened, optionally of some severities",
    "findings": "every finding of the workspace whatever its status, optionally of some severities",
}
"""Threshold metrics, computed from the ingest findings read model."""

SEVERITIES = ("info", "low", "medium", "high", "critical")
DEFINITION_EVENTS = frozenset(
    t.type_name()
    for t in (TriggerCreated, TriggerUpdated, TriggerEnabled, TriggerDisabled, TriggerDeleted)
)
_SUBJECT = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
_MIN_INTERVAL = 1


class InvalidTrigger(ValueError):
    """A trigger definition breaks a rule; the message names the field and the rule."""


class TriggerState(msgspec.Struct, frozen=True, kw_only=True):
    """A trigger as its stream tells it.

    `active_since` / `active_since_position` are when (and at which log
    position) it was last created, updated or enabled: an event trigger
    fires only for later events, a schedule only for later ticks.
    """

    trigger_id: str
    workspace_id: str
    definition: TriggerDefinition
    enabled: bool
    deleted: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    active_since: dt.datetime
    active_since_position: int

    @property
    def live(self) -> bool:
        """Whether the trigger may fire: enabled and not deleted."""
        return self.enabled and not self.deleted


def evolve(state: TriggerState | None, event: RecordedEvent) -> TriggerState | None:
    """The state after one event of the trigger's stream."""
    activated = {
        "version": event.stream_version,
        "updated_at": event.recorded_at,
        "active_since": event.recorded_at,
        "active_since_position": event.position,
    }
    match event.data:
        case TriggerCreated() as created:
            return TriggerState(
                trigger_id=created.trigger_id,
                workspace_id=created.workspace_id,
                definition=created.definition,
                enabled=created.enabled,
                deleted=False,
                created_at=event.recorded_at,
                **activated,  # type: ignore[arg-type]
            )
        case TriggerUpdated(definition=definition) if state is not None:
            return msgspec.structs.replace(state, definition=definition, **activated)
        case TriggerEnabled() if state is not None:
            return msgspec.structs.replace(state, enabled=True, **activated)
        case TriggerDisabled() if state is not None:
            return msgspec.structs.replace(
                state, enabled=False, version=event.stream_version, updated_at=event.recorded_at
            )
        case TriggerDeleted() if state is not None:
            return msgspec.structs.replace(
                state, deleted=True, version=event.stream_version, updated_at=event.recorded_at
            )
    return state


def fold(events: Iterable[RecordedEvent]) -> TriggerState | None:
    """The state a trigger's stream (or its first versions) describes; None when empty."""
    state = None
    for event in events:
        state = evolve(state, event)
    return state


def type_matches(patterns: Iterable[str], type_name: str) -> bool:
    """Whether `type_name` matches one of the patterns (exact, ``Prefix*`` or ``*``)."""
    for pattern in patterns:
        if pattern.endswith("*"):
            if type_name.startswith(pattern[:-1]):
                return True
        elif pattern == type_name:
            return True
    return False


def validate_definition(
    definition: TriggerDefinition, *, policy: AddressPolicy, events_prefix: str
) -> None:
    """Check every rule of a definition: what its kind needs, and its action.

    Raises:
        InvalidTrigger: the first rule broken, with a message fit for the user.
    """
    if not definition.name.strip():
        raise InvalidTrigger("name: must not be blank")
    match definition.kind:
        case "schedule":
            _validate_schedule(definition)
        case "event":
            _validate_event(definition)
        case "threshold":
            _validate_threshold(definition)
    _refuse_foreign_fields(definition)
    _validate_action(definition, policy, events_prefix)


_KIND_FIELDS = {
    "schedule": ("cron", "every_seconds"),
    "event": ("event_types", "condition"),
    "threshold": ("metric", "severity", "threshold"),
}


def _refuse_foreign_fields(definition: TriggerDefinition) -> None:
    for kind, fields in _KIND_FIELDS.items():
        if kind == definition.kind:
            continue
        for field in fields:
            if getattr(definition, field) not in (None, ()):
                raise InvalidTrigger(f"{field}: does not apply to a {definition.kind} trigger")


def _validate_schedule(definition: TriggerDefinition) -> None:
    if (definition.cron is None) == (definition.every_seconds is None):
        raise InvalidTrigger("a schedule trigger needs exactly one of 'cron' and 'every_seconds'")
    try:
        zone = time_zone(definition.timezone)
        if definition.cron is not None:
            CronExpression(definition.cron).next_after(dt.datetime.now(dt.UTC), zone)
    except InvalidSchedule as error:
        field = "timezone" if "time zone" in str(error) else "cron"
        raise InvalidTrigger(f"{field}: {error}") from None
    if definition.every_seconds is not None and definition.every_seconds < _MIN_INTERVAL:
        raise InvalidTrigger(f"every_seconds: must be at least {_MIN_INTERVAL}")


def _validate_event(definition: TriggerDefinition) -> None:
    if not definition.event_types:
        raise InvalidTrigger("event_types: an event trigger needs at least one event type")
    known = registered_types()
    for pattern in definition.event_types:
        if pattern.endswith("*"):
            if not any(name.startswith(pattern[:-1]) for name in known):
                raise InvalidTrigger(f"event_types: {pattern!r} matches no known event type")
        elif pattern not in known:
            raise InvalidTrigger(
                f"event_types: unknown event type {pattern!r}; use an exact type name such as"
                " 'FindingDetected', a prefix pattern such as 'Finding*', or '*'"
            )
    if definition.condition is not None:
        try:
            compile_condition(definition.condition)
        except InvalidCondition as error:
            raise InvalidTrigger(f"condition: {error}") from None


def _validate_threshold(definition: TriggerDefinition) -> None:
    if definition.metric not in METRICS:
        raise InvalidTrigger(
            f"metric: {definition.metric!r} is not supported; choose one of: {', '.join(METRICS)}"
        )
    if definition.threshold is None:
        raise InvalidTrigger("threshold: a threshold trigger needs a bound")
    for severity in definition.severity:
        if severity not in SEVERITIES:
            raise InvalidTrigger(f"severity: {severity!r} is not one of {', '.join(SEVERITIES)}")


def _validate_action(definition: TriggerDefinition, policy: AddressPolicy, prefix: str) -> None:
    match definition.action:
        case WebhookAction() as hook:
            try:
                check_webhook_url(hook.url, policy)
            except InvalidTarget as error:
                raise InvalidTrigger(f"action.url: {error}") from None
            if not 1 <= hook.max_attempts <= 10:
                raise InvalidTrigger("action.max_attempts: must be between 1 and 10")
            if not 0.05 <= hook.timeout_seconds <= 60:
                raise InvalidTrigger("action.timeout_seconds: must be between 0.05 and 60")
            if not 0 <= hook.backoff_seconds <= 300:
                raise InvalidTrigger("action.backoff_seconds: must be between 0 and 300")
        case PublishAction(subject=subject):
            if not _SUBJECT.match(subject):
                raise InvalidTrigger(
                    f"action.subject: {subject!r} is not a NATS subject without wildcards"
                )
            if subject == prefix or subject.startswith(prefix + "."):
                raise InvalidTrigger(f"action.subject: {prefix}.> is reserved for the event log")
        case FindingStatusAction() as change:
            _validate_status_change(definition, change)


def _validate_status_change(definition: TriggerDefinition, change: FindingStatusAction) -> None:
    if definition.kind != "event":
        raise InvalidTrigger("action: a finding_status action needs an event trigger")
    known = registered_types()
    for pattern in definition.event_types:
        names = [n for n in known if type_matches([pattern], n)]
        if any(known[n].context != "finding" for n in names):
            raise InvalidTrigger(
                f"event_types: {pattern!r} matches events that are not about a finding;"
                " a finding_status action needs finding events (e.g. 'FindingDetected')"
            )
    if change.status not in {s.value for s in ANALYST_STATUSES}:
        raise InvalidTrigger(
            f"action.status: choose one of {', '.join(sorted(s.value for s in ANALYST_STATUSES))}"
        )
    needs_reason = {FindingStatus.RISK_ACCEPTED, FindingStatus.FALSE_POSITIVE}
    if change.status in needs_reason and not change.comment.strip():
        raise InvalidTrigger(f"action.comment: setting {change.status} needs a comment saying why")
