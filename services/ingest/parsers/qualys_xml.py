"""Qualys XML: VM asset data report, scan report (``scan-1.dtd``) and WAS scan report."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._web import html_to_text, url_path, website_asset
from services.ingest.parsers._xml import child_text, root_tag, walk
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import (
    Asset,
    AssetKind,
    FindingObserved,
    HostObserved,
    Severity,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

    from services.ingest.parsers.model import Item

__all__ = ("QualysXmlParser",)

# Qualys levels 1 (minimal) .. 5 (urgent).
_LEVELS = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
_ENDS = frozenset({"HOST", "IP", "VULNERABILITY", "VULN_DETAILS_LIST", "QID_LIST"})
_SCAN_FINDINGS = ("VULNS/CAT/VULN", "PRACTICES/CAT/PRACTICE", "INFOS/CAT/INFO")
_PORT = re.compile(r"^\d+$")


def _level(value: str | None) -> Severity:
    if value and value.strip().isdigit() and 1 <= int(value) <= len(_LEVELS):
        return _LEVELS[int(value) - 1]
    return Severity.INFO


def _text(element: Element, path: str) -> str | None:
    return html_to_text(child_text(element, path))


def _glossary(entries: Element) -> dict[str, Element]:
    """Glossary entries (VM ``VULN_DETAILS`` or WAS ``QID``) by QID number."""
    glossary: dict[str, Element] = {}
    for entry in entries:
        qid = child_text(entry, "QID")
        if qid:
            glossary[qid] = entry
    return glossary


def _details_finding(
    asset: Asset, qid: str, info: dict[str, str | None], details: Element | None
) -> FindingObserved:
    """A finding from one detection and its glossary entry (title, severity, CVEs)."""
    d = details if details is not None else ET.Element("VULN_DETAILS")
    port = info.get("port") or ""
    return FindingObserved(
        asset=asset,
        scanner="qualys",
        title=child_text(d, "TITLE") or f"Qualys QID {qid}",
        severity=Severity.INFO if info.get("type") == "Ig" else _level(d.findtext("SEVERITY")),
        rule_id=qid,
        port=int(port) if _PORT.match(port) else None,
        protocol=(info.get("protocol") or "").lower() or None,
        location=info.get("location"),
        description=_text(d, "THREAT") or _text(d, "DESCRIPTION"),
        solution=_text(d, "SOLUTION"),
        cve=norm.cve_ids(*(c.text for c in d.iterfind("CVE_ID_LIST/CVE_ID/ID"))),
        cwe=norm.cwe_ids(*(c.text for c in d.iterfind("CWE"))),
        cvss_score=norm.parse_float(d.findtext("CVSS_SCORE/CVSS_BASE")),
        evidence=info.get("result"),
    )


def _vm_host(host: Element) -> tuple[Asset, list[tuple[str, dict[str, str | None]]]]:
    """The asset of an asset-data ``<HOST>`` and its detections, waiting for the glossary."""
    address = child_text(host, "IP")
    names = tuple(n for n in (child_text(host, "DNS"), child_text(host, "NETBIOS")) if n)
    asset = Asset(
        kind=AssetKind.HOST,
        key=address or (names[0] if names else "unknown"),
        address=address,
        hostnames=names,
        os=child_text(host, "OPERATING_SYSTEM"),
    )
    detections = [
        (
            child_text(v, "QID") or "",
            {
                "type": child_text(v, "TYPE"),
                "port": child_text(v, "PORT"),
                "protocol": child_text(v, "PROTOCOL"),
                "result": child_text(v, "RESULT"),
            },
        )
        for v in host.iterfind("VULN_INFO_LIST/VULN_INFO")
    ]
    return asset, detections


def _scan_host(ip: Element) -> Iterator[Item]:
    """A scan-1 ``<IP>`` block: its host and its vulnerabilities, practices and infos."""
    address = ip.get("value", "")
    name = ip.get("name")
    asset = Asset(
        kind=AssetKind.HOST,
        key=address or name or "unknown",
        address=address or None,
        hostnames=(name,) if name and name != "No registered hostname" else (),
        os=child_text(ip, "OS"),
    )
    yield HostObserved(asset=asset)
    for path in _SCAN_FINDINGS:
        for vuln in ip.iterfind(path):
            score = norm.parse_float(
                child_text(vuln, "CVSS3_BASE") or child_text(vuln, "CVSS_BASE")
            )
            yield FindingObserved(
                asset=asset,
                scanner="qualys",
                title=child_text(vuln, "TITLE") or f"Qualys QID {vuln.get('number')}",
                severity=Severity.INFO if vuln.tag == "INFO" else _level(vuln.get("severity")),
                rule_id=vuln.get("number"),
                port=int(vuln.get("port", "0")) or None if vuln.get("port", "").isdigit() else None,
                protocol=vuln.get("protocol"),
                description=_text(vuln, "DIAGNOSIS"),
                solution=_text(vuln, "SOLUTION"),
                cve=norm.cve_ids(vuln.get("cveid"), *(c.text for c in vuln.iterfind(".//ID"))),
                cvss_score=score,
                evidence=child_text(vuln, "RESULT"),
            )


class QualysXmlParser(Parser):
    """Qualys XML exports, three layouts behind one parser.

    * VM asset data report (``ASSET_DATA_REPORT``): a finding per ``VULN_INFO``;
      titles and severities live in the glossary at the end of the file, so
      detections (small) are held until it has been read.
    * Scan report (``SCAN``, scan-1.dtd): a finding per ``VULN``, ``PRACTICE``
      (potential vulnerability) and ``INFO`` (information gathered, as info).
    * WAS scan report (``WAS_SCAN_REPORT``): a finding per ``VULNERABILITY``
      on the web site of its URL; information-gathered entries are skipped.
    """

    format: ClassVar[str] = "qualys-xml"
    scanner: ClassVar[str] = "qualys"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Recognise the three Qualys roots (``SCAN`` only with Qualys' scan DTD or IP blocks)."""
        root = root_tag(head)
        if root in {"ASSET_DATA_REPORT", "WAS_SCAN_REPORT"}:
            return True
        return root == "SCAN" and (b"scan-1.dtd" in head or b"<IP value=" in head)

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield hosts as they complete; VM and WAS findings once the glossary is read."""
        pending: list[tuple[Asset, str, dict[str, str | None]]] = []
        glossary: dict[str, Element] = {}
        sites: set[str] = set()
        for _, element in walk(stream, ends=_ENDS):
            tag = element.tag
            if tag == "HOST":
                asset, detections = _vm_host(element)
                yield HostObserved(asset=asset)
                pending += [(asset, qid, info) for qid, info in detections]
            elif tag == "IP" and element.get("value") is not None:
                yield from _scan_host(element)
            elif tag == "VULNERABILITY" and element.find("QID") is not None:
                url = child_text(element, "URL") or ""
                asset = website_asset(url)
                if asset.key not in sites:
                    sites.add(asset.key)
                    yield HostObserved(asset=asset)
                info = {"location": url_path(url), "result": child_text(element, "PARAM")}
                pending.append((asset, child_text(element, "QID") or "", info))
            elif tag in {"VULN_DETAILS_LIST", "QID_LIST"}:
                glossary.update(_glossary(element))
        for asset, qid, info in pending:
            yield _details_finding(asset, qid, info, glossary.get(qid))
