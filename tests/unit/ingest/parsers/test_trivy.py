import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import AssetKind, Severity
from services.ingest.parsers.trivy import TrivyJson

from .text_support import dumps, findings

VULN = {
    "VulnerabilityID": "CVE-2021-3711",
    "PkgName": "libssl1.1",
    "InstalledVersion": "1.1.1k-r0",
    "FixedVersion": "1.1.1l-r0",
    "Severity": "CRITICAL",
    "Title": "openssl: SM2 overflow",
    "CweIDs": ["CWE-120"],
    "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8}},
}


def image_report(*results):
    return {
        "SchemaVersion": 2,
        "ArtifactName": "alpine:3.14",
        "ArtifactType": "container_image",
        "Results": list(results),
    }


def test_image_vulnerability_is_located_at_package_and_version():
    report = image_report(
        {"Target": "alpine:3.14 (alpine 3.14.0)", "Class": "os-pkgs", "Vulnerabilities": [VULN]}
    )
    (finding,) = findings(TrivyJson, dumps(report))
    assert (finding.asset.kind, finding.asset.key) == (AssetKind.IMAGE, "alpine:3.14")
    assert finding.location == "libssl1.1@1.1.1k-r0"
    assert finding.severity is Severity.CRITICAL
    assert finding.cve == ("CVE-2021-3711",)
    assert finding.cwe == ("CWE-120",)
    assert finding.cvss_score == 9.8
    assert finding.solution == "Upgrade libssl1.1 to 1.1.1l-r0."


def test_filesystem_scan_reports_misconfigurations_and_secrets_on_a_repository():
    report = {
        "SchemaVersion": 2,
        "ArtifactName": "github.com/acme/app",
        "ArtifactType": "repository",
        "Results": [
            {"Target": "requirements.txt", "Class": "lang-pkgs", "Vulnerabilities": [VULN]},
            {
                "Target": "Dockerfile",
                "Class": "config",
                "Misconfigurations": [
                    {
                        "ID": "DS002",
                        "Title": "Root user",
                        "Severity": "HIGH",
                        "Status": "FAIL",
                        "CauseMetadata": {"StartLine": 3},
                    },
                    {"ID": "DS001", "Title": "Latest tag", "Severity": "LOW", "Status": "PASS"},
                ],
            },
            {
                "Target": "secret.txt",
                "Class": "secret",
                "Secrets": [
                    {
                        "RuleID": "github-pat",
                        "Title": "GitHub PAT",
                        "Severity": "CRITICAL",
                        "StartLine": 1,
                        "Match": "GITHUB_PAT=****",
                    }
                ],
            },
            {"Target": "empty", "Class": "os-pkgs"},
        ],
    }
    found = findings(TrivyJson, dumps(report))
    assert {f.asset.kind for f in found} == {AssetKind.REPOSITORY}
    assert [f.location for f in found] == [
        "requirements.txt: libssl1.1@1.1.1k-r0",
        "Dockerfile:3",
        "secret.txt:1",
    ]
    assert [f.rule_id for f in found] == ["CVE-2021-3711", "DS002", "github-pat"]


def test_k8s_resources_put_image_vulnerabilities_on_images_and_misconfigs_on_workloads():
    report = {
        "ClusterName": "prod",
        "Resources": [
            {
                "Namespace": "default",
                "Kind": "Deployment",
                "Name": "redis",
                "Results": [
                    {
                        "Target": "docker.io/redis:6.0.5 (debian 10.4)",
                        "Class": "os-pkgs",
                        "Vulnerabilities": [VULN],
                    },
                    {
                        "Target": "Deployment/redis",
                        "Class": "config",
                        "Misconfigurations": [
                            {
                                "ID": "KSV020",
                                "Title": "Low uid",
                                "Severity": "LOW",
                                "Status": "FAIL",
                            }
                        ],
                    },
                ],
            },
            {"Namespace": "default", "Kind": "Deployment", "Name": "broken", "Error": "scan error"},
        ],
    }
    image, config = findings(TrivyJson, dumps(report))
    assert image.asset.key == "docker.io/redis:6.0.5"
    assert config.asset == config.asset.__class__(
        kind=AssetKind.REPOSITORY, key="k8s://prod/default/Deployment/redis"
    )


def test_legacy_array_and_null():
    legacy = [{"Target": "debian (debian 10.8)", "Type": "debian", "Vulnerabilities": [VULN]}]
    (finding,) = findings(TrivyJson, dumps(legacy))
    assert finding.asset.key == "debian:latest"
    assert findings(TrivyJson, b"null") == []
    assert registry.detect_format(b"null") is TrivyJson
    assert registry.detect_format(dumps(legacy)) is TrivyJson


def test_malformed_reports_are_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        findings(TrivyJson, dumps(image_report({"Target": "x", "Vulnerabilities": [VULN]}))[:-10])
    with pytest.raises(ScanRejected, match="Trivy result to be a JSON object"):
        findings(TrivyJson, dumps({"SchemaVersion": 2, "ArtifactName": "a", "Results": ["oops"]}))
    with pytest.raises(ScanRejected, match="empty"):
        findings(TrivyJson, b"")


@given(st.lists(st.sampled_from(["LOW", "MEDIUM", "HIGH", "CRITICAL", "UNKNOWN"]), max_size=10))
def test_one_finding_per_vulnerability_with_its_severity(severities):
    vulns = [
        dict(VULN, VulnerabilityID=f"CVE-2020-{1000 + i}", Severity=s)
        for i, s in enumerate(severities)
    ]
    found = findings(TrivyJson, dumps(image_report({"Target": "t", "Vulnerabilities": vulns})))
    expected = [Severity.INFO if s == "UNKNOWN" else Severity(s.lower()) for s in severities]
    assert [f.severity for f in found] == expected
