# ruff: noqa: E501  (inline scan documents read best unwrapped)
from services.ingest.parsers.model import (
    AssetKind,
    FindingObserved,
    HostObserved,
    ServiceObserved,
    Severity,
)
from services.ingest.parsers.nessus import NessusParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

V2 = b"""<?xml version="1.0" ?>
<NessusClientData_v2><Policy><policyName>p</policyName></Policy><Report name="r">
<ReportHost name="web01"><HostProperties>
<tag name="host-ip">192.0.2.10</tag><tag name="host-fqdn">web01.example</tag>
<tag name="operating-system">Linux</tag></HostProperties>
<ReportItem port="0" svc_name="general" protocol="tcp" severity="0" pluginID="19506" pluginName="Nessus Scan Information">
<plugin_output>scan info</plugin_output></ReportItem>
<ReportItem port="443" svc_name="www" protocol="tcp" severity="3" pluginID="42873" pluginName="SSL Medium Strength Cipher Suites">
<cvss3_base_score>7.5</cvss3_base_score><cvss3_vector>CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N</cvss3_vector>
<cvss_base_score>5.0</cvss_base_score><cvss_vector>CVSS2#AV:N/AC:L/Au:N/C:P/I:N/A:N</cvss_vector>
<cve>CVE-2016-2183</cve><cwe>326</cwe><see_also>https://a.example/1
https://b.example/2</see_also><description>Weak ciphers.</description><solution>Reconfigure.</solution>
<plugin_output>DES-CBC3-SHA</plugin_output></ReportItem>
</ReportHost>
<ReportHost name="192.0.2.11"><HostProperties><tag name="host-ip">192.0.2.11</tag></HostProperties></ReportHost>
</Report></NessusClientData_v2>"""

V1 = b"""<?xml version="1.0" ?><NessusClientData><Report><ReportHost>
<HostName>192.0.2.20</HostName><dns_name>old.example</dns_name><mac_addr>00:11:22:33:44:55</mac_addr>
<ReportItem><port>ssh (22/tcp)</port><severity>3</severity><pluginID>10882</pluginID>
<pluginName>SSH Protocol Version 1</pluginName>
<data>Synopsis :\\n\\nOld SSH.\\n\\nRisk factor :\\n\\nMedium / CVSS Base Score : 5.0\\n\\nCVE : CVE-2001-0361\\n\\nPlugin output :\\nproto 1</data>
</ReportItem></ReportHost></Report></NessusClientData>"""


def test_sniff_recognises_both_generations() -> None:
    assert NessusParser.sniff(V2)
    assert NessusParser.sniff(V1)
    assert not NessusParser.sniff(b"<nmaprun/>")


def test_v2_hosts_services_and_findings() -> None:
    items = parse_all(NessusParser, V2)
    hosts = [i for i in items if isinstance(i, HostObserved)]
    assert [h.asset.key for h in hosts] == ["192.0.2.10", "192.0.2.11"]
    assert hosts[0].asset.hostnames == ("web01.example",)
    assert hosts[0].asset.os == "Linux"
    services = [i for i in items if isinstance(i, ServiceObserved)]
    assert [(s.port, s.name) for s in services] == [(443, "www")]
    info, cipher = [i for i in items if isinstance(i, FindingObserved)]
    assert (info.severity, info.rule_id, info.port, info.evidence) == (
        Severity.INFO,
        "19506",
        None,
        "scan info",
    )
    assert cipher.severity == Severity.HIGH
    assert cipher.rule_id == "42873"
    assert cipher.cvss_score == 7.5
    assert cipher.cvss_vector is not None
    assert cipher.cvss_vector.startswith("CVSS:3.0/")
    assert cipher.cve == ("CVE-2016-2183",)
    assert cipher.cwe == ("CWE-326",)
    assert cipher.references == ("https://a.example/1", "https://b.example/2")
    assert cipher.evidence == "DES-CBC3-SHA"


def test_cvss2_is_used_when_no_cvss3() -> None:
    document = V2.replace(b"<cvss3_base_score>7.5</cvss3_base_score>", b"").replace(
        b"<cvss3_vector>CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N</cvss3_vector>", b""
    )
    cipher = [i for i in parse_all(NessusParser, document) if isinstance(i, FindingObserved)][1]
    assert (cipher.cvss_score, cipher.cvss_vector) == (5.0, "CVSS2#AV:N/AC:L/Au:N/C:P/I:N/A:N")


def test_v1_legacy_format() -> None:
    host, finding = parse_all(NessusParser, V1)
    assert isinstance(host, HostObserved)
    assert host.asset.key == "192.0.2.20"
    assert host.asset.mac == "00:11:22:33:44:55"
    assert isinstance(finding, FindingObserved)
    assert (finding.port, finding.protocol, finding.rule_id) == (22, "tcp", "10882")
    assert finding.severity == Severity.MEDIUM
    assert finding.cve == ("CVE-2001-0361",)
    assert finding.evidence == "proto 1"


def test_web_application_host_is_a_website() -> None:
    document = b'<NessusClientData_v2><Report><ReportHost name="https://app.example/"></ReportHost></Report></NessusClientData_v2>'
    [host] = parse_all(NessusParser, document)
    assert isinstance(host, HostObserved)
    assert (host.asset.kind, host.asset.key) == (AssetKind.WEBSITE, "https://app.example:443")


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(NessusParser, "NessusClientData_v2")


def test_truncated_file_is_rejected() -> None:
    assert_rejects_truncated(NessusParser, V2)
