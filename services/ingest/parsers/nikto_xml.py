"""Nikto XML: ``<scandetails>`` under the root (2.1.5) or inside nested ``<niktoscan>`` (2.1.6)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._web import url_path, website_asset
from services.ingest.parsers._xml import child_text, root_tag, walk
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import Asset, FindingObserved, HostObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

    from services.ingest.parsers.model import Item

__all__ = ("NiktoXmlParser",)


def scan_asset(details: Element) -> Asset:
    """The web site a ``<scandetails>`` block covers: its ``sitename``, else host and port."""
    port = details.get("targetport") or None
    host = details.get("targethostname") or details.get("targetip") or ""
    site = details.get("sitename") or (
        f"{'https' if port == '443' else 'http'}://{host}:{port or 80}"
    )
    return website_asset(
        site,
        address=details.get("targetip") or None,
        port=int(port) if port and port.isdigit() else None,
    )


def item_finding(item: Element, asset: Asset) -> FindingObserved:
    """The finding of one Nikto ``<item>``; Nikto rates nothing, so severity is info."""
    description = child_text(item, "description") or ""
    if description.startswith("CDATA["):  # seen in exports that double-wrapped CDATA
        description = description[len("CDATA[") :]
    link = item.get("osvdblink") or ""
    return FindingObserved(
        asset=asset,
        scanner="nikto",
        title=description.splitlines()[0][:200] if description else f"Nikto check {item.get('id')}",
        severity=Severity.INFO,
        rule_id=item.get("id"),
        location=url_path(child_text(item, "uri")),
        description=description or None,
        references=(link,) if link and not link.endswith("/0") else (),
        cve=norm.cve_ids(description),
        evidence=child_text(item, "namelink"),
    )


class NiktoXmlParser(Parser):
    """Nikto XML in both nesting generations: one site per ``<scandetails>``, a finding per item.

    Nikto gives no severity; every finding is informational so that triage,
    not the parser, decides what matters.
    """

    format: ClassVar[str] = "nikto-xml"
    scanner: ClassVar[str] = "nikto"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Nikto XML has the root element ``niktoscan``."""
        return root_tag(head) == "niktoscan"

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each scanned site when its details open, then its items."""
        sites: set[str] = set()
        asset: Asset | None = None
        for event, element in walk(
            stream, starts=frozenset({"scandetails"}), ends=frozenset({"item"})
        ):
            if event == "start":
                asset = scan_asset(element)
                if asset.key not in sites:
                    sites.add(asset.key)
                    yield HostObserved(asset=asset)
            elif asset is not None:
                yield item_finding(element, asset)
