import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.parsers import registry
from services.ingest.parsers.errors import ScanRejected
from services.ingest.parsers.model import AssetKind, Severity
from services.ingest.parsers.sarif import SarifJson

from .text_support import dumps, findings

RULES = [
    {
        "id": "py/sql-injection",
        "shortDescription": {"text": "SQL injection"},
        "properties": {"tags": ["security", "external/cwe/cwe-089"], "security-severity": "8.8"},
    },
    {
        "id": "py/unused",
        "shortDescription": {"text": "Unused import"},
        "defaultConfiguration": {"level": "note"},
        "messageStrings": {"default": {"text": "Import of {0} is not used."}},
    },
]


def log(results, *, vcp=True, results_first=False):
    run = {"tool": {"driver": {"name": "CodeQL", "rules": RULES}}}
    if vcp:
        run["versionControlProvenance"] = [{"repositoryUri": "https://github.com/acme/app"}]
    run = {"results": results, **run} if results_first else {**run, "results": results}
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }


def loc(uri, line):
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}}]


def test_rule_lookup_severity_cwe_and_location():
    results = [
        {
            "ruleId": "py/sql-injection",
            "message": {"text": "Query built from user input."},
            "locations": loc("app/db.py", 12),
        },
        {
            "ruleIndex": 1,
            "message": {"id": "default", "arguments": ["os"]},
            "locations": loc("app/x.py", 1),
        },
    ]
    sql, unused = findings(SarifJson, dumps(log(results)))
    assert (sql.asset.kind, sql.asset.key) == (AssetKind.REPOSITORY, "https://github.com/acme/app")
    assert sql.scanner == "codeql"
    assert sql.title == "SQL injection"
    assert sql.severity is Severity.HIGH
    assert sql.cwe == ("CWE-89",)
    assert sql.location == "app/db.py:12"
    assert unused.rule_id == "py/unused"
    assert unused.severity is Severity.LOW
    assert unused.description == "Import of os is not used."


def test_results_before_tool_and_asset_from_tool_name():
    results = [{"ruleId": "py/unused", "level": "error", "locations": loc("file:///src/a.py", 3)}]
    (finding,) = findings(SarifJson, dumps(log(results, vcp=False, results_first=True)))
    assert finding.asset.key == "CodeQL"
    assert finding.severity is Severity.HIGH
    assert finding.location == "/src/a.py:3"


def test_no_runs_and_detection():
    empty = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [],
    }
    assert registry.detect_format(dumps(empty)) is SarifJson
    assert findings(SarifJson, dumps(empty)) == []


def test_malformed_sarif_is_rejected():
    with pytest.raises(ScanRejected, match="truncated"):
        findings(SarifJson, dumps(log([]))[:-5])
    with pytest.raises(ScanRejected, match="SARIF result to be a JSON object"):
        findings(SarifJson, dumps(log(["not a result"])))


@given(st.lists(st.sampled_from(["error", "warning", "note", "none", None]), max_size=8))
def test_level_maps_to_severity(levels):
    results = [
        {"ruleId": "x", **({"level": lv} if lv else {}), "locations": loc("f", i + 1)}
        for i, lv in enumerate(levels)
    ]
    mapping = {
        "error": Severity.HIGH,
        "warning": Severity.MEDIUM,
        "note": Severity.LOW,
        "none": Severity.INFO,
        None: Severity.MEDIUM,
    }
    assert [f.severity for f in findings(SarifJson, dumps(log(results)))] == [
        mapping[lv] for lv in levels
    ]
