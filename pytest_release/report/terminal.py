"""The terminal summary: one line per gate, the failing checks, the verdict."""
from __future__ import annotations

from collections.abc import Callable

from ..verdict import SignOff
from . import fmt_measurement

_MARKUP = {"passed": {"green": True}, "failed": {"red": True}, "incomplete": {"yellow": True},
           "not_run": {"yellow": True}}
_VERDICT_MARKUP = {"APPROVED": {"green": True, "bold": True},
                   "REJECTED": {"red": True, "bold": True},
                   "INCOMPLETE": {"yellow": True, "bold": True}}


def write(signoff: SignOff, tr: object, redact: Callable[[str], str]) -> None:
    """Write to a pytest TerminalReporter."""
    version = signoff.release.get("version") or "?"
    tr.write_sep("=", f"release sign-off {version}")  # type: ignore[attr-defined]
    for gate in signoff.gates:
        counts = {o: sum(1 for c in gate.checks if c.effective_outcome == o)
                  for o in ("passed", "failed", "error", "skipped")}
        summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n) or "no checks"
        tr.write(f"{gate.gate.label} {gate.gate.title:<20} ")  # type: ignore[attr-defined]
        tr.write(f"{gate.status:<11}", **_MARKUP[gate.status])  # type: ignore[attr-defined]
        tr.line(f" {summary}")  # type: ignore[attr-defined]
        for check in gate.checks:
            if check.effective_outcome == "passed" and check.measured:
                continue
            if gate.status == "not_run":
                continue
            bad = [fmt_measurement(m) for m in check.measurements if m.ok is False]
            detail = "; ".join(bad) or (check.message or "not measured")
            tr.line(redact(f"    {check.effective_outcome:<8} {check.title}: {detail}"))  # type: ignore[attr-defined]
    tr.write("verdict: ")  # type: ignore[attr-defined]
    tr.write(signoff.verdict, **_VERDICT_MARKUP[signoff.verdict])  # type: ignore[attr-defined]
    tr.line(redact(f" ({signoff.reason})"))  # type: ignore[attr-defined]
    tr.line(f"recommendation: {signoff.recommendation} (stage {signoff.stage})")  # type: ignore[attr-defined]  # issue 10
