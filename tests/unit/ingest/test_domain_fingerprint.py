"""Fingerprints: what makes two reports the same finding, and what keeps them apart."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import given
from msgspec.structs import replace

from services.ingest.domain import fingerprint
from services.ingest.identity import issue_key
from services.ingest.parsers.model import Asset, AssetKind, FindingObserved, Severity

WS = "ws-1"
HOST = Asset(kind=AssetKind.HOST, key="10.0.0.1", address="10.0.0.1")

cve_ids = st.builds(lambda y, n: f"CVE-{y}-{n:04d}", st.integers(1999, 2030), st.integers(1, 99999))
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
findings = st.builds(
    FindingObserved,
    asset=st.just(HOST),
    scanner=st.sampled_from(["nessus", "openvas", "nuclei", "nmap"]),
    title=texts.filter(str.strip),
    severity=st.sampled_from(list(Severity)),
    rule_id=st.none() | st.text("0123456789abc", min_size=1, max_size=8),
    port=st.none() | st.integers(1, 65535),
    protocol=st.sampled_from([None, "tcp", "udp"]),
    location=st.none() | texts,
    cve=st.lists(cve_ids, max_size=4, unique=True).map(tuple),
    description=st.none() | texts,
    evidence=st.none() | texts,
)


def finding(**changes: Any) -> FindingObserved:
    base = FindingObserved(
        asset=HOST, scanner="nessus", title="Old OpenSSH", severity=Severity.HIGH, rule_id="1"
    )
    return replace(base, **changes)


@given(findings)
def test_fingerprint_is_stable_and_ignores_run_details(item: FindingObserved) -> None:
    again = replace(
        item,
        description="different output of this run",
        evidence="other evidence",
        severity=Severity.CRITICAL,
    )
    assert fingerprint(WS, item) == fingerprint(WS, item)
    assert fingerprint(WS, item) == fingerprint(WS, again)


@given(findings, st.randoms())
def test_fingerprint_does_not_depend_on_cve_order(item: FindingObserved, rnd: object) -> None:
    shuffled = list(item.cve)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert fingerprint(WS, item) == fingerprint(WS, replace(item, cve=tuple(shuffled)))


@given(findings, st.integers(1, 65535))
def test_distinct_ports_give_distinct_findings(item: FindingObserved, port: int) -> None:
    other = port if port != item.port else (port % 65535) + 1
    assert fingerprint(WS, item) != fingerprint(WS, replace(item, port=other))


@given(findings, texts.filter(str.strip))
def test_distinct_locations_give_distinct_findings(item: FindingObserved, location: str) -> None:
    if (item.location or "").strip() == location.strip():
        location = location + "/x"
    assert fingerprint(WS, item) != fingerprint(WS, replace(item, location=location))


@given(cve_ids, st.sampled_from(["nessus", "openvas", "trivy"]), st.sampled_from(["nmap", "grype"]))
def test_same_cve_from_two_scanners_is_one_finding(cve: str, one: str, two: str) -> None:
    first = finding(scanner=one, cve=(cve,), rule_id="10001", title="Title by one")
    second = finding(scanner=two, cve=(cve,), rule_id="x-9", title="Another title")
    assert fingerprint(WS, first) == fingerprint(WS, second)


def test_lowest_cve_is_the_issue_key() -> None:
    item = finding(cve=("CVE-2021-44228", "CVE-2019-0001", "CVE-2019-10000"))
    assert issue_key(item) == "cve:CVE-2019-0001"


def test_rule_ids_only_match_within_one_scanner() -> None:
    assert fingerprint(WS, finding(scanner="nessus", rule_id="42")) != fingerprint(
        WS, finding(scanner="nuclei", rule_id="42")
    )


def test_title_is_the_last_resort_and_normalised() -> None:
    one = finding(rule_id=None, title="  Directory   Listing ", scanner="nikto")
    two = finding(rule_id=None, title="directory listing", scanner="zap")
    assert fingerprint(WS, one) == fingerprint(WS, two)


def test_workspace_and_asset_are_part_of_the_identity() -> None:
    other_host = Asset(kind=AssetKind.HOST, key="10.0.0.2")
    assert fingerprint(WS, finding()) != fingerprint("ws-2", finding())
    assert fingerprint(WS, finding()) != fingerprint(WS, finding(asset=other_host))


def test_port_zero_means_no_port() -> None:
    assert fingerprint(WS, finding(port=0, protocol="tcp")) == fingerprint(WS, finding())
