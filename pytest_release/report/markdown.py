"""The Markdown checklist in the layout of the release checklist people already sign.

A box is ticked only for an item whose checks were all measured and passed; the measured values
stand beside it; the date is the real UTC time of the sign-off, not ``$(date)``.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from ..verdict import ItemResult, SignOff
from . import ITEM_LABEL, STATUS_ICON, VERDICT_ICON, fmt_measurement

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: object) -> str:
    """Escape target-supplied text for Markdown prose (no HTML, no links, one line)."""
    flat = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def code(text: object) -> str:
    """Target-supplied text as an inline code span: rendered literally, HTML inert."""
    flat = " ".join(str(text).split()).replace("`", "'")
    return f"`{flat}`"


def _item_line(item: ItemResult, redact: Callable[[str], str]) -> str:
    box = "x" if item.status == "passed" else " "
    line = f"- [{box}] {md(item.text)}"
    measured = [fmt_measurement(m) for c in item.checks for m in c.measurements if m.op is not None]
    if item.status != "passed":
        line += f" — **{ITEM_LABEL[item.status]}**"
    if measured:
        line += " — " + "; ".join(code(redact(m)) for m in measured[:6])
        if len(measured) > 6:
            line += f"; … ({len(measured) - 6} more)"
    reasons = [c.message for c in item.checks if c.message and item.status != "passed"]
    if reasons:
        line += f"  \n  _{md(redact(reasons[0]))}_"
    if item.status == "failed":
        # Context beside the failing numbers: which keys, which codes (e.g. keys without TTL).
        context = [fmt_measurement(m) for c in item.checks for m in c.measurements
                   if m.op is None and isinstance(m.value, list)]
        for text in context[:3]:
            line += f"  \n  {code(redact(text))}"
    if item.status == "not_run" and not item.checks:
        line += " — no check ran"
    return line


def render(signoff: SignOff, redact: Callable[[str], str]) -> str:
    release = signoff.release
    version = release.get("version") or "unknown"
    commit = release.get("commit") or "not given (set release.commit)"
    date = signoff.generated_at.replace("T", " ").replace("Z", " UTC")
    icon = VERDICT_ICON[signoff.verdict]
    out = [
        f"# {md(redact(str(version)))} Release Checklist - {signoff.verdict} {icon}",
        "",
        "## Release Metadata",
        f"- **Version**: {md(redact(str(version)))}",
        f"- **Commit**: {md(redact(str(commit)))}",
    ]
    if release.get("image"):
        out.append(f"- **Image**: {md(redact(str(release['image'])))}")
    out += [
        f"- **Date**: {date}",
        f"- **Status**: {signoff.verdict} — {md(redact(str(signoff.reason)))}",
        "",
        "## Pre-Deployment Gates (ALL MUST PASS)",
        "",
    ]
    for gate in signoff.gates:
        if gate.gate.stage != "pre-deployment":  # issue 10: stages have their own sections
            continue
        out.append(f"### {STATUS_ICON[gate.status]} Gate {gate.gate.number}: {gate.gate.title}")
        out.append(f"_Status: {gate.status.replace('_', ' ')} — {md(redact(str(gate.reason)))}_")
        out.append("")
        out += [_item_line(item, redact) for item in gate.items]
        commands = list(gate.gate.validation)
        for check in gate.checks:
            # One line each: a reproduce command built from target data must not open a new
            # Markdown block (or tick a box) by carrying newlines.
            command = " ".join(redact(check.reproduce or "").split())
            if command and command not in commands:
                commands.append(command)
        longest = max((len(run) for c in commands for run in re.findall(r"`+", c)), default=0)
        fence = "`" * max(3, longest + 1)
        out += ["", f"**{gate.gate.validation_label}:**", f"{fence}bash", *commands, fence, ""]
    # -- issue 10: Deployment Plan ... Success Criteria, in the checklist's order ----------------
    from .markdown_stages import render_stages

    out += render_stages(signoff, lambda item: _item_line(item, redact))
    # -- end issue 10 -------------------------------------------------------------------------------
    totals = signoff.totals
    out += [
        "## Sign-Off",
        "",
        f"**Version**: {md(redact(str(version)))}  ",
        f"**Commit**: {md(redact(str(commit)))}  ",
        f"**Date**: {date}  ",
        f"**Checks**: {totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed, "
        f"{totals.get('error', 0)} errors, {totals.get('skipped', 0)} skipped, "
        f"{totals.get('not_measured', 0)} not measured  ",
        f"**Status**: {icon} {signoff.verdict}  ",
        "",
        "---",
        "",
        f"**RECOMMENDATION: {signoff.recommendation}**"  # issue 10: follows the stage reached
        f" — stage {signoff.stage}; {md(redact(str(signoff.reason)))}",
        "",
        "_Generated by pytest-release. Every ticked box is a check that ran and was measured._",
        "",
    ]
    return redact("\n".join(out))
