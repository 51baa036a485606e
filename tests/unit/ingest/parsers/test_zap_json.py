import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import AssetKind, Severity
from services.ingest.parsers.zap_json import ZapJson

from .text_support import dumps, findings

ALERT = {
    "pluginid": "10098",
    "name": "Cross-Domain Misconfiguration",
    "riskcode": "2",
    "desc": "<p>Web browser data loading may be possible.</p>",
    "solution": "<p>Ensure that sensitive data is not available.</p>",
    "reference": "<p>https://a.example</p><p>https://b.example</p>",
    "cweid": "264",
    "instances": [
        {
            "uri": "https://www.ostorlab.co/x.css",
            "method": "GET",
            "param": "",
            "evidence": "Access-Control-Allow-Origin: *",
        }
    ],
}


def report(program=None, **site):
    doc = {
        "@version": "2.11.1",
        "site": [
            {
                "@name": "https://www.ostorlab.co",
                "@host": "www.google.com",
                "@port": "443",
                "@ssl": "true",
                "alerts": [ALERT],
                **site,
            }
        ],
    }
    if program:
        doc["@programName"] = program
    return doc


@pytest.mark.parametrize("program", [None, "ZAP", "OWASP ZAP"])
def test_one_finding_per_alert_on_the_named_site(program):
    data = dumps(report(program))
    assert registry.detect_format(data) is ZapJson
    (finding,) = findings(ZapJson, data)
    assert (finding.asset.kind, finding.asset.key) == (
        AssetKind.WEBSITE,
        "https://www.ostorlab.co:443",
    )
    assert finding.severity is Severity.MEDIUM
    assert finding.cwe == ("CWE-264",)
    assert finding.references == ("https://a.example", "https://b.example")
    assert finding.description == "Web browser data loading may be possible."
    assert finding.evidence == "GET https://www.ostorlab.co/x.css -> Access-Control-Allow-Origin: *"


def test_port_from_site_when_the_name_has_none():
    (finding,) = findings(
        ZapJson, dumps(report(**{"@name": "http://example.com", "@port": "8080", "@ssl": "false"}))
    )
    assert finding.asset.key == "http://example.com:8080"


def test_site_without_alerts_yields_nothing():
    assert findings(ZapJson, dumps(report(alerts=[]))) == []


def test_malformed_zap_is_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        findings(ZapJson, dumps(report())[:-3])
    with pytest.raises(ScanRejected, match="ZAP alert to be a JSON object"):
        findings(ZapJson, dumps(report(alerts=["x"])))
