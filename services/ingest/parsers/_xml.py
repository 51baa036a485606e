"""Safe, streaming XML reading shared by every XML scanner parser.

Everything is parsed by defusedxml's expat parser: entity declarations (the
billion-laughs and XXE vectors) and external references are refused, an
inline or external DOCTYPE alone is accepted and never fetched. Elements are
cleared and detached as soon as the parser has consumed them, so memory
stays flat however long the file is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import IO, TYPE_CHECKING

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from services.ingest.parsers.errors import ScanRejected

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

__all__ = ("child_text", "leading_text", "root_tag", "walk")

_CHUNK = 64 * 1024
# Expat error codes that, at the end of the input, mean the file was cut short.
_TRUNCATION_CODES = frozenset({3, 5, 20})  # no element found, unclosed token, unclosed CDATA
_PROLOG_SKIP = re.compile(
    rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)",
    re.DOTALL,
)
_START_TAG = re.compile(rb"\s*<([A-Za-z_][\w.\-]*(?::[\w.\-]+)?)")
_LEADING_NOISE = re.compile(rb"(?:\s+|<!--.*?-->)*", re.DOTALL)


class _CleanStream:
    """A read-only view of a scan file with comments before the XML declaration dropped.

    Some tools prepend a licence comment to exported files, which makes them
    ill-formed; the comment carries nothing, so it is skipped. The view also
    remembers whether the whole input has been read, which tells a truncated
    file from one that is malformed in the middle.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.eof = False
        self.skipped_lines = 0
        head = stream.read(_CHUNK)
        if not head.strip():
            raise ScanRejected("The file is empty.")
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        noise = _LEADING_NOISE.match(head)
        if noise and noise.end() and head[noise.end() :].startswith(b"<?xml"):
            self.skipped_lines = head.count(b"\n", 0, noise.end())
            head = head[noise.end() :]
        self._pending = head

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        data = self._stream.read(size if size and size > 0 else _CHUNK)
        if not data:
            self.eof = True
        return data


def _rejection(error: ET.ParseError, source: _CleanStream) -> ScanRejected:
    line, column = error.position
    line += source.skipped_lines
    reason = str(error).split(":", 1)[0]
    if source.eof and error.code in _TRUNCATION_CODES:
        return ScanRejected(
            "The file is truncated or not well-formed XML: "
            f"it ends before its closing tags (line {line})."
        )
    return ScanRejected(
        f"The file is not well-formed XML: {reason} at line {line}, column {column + 1}."
    )


class _Capture:
    """Element handlers for defusedxml's expat parser that keep only what `walk` yields.

    They stand in for ElementTree's pull-parser layer (which queues every
    start and end as an event): elements are built by the C `TreeBuilder`,
    and only the requested ones are queued, with the clearing of finished
    elements queued after them so that it happens once the consumer has
    moved past them.
    """

    def __init__(self, ends: frozenset[str], starts: frozenset[str]) -> None:
        self.builder = ET.TreeBuilder()
        self.ends = ends
        self.starts = starts
        self.open: list[Element] = []
        self.captured = 0  # how many `ends` elements are open around the current position
        # What to do next, in document order: yield (event, element), or clear (None, ...).
        self.queue: list[tuple[str | None, Element, Element | None]] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if "}" in tag:
            tag = "{" + tag
        if attrib and any("}" in key for key in attrib):
            attrib = {("{" + k if "}" in k else k): v for k, v in attrib.items()}
        element = self.builder.start(tag, attrib)
        self.open.append(element)
        if tag in self.ends:
            self.captured += 1
        if tag in self.starts:
            self.queue.append(("start", element, None))

    def end(self, tag: str) -> None:
        if "}" in tag:
            tag = "{" + tag
        element = self.builder.end(tag)
        self.open.pop()
        if tag in self.ends:
            self.captured -= 1
            self.queue.append(("end", element, None))
        if not self.captured:  # inside a captured subtree, the outermost capture clears it
            self.queue.append((None, element, self.open[-1] if self.open else None))


def walk(
    stream: IO[bytes],
    *,
    ends: frozenset[str],
    starts: frozenset[str] = frozenset(),
) -> Iterator[tuple[str, Element]]:
    """Stream the document in `stream`, yielding the elements a parser asked for.

    Yields ``("start", element)`` when an element whose tag is in `starts`
    opens (its attributes are complete, its children perhaps not) and
    ``("end", element)`` when an element whose tag is in `ends` closes, with
    its whole subtree. Once the consumer moves on, every element that closes
    outside an `ends` subtree (including the outermost `ends` elements
    themselves) is cleared and detached, so nothing accumulates; an `ends`
    element nested in another stays in place until the outer one is done.

    Raises:
        ScanRejected: the file is empty, truncated, not well-formed, or uses
            entity declarations or external references (hostile constructs).
    """
    source = _CleanStream(stream)
    capture = _Capture(ends, starts)
    parser = DefusedXMLParser(target=capture.builder, forbid_dtd=False)
    expat = parser.parser
    expat.ordered_attributes = False
    expat.StartElementHandler = capture.start
    expat.EndElementHandler = capture.end
    queue = capture.queue
    try:
        while True:
            data = source.read(_CHUNK)
            if data:
                parser.feed(data)
            else:
                parser.close()
            for event, element, parent in queue:
                if event is not None:
                    yield event, element
                    continue
                element.clear()
                if parent is not None:
                    parent.remove(element)
            queue.clear()
            if not data:
                return
    except ET.ParseError as error:
        raise _rejection(error, source) from None
    except DefusedXmlException:
        raise ScanRejected(
            "The file declares XML entities or external references, which vigil refuses "
            "because they can be used to read server files or exhaust memory."
        ) from None
    except ValueError as error:  # e.g. unknown encoding declared
        raise ScanRejected(f"The file cannot be read as XML: {error}.") from None


def root_tag(head: bytes) -> str | None:
    """The name of the root element of the XML document starting with `head`.

    Skips a BOM, whitespace, the XML declaration, processing instructions,
    comments and a DOCTYPE (with its internal subset). Returns None when
    `head` does not start like an XML document.
    """
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    position = 0
    while match := _PROLOG_SKIP.match(head, position):
        position = match.end()
    start = _START_TAG.match(head, position)
    if start is None:
        return None
    return start.group(1).decode("ascii", "replace")


def child_text(element: Element, path: str) -> str | None:
    """Stripped text of the first match of `path` under `element`; None when absent or blank."""
    found = element.find(path)
    if found is None:
        return None
    text = "".join(found.itertext()).strip()
    return text or None


def leading_text(element: Element | None) -> str | None:
    """The text of `element` before its first child (mixed content), stripped; None if blank."""
    if element is None or element.text is None:
        return None
    return element.text.strip() or None
