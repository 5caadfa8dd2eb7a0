"""The terminal summary: one line per gate, the failing checks, the verdict."""
from __future__ import annotations

import pytest

from ..contract import item_notes, summary_lines, verdict_line  # contract (issue 12)
from ..verdict import SignOff
from . import fmt_measurement, source_text

_MARKUP = {"passed": {"green": True}, "failed": {"red": True}, "incomplete": {"yellow": True},
           "not_run": {"yellow": True}}
_VERDICT_MARKUP = {"APPROVED": {"green": True, "bold": True},
                   "REJECTED": {"red": True, "bold": True},
                   "INCOMPLETE": {"yellow": True, "bold": True}}


def _flat(text: str) -> str:
    """One terminal line: control characters from a target never move the cursor."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def write(signoff: SignOff, tr: pytest.TerminalReporter) -> None:
    """Write an (already redacted) sign-off to a pytest TerminalReporter."""
    version = signoff.release.get("version") or "?"
    tr.write_sep("=", _flat(f"release sign-off {version}"))
    for gate in signoff.gates:
        counts = {o: sum(1 for c in gate.checks if c.effective_outcome == o)
                  for o in ("passed", "failed", "error", "skipped")}
        # a gate with no checks says why in the JSON's words (deselected / none collected)
        summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or gate.reason
        tr.write(f"{gate.gate.label} {gate.gate.title:<20} ")
        tr.write(f"{gate.status:<11}", **_MARKUP[gate.status])
        tr.line(f" {summary}")
        for check in gate.checks:
            if check.effective_outcome == "passed" and check.measured:
                continue
            if gate.status == "not_run":
                continue
            bad = [fmt_measurement(m) for m in check.measurements if m.ok is False]
            detail = "; ".join(bad) or (check.message or "not measured")
            source = f" [{source_text(check)}]" if check.source else ""
            tr.line(_flat(f"    {check.effective_outcome:<8} {check.title}{source}: {detail}"))
        # deviation / waived / attested beside the item (issue 12)
        for item in gate.items:
            for note in item_notes(item):
                tr.line(_flat(f"    {item.status:<8} {item.text}: {note}"))
    for line in summary_lines(signoff):
        tr.line(_flat(f"  {line}"))
    tr.write("verdict: ")
    tr.write(_flat(verdict_line(signoff)), **_VERDICT_MARKUP[signoff.verdict])
    tr.line(_flat(f" ({signoff.reason})"))
    tr.line(f"recommendation: {signoff.recommendation} (stage {signoff.stage})")
