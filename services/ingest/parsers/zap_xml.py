"""OWASP ZAP XML report: 2.4.3 (one ``alertitem`` per URL) and 2.10+ (``<instances>``)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, ClassVar

from services.ingest.parsers import _normalise as norm
from services.ingest.parsers._web import html_to_text, url_path, website_asset
from services.ingest.parsers._xml import child_text, root_tag, walk
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import Asset, FindingObserved, HostObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator
    from xml.etree.ElementTree import Element

    from services.ingest.parsers.model import Item

__all__ = ("ZapXmlParser",)

_RISKS = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH)


def site_asset(site: Element) -> Asset:
    """The web-site asset of a ``<site>`` from its name (URL), host and port attributes."""
    host = site.get("host", "")
    name = site.get("name") or host
    port = norm.parse_float(site.get("port"))
    address = host if host.replace(".", "").isdigit() else None
    return website_asset(name, address=address, port=int(port) if port else None)


def _risk(alert: Element) -> Severity:
    code = child_text(alert, "riskcode")
    if code and code.isdigit() and int(code) < len(_RISKS):
        return _RISKS[int(code)]
    return norm.severity_from_word((child_text(alert, "riskdesc") or "").split(" ")[0])


def _instances(alert: Element) -> list[dict[str, str]]:
    """Each place the alert was seen: 2.10+ ``<instance>`` elements, or the 2.4.3 fields."""
    found = alert.findall("instances/instance") or [alert]
    keys = ("uri", "method", "param", "attack", "evidence")
    instances = [{k: child_text(i, k) or "" for k in keys} for i in found]
    return [i for i in instances if any(i.values())]


def _evidence(alert: Element, instances: list[dict[str, str]]) -> str | None:
    lines = [
        " ".join(p for p in (i["method"], i["uri"]) if p)
        + (f" [{i['param']}]" if i["param"] else "")
        + (f": {i['evidence']}" if i["evidence"] else "")
        for i in instances
    ]
    other = html_to_text(child_text(alert, "otherinfo"))
    text = "\n".join([*lines, *([other] if other else [])])
    return text or None


def alert_finding(alert: Element, asset: Asset) -> FindingObserved:
    """The finding of one ``<alertitem>`` on the site `asset`."""
    instances = _instances(alert)
    cwe = child_text(alert, "cweid") or ""
    reference = html_to_text(child_text(alert, "reference")) or ""
    return FindingObserved(
        asset=asset,
        scanner="zap",
        title=child_text(alert, "alert") or child_text(alert, "name") or "ZAP alert",
        severity=_risk(alert),
        rule_id=child_text(alert, "pluginid"),
        location=url_path(instances[0]["uri"]) if instances else None,
        description=html_to_text(child_text(alert, "desc")),
        solution=html_to_text(child_text(alert, "solution")),
        references=tuple(dict.fromkeys(r for r in reference.split() if "://" in r)),
        cwe=norm.cwe_ids(cwe) if cwe.isdigit() else (),
        evidence=_evidence(alert, instances),
    )


class ZapXmlParser(Parser):
    """ZAP's traditional XML report: one `HostObserved` per ``<site>``, a finding per alert.

    In 2.4.3 reports every URL has its own ``alertitem`` (so its own finding);
    from 2.10 on, one ``alertitem`` lists its URLs as ``<instances>``, and
    the finding's location is the first instance while the evidence lists all.
    """

    format: ClassVar[str] = "zap-xml"
    scanner: ClassVar[str] = "zap"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """ZAP XML reports have the root element ``OWASPZAPReport``."""
        return root_tag(head) == "OWASPZAPReport"

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield each site when it opens and each alert when it completes."""
        sites: set[str] = set()
        asset: Asset | None = None
        for event, element in walk(
            stream, starts=frozenset({"site"}), ends=frozenset({"alertitem"})
        ):
            if event == "start":
                asset = site_asset(element)
                if asset.key not in sites:
                    sites.add(asset.key)
                    yield HostObserved(asset=asset)
            elif asset is not None:
                yield alert_finding(element, asset)
