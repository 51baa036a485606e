"""Helpers for the JSON/JSONL/CSV parser tests: run a parser over bytes built in the test."""

from __future__ import annotations

import io
import json
from typing import Any

from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, Item


def parse(parser: type[Parser], data: bytes | str) -> list[Item]:
    raw = data.encode() if isinstance(data, str) else data
    return list(parser().parse(io.BytesIO(raw)))


def findings(parser: type[Parser], data: bytes | str) -> list[FindingObserved]:
    return [item for item in parse(parser, data) if isinstance(item, FindingObserved)]


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def jsonl(*records: Any) -> bytes:
    return b"\n".join(json.dumps(record).encode() for record in records)
