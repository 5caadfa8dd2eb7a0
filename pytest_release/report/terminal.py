"""The terminal summary: one compact table of gates and stages, the failures, then what was not
measured grouped by the setting that would fix it, then the verdict."""
from __future__ import annotations

import functools
import re

import pytest

from ..contract import item_notes, summary_lines, verdict_line  # contract (issue 12)
from ..verdict import CheckRecord, GateResult, SignOff
from . import fmt_measurement, source_text

_MARKUP = {"passed": {"green": True}, "failed": {"red": True}, "incomplete": {"yellow": True},
           "not_run": {"yellow": True}}
_VERDICT_MARKUP = {"APPROVED": {"green": True, "bold": True},
                   "REJECTED": {"red": True, "bold": True},
                   "INCOMPLETE": {"yellow": True, "bold": True}}
_STATUS_WORD = {"passed": "passed", "failed": "FAILED", "incomplete": "incomplete",
                "not_run": "not run"}
#: items that count as earned: measured passes, and what the contract accepts in their place
EARNED = frozenset({"passed", "waived", "attested"})
_NOT_MEASURED = re.compile(r"^(?:not measured:\s*)+", re.IGNORECASE)


def _flat(text: str) -> str:
    """One terminal line: control characters from a target never move the cursor."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


@functools.lru_cache(maxsize=1)
def _setting_pattern() -> re.Pattern[str]:
    from ..settings import field_docs

    # longest first, so at one position "observability.metrics_url" wins over a shorter key
    keys = sorted((key for key, *_ in field_docs()), key=len, reverse=True)
    return re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, keys)) + r")(?!\w)")


def fix_setting(reason: str) -> str | None:
    """The setting a not-measured reason names first (``api.token``), or None.

    The probes phrase their reasons as ``X is not configured (set X ...)`` or ``set X or Y``: the
    first setting named is the one that fixes it.
    """
    match = _setting_pattern().search(reason)
    return match[1] if match else None


def unmeasured(check: CheckRecord) -> bool:
    """Not measured (skipped with a reason, or passed without evidence), not failed."""
    return not check.measured and check.effective_outcome in ("skipped", "passed")


def reason_text(check: CheckRecord) -> str:
    return _NOT_MEASURED.sub("", check.message or "not measured").strip() or "not measured"


def _check_name(check: CheckRecord) -> str:
    """``Alerts active (test_alertmanager_routes)``: the item's words and which check it is."""
    func = check.nodeid.rsplit("::", 1)[-1]
    return f"{check.title} ({func})"


def not_measured_groups(signoff: SignOff) -> list[tuple[str, str, list[tuple[GateResult, CheckRecord]]]]:
    """(setting or "", how to set it, [(gate, check)]) for every check that was not measured,
    grouped by the setting that would fix it; the largest group first."""
    groups: dict[str, tuple[dict[str, int], list[tuple[GateResult, CheckRecord]]]] = {}
    for gate in signoff.gates:
        if gate.status == "not_run":
            continue
        for check in gate.checks:
            if not unmeasured(check):
                continue
            reason = reason_text(check)
            setting = fix_setting(reason)
            key = setting or f"\0{reason}"
            hows, members = groups.setdefault(key, ({}, []))
            hows[reason] = hows.get(reason, 0) + 1
            members.append((gate, check))
    out = []
    for key, (hows, members) in groups.items():
        how = max(hows, key=lambda r: hows[r])  # the most common wording of the fix
        out.append(("" if key.startswith("\0") else key, how, members))
    out.sort(key=lambda g: (-len(g[2]), g[0] == "", g[0]))
    return out


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) if i > 1 else c.ljust(w)
                     for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


def write(signoff: SignOff, tr: pytest.TerminalReporter) -> None:
    """Write an (already redacted) sign-off to a pytest TerminalReporter."""
    version = signoff.release.get("version") or "?"
    tr.write_sep("=", _flat(f"release sign-off {version}"))
    header = ["gate / stage", "status", "items", "checks", "failed", "not measured"]
    rows = []
    for gate in signoff.gates:
        earned = sum(1 for i in gate.items if i.status in EARNED)
        failed = sum(1 for c in gate.checks if c.effective_outcome in ("failed", "error"))
        missing = sum(1 for c in gate.checks if unmeasured(c))
        rows.append((gate, [f"{gate.gate.label} {gate.gate.title}", _STATUS_WORD[gate.status],
                            f"{earned}/{len(gate.items)}", str(len(gate.checks)), str(failed),
                            str(missing)]))
    widths = [max(len(r[i]) for r in [header, *(cells for _, cells in rows)])
              for i in range(len(header))]
    tr.line(_flat(_row(header, widths)), bold=True)
    for gate, cells in rows:
        tr.write(_flat(cells[0].ljust(widths[0])) + "  ")
        tr.write(cells[1].ljust(widths[1]), **_MARKUP[gate.status])
        tr.line("  " + _row(["", *cells[2:]], [0, *widths[2:]]).lstrip())
    # a gate with no checks says why, in the JSON's words (deselected / none collected)
    unrun = [gate for gate, _ in rows if not gate.checks]
    if unrun:
        tr.line("")
        for gate in unrun:
            tr.line(_flat(f"  {gate.gate.label} {gate.gate.title}: {gate.reason}"))

    failures = [(g, c) for g in signoff.gates for c in g.checks
                if c.effective_outcome in ("failed", "error")]
    if failures:
        tr.line("")
        tr.line("failed:", red=True, bold=True)
        for gate, check in failures:
            bad = [fmt_measurement(m) for m in check.measurements if m.ok is False]
            detail = "; ".join(bad) or (check.message or check.effective_outcome)
            source = f" [{source_text(check)}]" if check.source else ""
            tr.line(_flat(f"  {gate.gate.label} {_check_name(check)}{source}: {detail}"))

    custom = [(g, c) for g in signoff.gates for c in g.checks if c.bundled is False]
    if custom:  # DESIGN.md, "Trust": listed, adding to their gate, never earning an item alone
        tr.line("")
        tr.line(f"custom checks: {len(custom)} (not the bundled suite's: they add to a gate and "
                "never earn an item alone)", bold=True)
        for gate, check in custom:
            why = (f" (replaces the suite's fixtures: {', '.join(check.replaced_fixtures)})"
                   if check.replaced_fixtures else "")
            tr.line(_flat(f"  {gate.gate.label} {check.nodeid}{why}"))

    notes = [(g, i, n) for g in signoff.gates for i in g.items for n in item_notes(i)]
    if notes:  # contract (issue 12): deviation / waiver / attestation beside its item
        tr.line("")
        for gate, item, note in notes:
            tr.line(_flat(f"  {gate.gate.label} {item.text}: {note}"))

    groups = not_measured_groups(signoff)
    if groups:
        total = sum(len(m) for _, _, m in groups)
        tr.line("")
        plural = "" if total == 1 else "s"
        tr.line(f"not measured: {total} check{plural}, by the setting that would measure them:",
                yellow=True, bold=True)
        for setting, how, members in groups:
            head = f"  {setting}" if setting else "  (no setting)"
            tr.line(_flat(f"{head} — {how}"), bold=True)
            by_gate: dict[str, list[str]] = {}
            for gate, check in members:
                by_gate.setdefault(gate.gate.label, []).append(_check_name(check))
            for label, names in by_gate.items():
                tr.line(_flat(f"      {label}: {', '.join(names)}"))

    contract = summary_lines(signoff)
    if contract:
        tr.line("")
        for line in contract:
            tr.line(_flat(f"  {line}"))
    tr.write("verdict: ")
    tr.write(_flat(verdict_line(signoff)), **_VERDICT_MARKUP[signoff.verdict])
    tr.line(_flat(f" ({signoff.reason})"))
    tr.line(f"recommendation: {signoff.recommendation} (stage {signoff.stage})")
