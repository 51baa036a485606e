"""Every XML scan in the shared corpus: detected by content, counted as MANIFEST.md says.

Counts in MANIFEST.md are raw element counts. Where vigil deliberately yields
something else, the difference is stated below with its reason, never hidden.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.base import SNIFF_BYTES
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved, HostObserved, Item, ServiceObserved

from .conftest import SCANS_DIR

pytestmark = pytest.mark.corpus

FORMAT_OF_FOLDER = {
    "nmap": "nmap-xml",
    "nessus": "nessus",
    "openvas": "openvas-xml",
    "burp": "burp-xml",
    "zap": "zap-xml",
    "nikto": "nikto-xml",
    "qualys": "qualys-xml",
    "sslyze": "sslyze-xml",
}
XML_SUFFIXES = (".xml", ".nessus")
BROKEN = ("broken/empty.xml", "broken/not_a_report.txt", "broken/truncated.nessus")

# Deliberate differences from MANIFEST.md, each with its reason.
FINDINGS_ARE_SERVICES = {
    "nmap": "MANIFEST counts nmap's open ports as findings; vigil yields an open port as a "
    "ServiceObserved (a fact about the host, not a flaw) and only NSE vulnerability output as "
    "findings, so the manifest's findings column is compared with the services.",
}
EXTRA_FINDINGS = {
    "qualys/dd-qualys-infrascan-webgui-multiple.xml": (
        r"(\d+) PRACTICE, (\d+) INFO not counted",
        "MANIFEST counts only <VULN>; vigil also imports <PRACTICE> (potential vulnerabilities) "
        "and <INFO> (information gathered, as info severity), the numbers the manifest lists as "
        "'not counted'.",
    ),
}
REJECTED = {
    "nmap/edge-libnmap-truncated-no-closing-tag.xml": "an interrupted scan without </nmaprun>: "
    "the import is atomic, so a truncated file is refused as a whole (the manifest counted it "
    "with a regular expression).",
}


def _count(cell: str) -> int | None:
    text = cell.strip().replace(",", "")
    return int(text) if text.isdigit() else None


def _manifest() -> dict[str, tuple[int | None, int | None, str]]:
    """Rows of both MANIFEST.md tables: file -> (hosts, findings, counted as)."""
    rows: dict[str, tuple[int | None, int | None, str]] = {}
    header: list[str] | None = None
    for line in (SCANS_DIR / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "file":
            header = cells
        elif header is not None and not set(cells[0]) <= {"-", " ", ":"}:
            row = dict(zip(header, cells, strict=False))
            rows[cells[0]] = (
                _count(row["hosts"]),
                _count(row["findings"]),
                row["counted as"],
            )
    return rows


def _corpus_files() -> list[str]:
    if not SCANS_DIR.is_dir():
        return []
    return sorted(
        str(path.relative_to(SCANS_DIR))
        for folder in FORMAT_OF_FOLDER
        for path in (SCANS_DIR / folder).glob("*")
        if path.suffix in XML_SUFFIXES
    )


MANIFEST = _manifest() if SCANS_DIR.is_dir() else {}


def _parse(path: Path) -> tuple[str, list[Item]]:
    with path.open("rb") as stream:
        parser = registry.detect_format(stream.read(SNIFF_BYTES))
        stream.seek(0)
        return parser.format, list(parser().parse(stream))


@pytest.mark.parametrize("name", _corpus_files())
def test_corpus_file_is_detected_and_counted(scans_dir: Path, name: str) -> None:
    assert name in MANIFEST, f"{name} is not listed in MANIFEST.md"
    hosts, findings, counted_as = MANIFEST[name]
    folder = name.split("/")[0]
    if name in REJECTED:
        with pytest.raises(ScanRejected, match="truncated"):
            _parse(scans_dir / name)
        return

    fmt, items = _parse(scans_dir / name)

    assert fmt == FORMAT_OF_FOLDER[folder]
    if hosts is not None:
        assert len({i.asset.key for i in items if isinstance(i, HostObserved)}) == hosts
    if findings is not None:
        kind: type[Item] = ServiceObserved if folder in FINDINGS_ARE_SERVICES else FindingObserved
        expected = findings
        if name in EXTRA_FINDINGS:
            pattern, _reason = EXTRA_FINDINGS[name]
            extra = re.search(pattern, counted_as)
            assert extra, f"MANIFEST no longer says {pattern!r} for {name}"
            expected += sum(int(n) for n in extra.groups())
        assert sum(isinstance(i, kind) for i in items) == expected


@pytest.mark.parametrize("name", BROKEN)
def test_broken_file_is_refused_with_a_reason(scans_dir: Path, name: str) -> None:
    with pytest.raises(ScanRejected) as refused:
        _parse(scans_dir / name)
    assert str(refused.value).strip()


def test_every_xml_row_of_the_manifest_is_in_the_corpus(scans_dir: Path) -> None:
    listed = {
        n for n in MANIFEST if n.split("/")[0] in FORMAT_OF_FOLDER and n.endswith(XML_SUFFIXES)
    }
    assert listed <= {*_corpus_files()}
