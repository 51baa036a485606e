"""Analysts change a finding's status: decide against the finding's stream, append, read back.

The rules are those of ``services.ingest.domain.decide_status_change``
(restated here: no service imports another): analysts set open, fixed,
risk_accepted or false_positive; reopened is only ever a scan's verdict;
risk_accepted and false_positive need a comment; setting the status the
finding already has records nothing. The decision is taken against the
finding's stream itself, not the read model, and the append expects the
stream's version, so a scan or another analyst writing meanwhile makes the
change fail with a conflict instead of overwriting what it did not see.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import structlog

from services.api.readmodels import INVENTORY_PROJECTION
from shared.contracts import (
    ANALYST_STATUSES,
    FindingClosed,
    FindingDetected,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    finding_stream,
)
from shared.projections import ProjectionTimeout

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.contracts import EventMetadata, RecordedEvent
    from shared.eventstore import EventStore
    from shared.projections import ProjectionRunner

__all__ = (
    "FindingNotFound",
    "InvalidStatusChange",
    "StaleFinding",
    "change_status",
    "decide_status_change",
    "status_of",
)

_log = structlog.get_logger("vigil.api")
_NEEDS_COMMENT = frozenset({FindingStatus.RISK_ACCEPTED, FindingStatus.FALSE_POSITIVE})


class FindingNotFound(LookupError):
    """The workspace has no finding with this id."""


class InvalidStatusChange(ValueError):
    """The change breaks a lifecycle rule; the message says which, for the user."""


class StaleFinding(Exception):
    """The finding changed since the version the caller (or this decision) saw."""

    def __init__(self, finding_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"Finding {finding_id} changed meanwhile (it is at version {actual}, the change "
            f"expected {expected}); read it again and retry."
        )


def status_of(events: Sequence[RecordedEvent]) -> FindingStatus | None:
    """The status a finding's history leaves it in (None when there is no finding)."""
    status: FindingStatus | None = None
    for event in events:
        match event.data:
            case FindingDetected():
                status = FindingStatus.OPEN
            case FindingReopened():
                status = FindingStatus.REOPENED
            case FindingClosed():
                status = FindingStatus.FIXED
            case FindingStatusChanged(status=changed):
                status = changed
    return status


def decide_status_change(current: FindingStatus, wanted: str, comment: str) -> FindingStatus | None:
    """The status to record, or None when the finding already has it.

    Raises:
        InvalidStatusChange: an unknown status, one analysts may not set, or a
            risk acceptance / false positive without a comment.
    """
    try:
        status = FindingStatus(wanted)
    except ValueError:
        choices = ", ".join(sorted(ANALYST_STATUSES))
        raise InvalidStatusChange(f"Unknown status {wanted!r}; choose one of: {choices}.") from None
    if status not in ANALYST_STATUSES:
        raise InvalidStatusChange(f"Status {wanted!r} is set by scans, not by analysts.")
    if status in _NEEDS_COMMENT and not comment.strip():
        raise InvalidStatusChange(f"Setting a finding to {wanted} needs a comment saying why.")
    return None if status == current else status


async def change_status(
    store: EventStore,
    runner: ProjectionRunner,
    *,
    workspace_id: str,
    finding_id: str,
    status: str,
    comment: str,
    expected_version: int | None,
    metadata: EventMetadata,
) -> RecordedEvent | None:
    """Record `FindingStatusChanged` with the actor; None when nothing changes.

    Returns once the inventory read model shows the change (or, if it lags
    past its deadline, once the event is committed: the log is the truth).

    Raises:
        FindingNotFound: no such finding in the workspace.
        InvalidStatusChange: the change breaks a lifecycle rule.
        StaleFinding: `expected_version` is not the finding's version.
        ConcurrencyError: something was appended to the finding meanwhile.
    """
    stream_id = finding_stream(finding_id)
    events = [e for e in await store.read_stream(stream_id) if e.workspace_id == workspace_id]
    current = status_of(events)
    if current is None:
        raise FindingNotFound(finding_id)
    version = events[-1].stream_version
    if expected_version is not None and expected_version != version:
        raise StaleFinding(finding_id, expected_version, version)
    wanted = decide_status_change(current, status, comment)
    if wanted is None:
        return None
    event = FindingStatusChanged(
        workspace_id=workspace_id,
        fingerprint=finding_id,
        status=wanted,
        previous_status=current,
        changed_at=dt.datetime.now(dt.UTC),
        comment=comment.strip(),
        actor=metadata.actor,
    )
    [recorded] = await store.append_to_stream(
        stream_id, workspace_id, [event], expected_version=version, metadata=metadata
    )
    try:
        await runner.wait_for(INVENTORY_PROJECTION, workspace_id, recorded.position)
    except ProjectionTimeout:
        _log.warning("inventory read model lags", workspace=workspace_id, finding=finding_id)
    return recorded
