# ruff: noqa: E501  (inline scan documents read best unwrapped)
import base64

from services.ingest.parsers.burp import BurpParser
from services.ingest.parsers.model import AssetKind, FindingObserved, HostObserved, Severity

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

DOCTYPE = b"""<!DOCTYPE issues [
<!ELEMENT issues (issue*)>
<!ATTLIST issues burpVersion CDATA "">
<!ELEMENT issue (serialNumber, type, name, host, path, location, severity, confidence)>
]>"""


def issues(*body: bytes, version: bytes = b"1.0") -> bytes:
    return (
        b'<?xml version="'
        + version
        + b'"?>\n'
        + DOCTYPE
        + b'<issues burpVersion="2023">'
        + b"".join(body)
        + b"</issues>"
    )


def issue(request: bytes, *, b64: bool = True, severity: bytes = b"High") -> bytes:
    encoded = base64.b64encode(request) if b64 else b"<![CDATA[" + request + b"]]>"
    flag = b"true" if b64 else b"false"
    return (
        b"<issue><serialNumber>1</serialNumber><type>1049088</type><name>SQL injection</name>"
        b'<host ip="192.0.2.7">https://shop.example</host><path><![CDATA[/basket.jsp]]></path>'
        b"<location><![CDATA[/basket.jsp [b_id cookie]]]></location><severity>"
        + severity
        + b"</severity>"
        b"<confidence>Firm</confidence><issueBackground><![CDATA[<p>SQL <b>injection</b></p>]]></issueBackground>"
        b'<references><![CDATA[<ul><li><a href="https://portswigger.net/sqli">SQLi</a></li></ul>]]></references>'
        b'<vulnerabilityClassifications><![CDATA[<a href="https://cwe.mitre.org/data/definitions/89.html">CWE-89: SQLi</a>]]></vulnerabilityClassifications>'
        b'<requestresponse><request method="GET" base64="'
        + flag
        + b'">'
        + encoded
        + b"</request></requestresponse></issue>"
    )


def test_sniff_accepts_inline_doctype() -> None:
    assert BurpParser.sniff(issues())


def test_issue_becomes_website_finding() -> None:
    host, finding = parse_all(BurpParser, issues(issue(b"GET /basket.jsp HTTP/1.1\r\n")))
    assert isinstance(host, HostObserved)
    assert host.asset.kind == AssetKind.WEBSITE
    assert (host.asset.key, host.asset.address) == ("https://shop.example:443", "192.0.2.7")
    assert isinstance(finding, FindingObserved)
    assert finding.severity == Severity.HIGH
    assert finding.location == "/basket.jsp"
    assert finding.rule_id == "1049088"
    assert finding.description == "SQL injection"
    assert finding.references == ("https://portswigger.net/sqli",)
    assert finding.cwe == ("CWE-89",)
    assert finding.evidence == "Request: GET /basket.jsp HTTP/1.1"


def test_non_utf8_base64_request_is_decoded_leniently() -> None:
    _, finding = parse_all(BurpParser, issues(issue(b"GET /\xc3\x28\xff HTTP/1.1\r\n")))
    assert isinstance(finding, FindingObserved)
    assert finding.evidence is not None
    assert finding.evidence.startswith("Request: GET /")


def test_xml_11_with_raw_request() -> None:
    document = issues(issue(b"GET / HTTP/1.1", b64=False, severity=b"Information"), version=b"1.1")
    _, finding = parse_all(BurpParser, document)
    assert isinstance(finding, FindingObserved)
    assert finding.severity == Severity.INFO
    assert finding.evidence == "Request: GET / HTTP/1.1"


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(BurpParser, "issues")


def test_truncated_export_is_rejected() -> None:
    assert_rejects_truncated(BurpParser, issues(issue(b"GET / HTTP/1.1"), issue(b"GET / HTTP/1.1")))
