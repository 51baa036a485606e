"""Markdown (CommonMark with GFM tables): readable as text, renderable anywhere.

Every value from the log goes through `md`: ASCII punctuation is
backslash-escaped (CommonMark's escape for any of it) and line breaks become
spaces, so scanner text can neither add markup, nor raw HTML, nor break a
table row.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from services.reports.render.model import rows
from services.reports.render.wording import posture_sentence, summary_sentence, trend_sentence

if TYPE_CHECKING:
    from services.reports.render.model import AssetPlan, FindingRow, ReportModel

__all__ = ("md", "render_markdown")

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
_SPACES = re.compile(r"\s+")


def md(value: object) -> str:
    """`value` as literal Markdown text on one line."""
    return _PUNCTUATION.sub(r"\\\1", _SPACES.sub(" ", str(value)).strip())


def _table(header: tuple[str, ...], body: list[tuple[object, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in body]
    return [*lines, ""]


def _cover(model: ReportModel) -> list[str]:
    return [
        f"# {md(model.title)}",
        "",
        f"- Workspace: {md(model.workspace_name)} ({md(model.workspace_id)})",
        f"- Template: {md(model.template)}",
        f"- As of log position {model.position} (requested {md(model.requested_at)})",
        f"- Findings covered: {md(model.filters)}",
        f"- Report id: {md(model.report_id)}",
        "",
    ]


def _summary(model: ReportModel) -> list[str]:
    lines = ["## Summary", "", md(posture_sentence(model)), "", md(summary_sentence(model))]
    lines += ["", md(trend_sentence(model)), ""]
    lines += _table(
        ("Severity", "Open", "All"),
        [(c.severity, c.open, c.total) for c in model.by_severity],
    )
    if model.top_risks:
        lines += ["### Top risks", ""]
        lines += _table(
            ("Severity", "Issue", "Assets", "Findings", "CVE"),
            [(r.severity, r.title, r.assets, r.findings, " ".join(r.cve)) for r in model.top_risks],
        )
    if model.series:
        first, last = model.series[0], model.series[-1]
        lines += [
            f"Open findings over time: {first.open:,} on {md(first.day)},"
            f" {last.open:,} on {md(last.day)}.",
            "",
        ]
    return lines


def _appendix(model: ReportModel) -> list[str]:
    lines = ["## Appendix: findings", ""]
    return lines + _table(
        ("Severity", "Status", "Title", "Asset", "Port", "CVE", "First seen"),
        [
            (
                r.severity,
                r.status,
                r.title,
                r.asset_key,
                "" if r.port is None else f"{r.port}/{r.protocol or ''}",
                " ".join(r.cve),
                r.first_seen[:10],
            )
            for r in rows(model)
        ],
    )


def _detail(row: FindingRow) -> list[str]:
    port = f":{row.port}/{row.protocol or ''}" if row.port is not None else ""
    lines = [
        f"### {md(row.title)}",
        "",
        f"- Severity: {md(row.severity)}; status: {md(row.status)}",
        f"- Asset: {md(row.asset_key + port)} ({md(row.asset_kind)})",
        f"- Fingerprint: {md(row.fingerprint)}",
    ]
    for label, value in (
        ("Rule", row.rule_id or ""),
        ("Location", row.location or ""),
        ("CVE", " ".join(row.cve)),
        ("CWE", " ".join(row.cwe)),
        ("CVSS", "" if row.cvss_score is None else str(row.cvss_score)),
        ("Seen", f"{row.first_seen} to {row.last_seen} ({row.observations} observations)"),
        ("Scanners", " ".join(row.scanners)),
        ("Description", row.description),
        ("Solution", row.solution),
        ("Evidence", row.evidence),
        ("References", " ".join(row.references)),
    ):
        if value:
            lines.append(f"- {label}: {md(value)}")
    return [*lines, ""]


def _plan(plan: AssetPlan) -> list[str]:
    counts = ", ".join(f"{n} {s}" for s, n in plan.open_by_severity.items() if n)
    lines = [f"### {md(plan.asset_key)} ({md(plan.asset_kind)})", "", md(f"Open: {counts}."), ""]
    return lines + _table(
        ("Severity", "Issue", "Ports", "What to do", "CVE"),
        [
            (a.severity, a.title, " ".join(a.ports), a.solution, " ".join(a.cve))
            for a in plan.actions
        ],
    )


def render_markdown(model: ReportModel) -> bytes:
    """The report as a Markdown document."""
    lines = _cover(model) + _summary(model)
    if model.template == "technical":
        lines += ["## Findings in detail", ""]
        for row in model.findings:
            lines += _detail(row)
    elif model.template == "remediation":
        lines += ["## Remediation plan by asset", ""]
        if not model.assets:
            lines += ["Nothing to remediate: no open findings.", ""]
        for plan in model.assets:
            lines += _plan(plan)
    lines += _appendix(model)
    return "\n".join(lines).encode("utf-8")
