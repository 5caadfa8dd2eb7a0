"""The sign-off block at the top of the pytest-html report (registered only with pytest-html).

pytest-html 4 escapes neither summary strings nor table cells: every value here goes through
``html.escape`` (the SignOff arrives redacted), and attached SVGs are embedded as base64 ``<img>`` data URIs
so that no markup from a target can ever execute.
"""
from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

from ..contract import item_notes, summary_lines, verdict_line  # contract (issue 12)
from ..verdict import CheckRecord, SignOff
from . import STATUS_ICON, fmt_value, source_text

if TYPE_CHECKING:
    from ..collector import SignOffCollector

_CSS = """
<style>
.release-signoff{font-family:Helvetica,Arial,sans-serif;margin:0 0 1.5em 0}
.release-signoff .banner{padding:.8em 1em;border-radius:4px;font-size:1.3em;font-weight:bold;color:#fff}
.release-signoff .APPROVED{background:#2e7d32}.release-signoff .REJECTED{background:#c62828}
.release-signoff .INCOMPLETE{background:#ef6c00}
.release-signoff table{border-collapse:collapse;width:100%;margin-top:.6em;font-size:.9em}
.release-signoff th,.release-signoff td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
.release-signoff tr.gate td{background:#f2f2f2;font-weight:bold}
.release-signoff .st-passed{color:#2e7d32}.release-signoff .st-failed,.release-signoff .st-error{color:#c62828;font-weight:bold}
.release-signoff .st-skipped,.release-signoff .st-incomplete,.release-signoff .st-not_run{color:#ef6c00}
.release-signoff code{font-size:.85em;white-space:pre-wrap;word-break:break-all}
.release-signoff .ok-false{color:#c62828;font-weight:bold}
.release-signoff img{max-width:720px;display:block;margin-top:4px}
</style>
"""


def _measurements(check: CheckRecord) -> tuple[str, str]:
    measured, thresholds = [], []
    for m in check.measurements:
        cls = ' class="ok-false"' if m.ok is False else ""
        measured.append(f"<div{cls}>{e(m.name)} = {e(fmt_value(m.value, m.unit))}</div>")
        thresholds.append(
            f"<div>{e(m.op)} {e(fmt_value(m.threshold, m.unit))}</div>" if m.op else "<div>—</div>"
        )
    return "".join(measured) or "—", "".join(thresholds) or "—"


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def render(signoff: SignOff) -> str:
    """The sign-off block of an (already redacted) sign-off."""

    release = signoff.release
    rows = []
    # contract (issue 12): an item's deviation / waiver / attestation beside its first check
    item_notes_by_check: dict[str, list[str]] = {}
    for gate in signoff.gates:
        for item in gate.items:
            notes = [f"{item.status}: {item.text}", *item_notes(item)] if item_notes(item) else []
            if notes and item.checks:
                item_notes_by_check.setdefault(item.checks[0].nodeid, []).extend(notes)
    for gate in signoff.gates:
        rows.append(
            f'<tr class="gate" data-gate="{e(gate.gate.id)}"><td colspan="2">{STATUS_ICON[gate.status]} '
            f"{e(gate.gate.label)}: {e(gate.gate.title)}</td>"
            f'<td class="st-{e(gate.status)}">{e(gate.status)}</td><td colspan="3">{e(gate.reason)}</td></tr>'
        )
        for check in gate.checks:
            measured, thresholds = _measurements(check)
            outcome = check.effective_outcome
            label = outcome if check.measured or outcome != "passed" else "passed (no evidence)"
            message = f"<div>{e(check.message)}</div>" if check.message else ""
            message += "".join(f'<div class="contract-note">{e(n)}</div>'  # contract (issue 12)
                               for n in item_notes_by_check.get(check.nodeid, []))
            if check.source:
                message += f'<div class="source">source: {e(source_text(check))}</div>'
            pictures = "".join(
                f'<img alt="{e(a.name)}" src="data:{e(a.media_type)};base64,'
                f'{base64.b64encode(a.content.encode()).decode()}">'
                for a in check.attachments if a.media_type.startswith("image/")
            )
            rows.append(
                f'<tr class="check" data-nodeid="{e(check.nodeid)}"><td></td>'
                f"<td>{e(check.title)}<div><code>{e(check.nodeid)}</code></div>{message}{pictures}</td>"
                f'<td class="st-{e(outcome)}">{e(label)}</td><td>{measured}</td><td>{thresholds}</td>'
                f"<td><code>{e(check.reproduce or '')}</code></td></tr>"
            )
    return (
        _CSS
        + '<section class="release-signoff" id="release-signoff">'
        + f'<div class="banner {e(signoff.verdict)}">Release {e(release.get("version") or "?")}: '
        + f"{e(verdict_line(signoff))}</div>"  # contract (issue 12): APPROVED with waivers
        + f"<p>{e(signoff.reason)}</p>"
        + "<p>Commit <code>" + e(release.get("commit") or "not given") + "</code>"
        + (f" · image <code>{e(release['image'])}</code>" if release.get("image") else "")
        + f" · signed off at {e(signoff.generated_at)}</p>"
        + "<table><thead><tr><th>Gate</th><th>Check</th><th>Outcome</th><th>Measured</th>"
        + "<th>Threshold</th><th>Reproduce</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + _contract_html(signoff, e)  # contract (issue 12)
        + "</section>"
    )


def _contract_html(signoff: SignOff, e: Callable[[Any], str]) -> str:
    """contract (issue 12): deviations, waivers, attestations, baseline, uncovered lines."""
    lines = summary_lines(signoff)
    if not lines:
        return ""
    return ('<h3>Deviations, waivers, attestations, baseline</h3><ul class="contract">'
            + "".join(f"<li>{e(line)}</li>" for line in lines) + "</ul>")


class HtmlSignOff:
    """pytest-html hooks: the sign-off block, the title, and a Gate column in the results table."""

    def __init__(self, collector: SignOffCollector) -> None:
        self.collector = collector

    def pytest_html_report_title(self, report: Any) -> None:
        version = self.collector.settings.release.version or ""
        report.title = f"Release sign-off {version}".strip()

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str],
                                    postfix: list[str], session: Any) -> None:
        collector = self.collector
        if collector.usage_error or collector.settings.release.version is None:
            return  # a refused run signs nothing off: no banner
        prefix.append(render(collector.signoff()))
