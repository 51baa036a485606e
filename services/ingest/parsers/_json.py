"""Streaming JSON and JSON Lines mechanics shared by the JSON parsers.

Everything here reads the file incrementally with ijson (yajl2 backend when
available) so that a 2 GB report never sits in memory; only the values a
parser asks for (one finding, one run's tool description) are built as Python
objects. ijson errors become `ScanRejected` with a message a user understands.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import ijson

from services.ingest.parsers.errors import ScanRejected

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator

__all__ = (
    "JsonHead",
    "documents",
    "first_byte",
    "json_errors",
    "mapping",
    "obj",
    "prescan",
    "require_content",
    "select",
    "sniff_json",
)

_WHITESPACE = b" \t\r\n"
_SNIFF_EVENTS = 20_000
_PEEK = 64 * 1024


@dataclass(frozen=True, slots=True)
class JsonHead:
    """What the start of a JSON (or JSON Lines) file reveals without reading it all.

    Attributes:
        root: ``"object"``, ``"array"``, ``"null"`` or ``"scalar"``: the first value's type.
        keys: dotted paths of every object key seen, ijson style (``matches.item.artifact``);
            for JSON Lines the keys of every complete line in the head are merged.
        values: the scalar values seen, by dotted path (first occurrence wins).
    """

    root: str
    keys: frozenset[str]
    values: dict[str, Any]

    def has(self, *paths: str) -> bool:
        """True when every one of `paths` was seen as a key."""
        return all(path in self.keys for path in paths)


def sniff_json(head: bytes) -> JsonHead | None:
    """Read the keys of the start of a JSON document or JSON Lines file, None when not JSON.

    `head` may stop anywhere (it is the first 64 KiB of the file); parsing stops
    quietly at the cut, so only the keys before it are reported.
    """
    stripped = head.lstrip(_WHITESPACE)
    if not stripped or stripped[:1] not in b"{[n":
        return None
    keys: set[str] = set()
    values: dict[str, Any] = {}
    root = ""
    try:
        events = ijson.parse(io.BytesIO(head), multiple_values=True, use_float=True)
        for count, (prefix, event, value) in enumerate(events):
            if not root:
                root = {"start_map": "object", "start_array": "array", "null": "null"}.get(
                    event, "scalar"
                )
            if event == "map_key":
                keys.add(f"{prefix}.{value}" if prefix else str(value))
            elif event not in ("start_map", "end_map", "start_array", "end_array"):
                values.setdefault(prefix, value)
            if count >= _SNIFF_EVENTS:
                break
    except ijson.JSONError:
        pass
    if not root:
        return None
    return JsonHead(root=root, keys=frozenset(keys), values=values)


def first_byte(stream: IO[bytes]) -> bytes:
    """The first non-whitespace byte of `stream` (b"" when there is none), position kept."""
    start = stream.tell()
    try:
        while chunk := stream.read(_PEEK):
            stripped = chunk.lstrip(_WHITESPACE)
            if stripped:
                return stripped[:1]
        return b""
    finally:
        stream.seek(start)


def require_content(stream: IO[bytes]) -> bytes:
    """The first non-whitespace byte of `stream`.

    Raises:
        ScanRejected: the file is empty or holds only whitespace.
    """
    first = first_byte(stream)
    if not first:
        raise ScanRejected("The file is empty.")
    return first


@contextlib.contextmanager
def json_errors(stream: IO[bytes], what: str = "JSON document") -> Iterator[None]:
    """Turn ijson's errors inside the block into `ScanRejected` with a user-facing message."""
    try:
        yield
    except ijson.JSONError as exc:
        raise ScanRejected(_describe(exc, stream, what)) from exc


def _describe(exc: Exception, stream: IO[bytes], what: str) -> str:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = str(detail)
    try:
        position = stream.tell()
    except (OSError, ValueError):
        position = 0
    if "premature EOF" in detail or "Incomplete" in detail:
        return f"The {what} ends abruptly (truncated?) after {position:,} bytes."
    if "UTF8" in detail or "utf-8" in detail.lower():
        return f"The {what} is not valid UTF-8 text (near byte {position:,})."
    first_line = detail.strip().splitlines()[0] if detail.strip() else "syntax error"
    return f"The {what} is not valid JSON near byte {position:,}: {first_line}."


def select(
    stream: IO[bytes],
    prefixes: Collection[str],
    *,
    counter: str | None = None,
    multiple_values: bool = False,
    big_integers: bool = False,
) -> Iterator[tuple[int, str, Any]]:
    """Yield ``(n, prefix, value)`` for every value found at one of `prefixes`, in file order.

    `n` counts the objects opened at `counter` so far minus one (e.g. with
    ``counter="runs.item"`` it is the index of the SARIF run the value belongs to);
    it is -1 when `counter` is None. Only the selected values are built in memory.
    `big_integers` reads with ijson's pure-Python backend, slower but exact for
    integers beyond 64 bits (X.509 serial numbers), which the C backend refuses.
    Errors are not translated; wrap the loop in `json_errors`.
    """
    index = -1
    backend = _python_backend() if big_integers else ijson
    events = iter(backend.parse(stream, multiple_values=multiple_values, use_float=True))
    for prefix, event, value in events:
        if counter is not None and prefix == counter and event == "start_map":
            index += 1
        if prefix not in prefixes or event in ("end_map", "end_array", "map_key"):
            continue
        if event in ("start_map", "start_array"):
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            for _, inner_event, inner_value in events:
                builder.event(inner_event, inner_value)
                if not builder.containers:
                    break
            yield index, prefix, builder.value
        else:
            yield index, prefix, value


def _python_backend() -> Any:
    return ijson.get_backend("python")


def prescan(stream: IO[bytes], prefixes: Collection[str]) -> dict[str, Any]:
    """The first value at each of `prefixes` anywhere in the file, then rewind `stream`.

    Used for the few facts a report states after its findings (Grype's ``source``
    comes after ``matches``); costs one extra pass of parsing, no memory.
    """
    start = stream.tell()
    found: dict[str, Any] = {}
    with json_errors(stream):
        for _, prefix, value in select(stream, prefixes):
            found.setdefault(prefix, value)
    stream.seek(start)
    return found


def documents(stream: IO[bytes]) -> Iterator[Any]:
    """Every record of a JSON array, a single JSON value or a JSON Lines file, one at a time.

    A file whose first non-whitespace byte is ``[`` is read as one array (its items
    are the records); anything else as a sequence of JSON values, which covers JSON
    Lines (even pretty-printed or without a final newline) and a single object.

    Raises:
        ScanRejected: the file is empty, truncated or not JSON.
    """
    first = require_content(stream)
    with json_errors(stream):
        if first == b"[":
            yield from ijson.items(stream, "item", use_float=True)
        else:
            yield from ijson.items(stream, "", multiple_values=True, use_float=True)


def mapping(value: Any, what: str) -> dict[str, Any]:
    """`value` when it is a JSON object.

    Raises:
        ScanRejected: it is anything else (the file has the wrong shape).
    """
    if not isinstance(value, dict):
        raise ScanRejected(f"Expected {what} to be a JSON object, found {_kind(value)}.")
    return value


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (for optional members)."""
    return value if isinstance(value, dict) else {}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
