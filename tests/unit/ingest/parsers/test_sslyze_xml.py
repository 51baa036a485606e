# ruff: noqa: E501  (inline scan documents read best unwrapped)
from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved
from services.ingest.parsers.sslyze_xml import SslyzeXmlParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

DOC = b"""<?xml version="1.0" encoding="utf-8"?><document SSLyzeVersion="1.4.3" title="SSLyze Scan Results">
<results><target host="www.example" ip="192.0.2.40" port="443" tlsWrappedProtocol="https">
<heartbleed title="OpenSSL Heartbleed"><openSslHeartbleed isVulnerable="True"/></heartbleed>
<openssl_ccs><openSslCcsInjection isVulnerable="False"/></openssl_ccs>
<sslv3 isProtocolSupported="True"><acceptedCipherSuites><cipherSuite name="TLS_RSA_WITH_RC4_128_SHA"/></acceptedCipherSuites></sslv3>
<tlsv1_2 isProtocolSupported="True"/></target></results></document>"""


def test_sniff() -> None:
    assert SslyzeXmlParser.sniff(DOC)
    assert not SslyzeXmlParser.sniff(b"<document/>")


def test_target_host_service_and_flaws() -> None:
    host, service, heartbleed, sslv3 = parse_all(SslyzeXmlParser, DOC)
    assert isinstance(host, HostObserved)
    assert (host.asset.key, host.asset.hostnames) == ("192.0.2.40", ("www.example",))
    assert isinstance(service, ServiceObserved)
    assert (service.port, service.name) == (443, "https")
    assert isinstance(heartbleed, FindingObserved)
    assert isinstance(sslv3, FindingObserved)
    assert heartbleed.cve == ("CVE-2014-0160",)
    assert sslv3.evidence == "TLS_RSA_WITH_RC4_128_SHA"


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(SslyzeXmlParser, "document")


def test_truncated_is_rejected() -> None:
    assert_rejects_truncated(SslyzeXmlParser, DOC)
