"""Burp Suite "Report issues" XML export (XML 1.0 or 1.1, base64 or raw requests)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._web import html_to_text, url_path, website_asset
from services.ingest.parsers._xml import child_text, root_tag, walk
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

    from services.ingest.parsers.model import Item

__all__ = ("BurpParser", "message_bytes")

_HREF = re.compile(r'href="([^"]+)"')
_CWE = re.compile(r"CWE-(\d+)")


def message_bytes(element: Element | None) -> bytes:
    """The raw bytes of a ``<request>``/``<response>``, base64-decoded when so marked.

    Burp records HTTP traffic as bytes in whatever encoding the site used, so
    the result is bytes: callers decide how to show them.
    """
    if element is None or not element.text:
        return b""
    if element.get("base64") == "true":
        try:
            return base64.b64decode(element.text, validate=False)
        except (binascii.Error, ValueError):
            return b""
    return element.text.encode("utf-8", "surrogateescape")


def _request_line(issue: Element) -> str | None:
    """The first line of the first recorded request, decoded leniently."""
    raw = message_bytes(issue.find("requestresponse/request"))
    first = raw.split(b"\n", 1)[0].strip()
    return first.decode("utf-8", "replace") if first else None


def _links(issue: Element, tag: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_HREF.findall(child_text(issue, tag) or "")))


def issue_finding(issue: Element) -> FindingObserved | None:
    """The finding of one ``<issue>``; None when it names no host."""
    host = issue.find("host")
    url = (host.text or "").strip() if host is not None else ""
    if not url:
        return None
    asset = website_asset(url, address=host.get("ip") if host is not None else None)
    path = child_text(issue, "path")
    detail = html_to_text(child_text(issue, "issueDetail"))
    request = _request_line(issue)
    evidence = "\n\n".join(p for p in (detail, f"Request: {request}" if request else None) if p)
    classifications = child_text(issue, "vulnerabilityClassifications")
    return FindingObserved(
        asset=asset,
        scanner="burp",
        title=child_text(issue, "name") or "Burp issue",
        severity=norm.severity_from_word(child_text(issue, "severity")),
        rule_id=child_text(issue, "type"),
        location=url_path(path) if path else "/",
        description=html_to_text(child_text(issue, "issueBackground")),
        solution=html_to_text(
            child_text(issue, "remediationDetail") or child_text(issue, "remediationBackground")
        ),
        references=_links(issue, "references"),
        cwe=norm.cwe_ids(*_cwe_numbers(classifications)),
        evidence=evidence or None,
    )


def _cwe_numbers(classifications: str | None) -> tuple[str, ...]:
    return tuple(_CWE.findall(classifications or ""))


class BurpParser(Parser):
    """Burp Suite issue exports: one finding per ``<issue>`` on the site ``scheme://host:port``.

    The inline ``<!DOCTYPE issues [...]>`` is accepted (declarations only);
    request and response bodies are decoded as bytes, never assumed UTF-8.
    """

    format: ClassVar[str] = "burp-xml"
    scanner: ClassVar[str] = "burp"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Burp exports have the root element ``issues``."""
        return root_tag(head) == "issues"

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each site once, then the findings of each issue as it completes."""
        sites: set[str] = set()
        for _, issue in walk(stream, ends=frozenset({"issue"})):
            finding = issue_finding(issue)
            if finding is None:
                continue
            if finding.asset.key not in sites:
                sites.add(finding.asset.key)
                yield HostObserved(asset=finding.asset)
            yield finding
