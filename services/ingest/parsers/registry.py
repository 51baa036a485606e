"""Every parser vigil knows, in the order format detection tries them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.ingest.parsers.base import SNIFF_BYTES
from services.ingest.parsers.errors import UnsupportedFormat

if TYPE_CHECKING:
    from services.ingest.parsers.base import Parser

__all__ = ("PARSERS", "detect_format", "parser_for")

# --- XML formats (most specific root elements first) ---
from services.ingest.parsers.burp import BurpParser
from services.ingest.parsers.nessus import NessusParser
from services.ingest.parsers.nikto_xml import NiktoXmlParser
from services.ingest.parsers.nmap import NmapParser
from services.ingest.parsers.openvas import OpenVasParser
from services.ingest.parsers.qualys_xml import QualysXmlParser
from services.ingest.parsers.sslyze_xml import SslyzeXmlParser
from services.ingest.parsers.zap_xml import ZapXmlParser

_XML_PARSERS: tuple[type[Parser], ...] = (
    NmapParser,
    NessusParser,
    BurpParser,
    ZapXmlParser,
    NiktoXmlParser,
    QualysXmlParser,
    SslyzeXmlParser,
    OpenVasParser,  # root <report> is generic: tried after every other XML root
)
# --- end XML formats ---

# --- JSON, JSONL and CSV formats (generic formats last) ---
from services.ingest.parsers.generic import GenericCsv, GenericJson  # noqa: E402
from services.ingest.parsers.grype import AnchoreEngineJson, GrypeJson  # noqa: E402
from services.ingest.parsers.nikto_json import NiktoJson  # noqa: E402
from services.ingest.parsers.nuclei import NucleiJson, NucleiJsonl  # noqa: E402
from services.ingest.parsers.openvas_csv import OpenvasCsv  # noqa: E402
from services.ingest.parsers.qualys_csv import QualysCsv  # noqa: E402
from services.ingest.parsers.sarif import SarifJson  # noqa: E402
from services.ingest.parsers.sslyze_json import SslyzeJson  # noqa: E402
from services.ingest.parsers.tenable_csv import TenableCsv  # noqa: E402
from services.ingest.parsers.testssl_csv import TestsslCsv  # noqa: E402
from services.ingest.parsers.trivy import TrivyJson  # noqa: E402
from services.ingest.parsers.zap_json import ZapJson  # noqa: E402

# Each sniff looks for keys (columns) no other format has, so the order among the
# specific formats only matters for speed; the strict generic formats come last.
_TEXT_PARSERS: tuple[type[Parser], ...] = (
    SarifJson,
    TrivyJson,
    GrypeJson,
    AnchoreEngineJson,
    ZapJson,
    SslyzeJson,
    NiktoJson,
    NucleiJson,
    NucleiJsonl,
    TenableCsv,
    OpenvasCsv,
    QualysCsv,
    TestsslCsv,
    GenericJson,
    GenericCsv,
)
# --- end JSON, JSONL and CSV formats ---

PARSERS: tuple[type[Parser], ...] = _XML_PARSERS + _TEXT_PARSERS


def detect_format(head: bytes) -> type[Parser]:
    """The parser for a file whose first `SNIFF_BYTES` are `head`, judged by content only."""
    for parser in PARSERS:
        if parser.sniff(head[:SNIFF_BYTES]):
            return parser
    if not head.strip():
        raise UnsupportedFormat("The file is empty.")
    raise UnsupportedFormat(
        "vigil does not recognise this file as the output of a supported scanner "
        f"(supported formats: {', '.join(p.format for p in PARSERS)})."
    )


def parser_for(format_name: str) -> type[Parser]:
    """The parser registered under `format_name` (an upload's ``format`` hint)."""
    for parser in PARSERS:
        if parser.format == format_name:
            return parser
    raise UnsupportedFormat(
        f"Unknown format {format_name!r}; choose one of: {', '.join(p.format for p in PARSERS)}."
    )
