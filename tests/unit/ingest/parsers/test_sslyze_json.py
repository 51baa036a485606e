import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import FindingObserved, HostObserved
from services.ingest.parsers.sslyze_json import SslyzeJson

from .text_support import parse


def wrap(result):
    return {"status": "COMPLETED", "result": result}


NEW = """{"server_scan_results": [{
  "server_location": {"hostname": "example.com", "ip_address": "82.135.216.30", "port": 443},
  "connectivity_status": "COMPLETED", "scan_status": "COMPLETED",
  "scan_result": {
    "heartbleed": {"status": "COMPLETED", "result": {"is_vulnerable_to_heartbleed": true}},
    "tls_1_0_cipher_suites": {"status": "COMPLETED",
      "result": {"accepted_cipher_suites": [{"name": "x"}]}},
    "tls_1_2_cipher_suites": {"status": "COMPLETED",
      "result": {"accepted_cipher_suites": [{"name": "y"}]}},
    "certificate_info": {"status": "COMPLETED", "result": {"certificate_deployments": [{
      "leaf_certificate_subject_matches_hostname": true,
      "received_certificate_chain": [{"serial_number": 123456789012345678901234567890123456789}],
      "path_validation_results": [{"was_validation_successful": false}]}]}}
  }}], "sslyze_version": "5.0.1", "date_scans_started": "2022-01-17"}"""

OLD = """{"server_connectivity_errors": [], "server_scan_results": [{
  "server_info": {"server_location":
    {"hostname": "www.example.com", "ip_address": "194.168.0.1", "port": 8443}},
  "scan_commands": ["openssl_ccs_injection"],
  "scan_commands_results": {"openssl_ccs_injection": {"is_vulnerable_to_ccs_injection": true},
                            "tls_compression": {"supports_compression": false}}}]}"""

DOWN = """{"server_scan_results": [{
  "server_location": {"hostname": "10.0.0.7", "ip_address": "10.0.0.7", "port": 443},
  "connectivity_status": "ERROR", "scan_result": null}], "invalid_server_strings": []}"""


def test_sslyze_5_findings_with_huge_serial_numbers():
    assert registry.detect_format(NEW.encode()) is SslyzeJson
    items = parse(SslyzeJson, NEW)
    titles = [i.title for i in items if isinstance(i, FindingObserved)]
    assert titles == [
        "Vulnerable to Heartbleed",
        "Deprecated TLS 1.0 accepted",
        "Certificate not trusted",
    ]
    assert items[0].asset.key == "82.135.216.30"
    assert items[0].asset.hostnames == ("example.com",)
    heartbleed = next(i for i in items if isinstance(i, FindingObserved))
    assert heartbleed.cve == ("CVE-2014-0160",)
    assert heartbleed.port == 443


def test_sslyze_3_layout():
    assert registry.detect_format(OLD.encode()) is SslyzeJson
    (ccs,) = [i for i in parse(SslyzeJson, OLD) if isinstance(i, FindingObserved)]
    assert (ccs.title, ccs.port) == ("Vulnerable to OpenSSL CCS injection", 8443)


def test_unreachable_server_is_a_down_host():
    (host,) = parse(SslyzeJson, DOWN)
    assert isinstance(host, HostObserved)
    assert host.status == "down"


def test_malformed_sslyze_is_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        parse(SslyzeJson, NEW[:200])
    with pytest.raises(ScanRejected, match="SSLyze server result to be a JSON object"):
        parse(SslyzeJson, '{"server_scan_results": [3]}')
