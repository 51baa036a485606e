"""OWASP ZAP JSON reports (``traditional-json`` and ``traditional-json-plus``).

``@programName`` may be ``OWASP ZAP``, ``ZAP`` or absent (2.11.1), so detection
looks at the shape: ``site[]`` entries with ``@name`` and ``alerts``. Every
number is a string. One finding per alert on the site's WEBSITE asset (ZAP's
unit of issue, as in its XML report); the alert's instances (URL, method,
parameter) go to the evidence rather than becoming findings of their own.
"""

from __future__ import annotations

import html
import re
from typing import IO, TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from services.ingest.parsers import _json
from services.ingest.parsers._assets import web_target
from services.ingest.parsers._normalise import clean_text, cwe_ids
from services.ingest.parsers.base import Parser
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers._assets import WebTarget
    from services.ingest.parsers.model import Item

__all__ = ("ZapJson", "html_text")

_RISKS = (Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH)
_TAG = re.compile(r"<[^>]+>")
_PARAGRAPH = re.compile(r"</p>\s*<p>|<br\s*/?>|</?p>", re.IGNORECASE)
_INSTANCES_SHOWN = 25


def html_text(value: Any) -> str | None:
    """ZAP's HTML snippets (``<p>...</p>``) as plain text, paragraphs on their own lines."""
    if not isinstance(value, str):
        return None
    text = _TAG.sub("", _PARAGRAPH.sub("\n", value))
    return clean_text(html.unescape(text))


def _site(site: dict[str, Any]) -> WebTarget:
    """The site's WEBSITE: scheme and host from ``@name`` (else ``@ssl``/``@host``), ``@port``."""
    name = str(site.get("@name") or "")
    named = web_target(name)
    if named is not None:
        scheme, host = named.asset.key.split("://", 1)[0], urlsplit(name).hostname
    else:
        scheme = "https" if str(site.get("@ssl")).lower() == "true" else "http"
        host = str(site.get("@host") or "").strip()
    port = str(site.get("@port") or "").strip()
    if not port.isdigit():
        port = str(named.port) if named else ("443" if scheme == "https" else "80")
    shown = f"[{host}]" if host and ":" in host else host
    target = web_target(f"{scheme}://{shown}:{port}/")
    if target is None:
        raise ScanRejected(f"A ZAP site has no usable name or host: {name!r}.")
    return target


def _risk(alert: dict[str, Any]) -> Severity:
    code = str(alert.get("riskcode", "0")).strip()
    return _RISKS[int(code)] if code.isdigit() and int(code) < len(_RISKS) else Severity.INFO


def _evidence(instances: Any) -> str | None:
    lines = []
    for instance in (instances or ())[:_INSTANCES_SHOWN]:
        if isinstance(instance, dict):
            parts = [instance.get("method"), instance.get("uri"), instance.get("param")]
            line = " ".join(str(p) for p in parts if p)
            if instance.get("evidence"):
                line += f" -> {instance['evidence']}"
            lines.append(line)
    if instances and len(instances) > _INSTANCES_SHOWN:
        lines.append(f"... and {len(instances) - _INSTANCES_SHOWN} more instances")
    return "\n".join(lines) or None


def _alert(site: WebTarget, alert: dict[str, Any]) -> FindingObserved:
    references = html_text(alert.get("reference")) or ""
    cwe = str(alert.get("cweid") or "")
    return FindingObserved(
        asset=site.asset,
        scanner="zap",
        title=clean_text(alert.get("name") or alert.get("alert")) or "ZAP alert",
        severity=_risk(alert),
        rule_id=clean_text(str(alert.get("pluginid") or "")) or None,
        port=site.port,
        protocol="tcp",
        description=html_text(alert.get("desc")),
        solution=html_text(alert.get("solution")),
        references=tuple(line.strip() for line in references.splitlines() if line.strip()),
        cwe=cwe_ids(cwe) if cwe not in ("", "-1", "0") else (),
        evidence=_evidence(alert.get("instances")),
    )


class ZapJson(Parser):
    """ZAP's JSON report, any 2.x version."""

    format: ClassVar[str] = "zap-json"
    scanner: ClassVar[str] = "zap"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """An object with ``site[]`` entries named by ``@name``, with ``@version`` or alerts."""
        parsed = _json.sniff_json(head)
        if parsed is None or parsed.root != "object" or not parsed.has("site.item.@name"):
            return False
        return parsed.has("@version") or parsed.has("site.item.alerts")

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per alert of every site."""
        _json.require_content(stream)
        with _json.json_errors(stream, "ZAP report"):
            for _, _, value in _json.select(stream, ("site.item",)):
                site = _json.mapping(value, "a ZAP site")
                target = _site(site)
                for alert in site.get("alerts") or ():
                    yield _alert(target, _json.mapping(alert, "a ZAP alert"))
