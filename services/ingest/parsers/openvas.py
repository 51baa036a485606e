"""OpenVAS 6/7 and Greenbone (GVM) report XML: one finding per ``<result>`` with an NVT."""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._xml import child_text, leading_text, root_tag, walk
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import (
    Asset,
    AssetKind,
    FindingObserved,
    HostObserved,
    ServiceObserved,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

    from services.ingest.parsers.model import Item

__all__ = ("OpenVasParser",)

_PORT = re.compile(r"(\d+)/(\w+)")
_MARKERS = (b"<results", b"format_id=", b"<nvt", b"<scan_run_status", b"<omp>")


def _tags(nvt: Element) -> dict[str, str]:
    """The NVT's ``key=value|key=value`` tags as a dict."""
    text = child_text(nvt, "tags") or ""
    pairs = (part.split("=", 1) for part in text.split("|") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def _references(nvt: Element) -> tuple[str, ...]:
    xref = child_text(nvt, "xref") or ""
    urls = [x.strip()[4:] for x in xref.split(",") if x.strip().upper().startswith("URL:")]
    urls += [r.get("id", "") for r in nvt.iterfind("refs/ref") if r.get("type") == "url"]
    return tuple(dict.fromkeys(u for u in urls if u))


def _result_asset(result: Element) -> Asset | None:
    """The host of a result: the leading text of ``<host>`` (it is mixed content in GVM)."""
    host = result.find("host")
    address = leading_text(host)
    if host is None or address is None:
        return None
    hostname = child_text(host, "hostname")
    return Asset(
        kind=AssetKind.HOST,
        key=address,
        address=address,
        hostnames=(hostname,) if hostname and hostname != address else (),
    )


def result_finding(result: Element, nvt: Element, asset: Asset) -> FindingObserved:
    """The finding a ``<result>`` reports, with the details of its ``<nvt>``."""
    tags = _tags(nvt)
    score = norm.parse_float(child_text(result, "severity"))
    if score is None:
        score = norm.parse_float(child_text(nvt, "cvss_base"))
    word = child_text(result, "threat") or child_text(nvt, "risk_factor")
    port_match = _PORT.search(child_text(result, "port") or "")
    cve_refs = [r.get("id") for r in nvt.iterfind("refs/ref") if r.get("type") == "cve"]
    cwe_refs = [r.get("id") for r in nvt.iterfind("refs/ref") if r.get("type") == "cwe"]
    description = "\n\n".join(
        tags[k] for k in ("summary", "insight", "impact", "affected") if tags.get(k)
    )
    return FindingObserved(
        asset=asset,
        scanner="openvas",
        title=child_text(nvt, "name") or child_text(result, "name") or "OpenVAS result",
        severity=norm.severity_from_cvss(score) if score else norm.severity_from_word(word),
        rule_id=nvt.get("oid"),
        port=int(port_match.group(1)) or None if port_match else None,
        protocol=port_match.group(2) if port_match else None,
        description=description or None,
        solution=child_text(nvt, "solution") or tags.get("solution") or None,
        references=_references(nvt),
        cve=norm.cve_ids(child_text(nvt, "cve"), *cve_refs),
        cwe=norm.cwe_ids(*cwe_refs),
        cvss_vector=child_text(nvt, "severities/severity/value") or tags.get("cvss_base_vector"),
        cvss_score=score,
        evidence=child_text(result, "description"),
    )


class OpenVasParser(Parser):
    """OpenVAS and GVM XML reports, every generation from OpenVAS 6 to GVM 22+.

    Each ``<result>`` that carries an ``<nvt>`` is a finding (results nested
    in ``<detection>`` blocks have none and are skipped). ``NOCVE``/``NOBID``
    placeholders and comma-separated CVE lists are handled; the numeric
    severity is preferred, the threat word is the fallback.
    """

    format: ClassVar[str] = "openvas-xml"
    scanner: ClassVar[str] = "openvas"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A ``<report>`` root with report markers such as ``<results`` or ``format_id=``."""
        return root_tag(head) == "report" and any(m in head for m in _MARKERS)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each result's host and port (once) and its finding."""
        hosts: set[str] = set()
        services: set[tuple[str, int, str]] = set()
        for _, result in walk(stream, ends=frozenset({"result"})):
            nvt = result.find("nvt")
            asset = _result_asset(result)
            if nvt is None or asset is None:
                continue
            if asset.key not in hosts:
                hosts.add(asset.key)
                yield HostObserved(asset=asset)
            finding = result_finding(result, nvt, asset)
            if finding.port and finding.protocol:
                service = (asset.key, finding.port, finding.protocol)
                if service not in services:
                    services.add(service)
                    yield ServiceObserved(asset=asset, port=finding.port, protocol=finding.protocol)
            yield finding
