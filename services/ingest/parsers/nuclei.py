"""ProjectDiscovery nuclei output: JSON Lines (``-jsonl``) and JSON array (``-json-export``).

Both nuclei 2.x (``templateID``, ``matched``) and 3.x (``template-id``,
``matched-at``, ``classification``) field names are read. HTTP-like results
(``http``, ``javascript``, ``headless``) land on a WEBSITE asset with the URL
path as location; network, DNS and TLS results on a HOST asset with the port.
The matcher name, when there is one, is part of the location: nuclei reports
each missing security header as one result of one template.

A 0-byte file cannot be recognised by content, so detection refuses it
("The file is empty."), but with an explicit ``nuclei-jsonl`` or ``nuclei-json``
format hint it is a valid scan that found nothing (nuclei writes nothing then).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, ClassVar

from services.ingest.parsers import _json
from services.ingest.parsers._assets import host_asset, web_target
from services.ingest.parsers._normalise import (
    clean_text,
    cve_ids,
    cwe_ids,
    parse_float,
    severity_from_word,
)
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Asset, Item

__all__ = ("NucleiJson", "NucleiJsonl")

_WEB_TYPES = frozenset({"http", "javascript", "headless"})


def _is_nuclei(head: _json.JsonHead, prefix: str) -> bool:
    has_id = head.has(f"{prefix}template-id") or head.has(f"{prefix}templateID")
    return has_id and head.has(f"{prefix}info")


def _text_list(value: Any) -> tuple[str, ...]:
    """A list of strings from nuclei's list-or-string-or-null fields."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [
            line.strip().removeprefix("- ").strip() for line in value.replace(",", "\n").split("\n")
        ]
        return tuple(part for part in parts if part)
    if isinstance(value, list):
        return tuple(str(part).strip() for part in value if part is not None and str(part).strip())
    return (str(value),)


def _url_candidates(record: dict[str, Any]) -> list[str]:
    url = record.get("url")
    candidates = [record.get("matched-at"), record.get("matched"), record.get("host")]
    candidates += [record.get("path"), url.lstrip("/") if isinstance(url, str) else None]
    return [c for c in candidates if isinstance(c, str) and c.strip()]


def _target(record: dict[str, Any]) -> tuple[Asset, int | None, str | None] | None:
    """The asset, port and location of one result; None when nuclei named no target."""
    ip = clean_text(record.get("ip"))
    candidates = _url_candidates(record)
    if str(record.get("type", "http")).lower() in _WEB_TYPES:
        for candidate in candidates:
            target = web_target(candidate, ip)
            if target is not None:
                return target.asset, target.port, target.path
    hostname, port = None, parse_float(record.get("port"))
    for candidate in candidates:
        web = web_target(candidate)
        if web is not None:
            hostname, port = (
                web.asset.hostnames[0] if web.asset.hostnames else web.asset.key,
                web.port,
            )
            break
        name, _, maybe_port = candidate.rpartition(":")
        if name and maybe_port.isdigit():
            hostname, port = name.strip("[]"), float(maybe_port)
        else:
            hostname = candidate
        break
    asset = host_asset(ip, hostname)
    if asset is None:
        return None
    return asset, int(port) if port else None, None


def finding_from(record: dict[str, Any], scanner: str = "nuclei") -> FindingObserved | None:
    """The finding one nuclei result describes, None when it names no target at all."""
    info = _json.obj(record.get("info"))
    classification = info.get("classification") or {}
    rule_id = clean_text(record.get("template-id") or record.get("templateID"))
    target = _target(record)
    if target is None:
        return None
    asset, port, location = target
    matcher = clean_text(record.get("matcher-name"))
    if matcher:
        location = f"{location or ''} [{matcher}]".strip()
    extracted = _text_list(record.get("extracted-results"))
    return FindingObserved(
        asset=asset,
        scanner=scanner,
        title=clean_text(info.get("name")) or rule_id or "nuclei finding",
        severity=severity_from_word(info.get("severity")),
        rule_id=rule_id,
        port=port,
        protocol="tcp" if port else None,
        location=location,
        description=clean_text(info.get("description")),
        solution=clean_text(info.get("remediation")),
        references=_text_list(info.get("reference")),
        cve=cve_ids(rule_id, *_text_list(classification.get("cve-id"))),
        cwe=cwe_ids(*_text_list(classification.get("cwe-id"))),
        cvss_vector=clean_text(classification.get("cvss-metrics")),
        cvss_score=parse_float(classification.get("cvss-score")),
        evidence="\n".join(extracted) or None,
    )


class NucleiJsonl(Parser):
    """nuclei JSON Lines (one result per line); also reads the JSON array export."""

    format: ClassVar[str] = "nuclei-jsonl"
    scanner: ClassVar[str] = "nuclei"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A JSON object (first line) with ``template-id``/``templateID`` and ``info``."""
        parsed = _json.sniff_json(head)
        return parsed is not None and parsed.root == "object" and _is_nuclei(parsed, "")

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per result; a 0-byte file (format hint given) yields nothing."""
        if not _json.first_byte(stream):
            return
        for number, record in enumerate(_json.documents(stream), start=1):
            result = _json.mapping(record, f"nuclei result {number:,}")
            finding = finding_from(result, self.scanner)
            if finding is not None:
                yield finding


class NucleiJson(NucleiJsonl):
    """nuclei ``-json-export``: one JSON array of results."""

    format: ClassVar[str] = "nuclei-json"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A JSON array whose first item has ``template-id``/``templateID`` and ``info``."""
        parsed = _json.sniff_json(head)
        return parsed is not None and parsed.root == "array" and _is_nuclei(parsed, "item.")
