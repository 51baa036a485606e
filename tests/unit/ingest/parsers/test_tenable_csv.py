import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved, HostObserved, Severity
from services.ingest.parsers.tenable_csv import TenableCsv

from .text_support import findings, parse

NESSUS = (
    "Plugin ID,CVE,CVSS,Risk,Host,Protocol,Port,Name,Synopsis,Description,Solution,Se"
    "e Also,Plugin Output,,FQDN,\n"
    '"10107","","","None","52.208.101.182","tcp","80","HTTP Server Type","A web serve'
    'r.","This plugin\n  determines the server.","n/a","","The remote web server type'
    ' is :\n\nnginx","x","web.example",""\n'
    '"35291","CVE-2004-2761","5.0","Medium","52.208.101.182","tcp","443","Weak Hash",'
    '"s","d","Reissue","https://a.example https://b.example","out","","",""\n'
)


def test_nessus_export_with_multiline_cells_and_empty_header_names():
    assert registry.detect_format(NESSUS.encode()) is TenableCsv
    host, banner, weak = parse(TenableCsv, NESSUS)
    assert isinstance(host, HostObserved)
    assert host.asset.key == "52.208.101.182"
    assert host.asset.hostnames == ("web.example",)
    assert isinstance(banner, FindingObserved)
    assert isinstance(weak, FindingObserved)
    assert banner.severity is Severity.INFO
    assert banner.description == "This plugin\n  determines the server."
    assert (weak.rule_id, weak.port, weak.protocol) == ("35291", 443, "tcp")
    assert weak.cve == ("CVE-2004-2761",)
    assert weak.references == ("https://a.example", "https://b.example")
    assert weak.cvss_score == 5.0


def test_tenable_io_semicolon_export():
    data = (
        "asset.display_ipv4_address;asset.id;asset.host_name;definition.id;definition.nam"
        "e;definition.cve;definition.cwe;severity;port;protocol\n"
        "10.0.0.1;abc;blah1;33851;Network daemons;CVE-2020-1;CWE-79;Low;0;TCP\n"
    )
    assert registry.detect_format(data.encode()) is TenableCsv
    (finding,) = findings(TenableCsv, data)
    assert finding.asset.key == "10.0.0.1"
    assert finding.severity is Severity.LOW
    assert (finding.port, finding.protocol) == (None, None)
    assert finding.cwe == ("CWE-79",)


def test_tenable_sc_numeric_and_word_severities():
    data = (
        '"Plugin","Plugin Name","Severity","IP Address","DNS Name","Port","Protocol"\n"1"'
        ',"A","Critical","10.0.0.2","h.example","22","TCP"\n"2","B","4","10.0.0.2","","0"'
        ',"TCP"\n'
    )
    found = findings(TenableCsv, data)
    assert [f.severity for f in found] == [Severity.CRITICAL, Severity.CRITICAL]


def test_header_only_file_without_final_newline_yields_nothing():
    assert parse(TenableCsv, "Plugin ID,CVE,CVSS,Risk,Host,Protocol,Port,Name") == []


def test_wrong_csv_and_empty_file_are_rejected():
    with pytest.raises(ScanRejected, match="lacks the expected columns"):
        parse(TenableCsv, "a,b\n1,2\n")
    with pytest.raises(ScanRejected, match=r"The file is empty\."):
        parse(TenableCsv, "")


@given(
    st.lists(
        st.sampled_from(["None", "Low", "Medium", "High", "Critical", "0", "1", "2", "3", "4"]),
        max_size=10,
    )
)
def test_one_finding_per_row_whatever_the_severity_spelling(risks):
    lines = ["Plugin ID,Host,Name,Risk"] + [
        f"{i},10.0.0.{i % 3},n{i},{r}" for i, r in enumerate(risks)
    ]
    found = findings(TenableCsv, "\n".join(lines))
    order = ["None", "Low", "Medium", "High", "Critical"]
    expected = [list(Severity)[int(r) if r.isdigit() else order.index(r)] for r in risks]
    assert [f.severity for f in found] == expected
