"""The JSON, JSON Lines, CSV and SARIF files of the shared corpus, against MANIFEST.md.

Counts come from the manifest's tables, parsed here. Where vigil deliberately
reports something other than the manifest's raw count, `DEVIATIONS` says why
and how the expected number is derived independently from the file.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.base import SNIFF_BYTES
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.corpus

_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "scans"
_SUFFIXES = (".json", ".jsonl", ".csv", ".sarif")
_BROKEN = ("broken/truncated_nuclei.json",)

FORMATS_BY_FOLDER = {
    "nuclei": {"nuclei-jsonl", "nuclei-json"},
    "trivy": {"trivy-json"},
    "grype": {"grype-json", "anchore-engine-json"},
    "sarif": {"sarif"},
    "zap": {"zap-json"},
    "nikto": {"nikto-json"},
    "sslyze": {"sslyze-json"},
    "testssl": {"testssl-csv"},
    "tenable_csv": {"tenable-csv"},
    "nessus": {"tenable-csv"},
    "openvas": {"openvas-csv"},
    "qualys": {"qualys-csv"},
}


def _csv_rows(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return list(csv.reader(text.splitlines(keepends=True), delimiter=delimiter))[1:]


def _non_blank_rows(path: Path) -> int:
    return sum(1 for row in _csv_rows(path) if any(cell.strip() for cell in row))


def _testssl_weaknesses(path: Path) -> int:
    return sum(1 for row in _csv_rows(path) if row[3] in {"LOW", "MEDIUM", "HIGH", "CRITICAL"})


def _testssl_hosts(path: Path) -> int:
    return len({row[1] for row in _csv_rows(path) if row[1].strip("/")})


def _nuclei_with_target(path: Path) -> int:
    keys = ("host", "matched-at", "matched", "ip", "url", "path")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(1 for record in records if any(record.get(key) for key in keys))


def _trivy_old_k8s(path: Path) -> int:
    report = json.loads(path.read_text())
    total = 0
    for resource in report.get("Vulnerabilities", []) + report.get("Misconfigurations", []):
        for result in resource.get("Results") or []:
            total += len(result.get("Vulnerabilities") or []) + len(result.get("Secrets") or [])
            total += sum(
                1
                for m in result.get("Misconfigurations") or []
                if m.get("Status", "FAIL") == "FAIL"
            )
    return total


def _zero(_: Path) -> int:
    return 0


@dataclass(frozen=True)
class Deviation:
    """Why vigil's count differs from the manifest's raw count, and what vigil should report."""

    reason: str
    findings: Callable[[Path], int] | None = None
    hosts: Callable[[Path], int] | None = None


_BLANK_ROWS = (
    "data rows made only of empty cells (',,,,') are not findings; the manifest counts them"
)
_TESTSSL = (
    "only LOW/MEDIUM/HIGH/CRITICAL rows are findings: OK/INFO rows are measurements, WARN/FATAL "
    "rows are testssl.sh's own problems; the '/' pseudo host of engine_problem is no host (an "
    "unreachable target, FATAL scanProblem, is reported as a host with status 'down')"
)
DEVIATIONS: dict[str, Deviation] = {
    "nessus/nessus_many_vuln.csv": Deviation(_BLANK_ROWS, findings=_non_blank_rows),
    "tenable_csv/dd-tenable-many.csv": Deviation(_BLANK_ROWS, findings=_non_blank_rows),
    "nessus/nessus_new.csv": Deviation(
        "Tenable.io export separated by ';'; the manifest's part-1 count split it on ','",
        findings=_non_blank_rows,
    ),
    "nuclei/issue_14071.json": Deviation(
        "one DNS result (nameserver-fingerprint) names no host, URL or IP: no asset to put it on",
        findings=_nuclei_with_target,
    ),
    "nikto/edge-scb-nikto-unresolvable-host.json": Deviation(
        "Nikto's 'ERROR: Cannot resolve hostname' entry on an empty host is not a finding",
        findings=_zero,
        hosts=_zero,
    ),
    "trivy/kubernetes.json": Deviation(
        "older 'trivy k8s' layout (Vulnerabilities[]/Misconfigurations[] of resources): "
        "vigil reads the findings nested in them; the manifest only counted top-level Results",
        findings=_trivy_old_k8s,
    ),
    **{
        f"testssl/{name}": Deviation(_TESTSSL, findings=_testssl_weaknesses, hosts=_testssl_hosts)
        for name in (
            "defectdojo_many_vuln.csv",
            "failed_target.csv",
            "overall_critical.csv",
            "testssl-baseline-2025.csv",
            "dd-testssl-many-cves.csv",
            "edge-dd-testssl-header-only.csv",
        )
    },
}


def _manifest(scans_dir: Path) -> dict[str, dict[str, str]]:
    """file -> its row, from every table of MANIFEST.md with hosts and findings columns."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] = []
    for line in (scans_dir / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not header:
            header = cells
        elif not re.fullmatch(r"[-: ]+", "".join(cells)) and {"file", "hosts", "findings"} <= set(
            header
        ):
            entry = dict(zip(header, cells, strict=False))
            rows[entry["file"]] = entry
    return rows


def _corpus_files() -> list[str]:
    if not _CORPUS.is_dir():
        return ["(corpus absent)"]
    found = [
        str(path.relative_to(_CORPUS))
        for path in sorted(_CORPUS.rglob("*"))
        if path.suffix in _SUFFIXES and path.parts[-2] != "broken"
    ]
    return found + list(_BROKEN)


def _number(text: str) -> int | None:
    text = text.replace(",", "")
    return int(text) if text.isdigit() else None


@pytest.mark.parametrize("name", _corpus_files())
def test_corpus_file(scans_dir: Path, name: str) -> None:
    path = scans_dir / name
    head = path.read_bytes()[:SNIFF_BYTES]
    if name in _BROKEN:
        with pytest.raises(ScanRejected) as refused, path.open("rb") as stream:
            list(registry.detect_format(head)().parse(stream))
        assert str(refused.value).strip()
        return
    expected_formats = FORMATS_BY_FOLDER[path.parent.name]
    if not head:
        with pytest.raises(ScanRejected, match="empty"):
            registry.detect_format(head)
        parser = registry.parser_for(sorted(expected_formats)[-1])
        with path.open("rb") as stream:
            assert list(parser().parse(stream)) == []
        return
    parser = registry.detect_format(head)
    assert parser.format in expected_formats
    with path.open("rb") as stream:
        items = list(parser().parse(stream))
    entry = _manifest(scans_dir)[name]
    deviation = DEVIATIONS.get(name, Deviation(""))
    findings = sum(isinstance(item, FindingObserved) for item in items)
    hosts = len({(item.asset.kind, item.asset.key) for item in items})
    expected_findings = (
        deviation.findings(path) if deviation.findings else _number(entry["findings"])
    )
    expected_hosts = deviation.hosts(path) if deviation.hosts else _number(entry["hosts"])
    if expected_findings is not None:
        assert findings == expected_findings, deviation.reason
    if expected_hosts is not None:
        assert hosts == expected_hosts, deviation.reason


def test_every_deviation_names_a_corpus_file(scans_dir: Path) -> None:
    assert all((scans_dir / name).is_file() for name in DEVIATIONS)
