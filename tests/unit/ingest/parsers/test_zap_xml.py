# ruff: noqa: E501  (inline scan documents read best unwrapped)
from services.ingest.parsers.model import AssetKind, FindingObserved, HostObserved, Severity
from services.ingest.parsers.zap_xml import ZapXmlParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

V243 = b"""<?xml version="1.0"?><OWASPZAPReport version="2.4.3" generated="Fri, 29 Jan 2016 12:19:00">
<site name="http://localhost:8080" host="localhost" port="8080" ssl="false"><alerts>
<alertitem><pluginid>10016</pluginid><alert>XSS Protection Not Enabled</alert><riskcode>1</riskcode>
<desc>&lt;p&gt;Not enabled&lt;/p&gt;</desc><uri>http://localhost:8080/bodgeit/a?x=1</uri>
<reference>&lt;p&gt;https://owasp.example/xss&lt;/p&gt;</reference><cweid>933</cweid></alertitem>
<alertitem><pluginid>10016</pluginid><alert>XSS Protection Not Enabled</alert><riskcode>1</riskcode>
<uri>http://localhost:8080/bodgeit/b</uri><cweid>-1</cweid></alertitem>
</alerts></site></OWASPZAPReport>"""

V210 = b"""<?xml version="1.0"?><OWASPZAPReport version="2.11.1" generated="Fr., 30 Sep. 2022 08:40:35">
<site name="https://10.0.0.5" host="10.0.0.5" port="443" ssl="true"><alerts><alertitem>
<pluginid>40012</pluginid><alert>Cross Site Scripting (Reflected)</alert><riskcode>3</riskcode>
<instances><instance><uri>https://10.0.0.5/search?q=1</uri><method>GET</method><param>q</param>
<evidence>&lt;script&gt;</evidence></instance><instance><uri>https://10.0.0.5/other</uri><method>POST</method></instance></instances>
<cweid>79</cweid></alertitem></alerts></site>
<site name="https://empty.example" host="empty.example" port="443" ssl="true"><alerts/></site></OWASPZAPReport>"""


def test_sniff() -> None:
    assert ZapXmlParser.sniff(V243)


def test_243_one_finding_per_url() -> None:
    host, first, second = parse_all(ZapXmlParser, V243)
    assert isinstance(host, HostObserved)
    assert (host.asset.kind, host.asset.key) == (AssetKind.WEBSITE, "http://localhost:8080")
    assert isinstance(first, FindingObserved)
    assert isinstance(second, FindingObserved)
    assert (first.location, second.location) == ("/bodgeit/a?x=1", "/bodgeit/b")
    assert first.severity == Severity.LOW
    assert first.description == "Not enabled"
    assert first.references == ("https://owasp.example/xss",)
    assert (first.cwe, second.cwe) == (("CWE-933",), ())


def test_210_instances_and_empty_site() -> None:
    items = parse_all(ZapXmlParser, V210)
    hosts = [i.asset.key for i in items if isinstance(i, HostObserved)]
    assert hosts == ["https://10.0.0.5:443", "https://empty.example:443"]
    [finding] = [i for i in items if isinstance(i, FindingObserved)]
    assert finding.asset.address == "10.0.0.5"
    assert finding.severity == Severity.HIGH
    assert finding.location == "/search?q=1"
    assert finding.evidence is not None
    assert "POST https://10.0.0.5/other" in finding.evidence


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(ZapXmlParser, "OWASPZAPReport")


def test_truncated_report_is_rejected() -> None:
    assert_rejects_truncated(ZapXmlParser, V243)
