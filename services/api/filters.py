"""Event type filters as clients write them: ``WorkspaceCreated,Finding*``."""

from __future__ import annotations

from shared.contracts.base import registered_types

__all__ = ("TypeFilter",)


class TypeFilter:
    """A set of exact event type names and ``Prefix*`` patterns; empty means every type."""

    def __init__(self, exact: frozenset[str], prefixes: tuple[str, ...]) -> None:
        self.exact = exact
        self.prefixes = prefixes

    @classmethod
    def parse(cls, text: str | None) -> TypeFilter:
        """Parse a comma-separated list; blanks are ignored, ``*`` alone matches everything."""
        names = [name.strip() for name in (text or "").split(",") if name.strip()]
        if "*" in names:
            return cls(frozenset(), ())
        exact = frozenset(name for name in names if not name.endswith("*"))
        prefixes = tuple(name[:-1] for name in names if name.endswith("*"))
        return cls(exact, prefixes)

    @property
    def is_everything(self) -> bool:
        """True when the filter lets every event through."""
        return not self.exact and not self.prefixes

    def matches(self, type_name: str) -> bool:
        """Whether an event of `type_name` passes the filter."""
        return self.is_everything or type_name in self.exact or type_name.startswith(self.prefixes)

    def type_names(self) -> list[str] | None:
        """Exact names for a log query (patterns expanded over the known types); None = all.

        An empty list means nothing can match, and the caller should not query at all.
        """
        if self.is_everything:
            return None
        expanded = {name for name in registered_types() if name.startswith(self.prefixes)}
        return sorted(self.exact | expanded) if self.prefixes else sorted(self.exact)
