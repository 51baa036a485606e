"""Nikto JSON (``-Format json``): one host object, or an array of them (secureCodeBox).

Nikto's JSON does not say whether it spoke TLS, so the scheme is inferred from
the port (443 and 8443 are https, anything else http). Entries whose message
starts with ``ERROR:`` on a host without name or address are Nikto reporting
that it could not scan (e.g. an unresolvable host), not findings: they are
skipped, and so is the host.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, ClassVar

from services.ingest.parsers import _json
from services.ingest.parsers._assets import web_target
from services.ingest.parsers._normalise import clean_text, cve_ids
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Item

__all__ = ("NiktoJson",)

_TLS_PORTS = frozenset({"443", "8443"})


def _host_items(host: dict[str, Any]) -> Iterator[Item]:
    name = clean_text(str(host.get("host") or "")) or clean_text(str(host.get("ip") or ""))
    port = str(host.get("port") or "80").strip()
    scheme = "https" if port in _TLS_PORTS else "http"
    target = web_target(f"{scheme}://{name}:{port}/", clean_text(host.get("ip"))) if name else None
    if target is None:
        return
    yield HostObserved(asset=target.asset)
    yield ServiceObserved(
        asset=target.asset,
        port=target.port,
        name=scheme,
        product=clean_text(host.get("banner")),
    )
    for entry in host.get("vulnerabilities") or ():
        vuln = _json.mapping(entry, "a Nikto vulnerability")
        message = clean_text(vuln.get("msg")) or "Nikto finding"
        osvdb = str(vuln.get("OSVDB") or "0")
        yield FindingObserved(
            asset=target.asset,
            scanner="nikto",
            title=message.splitlines()[0][:300],
            severity=Severity.INFO,
            rule_id=clean_text(str(vuln.get("id") or "")) or None,
            port=target.port,
            protocol="tcp",
            location=clean_text(vuln.get("url")) or "/",
            description=message,
            references=(f"OSVDB-{osvdb}",) if osvdb not in ("0", "") else (),
            cve=cve_ids(message),
            evidence=clean_text(f"{vuln.get('method') or ''} {vuln.get('url') or ''}"),
        )


class NiktoJson(Parser):
    """Nikto 2.x JSON output."""

    format: ClassVar[str] = "nikto-json"
    scanner: ClassVar[str] = "nikto"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """An object (or array of objects) with ``host``, ``port`` and ``vulnerabilities``."""
        parsed = _json.sniff_json(head)
        if parsed is None:
            return False
        prefix = "item." if parsed.root == "array" else ""
        return parsed.has(f"{prefix}host", f"{prefix}port", f"{prefix}vulnerabilities")

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each host (as a web site), its service and its findings."""
        for number, value in enumerate(_json.documents(stream), start=1):
            yield from _host_items(_json.mapping(value, f"Nikto host {number:,}"))
