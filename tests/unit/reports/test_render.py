"""Every format renders every template, for no, few and many findings, and escapes scanner text."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from html.parser import HTMLParser

import markdown_it
import pypdf
import pytest
from msgspec.structs import replace

from services.reports.domain import fold_findings
from services.reports.render import render
from services.reports.render.model import Baseline, build_model
from shared.contracts import Event, ReportFormat, ReportTemplate, WorkspaceCreated
from tests.unit.reports.factory import HOSTILE_TITLE, request, workspace_history

WS = "ws-render"
REQUESTED_AT = dt.datetime(2024, 3, 20, 12, 0, tzinfo=dt.UTC)
SIZES = {"empty": 0, "small": 12, "many": 3000}


def history(size: str) -> list[Event]:
    if size == "empty":
        return [WorkspaceCreated(workspace_id=WS, name="Empty Corp")]
    return workspace_history(WS, SIZES[size])


def pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def html_elements(content: str) -> Elements:
    parser = Elements()
    parser.feed(content)
    return parser


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("template", list(ReportTemplate))
@pytest.mark.parametrize("format", list(ReportFormat))
def test_every_format_renders_every_template(
    format: ReportFormat, template: ReportTemplate, size: str
) -> None:
    if size == "many" and format is ReportFormat.PDF and template is not ReportTemplate.EXECUTIVE:
        size = "small"  # the many-findings PDF is the executive one (its appendix is the load)
    model = build_model(
        request(WS, template=template), REQUESTED_AT, fold_findings(history(size)), None
    )
    content = render(model, format)
    assert content
    match format:
        case ReportFormat.PDF:
            text = pdf_text(content)
            assert model.workspace_name in text
            assert f"{model.total:,} findings are recorded" in text or model.total == 0
        case ReportFormat.HTML:
            parsed = html_elements(content.decode())
            assert "script" not in parsed.tags
            assert model.workspace_name in "".join(parsed.text)
        case ReportFormat.MARKDOWN:
            assert content.decode().startswith("# ")
        case ReportFormat.CSV:
            assert len(list(csv.reader(io.StringIO(content.decode())))) == model.total + 1
        case ReportFormat.JSON:
            assert len(json.loads(content)["findings"]) == model.total


def test_pdf_shows_workspace_name_and_counts() -> None:
    model = build_model(request(WS), REQUESTED_AT, fold_findings(workspace_history(WS, 40)), None)
    text = pdf_text(render(model, ReportFormat.PDF))
    assert f"Acme {WS}" in text
    assert f"{model.total} findings are recorded, {model.open} of them open" in text
    for count in model.by_severity:
        assert f"{count.severity} {count.open} {count.total}" in text
    assert f"Appendix: findings ({model.total})" in text


@pytest.mark.parametrize("template", list(ReportTemplate))
def test_markup_in_a_title_appears_literally_in_every_format(template: ReportTemplate) -> None:
    model = build_model(
        request(WS, template=template), REQUESTED_AT, fold_findings(workspace_history(WS, 5)), None
    )
    literal = " ".join(HOSTILE_TITLE.split())

    assert literal in pdf_text(render(model, ReportFormat.PDF))

    page = render(model, ReportFormat.HTML).decode()
    parsed = html_elements(page)
    assert "script" not in parsed.tags
    assert "<script>" not in page
    assert HOSTILE_TITLE in parsed.text

    markdown = render(model, ReportFormat.MARKDOWN).decode()
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)
    parsed_md = html_elements(rendered)
    assert "script" not in parsed_md.tags
    assert not {"strong", "em", "code", "a"} & set(parsed_md.tags)
    assert literal in " ".join("".join(parsed_md.text).split())

    cells = [
        cell
        for row in csv.reader(io.StringIO(render(model, ReportFormat.CSV).decode()))
        for cell in row
    ]
    assert HOSTILE_TITLE in cells

    data = json.loads(render(model, ReportFormat.JSON))
    assert HOSTILE_TITLE in [row["title"] for row in data["findings"]]


def test_a_spreadsheet_formula_in_a_cell_is_neutralised() -> None:
    events = workspace_history(WS, 1, hostile=False)
    model = build_model(request(WS), REQUESTED_AT, fold_findings(events), None)
    row = model.findings[0]

    tampered = replace(model, findings=(replace(row, title='=HYPERLINK("http://x")'),))
    [_, cells] = list(csv.reader(io.StringIO(render(tampered, ReportFormat.CSV).decode())))
    assert cells[3] == '\'=HYPERLINK("http://x")'


@pytest.mark.parametrize("format", list(ReportFormat))
def test_one_model_renders_to_the_same_bytes_twice(format: ReportFormat) -> None:
    model = build_model(request(WS), REQUESTED_AT, fold_findings(workspace_history(WS, 60)), None)
    assert render(model, format) == render(model, format)


def test_trend_compares_with_the_previous_report() -> None:
    baseline = Baseline(
        report_id="r0",
        position=1,
        requested_at="2024-03-10T00:00:00+00:00",
        open_by_severity={"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 0},
    )
    findings = fold_findings(workspace_history(WS, 10))
    model = build_model(request(WS), REQUESTED_AT, findings, baseline)
    assert model.trend.open_before == 1
    assert model.trend.change == model.open - 1
    assert model.trend.change_by_severity["critical"] == model.by_severity[0].open - 1
    text = render(model, ReportFormat.MARKDOWN).decode()
    assert "since the previous report" in text
