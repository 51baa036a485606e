"""HTML: one self-contained file (inline CSS, inline SVG charts, no scripts, no external assets).

Every value from the log goes through `html.escape` (quotes included); the
page's Content-Security-Policy forbids scripts and remote content as a
second line of defence.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from services.reports.render.charts import SEVERITY_COLOURS, open_over_time_svg, severity_svg
from services.reports.render.model import rows
from services.reports.render.wording import posture_sentence, summary_sentence, trend_sentence

if TYPE_CHECKING:
    from services.reports.render.model import AssetPlan, FindingRow, ReportModel

__all__ = ("render_html",)

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d232a;
margin:0 auto;max-width:1100px;padding:24px;line-height:1.45}
header.cover{border-bottom:4px solid #1c6fb8;padding:48px 0 24px;margin-bottom:24px}
header.cover h1{font-size:2.2em;margin:0 0 8px}
.meta{color:#555;font-size:.9em}
.posture{font-size:1.3em;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:24px}
.charts figure{margin:0}
table{border-collapse:collapse;width:100%;font-size:.85em;margin:8px 0 24px}
th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7}
.sev{font-weight:600;text-transform:capitalize}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:.9em}
dt{color:#555}
dd{margin:0;white-space:pre-wrap;overflow-wrap:anywhere}
section.finding{border-top:1px solid #d0d7de;padding-top:8px}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def e(value: object) -> str:
    """`value` as HTML text (quotes escaped too, so it is safe in attributes)."""
    return escape(str(value), quote=True)


def _sev(severity: str) -> str:
    colour = SEVERITY_COLOURS.get(severity, "#222")
    return f'<td class="sev" style="color:{colour}">{e(severity)}</td>'


def _table(header: tuple[str, ...], body: list[str]) -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cover(model: ReportModel) -> str:
    return (
        f'<header class="cover"><h1>{e(model.title)}</h1>'
        f"<p>Workspace <strong>{e(model.workspace_name)}</strong> ({e(model.workspace_id)})</p>"
        f'<p class="meta">{e(model.template.capitalize())} report · as of log position'
        f" {model.position} · requested {e(model.requested_at)} · covers {e(model.filters)}"
        f" · report {e(model.report_id)}</p></header>"
    )


def _summary(model: ReportModel) -> str:
    counts = _table(
        ("Severity", "Open", "All"),
        [
            f"<tr>{_sev(c.severity)}<td>{c.open:,}</td><td>{c.total:,}</td></tr>"
            for c in model.by_severity
        ],
    )
    risks = ""
    if model.top_risks:
        risks = "<h3>Top risks</h3>" + _table(
            ("Severity", "Issue", "Assets", "Findings", "CVE"),
            [
                f"<tr>{_sev(r.severity)}<td>{e(r.title)}</td><td>{r.assets:,}</td>"
                f"<td>{r.findings:,}</td><td>{e(' '.join(r.cve))}</td></tr>"
                for r in model.top_risks
            ],
        )
    charts = (
        '<div class="charts">'
        f"<figure>{severity_svg(model)}<figcaption>Findings by severity</figcaption></figure>"
        f"<figure>{open_over_time_svg(model)}<figcaption>Open findings over time</figcaption>"
        "</figure></div>"
    )
    return (
        f'<section><h2>Summary</h2><p class="posture">{e(posture_sentence(model))}</p>'
        f"<p>{e(summary_sentence(model))}</p><p>{e(trend_sentence(model))}</p>"
        f"{counts}{risks}<h3>Charts</h3>{charts}</section>"
    )


def _detail(row: FindingRow) -> str:
    port = f":{row.port}/{row.protocol or ''}" if row.port is not None else ""
    fields = (
        ("Severity", row.severity),
        ("Status", row.status),
        ("Asset", f"{row.asset_key}{port} ({row.asset_kind})"),
        ("Fingerprint", row.fingerprint),
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
    )
    items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in fields if v)
    return f'<section class="finding"><h3>{e(row.title)}</h3><dl>{items}</dl></section>'


def _plan(plan: AssetPlan) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in plan.open_by_severity.items() if n)
    actions = _table(
        ("Severity", "Issue", "Ports", "What to do", "CVE"),
        [
            f"<tr>{_sev(a.severity)}<td>{e(a.title)}</td><td>{e(' '.join(a.ports))}</td>"
            f"<td>{e(a.solution)}</td><td>{e(' '.join(a.cve))}</td></tr>"
            for a in plan.actions
        ],
    )
    return (
        f"<section><h3>{e(plan.asset_key)} ({e(plan.asset_kind)})</h3>"
        f"<p>Open: {e(counts)} · risk score {plan.risk_score:,}</p>{actions}</section>"
    )


def _appendix(model: ReportModel) -> str:
    body = [
        f"<tr>{_sev(r.severity)}<td>{e(r.status)}</td><td>{e(r.title)}</td>"
        f"<td>{e(r.asset_key)}</td><td>{'' if r.port is None else r.port}</td>"
        f"<td>{e(' '.join(r.cve))}</td><td>{e(r.first_seen[:10])}</td></tr>"
        for r in rows(model)
    ]
    header = ("Severity", "Status", "Title", "Asset", "Port", "CVE", "First seen")
    return f"<section><h2>Appendix: findings ({len(body):,})</h2>{_table(header, body)}</section>"


def render_html(model: ReportModel) -> bytes:
    """The report as a single HTML page."""
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(model.title)}</title><style>{_CSS}</style></head><body>",
        _cover(model),
        _summary(model),
    ]
    if model.template == "technical":
        parts.append("<h2>Findings in detail</h2>")
        parts += [_detail(row) for row in model.findings]
    elif model.template == "remediation":
        parts.append("<h2>Remediation plan by asset</h2>")
        if not model.assets:
            parts.append("<p>Nothing to remediate: no open findings.</p>")
        parts += [_plan(plan) for plan in model.assets]
    parts += [_appendix(model), "</body></html>\n"]
    return "".join(parts).encode("utf-8")
