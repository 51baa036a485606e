"""Event types and a projection that exist only for tests of the shared mechanisms."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from shared.contracts import Event, register
from shared.projections import Projection

if TYPE_CHECKING:
    from shared.contracts import RecordedEvent
    from shared.database import Connection


@register
class NoteTaken(Event, frozen=True, tag="TestNoteTaken"):
    context: ClassVar[str] = "test"
    text: str
    n: int = 0


def notes(count: int, prefix: str = "note") -> list[Event]:
    return [NoteTaken(text=f"{prefix}-{i}", n=i) for i in range(count)]


NOTES_TABLE = """
CREATE TABLE IF NOT EXISTS test_notes (
    workspace_id text   NOT NULL,
    position     bigint NOT NULL,
    text         text   NOT NULL,
    PRIMARY KEY (workspace_id, position)
)
"""


class NotesProjection(Projection):
    """Copies every note into a table; a double apply would violate its primary key."""

    name: ClassVar[str] = "test.notes"
    event_types: ClassVar[frozenset[str]] = frozenset({"TestNoteTaken"})
    tables: ClassVar[tuple[str, ...]] = ("test_notes",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        assert isinstance(event.data, NoteTaken)
        await conn.execute(
            "INSERT INTO test_notes (workspace_id, position, text) VALUES ($1, $2, $3)",
            event.workspace_id,
            event.position,
            event.data.text,
        )
