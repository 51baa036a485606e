# ruff: noqa: E501  (inline scan documents read best unwrapped)
from services.ingest.parsers.model import AssetKind, FindingObserved, HostObserved, Severity
from services.ingest.parsers.qualys_xml import QualysXmlParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

ASSET_DATA = b"""<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE ASSET_DATA_REPORT SYSTEM "https://qualysguard.example/asset_data_report.dtd">
<ASSET_DATA_REPORT><HOST_LIST><HOST><IP>192.0.2.30</IP><DNS><![CDATA[db.example]]></DNS>
<OPERATING_SYSTEM><![CDATA[Linux]]></OPERATING_SYSTEM><VULN_INFO_LIST>
<VULN_INFO><QID id="qid_38173">38173</QID><TYPE>Vuln</TYPE><PORT>443</PORT><PROTOCOL>TCP</PROTOCOL>
<RESULT><![CDATA[cert expired]]></RESULT></VULN_INFO>
<VULN_INFO><QID id="qid_6">6</QID><TYPE>Ig</TYPE></VULN_INFO>
</VULN_INFO_LIST></HOST></HOST_LIST><GLOSSARY><VULN_DETAILS_LIST>
<VULN_DETAILS id="qid_38173"><QID id="qid_38173">38173</QID><TITLE><![CDATA[SSL Certificate Expired]]></TITLE>
<SEVERITY>4</SEVERITY><THREAT><![CDATA[Expired <b>cert</b>]]></THREAT><SOLUTION>Renew</SOLUTION>
<CVE_ID_LIST><CVE_ID><ID><![CDATA[CVE-2020-0001]]></ID></CVE_ID></CVE_ID_LIST></VULN_DETAILS>
<VULN_DETAILS id="qid_6"><QID id="qid_6">6</QID><TITLE>DNS Host Name</TITLE><SEVERITY>1</SEVERITY></VULN_DETAILS>
</VULN_DETAILS_LIST></GLOSSARY></ASSET_DATA_REPORT>"""

SCAN = b"""<?xml version="1.0" encoding="UTF-8" ?><!DOCTYPE SCAN SYSTEM "https://qualysguard.example/scan-1.dtd">
<SCAN value="scan/1"><IP value="10.1.10.1" name="host1.example"><OS>Ubuntu</OS>
<VULNS><CAT value="TCP/IP" port="80" protocol="tcp"><VULN number="82024" severity="2" cveid="CVE-2002-0510">
<TITLE>UDP IP ID</TITLE><DIAGNOSIS>diag</DIAGNOSIS></VULN></CAT></VULNS>
<INFOS><CAT value="x"><INFO number="6" severity="1"><TITLE>DNS</TITLE></INFO></CAT></INFOS></IP></SCAN>"""

WAS = b"""<?xml version='1.0' encoding='UTF-8'?><WAS_SCAN_REPORT><SUMMARY><GLOBAL_SUMMARY>
<VULNERABILITY>1</VULNERABILITY></GLOBAL_SUMMARY></SUMMARY><RESULTS><VULNERABILITY_LIST><VULNERABILITY>
<QID>150004</QID><URL>https://store.example/js/a.json</URL></VULNERABILITY></VULNERABILITY_LIST></RESULTS>
<GLOSSARY><QID_LIST><QID><QID>150004</QID><SEVERITY>2</SEVERITY><TITLE>Path-Based Vulnerability</TITLE>
<CWE>CWE-22</CWE></QID></QID_LIST></GLOSSARY></WAS_SCAN_REPORT>"""


def test_sniff_all_layouts() -> None:
    assert all(QualysXmlParser.sniff(d) for d in (ASSET_DATA, SCAN, WAS))
    assert not QualysXmlParser.sniff(b"<SCAN><x/></SCAN>")


def test_asset_data_report_joins_glossary() -> None:
    host, expired, dns = parse_all(QualysXmlParser, ASSET_DATA)
    assert isinstance(host, HostObserved)
    assert (host.asset.key, host.asset.hostnames, host.asset.os) == (
        "192.0.2.30",
        ("db.example",),
        "Linux",
    )
    assert isinstance(expired, FindingObserved)
    assert isinstance(dns, FindingObserved)
    assert (expired.title, expired.severity, expired.rule_id) == (
        "SSL Certificate Expired",
        Severity.HIGH,
        "38173",
    )
    assert (expired.port, expired.protocol, expired.cve) == (443, "tcp", ("CVE-2020-0001",))
    assert expired.description == "Expired cert"
    assert (dns.title, dns.severity) == ("DNS Host Name", Severity.INFO)


def test_scan_report_vulns_and_infos() -> None:
    host, vuln, info = parse_all(QualysXmlParser, SCAN)
    assert isinstance(host, HostObserved)
    assert host.asset.key == "10.1.10.1"
    assert isinstance(vuln, FindingObserved)
    assert isinstance(info, FindingObserved)
    assert (vuln.severity, vuln.cve) == (Severity.LOW, ("CVE-2002-0510",))
    assert info.severity == Severity.INFO


def test_was_report_website_findings() -> None:
    host, finding = parse_all(QualysXmlParser, WAS)
    assert isinstance(host, HostObserved)
    assert (host.asset.kind, host.asset.key) == (AssetKind.WEBSITE, "https://store.example:443")
    assert isinstance(finding, FindingObserved)
    assert (finding.location, finding.cwe, finding.severity) == (
        "/js/a.json",
        ("CWE-22",),
        Severity.LOW,
    )


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(QualysXmlParser, "ASSET_DATA_REPORT")


def test_truncated_is_rejected() -> None:
    assert_rejects_truncated(QualysXmlParser, ASSET_DATA)
