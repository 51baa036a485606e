# ruff: noqa: E501  (inline scan documents read best unwrapped)
from services.ingest.parsers.model import AssetKind, FindingObserved, HostObserved, Severity
from services.ingest.parsers.nikto_xml import NiktoXmlParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

ITEM = b"""<item id="999976" osvdbid="0" osvdblink="http://osvdb.org/0" method="GET">
<description><![CDATA[The anti-clickjacking X-Frame-Options header is not present. See CVE-2011-3192.]]></description>
<uri><![CDATA[/admin/]]></uri><namelink><![CDATA[http://localhost:8070/admin/]]></namelink></item>"""
DETAILS = (
    b'<scandetails targetip="127.0.0.1" targethostname="localhost" targetport="8070" '
    b'sitename="http://localhost:8070" siteip="http://127.0.0.1:8070">' + ITEM + b"</scandetails>"
)
OLD = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE niktoscan SYSTEM "docs/nikto.dtd">\n<niktoscan>'
    + DETAILS
    + b"</niktoscan>"
)
NESTED = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE niktoscan SYSTEM "docs/nikto.dtd">\n<niktoscan>'
    b'<niktoscan version="2.1.6">' + DETAILS + b"</niktoscan>"
    b'<niktoscan version="2.1.6"><scandetails targetip="192.0.2.3" targethostname="s" targetport="443" '
    b'sitename="https://s:443/">' + ITEM + b"</scandetails></niktoscan></niktoscan>"
)


def test_sniff_with_external_doctype() -> None:
    assert NiktoXmlParser.sniff(OLD)


def test_old_layout() -> None:
    host, finding = parse_all(NiktoXmlParser, OLD)
    assert isinstance(host, HostObserved)
    assert (host.asset.kind, host.asset.key, host.asset.address) == (
        AssetKind.WEBSITE,
        "http://localhost:8070",
        "127.0.0.1",
    )
    assert isinstance(finding, FindingObserved)
    assert (finding.location, finding.rule_id, finding.severity) == (
        "/admin/",
        "999976",
        Severity.INFO,
    )
    assert finding.cve == ("CVE-2011-3192",)
    assert finding.references == ()


def test_nested_niktoscan_layout() -> None:
    items = parse_all(NiktoXmlParser, NESTED)
    assert [i.asset.key for i in items if isinstance(i, HostObserved)] == [
        "http://localhost:8070",
        "https://s:443",
    ]
    assert sum(isinstance(i, FindingObserved) for i in items) == 2


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(NiktoXmlParser, "niktoscan")


def test_truncated_is_rejected() -> None:
    assert_rejects_truncated(NiktoXmlParser, NESTED)
