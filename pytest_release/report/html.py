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
from ..verdict import CheckRecord, GateResult, SignOff
from . import fmt_value, source_text

if TYPE_CHECKING:
    from ..collector import SignOffCollector

_CSS = """
<style>
.release-signoff{font-family:Helvetica,Arial,sans-serif;margin:0 0 1.5em 0;color:#1a1a1a}
.release-signoff .banner{padding:.8em 1em;border-radius:4px;font-size:1.3em;font-weight:bold;color:#fff}
.release-signoff .banner.APPROVED{background:#1b5e20}.release-signoff .banner.REJECTED{background:#b71c1c}
.release-signoff .banner.INCOMPLETE{background:#8a4b00}
.release-signoff .recommendation{font-size:.75em;font-weight:normal;margin-left:1em}
.release-signoff dl.identity{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:.6em 0}
.release-signoff dl.identity dt{font-weight:bold}.release-signoff dl.identity dd{margin:0}
.release-signoff table{border-collapse:collapse;width:100%;margin-top:.6em;font-size:.9em;table-layout:fixed}
.release-signoff th,.release-signoff td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.release-signoff .chip{display:inline-block;padding:1px 8px;border-radius:10px;font-weight:bold;font-size:.85em;white-space:nowrap}
.release-signoff .chip::before{content:"";display:inline-block;width:.6em;height:.6em;border-radius:50%;margin-right:.4em;background:currentColor}
.release-signoff .st-passed{background:#e8f5e9;color:#1b5e20}
.release-signoff .st-failed,.release-signoff .st-error{background:#ffebee;color:#b71c1c}
.release-signoff .st-incomplete,.release-signoff .st-skipped,.release-signoff .st-not_measured,.release-signoff .st-deviation{background:#fff3e0;color:#8a4b00}
.release-signoff .st-not_run{background:#eceff1;color:#37474f}
.release-signoff .st-waived,.release-signoff .st-attested{background:#e3f2fd;color:#0d47a1}
.release-signoff tr.row-failed td{background:#ffebee}
.release-signoff tr.check-head td{background:#f5f5f5;border-top:2px solid #999}
.release-signoff .custom{border:1px solid #6d4c41;color:#4e342e;border-radius:3px;padding:0 4px;font-size:85%}
.release-signoff pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f5f5f5;padding:4px;margin:2px 0;font-size:.85em}
.release-signoff code{font-size:.85em;overflow-wrap:anywhere}
.release-signoff img{max-width:720px;display:block;margin-top:4px}
.release-signoff section.gate{margin-top:1.2em}
.release-signoff button.copy{font-size:.75em;float:right}
@media print{.release-signoff button.copy{display:none}.release-signoff section.gate{break-inside:avoid-page}
.release-signoff details>*{display:block}#environment-header,#environment{break-before:page}}
</style>
"""

#: Human wording of the states (never the enum text).
STATUS_WORD = {"passed": "passed", "failed": "failed", "incomplete": "incomplete",
               "not_run": "not run", "error": "error", "skipped": "not measured",
               "not_measured": "not measured", "deviation": "deviation", "waived": "waived",
               "attested": "attested"}
_EARNED = frozenset({"passed", "waived", "attested"})
#: pytest-html puts its Environment table above the summary: move it after the results.
_MOVE_ENVIRONMENT = ("<script>document.addEventListener('DOMContentLoaded',function(){"
                     "['environment-header','environment'].forEach(function(i){"
                     "var n=document.getElementById(i);if(n){document.body.appendChild(n);}});});"
                     "</script>")
_COPY = ('<button class="copy" type="button" onclick="navigator.clipboard&amp;&amp;'
         'navigator.clipboard.writeText(this.nextElementSibling.textContent)">copy</button>')


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def chip(status: str) -> str:
    return f'<span class="chip st-{e(status)}">{e(STATUS_WORD.get(status, status))}</span>'


def _rank(check: CheckRecord) -> int:
    """Failures first, then what was not measured, then passes."""
    if check.counts_as_failure:
        return 0
    return 1 if not check.measured else 2


def _check_rows(check: CheckRecord, notes: list[str]) -> str:
    outcome = check.effective_outcome
    if outcome == "passed" and not check.measured:
        outcome = "skipped"
    failed = check.counts_as_failure
    head_cls = "check-head row-failed" if failed else "check-head"
    rows = [f'<tr class="{head_cls}" data-nodeid="{e(check.nodeid)}"><td colspan="5">'
            f"<strong>{e(check.title)}</strong> <code>{e(check.nodeid)}</code>"
            + (' <span class="custom" title="not a bundled check: adds to its gate, never earns '
               'an item alone">custom check</span>' if check.bundled is False else "")
            + (f' <span class="replaced">replaces the suite\'s fixtures: '
               f'{e(", ".join(check.replaced_fixtures))}</span>' if check.replaced_fixtures else "")
            + (f"<div>{e(check.message)}</div>" if check.message else "")
            + "".join(f'<div class="contract-note">{e(n)}</div>' for n in notes)
            + (f'<div class="source">source: {e(source_text(check))}</div>' if check.source else "")
            + f"</td><td>{chip(outcome)}</td></tr>"]
    for m in check.measurements:
        cls = "measurement row-failed" if m.ok is False else "measurement"
        result = "—" if m.ok is None else chip("passed" if m.ok else "failed")
        rows.append(
            f'<tr class="{cls}"><td>{e(m.name)}</td><td>{e(m.subject or "")}</td>'
            f"<td>{e(fmt_value(m.value, m.unit))}</td><td>{e(m.op or '')}</td>"
            f"<td>{e(fmt_value(m.threshold, m.unit)) if m.op else ''}</td><td>{result}</td></tr>")
    extra = ""
    if check.reproduce:
        extra += f"{_COPY}<pre class=\"reproduce\">{e(check.reproduce)}</pre>"
    extra += "".join(
        f'<img alt="{e(a.name)}" src="data:{e(a.media_type)};base64,'
        f'{base64.b64encode(a.content.encode()).decode()}">'
        for a in check.attachments if a.media_type.startswith("image/"))
    if extra:
        rows.append(f'<tr class="check-extra"><td colspan="6">{extra}</td></tr>')
    return "".join(rows)


_TABLE_HEAD = ('<table class="measurements"><colgroup><col style="width:26%"><col style="width:18%">'
               '<col style="width:22%"><col style="width:6%"><col style="width:16%">'
               '<col style="width:12%"></colgroup><thead><tr><th>Measured</th><th>Subject</th>'
               "<th>Value</th><th>Op</th><th>Threshold</th><th>Result</th></tr></thead><tbody>")


def _gate_section(gate: GateResult) -> str:
    notes_by_check: dict[str, list[str]] = {}
    for item in gate.items:  # contract (issue 12): notes beside the item's first check
        notes = [f"{item.status}: {item.text}", *item_notes(item)] if item_notes(item) else []
        if notes and item.checks:
            notes_by_check.setdefault(item.checks[0].nodeid, []).extend(notes)
    checks = sorted(gate.checks, key=_rank)
    attention = [c for c in checks if _rank(c) < 2]
    passed = [c for c in checks if _rank(c) == 2]
    body = ""
    if attention:
        body += _TABLE_HEAD + "".join(_check_rows(c, notes_by_check.get(c.nodeid, []))
                                      for c in attention) + "</tbody></table>"
    if passed:
        body += (f"<details><summary>{len(passed)} passed check{'s' if len(passed) != 1 else ''}"
                 "</summary>" + _TABLE_HEAD
                 + "".join(_check_rows(c, notes_by_check.get(c.nodeid, [])) for c in passed)
                 + "</tbody></table></details>")
    items = "".join(f'<li data-item="{e(i.id or "")}">{chip(i.status)} {e(i.text)}</li>'
                    for i in gate.items)
    return (f'<section class="gate" id="gate-{e(gate.gate.id)}" data-gate="{e(gate.gate.id)}">'
            f"<h3>{e(gate.gate.label)}: {e(gate.gate.title)} {chip(gate.status)}</h3>"
            f"<p>{e(gate.reason)}</p><ul class=\"items\">{items}</ul>{body}</section>")


def _overview(signoff: SignOff) -> str:
    rows = []
    for gate in signoff.gates:
        statuses = [i.status for i in gate.items]
        rows.append(
            f'<tr class="overview-row" data-gate="{e(gate.gate.id)}">'
            f'<td><a href="#gate-{e(gate.gate.id)}">{e(gate.gate.label)}: {e(gate.gate.title)}</a></td>'
            f"<td>{chip(gate.status)}</td>"
            f"<td>{sum(1 for s in statuses if s in _EARNED)} / {len(statuses)}</td>"
            f"<td>{len(gate.checks)}</td>"
            f"<td>{sum(1 for c in gate.checks if c.counts_as_failure)}</td>"
            f"<td>{sum(1 for c in gate.checks if not c.measured)}</td>"
            f"<td>{statuses.count('deviation')}</td><td>{statuses.count('waived')}</td></tr>")
    return ('<table class="overview"><thead><tr><th>Gate / stage</th><th>Status</th>'
            "<th>Items earned</th><th>Checks</th><th>Failed</th><th>Not measured</th>"
            "<th>Deviations</th><th>Waivers</th></tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def render(signoff: SignOff) -> str:
    """The sign-off block of an (already redacted) sign-off: verdict first, then the overview,
    then one section per gate and stage with one row per measurement."""
    release = signoff.release
    when = ("signed off at" if signoff.approved else "generated at")
    identity = [("Release", release.get("version") or "?"),
                ("Commit", release.get("commit") or "not given"),
                ("Image", release.get("image") or "not given"),
                ("Stage", signoff.stage),
                ("Recommendation", signoff.recommendation),
                (when[0].upper() + when[1:], signoff.generated_at)]
    return (
        _CSS
        + '<section class="release-signoff" id="release-signoff">'
        + f'<div class="banner {e(signoff.verdict)}">Release {e(release.get("version") or "?")}: '
        + f"{e(verdict_line(signoff))}"  # contract (issue 12): APPROVED with waivers
        + f'<span class="recommendation">{e(signoff.recommendation)}</span></div>'
        + f'<p class="reason">{e(signoff.reason)}</p>'
        + '<dl class="identity">' + "".join(f"<dt>{e(k)}</dt><dd><code>{e(v)}</code></dd>"
                                            for k, v in identity) + "</dl>"
        + _overview(signoff)
        + _contract_html(signoff, e)  # contract (issue 12)
        + "".join(_gate_section(g) for g in signoff.gates)
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
        prefix.append(render(collector.signoff()) + _MOVE_ENVIRONMENT)
