"""The Markdown checklist in the layout of the release checklist people already sign.

A box is ticked only for an item whose checks were all measured and passed; the measured values
stand beside it; the date is the real UTC time of the sign-off, not ``$(date)``.
"""
from __future__ import annotations

import re

from ..contract import item_notes, summary_lines, verdict_line  # contract (issue 12)
from ..verdict import GateResult, ItemResult, SignOff
from . import ITEM_LABEL, STATUS_ICON, VERDICT_ICON, fmt_measurement, source_text

# CommonMark: a backslash before ASCII punctuation is a literal character. Inline, ``&`` would
# start an entity (``&lt;``), ``<`` raw HTML or an autolink, ``[ ]`` links and images, ``* _ ~``
# emphasis, `` ` `` a code span, ``|`` a table cell, ``#`` close a heading; at the start of the
# text (which may follow a list marker) ``- + = >`` and ``1.`` / ``1)`` open a block. Nothing else
# is escaped, so the raw Markdown stays readable ("v5.7.1", not "v5\\.7\\.1").
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&#|~])")
_MD_BLOCK_START = re.compile(r"^(?:([-+=])|(\d+)([.)]))")


def _printable(text: str) -> str:
    """Control characters (terminal escapes) neutralised: they have no place in a checklist."""
    if text.isprintable():  # the common case, without a per-character loop
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def md(text: object) -> str:
    """Escape target-supplied text for CommonMark inline text: no HTML, no links, one line.

    Only ASCII punctuation is backslash-escaped (CommonMark renders ``\\x`` as ``x`` for those),
    so the rendered text equals the input: no stray escape characters.
    """
    flat = _MD_SPECIAL.sub(r"\\\1", _printable(" ".join(str(text).split())))
    return _MD_BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", flat)


def code(text: object) -> str:
    """Target-supplied text as a CommonMark code span: rendered literally, HTML inert.

    The fence is one backtick longer than the longest run inside, and a value that starts or
    ends with a backtick (or space) is padded with one space, which CommonMark strips again.
    """
    flat = _printable(" ".join(str(text).split())) or " "
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    if flat.strip() and (flat.startswith(("`", " ")) or flat.endswith(("`", " "))):
        flat = f" {flat} "
    return f"{fence}{flat}{fence}"


def _item_line(item: ItemResult) -> str:
    box = "x" if item.status == "passed" else " "
    line = f"- [{box}] {md(item.text)}"
    measured = [fmt_measurement(m) for c in item.checks for m in c.measurements if m.op is not None]
    if item.status != "passed":
        line += f" — **{ITEM_LABEL[item.status]}**"
    if measured:
        line += " — " + "; ".join(code(m) for m in measured[:6])
        if len(measured) > 6:
            line += f"; … ({len(measured) - 6} more)"
    sources = sorted({source_text(c) for c in item.checks if c.source})
    if sources:
        line += "  \n  _source: " + "; ".join(md(t) for t in sources) + "_"
    reasons = [c.message for c in item.checks if c.message and item.status != "passed"]
    if reasons:
        line += f"  \n  _{md(reasons[0])}_"
    if item.status == "failed":
        # Context beside the failing numbers: which keys, which codes (e.g. keys without TTL).
        context = [fmt_measurement(m) for c in item.checks for m in c.measurements
                   if m.op is None and isinstance(m.value, list)]
        for text in context[:3]:
            line += f"  \n  {code(text)}"
    if item.status == "not_run" and not item.checks:
        line += " — no check ran"
    elif item.status == "not_run":
        line += " — only custom checks ran (a custom check never earns an item alone)"
    for note in item_notes(item):  # contract (issue 12): deviation, waiver, attestation
        line += f"  \n  {md(note)}"
    return line


def _contract_section(signoff: SignOff) -> list[str]:
    """contract (issue 12): deviations, waivers, attestations, baseline, uncovered lines."""
    lines = summary_lines(signoff)
    if not lines:
        return []
    return ["## Deviations, Waivers, Attestations, Baseline", "",
            *[f"- {md(line)}" for line in lines], ""]


def _team_layout(signoff: SignOff) -> str | None:
    """contract (issue 12): the team's own checklist, ticked from measurement."""
    from ..checklist_source import render as render_team

    result = signoff.contract
    if result is None or result.checklist is None:
        return None
    items = {f"{g.gate.id}.{i.id}": i for g in signoff.gates for i in g.items if i.id}
    notes: dict[str, list[str]] = {}
    for line in result.checklist.lines:
        found = []
        for target in line.targets:
            item = items.get(target)
            if item is not None:
                found += [code(fmt_measurement(m)) for c in item.checks
                          for m in c.measurements if m.op is not None][:3]
                found += [md(n) for n in item_notes(item)]
        notes[line.id] = found
    body = render_team(result.checklist, signoff, covered=dict(result.covered), notes=notes)
    verdict = (f"> **pytest-release {md(str(signoff.release.get('version')))}: "
               f"{verdict_line(signoff)}** — {md(signoff.reason)}")
    return "\n".join([verdict, "", body, *_contract_section(signoff)])


def _fenced(lines: list[str], info: str = "bash") -> list[str]:
    """A fenced block whose fence is longer than any backtick run inside (CommonMark)."""
    longest = max((len(run) for c in lines for run in re.findall(r"`+", c)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *lines, fence]


def _command_blocks(gate: GateResult) -> list[str]:
    """The commands this run really ran (each check's reproduce command, as run), then the
    checklist's own commands, marked as the original's placeholders (not run as written)."""
    ran: list[str] = []
    for check in gate.checks:
        # One line each: a reproduce command built from target data must not open a new
        # Markdown block (or tick a box) by carrying newlines.
        command = " ".join((check.reproduce or "").split())
        if command and command not in ran:
            ran.append(_printable(command))
    out = [""]
    if ran:
        out += ["**Commands run** (reproduce each check exactly as this sign-off ran it):",
                *_fenced(ran), ""]
    if gate.gate.validation:
        out += [f"**{gate.gate.validation_label}** (the original checklist's commands, "
                "placeholders as written there — not run):",
                *_fenced(list(gate.gate.validation)), ""]
    return out


def render(signoff: SignOff) -> str:
    """The checklist of an (already redacted) sign-off."""
    team = _team_layout(signoff)  # contract (issue 12): --release-checklist-source
    if team is not None:
        return team
    release = signoff.release
    version = release.get("version") or "unknown"
    commit = release.get("commit") or "not given (set release.commit)"
    date = signoff.generated_at.replace("T", " ").replace("Z", " UTC")
    icon = VERDICT_ICON[signoff.verdict]
    out = [
        f"# {md(str(version))} Release Checklist - {verdict_line(signoff)} {icon}",
        "",
        "## Release Metadata",
        f"- **Version**: {md(str(version))}",
        f"- **Commit**: {md(str(commit))}",
    ]
    if release.get("image"):
        out.append(f"- **Image**: {md(str(release['image']))}")
    out += [
        f"- **Date**: {date}",
        f"- **Status**: {verdict_line(signoff)} — {md(str(signoff.reason))}",
        "",
        "## Pre-Deployment Gates (ALL MUST PASS)",
        "",
    ]
    for gate in signoff.gates:
        if gate.gate.stage != "pre-deployment":  # issue 10: stages have their own sections
            continue
        out.append(f"### {STATUS_ICON[gate.status]} Gate {gate.gate.number}: {gate.gate.title}")
        out.append(f"_Status: {gate.status.replace('_', ' ')} — {md(str(gate.reason))}_")
        out.append("")
        out += [_item_line(item) for item in gate.items]
        out += _command_blocks(gate)
    # -- issue 10: Deployment Plan ... Success Criteria, in the checklist's order ----------------
    from .markdown_stages import render_stages

    out += render_stages(signoff, _item_line)
    # -- end issue 10 -------------------------------------------------------------------------------
    out += _contract_section(signoff)  # contract (issue 12)
    totals = signoff.totals
    out += [
        "## Sign-Off",
        "",
        f"**Version**: {md(str(version))}  ",
        f"**Commit**: {md(str(commit))}  ",
        f"**Date**: {date}  ",
        f"**Checks**: {totals.get('passed', 0)} passed, {totals.get('failed', 0)} failed, "
        f"{totals.get('error', 0)} errors, {totals.get('skipped', 0)} skipped, "
        f"{totals.get('not_measured', 0)} not measured  ",
        f"**Status**: {icon} {verdict_line(signoff)}  ",
        "",
        "---",
        "",
        f"**RECOMMENDATION: {signoff.recommendation}**"  # issue 10: follows the stage reached
        f" — stage {signoff.stage}; {md(str(signoff.reason))}",
        "",
        "_Generated by pytest-release. Every ticked box is a check that ran and was measured._",
        "",
    ]
    return "\n".join(out)


def step_summary(signoff: SignOff) -> str:
    """The short summary for a CI job page (``$GITHUB_STEP_SUMMARY``): verdict, gate table,
    failures. The full checklist stays in the artifact."""
    version = md(str(signoff.release.get("version") or "unknown"))
    out = [f"### {VERDICT_ICON[signoff.verdict]} pytest-release {version}: {verdict_line(signoff)}",
           "", f"**{signoff.recommendation}** — stage {md(signoff.stage)}; {md(signoff.reason)}", "",
           "| Gate / stage | Status | Items | Checks | Failed | Not measured |",
           "|---|---|---:|---:|---:|---:|"]
    earned_states = ("passed", "waived", "attested")
    for gate in signoff.gates:
        earned = sum(1 for i in gate.items if i.status in earned_states)
        failed = sum(1 for c in gate.checks if c.effective_outcome in ("failed", "error"))
        unmeasured = sum(1 for c in gate.checks if not c.measured
                         and c.effective_outcome in ("skipped", "passed"))
        out.append(f"| {STATUS_ICON[gate.status]} {md(gate.gate.label)} {md(gate.gate.title)} "
                   f"| {gate.status.replace('_', ' ')} | {earned}/{len(gate.items)} "
                   f"| {len(gate.checks)} | {failed} | {unmeasured} |")
    failures = [(g, c) for g in signoff.gates for c in g.checks
                if c.effective_outcome in ("failed", "error")]
    if failures:
        out += ["", "**Failures**", ""]
        for gate, check in failures[:50]:
            bad = [fmt_measurement(m) for m in check.measurements if m.ok is False]
            detail = "; ".join(code(b) for b in bad) or md(check.message or check.effective_outcome)
            out.append(f"- {md(gate.gate.label)} {md(check.title)} ({code(check.nodeid)}): {detail}")
        if len(failures) > 50:
            out.append(f"- … {len(failures) - 50} more in the checklist artifact")
    return "\n".join(out) + "\n\n"
