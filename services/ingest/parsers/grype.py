"""Anchore Grype JSON (``matches[]``) and Anchore Engine vulnerability reports.

Grype states what it scanned (``source``) after the matches, so the parser
reads the file twice: a cheap pass for ``source`` and one that streams the
matches. The asset is the image (``name:tag``) or, for a directory or SBOM
scan, a REPOSITORY keyed by the path. The location is ``package@version`` and,
when Grype found the package at a path, that path: the same CVE in two copies
of a library is two findings.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, ClassVar

from services.ingest.parsers import _json
from services.ingest.parsers._assets import image_asset, repository_asset
from services.ingest.parsers._normalise import (
    clean_text,
    cve_ids,
    parse_float,
    severity_from_word,
)
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Asset, Item

__all__ = ("AnchoreEngineJson", "GrypeJson")


def _source_asset(source: Any) -> Asset:
    if not isinstance(source, dict):
        return repository_asset("grype scan")
    target = source.get("target")
    if isinstance(target, dict):
        tags = target.get("tags") or ()
        name = clean_text(target.get("userInput")) or (tags[0] if tags else None)
        if source.get("type") == "image" and name:
            return image_asset(name)
        return repository_asset(name or "grype scan")
    return repository_asset(str(target or "grype scan"))


def _cvss(vulnerability: dict[str, Any]) -> tuple[str | None, float | None]:
    """The highest-version CVSS vector and base score Grype lists."""
    best: tuple[str, str | None, float | None] = ("", None, None)
    for entry in vulnerability.get("cvss") or ():
        if isinstance(entry, dict) and str(entry.get("version", "")) >= best[0]:
            metrics = _json.obj(entry.get("metrics"))
            best = (str(entry.get("version", "")), entry.get("vector"), metrics.get("baseScore"))
    return best[1], parse_float(best[2])


def _match(asset: Asset, match: dict[str, Any]) -> FindingObserved:
    vulnerability = _json.mapping(match.get("vulnerability"), "a Grype vulnerability")
    artifact = _json.obj(match.get("artifact"))
    related = [
        r.get("id") for r in match.get("relatedVulnerabilities") or () if isinstance(r, dict)
    ]
    vuln_id = clean_text(vulnerability.get("id"))
    paths = [loc.get("path") for loc in artifact.get("locations") or () if isinstance(loc, dict)]
    location = f"{artifact.get('name')}@{artifact.get('version')}"
    if paths and paths[0]:
        location = f"{location} ({paths[0]})"
    fix = _json.obj(vulnerability.get("fix"))
    fixed = ", ".join(fix.get("versions") or ())
    vector, score = _cvss(vulnerability)
    description = clean_text(vulnerability.get("description"))
    for entry in match.get("relatedVulnerabilities") or ():
        if description is None and isinstance(entry, dict):
            description = clean_text(entry.get("description"))
    return FindingObserved(
        asset=asset,
        scanner="grype",
        title=f"{vuln_id} in {artifact.get('name')}",
        severity=severity_from_word(vulnerability.get("severity")),
        rule_id=vuln_id,
        location=location,
        description=description,
        solution=f"Upgrade {artifact.get('name')} to {fixed}." if fixed else None,
        references=tuple(vulnerability.get("urls") or ()),
        cve=cve_ids(vuln_id, *(r for r in related if isinstance(r, str))),
        cvss_vector=clean_text(vector),
        cvss_score=score,
    )


class GrypeJson(Parser):
    """``grype -o json``."""

    format: ClassVar[str] = "grype-json"
    scanner: ClassVar[str] = "grype"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A top-level ``matches`` list whose items carry ``vulnerability`` and ``artifact``."""
        parsed = _json.sniff_json(head)
        if parsed is None or parsed.root != "object" or not parsed.has("matches"):
            return False
        return parsed.has("matches.item.vulnerability") or parsed.has("descriptor", "source")

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per match."""
        _json.require_content(stream)
        asset = _source_asset(_json.prescan(stream, ("source",)).get("source"))
        with _json.json_errors(stream, "Grype report"):
            for _, _, match in _json.select(stream, ("matches.item",)):
                yield _match(asset, _json.mapping(match, "a Grype match"))


class AnchoreEngineJson(Parser):
    """Anchore Engine ``anchore-cli image vuln <image> all --json``."""

    format: ClassVar[str] = "anchore-engine-json"
    scanner: ClassVar[str] = "anchore"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """``vulnerabilities`` items with ``package_name`` and ``vuln``, or ``imageFullTag``."""
        parsed = _json.sniff_json(head)
        if parsed is None or parsed.root != "object" or not parsed.has("vulnerabilities"):
            return False
        return parsed.has("vulnerabilities.item.vuln", "vulnerabilities.item.package") or (
            parsed.has("imageFullTag", "vulnerability_type")
        )

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per vulnerability entry."""
        _json.require_content(stream)
        facts = _json.prescan(stream, ("imageFullTag", "image_digest"))
        asset = image_asset(str(facts.get("imageFullTag") or facts.get("image_digest") or "image"))
        with _json.json_errors(stream, "Anchore Engine report"):
            for _, _, entry in _json.select(stream, ("vulnerabilities.item",)):
                vuln = _json.mapping(entry, "an Anchore vulnerability")
                vuln_id = clean_text(vuln.get("vuln"))
                fix = clean_text(vuln.get("fix"))
                location = f"{vuln.get('package_name')}@{vuln.get('package_version')}"
                if vuln.get("package_path") not in (None, "", "pkgdb"):
                    location = f"{location} ({vuln.get('package_path')})"
                extra = _json.obj(vuln.get("extra"))
                yield FindingObserved(
                    asset=asset,
                    scanner=self.scanner,
                    title=f"{vuln_id} in {vuln.get('package_name')}",
                    severity=severity_from_word(vuln.get("severity")),
                    rule_id=vuln_id,
                    location=location,
                    description=clean_text(extra.get("description")),
                    solution=f"Upgrade to {fix}." if fix and fix != "None" else None,
                    references=tuple(r for r in (clean_text(vuln.get("url")),) if r),
                    cve=cve_ids(vuln_id),
                )
