"""Aqua Trivy JSON: image, filesystem and repository scans, ``trivy k8s``, legacy layouts.

Layouts read: SchemaVersion 2 (``{"ArtifactName", "ArtifactType", "Results": [...]}``),
the legacy top-level array of results, the legacy literal ``null`` (no findings),
``trivy k8s`` summaries (``Resources[].Results[]``) and the older k8s report
(``Vulnerabilities[]``/``Misconfigurations[]`` of resources with ``Results``).
Vulnerabilities, failed misconfigurations and secrets become findings;
misconfiguration checks that passed (``Status`` other than ``FAIL``) do not.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, ClassVar

from services.ingest.parsers import _json
from services.ingest.parsers._assets import image_asset, repository_asset
from services.ingest.parsers._normalise import clean_text, cve_ids, cwe_ids, severity_from_word
from services.ingest.parsers.base import Parser
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Asset, Item

__all__ = ("TrivyJson",)

_RESULT_LISTS = {
    "Results.item": "",
    "item": "",
    "Resources.item": "k8s",
    "Vulnerabilities.item": "k8s",
    "Misconfigurations.item": "k8s",
}
_IMAGE_TYPES = frozenset({"container_image", "vm"})


def _cvss(vuln: dict[str, Any]) -> tuple[str | None, float | None]:
    """The NVD (else first) CVSS v3 vector and score of a vulnerability."""
    cvss = _json.obj(vuln.get("CVSS"))
    for source in ("nvd", *cvss):
        entry = cvss.get(source)
        if isinstance(entry, dict) and (entry.get("V3Vector") or entry.get("V3Score")):
            return clean_text(entry.get("V3Vector")), entry.get("V3Score")
    return None, None


def _vulnerability(asset: Asset, result: dict[str, Any], vuln: dict[str, Any]) -> FindingObserved:
    package = f"{vuln.get('PkgName', '?')}@{vuln.get('InstalledVersion', '?')}"
    if result.get("Class") == "lang-pkgs":
        package = f"{vuln.get('PkgPath') or result.get('Target')}: {package}"
    vuln_id = clean_text(vuln.get("VulnerabilityID"))
    vector, score = _cvss(vuln)
    fixed = clean_text(vuln.get("FixedVersion"))
    return FindingObserved(
        asset=asset,
        scanner="trivy",
        title=clean_text(vuln.get("Title")) or f"{vuln_id} in {vuln.get('PkgName')}",
        severity=severity_from_word(vuln.get("Severity")),
        rule_id=vuln_id,
        location=package,
        description=clean_text(vuln.get("Description")),
        solution=f"Upgrade {vuln.get('PkgName')} to {fixed}." if fixed else None,
        references=tuple(vuln.get("References") or ()),
        cve=cve_ids(vuln_id),
        cwe=cwe_ids(*(vuln.get("CweIDs") or ())),
        cvss_vector=vector,
        cvss_score=score,
    )


def _misconfiguration(
    asset: Asset, result: dict[str, Any], check: dict[str, Any]
) -> FindingObserved:
    cause = _json.obj(check.get("CauseMetadata"))
    line = cause.get("StartLine")
    target = str(result.get("Target") or "")
    return FindingObserved(
        asset=asset,
        scanner="trivy",
        title=clean_text(check.get("Title")) or str(check.get("ID")),
        severity=severity_from_word(check.get("Severity")),
        rule_id=clean_text(check.get("AVDID") or check.get("ID")),
        location=f"{target}:{line}" if line else target or None,
        description=clean_text(check.get("Description")),
        solution=clean_text(check.get("Resolution")),
        references=tuple(check.get("References") or ()),
        evidence=clean_text(check.get("Message")),
    )


def _secret(asset: Asset, result: dict[str, Any], secret: dict[str, Any]) -> FindingObserved:
    line = secret.get("StartLine")
    target = str(result.get("Target") or "")
    return FindingObserved(
        asset=asset,
        scanner="trivy",
        title=clean_text(secret.get("Title")) or "Secret",
        severity=severity_from_word(secret.get("Severity")),
        rule_id=clean_text(secret.get("RuleID")),
        location=f"{target}:{line}" if line else target or None,
        description=clean_text(secret.get("Category")),
        evidence=clean_text(secret.get("Match")),
    )


def _findings(asset: Asset, result: dict[str, Any]) -> Iterator[FindingObserved]:
    for vuln in result.get("Vulnerabilities") or ():
        yield _vulnerability(asset, result, _json.mapping(vuln, "a Trivy vulnerability"))
    for check in result.get("Misconfigurations") or ():
        if str(check.get("Status", "FAIL")).upper() == "FAIL":
            yield _misconfiguration(asset, result, _json.mapping(check, "a misconfiguration"))
    for secret in result.get("Secrets") or ():
        yield _secret(asset, result, _json.mapping(secret, "a Trivy secret"))


def _image_of(target: str) -> str:
    """``docker.io/redis:6.0.5 (debian 10.4)`` -> ``docker.io/redis:6.0.5``."""
    return target.split(" (", 1)[0].strip()


class TrivyJson(Parser):
    """Trivy's ``--format json`` output, every layout listed in the module docstring."""

    format: ClassVar[str] = "trivy-json"
    scanner: ClassVar[str] = "trivy"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """Trivy's distinctive keys, or the bare ``null`` legacy Trivy writes when clean."""
        parsed = _json.sniff_json(head)
        if parsed is None:
            return False
        if parsed.root == "null":
            return head.strip() == b"null"
        if parsed.root == "array":
            return parsed.has("item.Target") and (
                parsed.has("item.Vulnerabilities") or parsed.has("item.Type")
            )
        return parsed.has("SchemaVersion", "ArtifactName") or (
            parsed.has("ClusterName")
            and (parsed.has("Resources") or parsed.has("Vulnerabilities.item.Results"))
        )

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield the findings of every result, one result object in memory at a time."""
        if _json.require_content(stream) == b"n":
            with _json.json_errors(stream):
                _json.prescan(stream, ())
            return
        facts = _json.prescan(stream, ("ArtifactName", "ArtifactType", "ClusterName"))
        with _json.json_errors(stream, "Trivy report"):
            for _, prefix, value in _json.select(stream, _RESULT_LISTS):
                entry = _json.mapping(value, "a Trivy result")
                if _RESULT_LISTS[prefix] == "k8s":
                    yield from self._resource(entry, facts)
                else:
                    yield from _findings(self._artifact(entry, facts), entry)

    @staticmethod
    def _artifact(result: dict[str, Any], facts: dict[str, Any]) -> Asset:
        name = clean_text(facts.get("ArtifactName"))
        kind = str(facts.get("ArtifactType") or "")
        if name is None:
            return image_asset(_image_of(str(result.get("Target") or "unknown")))
        if kind in _IMAGE_TYPES:
            return image_asset(name)
        return repository_asset(name)

    @staticmethod
    def _resource(resource: dict[str, Any], facts: dict[str, Any]) -> Iterator[Item]:
        if "Results" not in resource:
            return
        cluster = clean_text(facts.get("ClusterName")) or "cluster"
        namespace = resource.get("Namespace") or "-"
        workload = repository_asset(
            f"k8s://{cluster}/{namespace}/{resource.get('Kind')}/{resource.get('Name')}"
        )
        for result in resource.get("Results") or ():
            if not isinstance(result, dict):
                raise ScanRejected("Expected a Trivy k8s result to be a JSON object.")
            asset = workload
            if result.get("Class") == "os-pkgs" or (
                result.get("Vulnerabilities") and " (" in str(result.get("Target"))
            ):
                asset = image_asset(_image_of(str(result.get("Target"))))
            yield from _findings(asset, result)
