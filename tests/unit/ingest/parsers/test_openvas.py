# ruff: noqa: E501  (inline scan documents read best unwrapped)
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved, Severity
from services.ingest.parsers.openvas import OpenVasParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

GVM = b"""<report id="1" format_id="a994b278"><report id="1"><results>
<result id="r1"><name>rexec</name><host>192.0.2.5<asset asset_id="x"/><hostname>box</hostname></host>
<port>512/tcp</port><nvt oid="1.3.6.1.4.1.25623.1.0.100111"><name>The rexec service is running</name>
<cvss_base>10.0</cvss_base><tags>summary=rexec runs|solution=Disable it</tags>
<refs><ref type="cve" id="CVE-1999-0618"/><ref type="url" id="https://ref.example"/></refs></nvt>
<threat>High</threat><severity>10.0</severity><description>rexec detected</description>
<detection><result id="d1"><details/></result></detection></result>
<result id="r2"><host>192.0.2.5<hostname>box</hostname></host><port>general/tcp</port>
<nvt oid="1.2"><name>OS detection</name><cvss_base>0.0</cvss_base></nvt><threat>Log</threat><severity>0.0</severity></result>
</results></report></report>"""

OPENVAS6 = b"""<report id="2" format_id="a994"><report id="2"><results><result id="a"><subnet>10.0.1.1</subnet>
<host>10.0.1.1</host><port>microsoft-ds (445/tcp)</port><nvt oid="1.3"><name>SMB</name><cvss_base>10.0</cvss_base>
<risk_factor>Critical</risk_factor><cve>CVE-2010-0020, CVE-2010-0021</cve><bid>NOBID</bid>
<xref>URL:http://a.example/, URL:http://b.example/</xref></nvt><threat>High</threat></result>
<result id="b"><host>10.0.1.1</host><port>general/tcp</port><nvt oid="1.4"><name>Ping</name><cve>NOCVE</cve>
</nvt><threat>Low</threat></result></results></report></report>"""


def test_sniff_requires_report_markers() -> None:
    assert OpenVasParser.sniff(GVM)
    assert not OpenVasParser.sniff(b"<report><title>x</title></report>")


def test_gvm_result_with_mixed_content_host() -> None:
    items = parse_all(OpenVasParser, GVM)
    host = items[0]
    assert isinstance(host, HostObserved)
    assert (host.asset.key, host.asset.hostnames) == ("192.0.2.5", ("box",))
    assert [(s.port, s.protocol) for s in items if isinstance(s, ServiceObserved)] == [(512, "tcp")]
    rexec, log = [i for i in items if isinstance(i, FindingObserved)]
    assert rexec.severity == Severity.CRITICAL
    assert rexec.cve == ("CVE-1999-0618",)
    assert rexec.references == ("https://ref.example",)
    assert rexec.solution == "Disable it"
    assert rexec.evidence == "rexec detected"
    assert (log.severity, log.port) == (Severity.INFO, None)


def test_openvas6_comma_separated_cves_and_placeholders() -> None:
    findings = [i for i in parse_all(OpenVasParser, OPENVAS6) if isinstance(i, FindingObserved)]
    assert findings[0].cve == ("CVE-2010-0020", "CVE-2010-0021")
    assert findings[0].references == ("http://a.example/", "http://b.example/")
    assert (findings[0].port, findings[0].protocol) == (445, "tcp")
    assert findings[1].cve == ()
    assert findings[1].severity == Severity.LOW


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(OpenVasParser, "report")


def test_truncated_report_is_rejected() -> None:
    assert_rejects_truncated(OpenVasParser, GVM)
