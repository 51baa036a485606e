import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.grype import AnchoreEngineJson, GrypeJson
from services.ingest.parsers.model import AssetKind, Severity

from .text_support import dumps, findings


def match(cve, path):
    return {
        "vulnerability": {
            "id": cve,
            "severity": "High",
            "urls": ["https://nvd.nist.gov/vuln/detail/" + cve],
            "fix": {"versions": ["2.31-13"], "state": "fixed"},
            "cvss": [{"version": "3.1", "vector": "CVSS:3.1/AV:N", "metrics": {"baseScore": 7.5}}],
        },
        "relatedVulnerabilities": [],
        "artifact": {"name": "libc6", "version": "2.28-10", "locations": [{"path": path}]},
    }


def grype(*matches, source=None):
    return {
        "matches": list(matches),
        "source": source or {"type": "image", "target": {"userInput": "test-image:1.0"}},
    }


def test_source_stated_after_matches_names_the_image_and_paths_keep_findings_apart():
    report = grype(
        match("CVE-2021-33574", "/var/lib/dpkg/status"), match("CVE-2021-33574", "/usr/lib/other")
    )
    first, second = findings(GrypeJson, dumps(report))
    assert (first.asset.kind, first.asset.key) == (AssetKind.IMAGE, "test-image:1.0")
    assert first.location == "libc6@2.28-10 (/var/lib/dpkg/status)"
    assert second.location == "libc6@2.28-10 (/usr/lib/other)"
    assert first.severity is Severity.HIGH
    assert first.cvss_score == 7.5
    assert first.cve == ("CVE-2021-33574",)
    assert first.solution == "Upgrade libc6 to 2.31-13."


def test_directory_scan_is_a_repository():
    report = grype(
        match("GHSA-xxxx-yyyy-zzzz", "/pom.xml"), source={"type": "directory", "target": "/src/app"}
    )
    (finding,) = findings(GrypeJson, dumps(report))
    assert (finding.asset.kind, finding.asset.key) == (AssetKind.REPOSITORY, "/src/app")
    assert finding.cve == ()


def test_no_matches_yields_nothing_and_is_detected():
    assert findings(GrypeJson, dumps(grype())) == []
    assert registry.detect_format(dumps(grype(match("CVE-2020-1", "/x")))) is GrypeJson
    assert (
        registry.detect_format(
            dumps({"matches": [], "source": {}, "descriptor": {"name": "grype"}})
        )
        is GrypeJson
    )


def test_anchore_engine_report():
    report = {
        "imageFullTag": "registry.example/app:2.4.1",
        "vulnerability_type": "all",
        "vulnerabilities": [
            {
                "vuln": "CVE-2020-8927",
                "package": "brotli-1.0.6",
                "package_name": "brotli",
                "package_version": "1.0.6",
                "package_path": "pkgdb",
                "severity": "Medium",
                "fix": "None",
                "url": "https://x",
            }
        ],
    }
    assert registry.detect_format(dumps(report)) is AnchoreEngineJson
    (finding,) = findings(AnchoreEngineJson, dumps(report))
    assert finding.asset.key == "registry.example/app:2.4.1"
    assert finding.location == "brotli@1.0.6"
    assert finding.severity is Severity.MEDIUM
    assert finding.solution is None


def test_malformed_grype_is_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        findings(GrypeJson, dumps(grype(match("CVE-2020-1", "/x")))[:50])
    with pytest.raises(ScanRejected, match="Grype vulnerability to be a JSON object"):
        findings(GrypeJson, dumps({"matches": [{"vulnerability": [], "artifact": {}}]}))
