"""SSLyze 1.x XML (``--xml_out``): one host and TLS service per ``<target>``, findings for flaws."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

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

__all__ = ("SslyzeXmlParser",)

# (path to the flag, attribute, title, severity, CVEs)
_VULNERABILITIES = (
    ("heartbleed/openSslHeartbleed", "isVulnerable", "OpenSSL Heartbleed", Severity.HIGH,
     ("CVE-2014-0160",)),
    ("openssl_ccs/openSslCcsInjection", "isVulnerable", "OpenSSL CCS injection", Severity.HIGH,
     ("CVE-2014-0224",)),
    ("compression/compressionMethod", "isSupported", "TLS compression enabled (CRIME)",
     Severity.MEDIUM, ("CVE-2012-4929",)),
)  # fmt: skip
_LEGACY_PROTOCOLS = (
    ("sslv2", "SSL 2.0", Severity.HIGH),
    ("sslv3", "SSL 3.0", Severity.HIGH),
    ("tlsv1", "TLS 1.0", Severity.LOW),
    ("tlsv1_1", "TLS 1.1", Severity.LOW),
)


def _target_findings(target: Element, asset: Asset, port: int) -> Iterator[FindingObserved]:
    """Findings for the flaws SSLyze flags on one target."""
    for path, attribute, title, severity, cves in _VULNERABILITIES:
        flag = target.find(path)
        if flag is not None and flag.get(attribute) == "True":
            yield FindingObserved(
                asset=asset,
                scanner="sslyze",
                title=title,
                severity=severity,
                rule_id=f"sslyze:{path.split('/')[0]}",
                port=port,
                protocol="tcp",
                cve=cves,
            )
    for tag, name, severity in _LEGACY_PROTOCOLS:
        element = target.find(tag)
        if element is None or element.get("isProtocolSupported") != "True":
            continue
        ciphers = [c.get("name", "") for c in element.iterfind("acceptedCipherSuites/cipherSuite")]
        yield FindingObserved(
            asset=asset,
            scanner="sslyze",
            title=f"Deprecated protocol {name} accepted",
            severity=severity,
            rule_id=f"sslyze:{tag}",
            port=port,
            protocol="tcp",
            evidence="\n".join(ciphers) or None,
        )


class SslyzeXmlParser(Parser):
    """SSLyze XML reports: the format has no finding list, so vigil derives a few.

    Each ``<target>`` is a host (keyed by its IP) with a TLS service; findings
    are raised for Heartbleed, CCS injection, TLS compression and accepted
    legacy protocol versions (SSL 2/3, TLS 1.0/1.1).
    """

    format: ClassVar[str] = "sslyze-xml"
    scanner: ClassVar[str] = "sslyze"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """SSLyze XML has a ``document`` root carrying an ``SSLyzeVersion`` attribute."""
        return root_tag(head) == "document" and b"SSLyzeVersion" in head

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each target's host, TLS service and findings as it completes."""
        for _, target in walk(stream, ends=frozenset({"target"})):
            address = target.get("ip") or None
            hostname = target.get("host") or None
            key = address or hostname
            if key is None:
                continue
            asset = Asset(
                kind=AssetKind.HOST,
                key=key,
                address=address,
                hostnames=(hostname,) if hostname and hostname != key else (),
            )
            port = int(target.get("port", "443") or 443)
            yield HostObserved(asset=asset)
            yield ServiceObserved(asset=asset, port=port, name=target.get("tlsWrappedProtocol"))
            yield from _target_findings(target, asset, port)
