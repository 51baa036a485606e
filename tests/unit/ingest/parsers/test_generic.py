import csv
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected, UnsupportedFormat
from services.ingest.parsers.generic import FIELDS, GenericCsv, GenericJson
from services.ingest.parsers.model import AssetKind, Severity

from .text_support import dumps, findings, jsonl

RECORD = {
    "host": "10.0.0.5",
    "port": "8443",
    "protocol": "TCP",
    "title": "Outdated TLS library",
    "severity": "high",
    "cve": "CVE-2021-3711 CVE-2021-3712",
    "cwe": "CWE-120",
    "cvss_score": "9.8",
    "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "references": "https://a.example, https://b.example",
    "location": "openssl@1.1.1k",
}


def to_csv(*records, delimiter=","):
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(records[0]), delimiter=delimiter, lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def test_csv_record_becomes_a_host_finding():
    data = to_csv(RECORD)
    assert registry.detect_format(data.encode()) is GenericCsv
    (finding,) = findings(GenericCsv, data)
    assert (finding.asset.kind, finding.asset.key) == (AssetKind.HOST, "10.0.0.5")
    assert (finding.port, finding.protocol, finding.severity) == (8443, "tcp", Severity.HIGH)
    assert finding.cve == ("CVE-2021-3711", "CVE-2021-3712")
    assert finding.references == ("https://a.example", "https://b.example")
    assert finding.cvss_score == 9.8
    assert finding.location == "openssl@1.1.1k"


def test_json_lines_and_arrays_with_url_hosts_and_lists():
    record = {
        "host": "https://shop.example/cart",
        "title": "XSS",
        "severity": "medium",
        "cwe": ["CWE-79"],
        "cvss_score": 6.1,
    }
    for data in (jsonl(record), dumps([record])):
        assert registry.detect_format(data) is GenericJson
        (finding,) = findings(GenericJson, data)
        assert (finding.asset.kind, finding.asset.key) == (
            AssetKind.WEBSITE,
            "https://shop.example:443",
        )
        assert (finding.location, finding.port, finding.cwe) == ("/cart", 443, ("CWE-79",))


@pytest.mark.parametrize(
    "data",
    [
        b"host,title,severity,owner\nh,t,high,me\n",
        b"host,title\nh,t\n",
        dumps([{"host": "h", "title": "t", "severity": "low", "extra": 1}]),
        jsonl({"host": "h", "title": "t"}),
    ],
)
def test_detection_is_strict(data):
    with pytest.raises(UnsupportedFormat):
        registry.detect_format(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"severity": "severe"}, "severity must be one of"),
        ({"port": "http"}, "port must be a number"),
        ({"cvss_score": "11"}, "cvss_score must be a number from 0 to 10"),
        ({"host": ""}, "host and title are required"),
    ],
)
def test_invalid_values_are_rejected_with_the_row(change, message):
    with pytest.raises(ScanRejected, match=f"Row 2: {message}"):
        findings(GenericCsv, to_csv(dict(RECORD, **change)))


def test_wrong_shapes_are_rejected():
    with pytest.raises(ScanRejected, match="Record 1"):
        findings(GenericJson, b"[42]")
    with pytest.raises(ScanRejected, match="unknown field"):
        findings(GenericJson, jsonl({"host": "h", "title": "t", "severity": "low", "owner": "x"}))
    with pytest.raises(ScanRejected, match="truncated"):
        findings(GenericJson, dumps([RECORD])[:-4])


text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(str.strip)
records = st.fixed_dictionaries(
    {
        "host": st.sampled_from(["10.0.0.1", "db.example", "2001:db8::1"]),
        "title": text,
        "severity": st.sampled_from([s.value for s in Severity]),
        "port": st.one_of(st.just(""), st.integers(1, 65535).map(str)),
        "description": text,
        "cvss_score": st.one_of(st.just(""), st.floats(0, 10).map(lambda f: f"{f:.1f}")),
    }
)


@given(st.lists(records, min_size=1, max_size=5), st.sampled_from([",", ";"]))
def test_generic_csv_round_trip(rows, delimiter):
    found = findings(GenericCsv, to_csv(*rows, delimiter=delimiter))
    assert [(f.asset.key, f.title, f.severity.value, f.description) for f in found] == [
        (r["host"], r["title"].strip(), r["severity"], r["description"].strip()) for r in rows
    ]
    assert [f.port for f in found] == [int(r["port"]) if r["port"] else None for r in rows]
    assert [f.cvss_score for f in found] == [
        float(r["cvss_score"]) if r["cvss_score"] else None for r in rows
    ]


@given(st.lists(records, min_size=1, max_size=5))
def test_generic_csv_and_json_agree(rows):
    assert findings(GenericCsv, to_csv(*rows)) == findings(GenericJson, json.dumps(rows).encode())


def test_fields_are_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[4] / "docs" / "generic-format.md").read_text()
    assert all(f"`{field}`" in doc for field in FIELDS)
