"""The condition language: grammar, semantics, refusals, and safety under arbitrary input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.triggers.conditions import InvalidCondition, compile_condition, condition_fields

FINDING = condition_fields(
    "FindingDetected",
    {
        "workspace_id": "acme",
        "fingerprint": "abc",
        "port": 443,
        "details": {
            "title": "TLS 1.0 enabled",
            "severity": "high",
            "cvss_score": 7.5,
            "cve": ["CVE-2011-3389"],
        },
    },
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ('severity in ["high", "critical"]', True),
        ('severity in ["high", "critical"] and cvss >= 7', True),
        ('severity in ["high", "critical"] and cvss >= 8', False),
        ("severity == 'low' or port == 443", True),
        ("not severity == 'low'", True),
        ("not (severity == 'high' and cvss > 7)", False),
        ('severity not in ["low", "info"]', True),
        ('"CVE-2011-3389" in cve', True),
        ('cve contains "CVE-2011-3389"', True),
        ('title contains "TLS"', True),
        ('title not contains "SSL"', True),
        ("details.cvss_score > 7.4", True),
        ("type == 'FindingDetected'", True),
        ("missing.field == null", True),
        ("missing > 3", False),
        ("severity > 3", False),
        ("port", True),
        ("missing", False),
        ("port >= -1 and port <= 65535", True),
        ("true and not false", True),
        ("(severity == 'high' or severity == 'critical') and (port == 443 or port == 8443)", True),
    ],
)
def test_conditions_evaluate_over_an_events_fields(condition: str, expected: bool) -> None:
    assert compile_condition(condition).matches(FINDING) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("", "the condition is empty"),
        ("severity ==", "expected a field name, a value or '(' at 11"),
        ("severity = 'high'", "unexpected character '=' at 9"),
        ("(severity == 'high'", "expected ')' at 19"),
        ('severity in ["high"', "expected ',' or ']' at 19"),
        ("severity in high_list", None),
        ("severity in 3", "expected a field name or a list at 12"),
        ("__import__('os')", "expected 'and', 'or' or the end of the condition"),
        ("__import__('os').system('x')", "unexpected character '.' at 16"),
        ("a not b", "expected 'in' or 'contains' after 'not'"),
        ("'unterminated", "unexpected character"),
        ("a == 'bad \\q escape'", "unknown escape"),
        ("not " * 60 + "a", "nests deeper"),
    ],
)
def test_invalid_conditions_are_refused_with_where_and_what(
    condition: str, message: str | None
) -> None:
    if message is None:
        compile_condition(condition)  # a path on the right of `in` is valid
        return
    with pytest.raises(InvalidCondition, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_condition(condition)


@given(st.text(max_size=200))
def test_any_text_either_compiles_or_is_refused_cleanly(text: str) -> None:
    try:
        condition = compile_condition(text)
    except InvalidCondition:
        return
    condition.matches(FINDING)


scalars = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet="abcxyz", max_size=5),
)


@given(scalars, scalars)
def test_comparisons_agree_with_python_on_same_kind_values(left: Any, right: Any) -> None:
    fields = {"a": left, "b": right}
    numbers = (int, float)
    comparable = (isinstance(left, numbers) and isinstance(right, numbers)) or (
        isinstance(left, str) and isinstance(right, str)
    )
    assert compile_condition("a == b").matches(fields) == (left == right)
    assert compile_condition("a != b").matches(fields) == (left != right)
    assert compile_condition("a < b").matches(fields) == (comparable and left < right)
    assert compile_condition("a >= b").matches(fields) == (comparable and left >= right)


@given(st.lists(st.sampled_from(["info", "low", "medium", "high", "critical"]), max_size=5))
def test_in_a_list_literal_is_membership(allowed: list[str]) -> None:
    literal = "[" + ", ".join(f'"{s}"' for s in allowed) + "]"
    condition = compile_condition(f"severity in {literal}")
    for severity in ["info", "low", "medium", "high", "critical"]:
        assert condition.matches({"severity": severity}) == (severity in allowed)
