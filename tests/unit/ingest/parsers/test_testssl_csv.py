import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved, Severity
from services.ingest.parsers.testssl_csv import TestsslCsv

from .text_support import parse

HEADER = '"id","fqdn/ip","port","severity","finding","cve","cwe"\n'


def test_weaknesses_become_findings_and_measurements_do_not():
    data = HEADER + (
        '"engine_problem","/","443","WARN","No engine","",""\n'
        '"service","www.example.org/185.199.109.153","443","INFO","HTTP","",""\n'
        '"DROWN","www.example.org/185.199.109.153","443","HIGH","vulnerable to DROWN","CV'
        'E-2016-0800 CVE-2016-0703","CWE-310"\n'
        '"TLS1","www.example.org/185.199.109.153","443","OK","not offered","",""\n'
    )
    assert registry.detect_format(data.encode()) is TestsslCsv
    host, service, drown = parse(TestsslCsv, data)
    assert isinstance(host, HostObserved)
    assert (host.asset.key, host.asset.hostnames) == ("185.199.109.153", ("www.example.org",))
    assert isinstance(service, ServiceObserved)
    assert isinstance(drown, FindingObserved)
    assert drown.severity is Severity.HIGH
    assert drown.cve == ("CVE-2016-0800", "CVE-2016-0703")
    assert drown.cwe == ("CWE-310",)
    assert drown.rule_id == "DROWN"


def test_failed_target_is_a_down_host_and_header_only_is_empty():
    data = HEADER + '"scanProblem","t.example/1.2.3.4","443","FATAL","Can\'t connect","",""\n'
    (host,) = parse(TestsslCsv, data)
    assert isinstance(host, HostObserved)
    assert host.status == "down"
    assert parse(TestsslCsv, HEADER.rstrip("\n")) == []


def test_truncated_quoted_cell_is_rejected():
    with pytest.raises(ScanRejected, match="malformed"):
        parse(TestsslCsv, HEADER + '"DROWN","h/1.2.3.4","443","HIGH","vulnerable to')
