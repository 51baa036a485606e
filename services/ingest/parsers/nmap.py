"""Nmap XML (``-oX``): hosts that are up, their open ports, and NSE vulnerability output."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._xml import root_tag, walk
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

__all__ = ("NmapParser",)

_ADDRESS_PREFERENCE = ("ipv4", "ipv6")


def host_asset(host: Element) -> Asset | None:
    """The asset of an nmap ``<host>``: keyed by IP address, else hostname; None if neither."""
    addresses = {a.get("addrtype", ""): a.get("addr", "") for a in host.iter("address")}
    address = next((addresses[t] for t in _ADDRESS_PREFERENCE if addresses.get(t)), None)
    names = tuple(dict.fromkeys(n.get("name", "") for n in host.iter("hostname") if n.get("name")))
    key = address or (names[0] if names else None)
    if key is None:
        return None
    osmatch = host.find("os/osmatch")
    return Asset(
        kind=AssetKind.HOST,
        key=key,
        address=address,
        hostnames=names,
        os=osmatch.get("name") if osmatch is not None else None,
        mac=addresses.get("mac") or None,
    )


def _vulners_findings(
    script: Element, asset: Asset, service: ServiceObserved
) -> Iterator[FindingObserved]:
    """One finding per entry of the ``vulners`` script's structured output."""
    product = " ".join(p for p in (service.product, service.version) if p) or service.name
    for entry in script.iter("table"):
        fields = {e.get("key"): (e.text or "").strip() for e in entry.findall("elem")}
        ident = fields.get("id")
        if not ident:
            continue
        score = norm.parse_float(fields.get("cvss"))
        yield FindingObserved(
            asset=asset,
            scanner="nmap",
            title=f"{ident} in {product}" if product else ident,
            severity=norm.severity_from_cvss(score),
            rule_id=f"vulners:{ident}",
            port=service.port,
            protocol=service.protocol,
            cve=norm.cve_ids(ident),
            cvss_score=score,
            references=(f"https://vulners.com/{fields.get('type', 'cve')}/{ident}",),
            evidence=script.get("output"),
        )


def _script_findings(
    port: Element, asset: Asset, service: ServiceObserved
) -> Iterator[FindingObserved]:
    """Findings from NSE scripts: vulners entries, and scripts reporting ``VULNERABLE``."""
    for script in port.findall("script"):
        script_id = script.get("id", "")
        output = script.get("output") or ""
        if script_id == "vulners":
            yield from _vulners_findings(script, asset, service)
        elif "VULNERABLE" in output and "NOT VULNERABLE" not in output:
            title = next((ln.strip() for ln in output.splitlines()[1:] if ln.strip()), script_id)
            yield FindingObserved(
                asset=asset,
                scanner="nmap",
                title=title,
                severity=Severity.MEDIUM,
                rule_id=f"nse:{script_id}",
                port=service.port,
                protocol=service.protocol,
                cve=norm.cve_ids(output),
                evidence=output.strip(),
            )


def host_items(host: Element) -> Iterator[Item]:
    """The items of one complete ``<host>`` element: the host, open ports, findings."""
    status = host.find("status")
    if status is not None and status.get("state", "up") != "up":
        return
    asset = host_asset(host)
    if asset is None:
        return
    yield HostObserved(asset=asset)
    for port in host.iterfind("ports/port"):
        state = port.find("state")
        if state is None or state.get("state") != "open":
            continue
        detail = port.find("service")
        service = ServiceObserved(
            asset=asset,
            port=int(port.get("portid", "0")),
            protocol=port.get("protocol", "tcp"),
            name=detail.get("name") if detail is not None else None,
            product=detail.get("product") if detail is not None else None,
            version=detail.get("version") if detail is not None else None,
        )
        yield service
        yield from _script_findings(port, asset, service)


class NmapParser(Parser):
    """Nmap XML output: one `HostObserved` per host up, one `ServiceObserved` per open port.

    Only ports in state ``open`` become services (``filtered`` and ``closed``
    ports say nothing about what runs there). NSE output becomes findings:
    each ``vulners`` entry (with its CVE and CVSS score) and any script whose
    output reports ``VULNERABLE``.
    """

    format: ClassVar[str] = "nmap-xml"
    scanner: ClassVar[str] = "nmap"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Nmap XML has the root element ``nmaprun``."""
        return root_tag(head) == "nmaprun"

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield the items of each ``<host>`` as soon as it is complete."""
        for _, host in walk(stream, ends=frozenset({"host"})):
            yield from host_items(host)
