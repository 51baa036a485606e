# ruff: noqa: E501  (inline scan documents read best unwrapped)
import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.parsers.model import FindingObserved, HostObserved, ServiceObserved, Severity
from services.ingest.parsers.nmap import NmapParser

from .hostile import assert_refuses_hostile, assert_rejects_truncated, parse_all

HOST_UP = """<host><status state="up"/><address addr="{ip}" addrtype="ipv4"/>
<hostnames><hostname name="{name}" type="PTR"/></hostnames><ports>{ports}</ports></host>"""
PORT = """<port protocol="{proto}" portid="{port}"><state state="{state}"/>
<service name="ssh" product="OpenSSH" version="7.4"/>{script}</port>"""
VULNERS = """<script id="vulners" output="CVE-2018-15919 5.0"><table key="cpe:/a:openbsd:openssh:7.4">
<table><elem key="cvss">5.0</elem><elem key="id">CVE-2018-15919</elem><elem key="type">cve</elem></table>
<table><elem key="cvss">9.8</elem><elem key="id">CVE-2023-38408</elem><elem key="type">cve</elem></table>
</table></script>"""


def nmaprun(*hosts: str) -> bytes:
    body = "".join(hosts)
    return (
        f'<?xml version="1.0"?><!DOCTYPE nmaprun><nmaprun scanner="nmap">{body}</nmaprun>'.encode()
    )


def test_sniff_recognises_nmaprun() -> None:
    assert NmapParser.sniff(nmaprun())
    assert not NmapParser.sniff(b"<issues/>")


def test_open_ports_become_services_and_vulners_entries_findings() -> None:
    ports = PORT.format(proto="tcp", port=22, state="open", script=VULNERS) + PORT.format(
        proto="tcp", port=23, state="filtered", script=""
    )
    items = parse_all(NmapParser, nmaprun(HOST_UP.format(ip="192.0.2.1", name="gw", ports=ports)))
    host, service, *findings = items
    assert isinstance(host, HostObserved)
    assert host.asset.key == "192.0.2.1"
    assert host.asset.hostnames == ("gw",)
    assert isinstance(service, ServiceObserved)
    assert (service.port, service.protocol, service.product) == (22, "tcp", "OpenSSH")
    assert all(isinstance(f, FindingObserved) for f in findings)
    assert [(f.cve, f.severity, f.port) for f in findings if isinstance(f, FindingObserved)] == [
        (("CVE-2018-15919",), Severity.MEDIUM, 22),
        (("CVE-2023-38408",), Severity.CRITICAL, 22),
    ]


def test_hosts_down_are_skipped() -> None:
    down = '<host><status state="down"/><address addr="192.0.2.9" addrtype="ipv4"/></host>'
    assert parse_all(NmapParser, nmaprun(down)) == []


def test_host_without_address_is_keyed_by_hostname() -> None:
    host = '<host><status state="up"/><hostnames><hostname name="only.example"/></hostnames></host>'
    [item] = parse_all(NmapParser, nmaprun(host))
    assert isinstance(item, HostObserved)
    assert item.asset.key == "only.example"
    assert item.asset.address is None


def test_hostile_documents_are_refused() -> None:
    assert_refuses_hostile(NmapParser, "nmaprun")


def test_truncated_scan_is_rejected() -> None:
    ports = PORT.format(proto="tcp", port=80, state="open", script="")
    assert_rejects_truncated(
        NmapParser, nmaprun(*[HOST_UP.format(ip="192.0.2.1", name="a", ports=ports)] * 5)
    )


_hosts = st.dictionaries(
    st.ip_addresses(v=4).map(str),
    st.sets(st.tuples(st.integers(1, 65535), st.sampled_from(["tcp", "udp"])), max_size=6),
    max_size=8,
)


@settings(max_examples=50, deadline=None)
@given(_hosts)
def test_generated_hosts_and_ports_round_trip(hosts: dict[str, set[tuple[int, str]]]) -> None:
    document = nmaprun(
        *(
            HOST_UP.format(
                ip=ip,
                name=f"h{int(ipaddress.ip_address(ip))}",
                ports="".join(
                    PORT.format(proto=pr, port=p, state="open", script="") for p, pr in ports
                ),
            )
            for ip, ports in hosts.items()
        )
    )
    items = parse_all(NmapParser, document)
    assert {i.asset.key for i in items if isinstance(i, HostObserved)} == set(hosts)
    assert {(i.asset.key, i.port, i.protocol) for i in items if isinstance(i, ServiceObserved)} == {
        (ip, p, pr) for ip, ports in hosts.items() for p, pr in ports
    }
