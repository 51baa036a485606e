import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import AssetKind, Severity
from services.ingest.parsers.nuclei import NucleiJson, NucleiJsonl

from .text_support import dumps, findings, jsonl

V3_HTTP = {
    "template-id": "http-missing-security-headers",
    "info": {"name": "HTTP Missing Security Headers", "severity": "info", "reference": None},
    "matcher-name": "x-frame-options",
    "type": "http",
    "host": "https://example.com",
    "matched-at": "https://Example.com/login?next=1",
    "ip": "93.184.216.34",
}
V2_NETWORK = {
    "templateID": "CVE-2018-15473",
    "info": {
        "name": "OpenSSH Username Enumeration",
        "severity": "medium",
        "reference": "- https://nvd.nist.gov/vuln/detail/CVE-2018-15473\n- https://example.org\n",
        "classification": {
            "cve-id": ["cve-2018-15473"],
            "cwe-id": ["cwe-362"],
            "cvss-metrics": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
            "cvss-score": 5.3,
        },
    },
    "type": "network",
    "host": "https://nuclei-example.com",
    "matched": "nuclei-example.com:22",
    "ip": "178.21.15.56",
}


def test_v3_http_result_is_a_website_finding_with_path_and_matcher():
    (finding,) = findings(NucleiJsonl, jsonl(V3_HTTP))
    assert finding.asset.kind is AssetKind.WEBSITE
    assert finding.asset.key == "https://example.com:443"
    assert finding.asset.address == "93.184.216.34"
    assert finding.location == "/login?next=1 [x-frame-options]"
    assert finding.rule_id == "http-missing-security-headers"
    assert finding.severity is Severity.INFO
    assert finding.port == 443


def test_v2_network_result_is_a_host_finding_on_the_matched_port():
    (finding,) = findings(NucleiJsonl, jsonl(V2_NETWORK))
    assert finding.asset.kind is AssetKind.HOST
    assert finding.asset.key == "178.21.15.56"
    assert finding.asset.hostnames == ("nuclei-example.com",)
    assert (finding.port, finding.protocol) == (22, "tcp")
    assert finding.severity is Severity.MEDIUM
    assert finding.cve == ("CVE-2018-15473",)
    assert finding.cwe == ("CWE-362",)
    assert finding.cvss_score == 5.3
    assert finding.references == (
        "https://nvd.nist.gov/vuln/detail/CVE-2018-15473",
        "https://example.org",
    )


def test_v3_result_with_only_url_field_uses_it():
    record = {
        "template-id": "cookies",
        "info": {"name": "c", "severity": "low"},
        "type": "javascript",
        "port": "80",
        "url": "/http://dvwa_dvwa_1/",
    }
    (finding,) = findings(NucleiJsonl, jsonl(record))
    assert finding.asset.key == "http://dvwa_dvwa_1:80"


def test_result_without_any_target_is_skipped():
    record = {
        "template-id": "nameserver-fingerprint",
        "info": {"name": "ns", "severity": "info"},
        "type": "dns",
    }
    assert (
        findings(NucleiJsonl, jsonl(record, V3_HTTP))[0].rule_id == "http-missing-security-headers"
    )
    assert len(findings(NucleiJsonl, jsonl(record, V3_HTTP))) == 1


def test_detection_tells_array_from_lines():
    assert registry.detect_format(jsonl(V3_HTTP, V2_NETWORK)) is NucleiJsonl
    assert registry.detect_format(json.dumps([V3_HTTP], indent=2).encode()) is NucleiJson


def test_empty_file_is_refused_by_detection_but_valid_with_the_hint():
    with pytest.raises(ScanRejected, match="empty"):
        registry.detect_format(b"")
    assert findings(registry.parser_for("nuclei-jsonl"), b"") == []
    assert findings(registry.parser_for("nuclei-json"), b"") == []


def test_truncated_and_wrong_type_input_is_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        findings(NucleiJsonl, jsonl(V3_HTTP)[:-20])
    with pytest.raises(ScanRejected, match="nuclei result 1 to be a JSON object"):
        findings(NucleiJson, b"[1, 2]")


records = st.builds(
    lambda template, severity, path, port: {
        "template-id": template,
        "info": {"name": template.upper(), "severity": severity},
        "type": "http",
        "matched-at": f"http://10.0.0.1:{port}/{path}",
    },
    st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True),
    st.sampled_from(["info", "low", "medium", "high", "critical", "unknown"]),
    st.from_regex(r"[a-z0-9/]{0,12}", fullmatch=True),
    st.integers(1, 65535),
)


@given(st.lists(records, max_size=6))
def test_json_lines_and_json_array_yield_the_same_findings(results):
    as_lines = findings(NucleiJsonl, jsonl(*results)) if results else []
    as_array = findings(NucleiJson, dumps(results))
    assert as_lines == as_array
    assert len(as_array) == len(results)
