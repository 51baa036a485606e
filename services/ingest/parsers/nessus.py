"""Nessus ``.nessus`` files: v2 (``NessusClientData_v2``) and legacy v1 (``NessusClientData``)."""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._web import website_asset
from services.ingest.parsers._xml import child_text, root_tag, walk
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import (
    Asset,
    AssetKind,
    FindingObserved,
    HostObserved,
    ServiceObserved,
    Severity,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

    from services.ingest.parsers.model import Item

__all__ = ("NessusParser",)

_ROOTS = frozenset({"NessusClientData_v2", "NessusClientData"})
_V1_HOST_FIELDS = frozenset({"HostName", "mac_addr", "dns_name", "os_name", "netbios_name"})
_ENDS = frozenset({"HostProperties", "ReportItem"}) | _V1_HOST_FIELDS
_SEVERITIES = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
# v1 numbers severities 0 (open port), 1 (note), 2 (warning), 3 (hole).
_V1_SEVERITIES = (Severity.INFO, Severity.INFO, Severity.MEDIUM, Severity.HIGH)
_V1_PORT = re.compile(r"(\d+)/(\w+)")
_V1_RISK = re.compile(r"Risk factor :\s*\n\s*(\w+)", re.IGNORECASE)
_V1_OUTPUT = re.compile(r"Plugin output :\s*\n(.*)", re.DOTALL | re.IGNORECASE)


def _host_asset(name: str, facts: dict[str, str]) -> Asset:
    """The asset of a ReportHost from its name and properties (v2 tags or v1 fields)."""
    address = facts.get("host-ip")
    fqdn = facts.get("host-fqdn") or facts.get("dns_name")
    if not address and "://" in name:  # Nessus WAS reports name the web application
        return website_asset(name)
    key = address or name or fqdn or "unknown"
    hostnames = tuple(dict.fromkeys(h for h in (fqdn, facts.get("netbios-name")) if h and h != key))
    if not address and name and name != key:
        hostnames = (name, *hostnames)
    return Asset(
        kind=AssetKind.HOST,
        key=key,
        address=address or (name if _looks_like_ip(name) else None),
        hostnames=hostnames,
        os=facts.get("operating-system") or facts.get("os_name") or None,
        mac=(facts.get("mac-address") or facts.get("mac_addr") or "").split("\n")[0] or None,
    )


def _looks_like_ip(text: str) -> bool:
    return bool(re.fullmatch(r"[\d.]+|[0-9a-fA-F:]+:[0-9a-fA-F:.]*", text))


def _severity(value: str | None, table: tuple[Severity, ...]) -> Severity:
    try:
        return table[int(value or "0")]
    except (ValueError, IndexError):
        return norm.severity_from_word(value)


def _v2_finding(item: Element, asset: Asset) -> FindingObserved:
    """A finding from a v2 ``ReportItem`` (attributes plus child elements)."""
    cvss3 = norm.parse_float(child_text(item, "cvss3_base_score"))
    cvss2 = norm.parse_float(child_text(item, "cvss_base_score"))
    see_also = child_text(item, "see_also") or ""
    port = int(item.get("port", "0") or 0)
    return FindingObserved(
        asset=asset,
        scanner="nessus",
        title=item.get("pluginName") or child_text(item, "plugin_name") or "Nessus finding",
        severity=_severity(item.get("severity"), _SEVERITIES),
        rule_id=item.get("pluginID"),
        port=port or None,
        protocol=(item.get("protocol") or "tcp").lower() if port else None,
        description=child_text(item, "description") or child_text(item, "synopsis"),
        solution=child_text(item, "solution"),
        references=tuple(u.strip() for u in see_also.split() if u.strip()),
        cve=norm.cve_ids(*(c.text for c in item.iterfind("cve"))),
        cwe=norm.cwe_ids(*(c.text for c in item.iterfind("cwe"))),
        cvss_vector=child_text(item, "cvss3_vector" if cvss3 is not None else "cvss_vector"),
        cvss_score=cvss3 if cvss3 is not None else cvss2,
        evidence=child_text(item, "plugin_output"),
    )


def _v1_finding(item: Element, asset: Asset) -> FindingObserved:
    """A finding from a v1 ``ReportItem`` (child elements; one free-text ``data`` blob)."""
    data = (child_text(item, "data") or "").replace("\\n", "\n")
    port_match = _V1_PORT.search(child_text(item, "port") or "")
    risk = _V1_RISK.search(data)
    output = _V1_OUTPUT.search(data)
    severity = _severity(child_text(item, "severity"), _V1_SEVERITIES)
    if risk:
        severity = norm.severity_from_word(risk.group(1), severity)
    return FindingObserved(
        asset=asset,
        scanner="nessus",
        title=child_text(item, "pluginName") or "Nessus finding",
        severity=severity,
        rule_id=child_text(item, "pluginID"),
        port=int(port_match.group(1)) or None if port_match else None,
        protocol=port_match.group(2) if port_match else None,
        description=data.strip() or None,
        cve=norm.cve_ids(data),
        evidence=output.group(1).strip() or None if output else None,
    )


def _service(item: Element, asset: Asset) -> ServiceObserved | None:
    """The service a v2 item is on, None for host-level items (port 0)."""
    port = int(item.get("port", "0") or 0)
    if not port:
        return None
    name = item.get("svc_name")
    return ServiceObserved(
        asset=asset,
        port=port,
        protocol=(item.get("protocol") or "tcp").lower(),
        name=name.rstrip("?") if name and name not in {"general", "unknown"} else None,
    )


class NessusParser(Parser):
    """Nessus exports: each ``ReportHost`` becomes a host, each ``ReportItem`` a finding.

    Severity 0 items are kept as informational findings. The plugin id is the
    rule id; the CVSS v3 score and vector are preferred over v2. Each
    distinct port an item is on is also reported as a service.
    """

    format: ClassVar[str] = "nessus"
    scanner: ClassVar[str] = "nessus"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Nessus files have the root ``NessusClientData_v2`` (or ``NessusClientData``, v1)."""
        return root_tag(head) in _ROOTS

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each host once its properties are known, then its services and findings."""
        name, facts, asset = "", dict[str, str](), None
        seen_ports: set[tuple[int, str]] = set()
        for event, element in walk(stream, starts=frozenset({"ReportHost"}), ends=_ENDS):
            tag = element.tag
            if event == "start":
                if name or facts:
                    yield from self._quiet_host(name, facts, asset)
                name, facts, asset = element.get("name", ""), {}, None
                seen_ports.clear()
            elif tag in _V1_HOST_FIELDS:
                facts[tag] = (element.text or "").strip()
            elif tag == "HostProperties":
                facts.update({t.get("name", ""): (t.text or "").strip() for t in element})
                asset = _host_asset(name, facts)
                yield HostObserved(asset=asset)
            elif tag == "ReportItem":
                if asset is None:
                    asset = _host_asset(name or facts.get("HostName", ""), facts)
                    yield HostObserved(asset=asset)
                yield from self._item(element, asset, seen_ports)
        if name or facts:
            yield from self._quiet_host(name, facts, asset)

    @staticmethod
    def _quiet_host(name: str, facts: dict[str, str], asset: Asset | None) -> Iterator[Item]:
        """The host of a ReportHost that had neither properties nor items, if not yet seen."""
        if asset is None:
            yield HostObserved(asset=_host_asset(name or facts.get("HostName", ""), facts))

    def _item(
        self, item: Element, asset: Asset, seen_ports: set[tuple[int, str]]
    ) -> Iterator[Item]:
        if item.get("pluginID") is None:
            yield _v1_finding(item, asset)
            return
        service = _service(item, asset)
        if service is not None and (service.port, service.protocol) not in seen_ports:
            seen_ports.add((service.port, service.protocol))
            yield service
        yield _v2_finding(item, asset)
