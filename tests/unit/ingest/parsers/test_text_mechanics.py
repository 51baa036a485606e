import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.parsers import _csv, _json
from services.ingest.parsers.errors import ScanRejected


def test_documents_reads_json_lines_and_arrays_alike():
    assert list(_json.documents(io.BytesIO(b'{"a": 1}\n{"a": 2}'))) == [{"a": 1}, {"a": 2}]
    assert list(_json.documents(io.BytesIO(b' [{"a": 1}, {"a": 2}]\n'))) == [{"a": 1}, {"a": 2}]


def test_truncated_json_is_rejected_with_the_byte_count():
    data = b'[{"a": 1}, {"a": "' + b"x" * 2990
    with pytest.raises(ScanRejected, match=r"ends abruptly \(truncated\?\) after 3,008 bytes"):
        list(_json.documents(io.BytesIO(data)))


def test_invalid_utf8_json_is_rejected():
    with pytest.raises(ScanRejected, match="not valid UTF-8"):
        list(_json.documents(io.BytesIO(b'{"a": "\xff\xfe"}')))


def test_syntax_error_is_rejected():
    with pytest.raises(ScanRejected, match="not valid JSON"):
        list(_json.documents(io.BytesIO(b'{"a": tru}')))


@pytest.mark.parametrize("data", [b"", b"  \n\t"])
def test_empty_file_is_rejected(data):
    with pytest.raises(ScanRejected, match=r"The file is empty\."):
        list(_json.documents(io.BytesIO(data)))


def test_select_counts_the_enclosing_objects():
    data = b'{"runs": [{"results": [1, 2]}, {"results": []}, {"results": [{"x": 3}]}]}'
    selected = list(
        _json.select(io.BytesIO(data), ("runs.item.results.item",), counter="runs.item")
    )
    assert selected == [
        (0, "runs.item.results.item", 1),
        (0, "runs.item.results.item", 2),
        (2, "runs.item.results.item", {"x": 3}),
    ]


def test_prescan_finds_facts_after_the_findings_and_rewinds():
    stream = io.BytesIO(b'{"matches": [{"a": 1}], "source": {"type": "image"}}')
    assert _json.prescan(stream, ("source",)) == {"source": {"type": "image"}}
    assert stream.tell() == 0


def test_sniff_json_reads_keys_of_a_cut_head():
    head = _json.sniff_json(b'{"matches": [{"vulnerability": {"id": "CVE-1')
    assert head is not None
    assert head.root == "object"
    assert head.has("matches", "matches.item.vulnerability", "matches.item.vulnerability.id")
    assert _json.sniff_json(b"id,host\n1,a") is None


def test_csv_semicolon_duplicate_and_empty_header_names():
    data = b"Plugin ID;Host;;Name;;Host\n1;10.0.0.1;x;n;y;dup\n"
    rows = list(_csv.rows(io.BytesIO(data)))
    assert rows == [
        {
            "plugin id": "1",
            "host": "10.0.0.1",
            "column_3": "x",
            "name": "n",
            "column_5": "y",
            "host_2": "dup",
        }
    ]


def test_csv_multiline_cells_count_once_and_header_only_yields_nothing():
    data = b'a,b\n"line 1\nline 2",2\n3,4'
    assert [row["a"] for row in _csv.rows(io.BytesIO(data))] == ["line 1\nline 2", "3"]
    assert list(_csv.rows(io.BytesIO(b"a,b"))) == []


def test_csv_broken_quoting_and_bad_encoding_are_rejected():
    with pytest.raises(ScanRejected, match="malformed"):
        list(_csv.rows(io.BytesIO(b'a,b\n"unterminated,1\n')))
    with pytest.raises(ScanRejected, match="UTF-8"):
        list(_csv.rows(io.BytesIO(b"a,b\n\xff,1\n")))


def test_csv_signature_mismatch_is_rejected():
    with pytest.raises(ScanRejected, match="lacks the expected columns"):
        list(_csv.rows(io.BytesIO(b"a,b\n1,2\n"), signatures=(("host",),)))


def test_csv_reading_leaves_the_stream_open():
    stream = io.BytesIO(b"a,b\n1,2\n")
    list(_csv.rows(stream))
    assert not stream.closed


cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=20
)


@given(st.lists(st.tuples(cells, cells), max_size=8), st.sampled_from([",", ";"]))
def test_csv_rows_round_trip_whatever_the_delimiter(rows, delimiter):
    import csv

    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["first", "second"])
    writer.writerows(rows)
    parsed = list(_csv.rows(io.BytesIO(text.getvalue().encode())))
    expected = [{"first": a, "second": b} for a, b in rows if a.strip() or b.strip()]
    assert parsed == expected
