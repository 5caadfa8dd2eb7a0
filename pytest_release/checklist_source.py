"""A team's own Markdown checklist (``--release-checklist-source``, issue 12).

Every box line (``- [ ] …``, ``- [x] …``, ``✅ …``) is bound to the catalogue:
1. by an explicit tag on the line: ``<!-- release-item: security.trivy -->`` (an item),
   ``<!-- release-item: canary -->`` (a whole gate or stage), ``<!-- release-item:
   pre-deployment -->`` (all six gates) or ``<!-- release-check: test_x.py::test_y -->`` (one
   check, which may be the team's own marked test);
2. by the wording of a catalogue item, compared normalised (case, spacing, Markdown emphasis)
   and insensitive to numbers, so "TTL: 14 days configured" binds to the TTL item (the sign-off
   then says the suite checked the catalogue's number, shown beside the line);
3. by a summary wording the catalogue knows (:data:`SUMMARY_WORDINGS`: "All gates PASS", …).
A line bound to nothing is *uncovered*: it gets an id ``team.<slug>`` that a waiver or an
attestation can name, and until one does, its gate (found from the section heading) — or, when
no gate owns the section, the release — cannot be APPROVED. Pure: no pytest import.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gates import Gate
    from .verdict import SignOff

PRE_DEPLOYMENT = "pre-deployment"
_TAG = re.compile(r"<!--\s*release-(item|check)\s*:\s*(.*?)\s*-->")
_BOX = re.compile(r"^(?P<lead>\s*(?:[-*+]|\d+[.)])\s+)\[(?P<mark>[ xX])\](?P<sp>\s+)(?P<text>.*)$")
_EMOJI = re.compile(r"^(?P<lead>\s*(?:[-*+]\s+)?)(?P<mark>✅|❌|⬜|⚠️|☑️|✔️)(?P<sp>\s+)(?P<text>.*)$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_PLACEHOLDER = re.compile(r"\{[a-z0-9_]+\}")
_FENCE = re.compile(r"^\s*(```|~~~)")
_COMMENT = re.compile(r"<!--.*?-->")

#: Summary lines of the seed checklist ("Success Criteria") and what earns each: a stage
#: (all of its items), an item, or several (all must pass).
SUMMARY_WORDINGS: dict[str, tuple[str, ...]] = {
    "all gates pass": (PRE_DEPLOYMENT,),
    "canary deployment successful": ("canary",),
    "no rollback triggered": ("canary",),
    "error budget within limits": ("postdeploy.burn_rate",),
    "no critical incidents": ("postdeploy.security", "postdeploy.alerts"),
}


class ChecklistSourceError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Line:
    """One box line of the team's checklist and what it is bound to."""

    number: int
    text: str  # the line's wording without box, tag or emphasis
    targets: tuple[str, ...]  # gate.item | gate | pre-deployment | check:NODEID
    how: str | None  # tag | wording | summary | None (uncovered)
    id: str  # team.<slug>: what a waiver or attestation names for an uncovered line
    section: str
    gate: str | None  # the gate/stage the line belongs to (for an uncovered line's effect)

    @property
    def bound(self) -> bool:
        return bool(self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.number, "text": self.text, "targets": list(self.targets),
                "bound_by": self.how, "id": self.id, "section": self.section, "gate": self.gate}


@dataclass(frozen=True)
class TeamChecklist:
    path: str
    raw: tuple[str, ...]
    lines: tuple[Line, ...]

    @property
    def uncovered(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if not line.bound)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(line.id for line in self.uncovered)


def normalise(text: str) -> str:
    """Lower case, Markdown emphasis and code marks dropped, numbers as ``#``, one space."""
    text = _COMMENT.sub(" ", text)
    text = re.sub(r"[*_`]+", "", text).lower()
    text = _NUMBER.sub("#", text)
    return " ".join(text.split()).strip(" .;:")


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(template)
    body = ".+?".join(re.escape(normalise(p) if p.strip() else p.strip()) for p in parts)
    body = body.replace(r"\ ", " ")
    return re.compile(r"^\s*" + body + r"\s*$")


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:48].strip("-") or "line"


def catalogue_ids(gates: Sequence[Gate]) -> set[str]:
    """Every id a tag may name: gate.item, gate, pre-deployment."""
    ids = {PRE_DEPLOYMENT}
    for g in gates:
        ids.add(g.id)
        ids.update(f"{g.id}.{i.id}" for i in g.items)
    return ids


def _heading_gate(heading: str, gates: Sequence[Gate]) -> str | None:
    norm = normalise(heading)
    for g in gates:
        title = normalise(g.title)
        if title and (title in norm or norm.endswith(title)):
            return g.id
    match = re.search(r"gate\s*#", norm)
    if match:
        number = re.search(r"gate\s*(\d+)", heading.lower())
        if number:
            for g in gates:
                if g.number == int(number.group(1)):
                    return g.id
    return None


def parse(text: str, gates: Sequence[Gate], path: str = "<checklist>") -> TeamChecklist:
    """Bind every box line of ``text``; unknown tag ids raise ChecklistSourceError."""
    known = catalogue_ids(gates)
    patterns = [(f"{g.id}.{i.id}", g.id, _pattern(i.text)) for g in gates for i in g.items]
    summary = {k: v for k, v in SUMMARY_WORDINGS.items()
               if all(t in known for t in v)}
    problems: list[str] = []
    lines: list[Line] = []
    section, section_gate, fenced = "", None, False
    used_ids: set[str] = set()
    raw = text.splitlines()
    last_gate: str | None = None
    for number, line in enumerate(raw, 1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = _HEADING.match(line)
        if heading:
            section = heading.group(2)
            section_gate = _heading_gate(section, gates)
            last_gate = None
            continue
        match = _BOX.match(line) or _EMOJI.match(line)
        if not match:
            continue
        body = match.group("text")
        wording = " ".join(re.sub(r"[*`]+", "", _COMMENT.sub(" ", body)).split())
        targets: list[str] = []
        how = None
        for kind, value in _TAG.findall(body):
            how = "tag"
            if kind == "check":
                if "::" not in value:
                    problems.append(f"{path}:{number}: release-check {value!r} is not a node id "
                                    "(e.g. test_gate_redis.py::test_ttl_is_bounded)")
                targets.append(f"check:{value}")
                continue
            for target in (t.strip() for t in value.split(",") if t.strip()):
                if target not in known:
                    import difflib

                    close = difflib.get_close_matches(target, sorted(known), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    problems.append(f"{path}:{number}: release-item {target!r} is not in the "
                                    f"catalogue{hint}")
                targets.append(target)
        if not targets:
            norm = normalise(wording)
            matches = [(item, gate) for item, gate, pattern in patterns if pattern.match(norm)]
            if len(matches) > 1:
                owned = [m for m in matches if m[1] in (section_gate, last_gate)]
                matches = owned or matches[:1]
            if matches:
                targets, how = [matches[0][0]], "wording"
            elif norm in summary:
                targets, how = list(summary[norm]), "summary"
        gate = section_gate
        if gate is None and targets:
            first = targets[0]
            gate = first.split(".")[0] if "." in first and not first.startswith("check:") \
                else None
        if gate is None:
            gate = last_gate
        if targets and "." in targets[0] and not targets[0].startswith("check:"):
            last_gate = targets[0].split(".")[0]
        slug = f"team.{_slug(wording)}"
        line_id, n = slug, 2
        while line_id in used_ids:
            line_id, n = f"{slug}-{n}", n + 1
        used_ids.add(line_id)
        lines.append(Line(number, wording, tuple(targets), how, line_id, section, gate))
    if problems:
        raise ChecklistSourceError(problems)
    return TeamChecklist(path, tuple(raw), tuple(lines))


def load(path: Path, gates: Sequence[Gate]) -> TeamChecklist:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ChecklistSourceError(
            [f"{path}: --release-checklist-source file not found (check the path)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ChecklistSourceError(
            [f"{path}: --release-checklist-source cannot be read: {exc}"]) from None
    team = parse(text, gates, str(path))
    if not team.lines:
        raise ChecklistSourceError([f"{path}: no box lines ('- [ ] ...', '- [x] ...' or "
                                    "'✅ ...') found: is this a Markdown checklist?"])
    return team


# -- status and rendering --------------------------------------------------------------------------
_WORST = ("failed", "deviation", "not_measured", "not_run", "waived", "attested", "passed")
_GATE_AS_ITEM = {"passed": "passed", "failed": "failed", "incomplete": "not_measured",
                 "not_run": "not_run"}
_VERDICT_AS_ITEM = {"APPROVED": "passed", "REJECTED": "failed", "INCOMPLETE": "not_measured"}


def status_of(line: Line, signoff: SignOff, covered: dict[str, str] | None = None) -> str:
    """The line's status from the sign-off: the worst of its targets (items after waivers and
    attestations); an uncovered line is ``uncovered`` unless ``covered`` says waived/attested."""
    if not line.targets:
        return (covered or {}).get(line.id, "uncovered")
    found = []
    for target in line.targets:
        found.append(_target_status(target, signoff))
    return min(found, key=_WORST.index)


def _target_status(target: str, signoff: SignOff) -> str:
    from .waivers import nodeid_matches

    if target == PRE_DEPLOYMENT:
        return _VERDICT_AS_ITEM[signoff.verdict]
    if target.startswith("check:"):
        pattern = target[len("check:"):]
        for g in signoff.gates:
            for c in g.checks:
                if nodeid_matches(pattern, c.nodeid):
                    if c.counts_as_failure:
                        return "failed"
                    return "passed" if c.measured else "not_measured"
        return "not_run"
    gate_id, _, item_id = target.partition(".")
    for g in signoff.gates:
        if g.gate.id != gate_id:
            continue
        if not item_id:
            return _GATE_AS_ITEM[g.status]
        for i in g.items:
            if i.id == item_id:
                return i.status
    return "not_run"


_LABEL = {"passed": "", "failed": "FAILED", "not_measured": "NOT MEASURED", "not_run": "NOT RUN",
          "deviation": "DEVIATION", "waived": "WAIVED", "attested": "ATTESTED",
          "uncovered": "UNCOVERED (no check, attestation or waiver)"}
_EMOJI_FOR = {"passed": "✅", "failed": "❌"}


def render(team: TeamChecklist, signoff: SignOff, *, covered: dict[str, str] | None = None,
           notes: dict[str, list[str]] | None = None, escape: Any = str) -> str:
    """The team's own file with its boxes ticked from measurement (passed only) and each line's
    state beside it; everything else is copied as written. ``notes``: extra text per line id."""
    by_number = {line.number: line for line in team.lines}
    out: list[str] = []
    date = signoff.generated_at.replace("T", " ").replace("Z", " UTC")
    for number, raw in enumerate(team.raw, 1):
        line = by_number.get(number)
        if line is None:
            out.append(raw.replace("$(date)", date))
            continue
        status = status_of(line, signoff, covered)
        match = _BOX.match(raw) or _EMOJI.match(raw)
        assert match is not None
        lead, body = match.group("lead"), match.group("text")
        if _BOX.match(raw):
            box = "[x]" if status == "passed" else "[ ]"
            new = f"{lead}{box}{match.group('sp')}{body}"
        else:
            new = f"{lead}{_EMOJI_FOR.get(status, '⬜')}{match.group('sp')}{body}"
        label = _LABEL[status]
        extra = [escape(n) for n in (notes or {}).get(line.id, [])]
        if label:
            extra.insert(0, f"**{label}**")
        if extra:
            new += " — " + "; ".join(extra)
        out.append(new)
    return "\n".join(out) + "\n"


def uncovered_dicts(team: TeamChecklist, covered: dict[str, str]) -> list[dict[str, Any]]:
    return [{**line.to_dict(), "status": covered.get(line.id, "uncovered")}
            for line in team.uncovered]


def bound_items(team: TeamChecklist) -> set[str]:
    out: set[str] = set()
    for line in team.lines:
        out.update(line.targets)
    return out


def iter_items(gates: Iterable[Gate]) -> Iterable[str]:
    for g in gates:
        for i in g.items:
            yield f"{g.id}.{i.id}"
