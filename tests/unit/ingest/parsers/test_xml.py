import io

import pytest

from services.ingest.parsers._xml import leading_text, root_tag, walk
from services.ingest.parsers.errors import ScanRejected

from .hostile import billion_laughs, xxe


def _tags(document: bytes, ends: frozenset[str]) -> list[str]:
    return [element.tag for _, element in walk(io.BytesIO(document), ends=ends)]


def test_root_tag_skips_declaration_comments_and_internal_doctype() -> None:
    head = (
        b'<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE issues [<!ELEMENT issues (issue*)>'
        b'<!ATTLIST issues v CDATA "">]>\n<?pi x?>\n<issues burpVersion="1">'
    )
    assert root_tag(head) == "issues"


def test_root_tag_of_text_is_none() -> None:
    assert root_tag(b"host,port\n1.2.3.4,80\n") is None
    assert root_tag(b"") is None


def test_comment_before_declaration_is_stripped() -> None:
    document = b'<!-- SPDX -->\n\n<?xml version="1.0"?>\n<r><a/></r>'
    assert _tags(document, frozenset({"a"})) == ["a"]


def test_external_doctype_is_accepted_and_never_fetched() -> None:
    document = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r><a/></r>'
    assert _tags(document, frozenset({"a"})) == ["a"]


@pytest.mark.parametrize("document", [billion_laughs("r"), xxe("r")], ids=["bomb", "xxe"])
def test_entity_declarations_are_refused(document: bytes) -> None:
    with pytest.raises(ScanRejected, match="entities"):
        _tags(document, frozenset({"r"}))


def test_parameter_entity_is_refused() -> None:
    document = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><r/>'
    )
    with pytest.raises(ScanRejected):
        _tags(document, frozenset({"r"}))


def test_empty_file_is_rejected() -> None:
    with pytest.raises(ScanRejected, match=r"^The file is empty\.$"):
        _tags(b"  \n", frozenset({"r"}))


def test_truncation_names_the_line() -> None:
    with pytest.raises(ScanRejected, match=r"truncated.*line 3"):
        _tags(b"<r>\n<a/>\n<a>", frozenset({"a"}))


def test_malformed_middle_is_not_called_truncation() -> None:
    with pytest.raises(ScanRejected, match="not well-formed XML: mismatched tag") as rejected:
        _tags(b"<r><a></b></r>", frozenset({"a"}))
    assert "truncated" not in str(rejected.value)


def test_consumed_elements_are_detached_from_their_parent() -> None:
    document = b"<r>" + b"<a><b>x</b></a>" * 20_000 + b"</r>"
    parents = []
    for event, element in walk(
        io.BytesIO(document), starts=frozenset({"r"}), ends=frozenset({"a"})
    ):
        if event == "start":
            root = element
        else:
            parents.append(len(root))
    # the parser works chunk by chunk: at most one chunk's worth of siblings is ever attached
    assert max(parents) < 5_000  # one 64 KiB chunk of 15-byte siblings


def test_leading_text_takes_mixed_content_before_children() -> None:
    import xml.etree.ElementTree as ET

    host = ET.fromstring("<host> 10.0.0.1 <asset/><hostname>h</hostname></host>")
    assert leading_text(host) == "10.0.0.1"
