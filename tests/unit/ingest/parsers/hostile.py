"""Hostile and broken variants of a small XML document, shared by every XML parser's tests."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest

from services.ingest.parsers.errors import ScanRejected

if TYPE_CHECKING:
    from services.ingest.parsers.base import Parser
    from services.ingest.parsers.model import Item

SECRET_FILE = "/etc/passwd"


def billion_laughs(root: str) -> bytes:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
        for n in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE {root} [{entities}]><{root}>&lol9;</{root}>'.encode()


def xxe(root: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY x SYSTEM "file://{SECRET_FILE}">]>'
        f"<{root}>&x;</{root}>"
    ).encode()


def parse_all(parser: type[Parser], document: bytes) -> list[Item]:
    return list(parser().parse(io.BytesIO(document)))


def assert_refuses_hostile(parser: type[Parser], root: str) -> None:
    """Entity bombs and external entities are refused, never expanded or resolved."""
    for document in (billion_laughs(root), xxe(root)):
        with pytest.raises(ScanRejected) as rejected:
            parse_all(parser, document)
        message = str(rejected.value)
        assert "entit" in message
        assert "root:" not in message


def assert_rejects_truncated(parser: type[Parser], document: bytes) -> None:
    """A document cut short is rejected as a whole with a message saying so."""
    with pytest.raises(ScanRejected, match="truncated"):
        parse_all(parser, document[: len(document) * 2 // 3])
