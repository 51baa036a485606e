"""SARIF 2.1.0 from any tool (CodeQL, Semgrep, Bandit, Trivy, SpotBugs, gitleaks, ...).

Results are streamed; each run's ``tool`` (with its rules) and version-control
provenance are read in a first pass so that results can be resolved against
rules however the file orders a run's members. Severity comes from the
``security-severity`` property (a CVSS-like score, as GitHub code scanning
uses it) when present, else from the result's or rule's ``level``. The asset
is a REPOSITORY keyed by the run's repository URI, else the tool's name; the
location is ``file:line``.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, ClassVar

from services.ingest.parsers import _json
from services.ingest.parsers._assets import repository_asset
from services.ingest.parsers._normalise import clean_text, cve_ids, cwe_ids, parse_float
from services.ingest.parsers._normalise import severity_from_cvss as _from_score
from services.ingest.parsers.base import Parser
from services.ingest.parsers.model import FindingObserved, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from services.ingest.parsers.model import Asset, Item

__all__ = ("SarifJson",)

_LEVELS = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "note": Severity.LOW,
    "none": Severity.INFO,
}


def _text(value: Any) -> str | None:
    return clean_text(_json.obj(value).get("text"))


class _Run:
    """What one run's results are resolved against: its asset and rules."""

    def __init__(self) -> None:
        self.tool: dict[str, Any] = {}
        self.repository: str | None = None
        self.by_id: dict[str, dict[str, Any]] = {}

    def add_tool(self, tool: dict[str, Any]) -> None:
        self.tool = tool
        components = [_json.obj(tool.get("driver")), *map(_json.obj, tool.get("extensions") or ())]
        for component in reversed(components):
            for rule in component.get("rules") or ():
                if isinstance(rule, dict) and rule.get("id") is not None:
                    self.by_id[str(rule["id"])] = rule

    def asset(self) -> Asset:
        name = self.repository or clean_text(_json.obj(self.tool.get("driver")).get("name"))
        return repository_asset(name or "sarif")

    def rule(self, result: dict[str, Any]) -> dict[str, Any]:
        reference = _json.obj(result.get("rule"))
        rule_id = result.get("ruleId") or reference.get("id")
        index = result.get("ruleIndex", reference.get("index"))
        component_index = _json.obj(reference.get("toolComponent")).get("index")
        component = _json.obj(self.tool.get("driver"))
        if isinstance(component_index, int):
            extensions = self.tool.get("extensions") or ()
            if 0 <= component_index < len(extensions):
                component = _json.obj(extensions[component_index])
        rules = component.get("rules") or ()
        if isinstance(index, int) and 0 <= index < len(rules):
            return _json.obj(rules[index])
        return self.by_id.get(str(rule_id), {}) if rule_id is not None else {}


def _severity(result: dict[str, Any], rule: dict[str, Any]) -> Severity:
    for properties in (_json.obj(result.get("properties")), _json.obj(rule.get("properties"))):
        score = parse_float(properties.get("security-severity"))
        if score is not None:
            return _from_score(score)
    level = result.get("level") or _json.obj(rule.get("defaultConfiguration")).get("level")
    return _LEVELS.get(str(level or "warning").lower(), Severity.MEDIUM)


def _location(result: dict[str, Any]) -> str | None:
    for location in result.get("locations") or ():
        physical = _json.obj(_json.obj(location).get("physicalLocation"))
        uri = clean_text(_json.obj(physical.get("artifactLocation")).get("uri"))
        if uri:
            uri = uri.removeprefix("file://")
            line = _json.obj(physical.get("region")).get("startLine")
            return f"{uri}:{line}" if line else uri
        for logical in _json.obj(location).get("logicalLocations") or ():
            name = clean_text(
                _json.obj(logical).get("fullyQualifiedName") or _json.obj(logical).get("name")
            )
            if name:
                return name
    return None


def _message(result: dict[str, Any], rule: dict[str, Any]) -> str | None:
    message = _json.obj(result.get("message"))
    text = clean_text(message.get("text"))
    if text is None and message.get("id"):
        template = _text(_json.obj(rule.get("messageStrings")).get(message["id"]))
        if template:
            for number, argument in enumerate(message.get("arguments") or ()):
                template = template.replace(f"{{{number}}}", str(argument))
            text = template
    return text


def _cwes(rule: dict[str, Any], result: dict[str, Any]) -> tuple[str, ...]:
    properties = _json.obj(rule.get("properties"))
    tags = [
        *(properties.get("tags") or ()),
        *(_json.obj(result.get("properties")).get("tags") or ()),
    ]
    values: list[Any] = [t for t in tags if isinstance(t, str) and "cwe" in t.lower()]
    for key in ("cwe", "CWE", "cwe-id"):
        value = properties.get(key)
        values += value if isinstance(value, list) else [value]
    for relationship in rule.get("relationships") or ():
        target = _json.obj(_json.obj(relationship).get("target"))
        if str(target.get("id", "")).upper().startswith("CWE"):
            values.append(target["id"])
    return cwe_ids(*(v for v in values if isinstance(v, str | int)))


def _finding(run: _Run, result: dict[str, Any], scanner: str) -> FindingObserved:
    rule = run.rule(result)
    rule_id = clean_text(str(result.get("ruleId") or rule.get("id") or "")) or None
    message = _message(result, rule)
    title = _text(rule.get("shortDescription")) or clean_text(rule.get("name")) or message
    references = tuple(r for r in (clean_text(rule.get("helpUri")),) if r)
    return FindingObserved(
        asset=run.asset(),
        scanner=scanner,
        title=(title or rule_id or "SARIF result").splitlines()[0][:300],
        severity=_severity(result, rule),
        rule_id=rule_id,
        location=_location(result),
        description=message or _text(rule.get("fullDescription")),
        solution=_text(rule.get("help")),
        references=references,
        cve=cve_ids(rule_id, clean_text(rule.get("name"))),
        cwe=_cwes(rule, result),
    )


class SarifJson(Parser):
    """Static Analysis Results Interchange Format 2.1.0, any producing tool."""

    format: ClassVar[str] = "sarif"
    scanner: ClassVar[str] = "sarif"

    @classmethod
    def sniff(cls, head: bytes) -> bool:
        """A JSON object with ``runs`` and a SARIF ``version`` or ``$schema``."""
        parsed = _json.sniff_json(head)
        if parsed is None or parsed.root != "object" or not parsed.has("runs"):
            return False
        schema = str(parsed.values.get("$schema", "")).lower()
        return "sarif" in schema or str(parsed.values.get("version", "")).startswith("2.1")

    def parse(self, stream: IO[bytes]) -> Iterator[Item]:
        """Yield one finding per result over all runs; the scanner is the run's tool name."""
        _json.require_content(stream)
        runs = self._runs(stream)
        with _json.json_errors(stream, "SARIF log"):
            for index, _, result in _json.select(
                stream, ("runs.item.results.item",), counter="runs.item"
            ):
                run = runs.get(index) or _Run()
                name = clean_text(_json.obj(run.tool.get("driver")).get("name"))
                scanner = (name or self.scanner).lower()
                yield _finding(run, _json.mapping(result, "a SARIF result"), scanner)

    @staticmethod
    def _runs(stream: IO[bytes]) -> dict[int, _Run]:
        start = stream.tell()
        runs: dict[int, _Run] = {}
        wanted = ("runs.item.tool", "runs.item.versionControlProvenance")
        with _json.json_errors(stream, "SARIF log"):
            for index, prefix, value in _json.select(stream, wanted, counter="runs.item"):
                run = runs.setdefault(index, _Run())
                if prefix == "runs.item.tool":
                    run.add_tool(_json.mapping(value, "a SARIF run's tool"))
                elif isinstance(value, list) and value:
                    run.repository = clean_text(_json.obj(value[0]).get("repositoryUri"))
        stream.seek(start)
        return runs
