import pytest

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import AssetKind, FindingObserved, HostObserved, ServiceObserved
from services.ingest.parsers.nikto_json import NiktoJson

from .text_support import dumps, parse

HOST = {
    "host": "juice-shop.example",
    "ip": "52.51.36.193",
    "port": "443",
    "banner": "Cowboy",
    "vulnerabilities": [
        {
            "id": "999986",
            "OSVDB": "0",
            "method": "GET",
            "url": "/",
            "msg": "Retrieved via header: 1.1 vegur",
        },
        {
            "id": "000123",
            "OSVDB": "877",
            "method": "TRACE",
            "url": "/admin/",
            "msg": "TRACE enabled (CVE-2004-2320)",
        },
    ],
}


@pytest.mark.parametrize("document", [HOST, [HOST]])
def test_object_or_array_of_hosts(document):
    data = dumps(document)
    assert registry.detect_format(data) is NiktoJson
    host, service, first, second = parse(NiktoJson, data)
    assert isinstance(host, HostObserved)
    assert (host.asset.kind, host.asset.key) == (
        AssetKind.WEBSITE,
        "https://juice-shop.example:443",
    )
    assert isinstance(service, ServiceObserved)
    assert service.product == "Cowboy"
    assert isinstance(first, FindingObserved)
    assert isinstance(second, FindingObserved)
    assert (first.location, second.location) == ("/", "/admin/")
    assert second.cve == ("CVE-2004-2320",)
    assert second.references == ("OSVDB-877",)


def test_plain_http_port_and_unresolvable_host():
    assert (
        parse(NiktoJson, dumps(dict(HOST, port="8080")))[0].asset.key
        == "http://juice-shop.example:8080"
    )
    unresolvable = {
        "host": "",
        "ip": "",
        "port": "80",
        "vulnerabilities": [{"id": "0", "url": "/", "msg": "ERROR: Cannot resolve hostname"}],
    }
    assert parse(NiktoJson, dumps([unresolvable])) == []


def test_malformed_nikto_is_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        parse(NiktoJson, dumps(HOST)[:-2])
    with pytest.raises(ScanRejected, match="Nikto host 1 to be a JSON object"):
        parse(NiktoJson, b'["x"]')
