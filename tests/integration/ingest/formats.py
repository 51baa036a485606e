"""A tiny JSON-lines scan format for the import tests, behind the same `Formats` port.

One JSON object per line: a header ``{"vigil-test": 1}`` (optionally with a
per-item ``delay`` in seconds, to make an import slow enough to kill), then
``host`` / ``service`` / ``finding`` lines, then a trailer ``{"end": N}``
with the number of items; a file without it is truncated. Every other format
goes to the real registry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import IO, Any

from services.ingest.parsers import registry
from services.ingest.parsers.base import Parser
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import (
    Asset,
    AssetKind,
    FindingObserved,
    HostObserved,
    Item,
    ServiceObserved,
    Severity,
)

MAGIC = b'{"vigil-test"'


class JsonLinesFixture(Parser):
    format = "vigil-test-jsonl"
    scanner = "testscanner"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        return head.lstrip().startswith(MAGIC)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        header = self._line(stream.readline(), 1)
        delay = float(header.get("delay", 0))
        for count, raw in enumerate(stream):
            line = self._line(raw, count + 2)
            if "end" in line:
                if line["end"] != count:
                    raise ScanRejected(f"The file promises {line['end']} items but has {count}.")
                return
            if delay:
                time.sleep(delay)
            yield self._item(line)
        raise ScanRejected("The file is truncated: it ends before its closing line.")

    @staticmethod
    def _line(raw: bytes, number: int) -> dict[str, Any]:
        try:
            value = json.loads(raw)
        except ValueError:
            raise ScanRejected(f"Line {number} is not valid JSON.") from None
        if not isinstance(value, dict):
            raise ScanRejected(f"Line {number} is not a JSON object.")
        return value

    def _item(self, line: dict[str, Any]) -> Item:
        if "host" in line:
            return HostObserved(asset=_asset(line["host"]), status=line.get("status", "up"))
        if "service" in line:
            return ServiceObserved(
                asset=_asset(line["service"]), port=line["port"], name=line.get("name")
            )
        return FindingObserved(
            asset=_asset(line["finding"]),
            scanner=line.get("scanner", self.scanner),
            title=line["title"],
            severity=Severity(line.get("severity", "medium")),
            rule_id=line.get("rule"),
            port=line.get("port"),
            cve=tuple(line.get("cve", ())),
            description=line.get("description"),
        )


def _asset(address: str) -> Asset:
    return Asset(kind=AssetKind.HOST, key=address, address=address)


class FormatsWithFixture:
    """The registry, plus the test format."""

    def detect_format(self, head: bytes) -> type[Parser]:
        if JsonLinesFixture.sniff(head):
            return JsonLinesFixture
        return registry.detect_format(head)

    def parser_for(self, format_name: str) -> type[Parser]:
        if format_name == JsonLinesFixture.format:
            return JsonLinesFixture
        return registry.parser_for(format_name)


def scan_file(
    hosts: dict[str, list[str]],
    *,
    delay: float = 0.0,
    truncate: bool = False,
    services: bool = True,
) -> bytes:
    """A test scan: each host with findings ``rule`` (one line each) and an ssh service."""
    lines: list[dict[str, Any]] = [{"vigil-test": 1, "delay": delay}]
    for address, rules in hosts.items():
        lines.append({"host": address})
        if services:
            lines.append({"service": address, "port": 22, "name": "ssh"})
        for rule in rules:
            lines.append(
                {
                    "finding": address,
                    "rule": rule,
                    "title": f"Issue {rule}",
                    "severity": "high",
                    "port": 22 if rule.startswith("p") else None,
                    "description": f"Description of {rule} on {address}",
                }
            )
    items = len(lines) - 1
    if not truncate:
        lines.append({"end": items})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)
