"""Normalisation shared by every parser: severities, CVE and CWE ids, text."""

from __future__ import annotations

import re

from services.ingest.parsers.model import Severity

_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
_CWE = re.compile(r"(?:CWE[-_: ]?)?(\d{1,5})", re.IGNORECASE)

_SEVERITY_WORDS: dict[str, Severity] = {
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "information": Severity.INFO,
    "none": Severity.INFO,
    "log": Severity.INFO,
    "note": Severity.INFO,
    "unknown": Severity.INFO,
    "negligible": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "error": Severity.HIGH,
    "critical": Severity.CRITICAL,
    "urgent": Severity.CRITICAL,
}


def severity_from_word(word: str | None, default: Severity = Severity.INFO) -> Severity:
    """Map a scanner's severity word (any case) to vigil's scale, `default` when unknown."""
    if not word:
        return default
    return _SEVERITY_WORDS.get(word.strip().lower(), default)


def severity_from_cvss(score: float | None) -> Severity:
    """Map a CVSS v3 base score to its qualitative rating (FIRST's table)."""
    if score is None or score <= 0:
        return Severity.INFO
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


def cve_ids(*texts: str | None) -> tuple[str, ...]:
    """Every distinct CVE id mentioned in `texts`, upper-cased, in order of appearance."""
    found: dict[str, None] = {}
    for text in texts:
        if text:
            for match in _CVE.findall(text):
                found[match.upper()] = None
    return tuple(found)


def cwe_ids(*values: str | int | None) -> tuple[str, ...]:
    """Every distinct CWE id in `values` as ``CWE-<n>``; junk such as ``CWE-`` is dropped."""
    found: dict[str, None] = {}
    for value in values:
        if value is None:
            continue
        for number in _CWE.findall(str(value)):
            if int(number) > 0:
                found[f"CWE-{int(number)}"] = None
    return tuple(found)


def clean_text(value: str | None) -> str | None:
    """Strip surrounding whitespace; empty strings become None."""
    if value is None:
        return None
    stripped = value.strip()
    return stripped or None


def parse_float(value: str | float | None) -> float | None:
    """A float from scanner text, None when absent or not a number."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
