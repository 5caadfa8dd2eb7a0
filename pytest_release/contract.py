"""The checklist's numbers as a contract (issue 12): deviations, waivers, attestations, baseline
comparison and a team's own checklist applied to the sign-off :func:`verdict.decide` computed.

Rules (one-sided, like the verdict):
- an item measured and passed against a threshold looser than the checklist's is ``deviation``
  (never ``passed``) until a waiver covers the deviation, then ``waived``;
- a failed item whose every failure is covered by an active waiver is ``waived`` (never
  ``passed``); an expired waiver waives nothing;
- an attestable item that no check measured, attested by a person, is ``attested``;
- a regression beyond tolerance against the baseline (``on_regression = "failure"``) fails its
  item unless waived;
- a team checklist line bound to nothing blocks APPROVED (its gate's, or the release's) until a
  waiver or an attestation names its ``team.<slug>`` id.
APPROVED with any waiver or attestation in the pre-deployment gates says so: "APPROVED with
waivers". Pure: no pytest import.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .deviations import Deviation, by_item, show
from .gates import status_words
from .waivers import ACTIVE, EXPIRED, UNUSED, Attestation, Exceptions, Waiver

if TYPE_CHECKING:
    from .baseline import Baseline, Comparison, Delta, Tolerance
    from .checklist_source import TeamChecklist
    from .verdict import CheckRecord, GateResult, ItemResult, SignOff

PRE_DEPLOYMENT = "pre-deployment"

#: Items the catalogue lets a person attest where no machine source is configured (the stages
#: helper's catalogue declares its post-deployment items; team lines are always attestable).
ATTESTABLE: frozenset[str] = frozenset({"postdeploy.security"})

ITEM_STATES = ("deviation", "waived", "attested")


@dataclass(frozen=True)
class Contract:
    """Everything configured for the contract, loaded and validated at configure time."""

    today: dt.date
    deviations: tuple[Deviation, ...] = ()
    exceptions: Exceptions = field(default_factory=Exceptions)
    baseline: Baseline | None = None
    tolerances: tuple[Tolerance, ...] = ()
    on_regression: str = "failure"
    checklist: TeamChecklist | None = None
    #: Item wording values with the checklist's numbers (the default settings' checklist_values)
    wording: Mapping[str, object] | None = None
    attestable: frozenset[str] = ATTESTABLE


@dataclass(frozen=True)
class ItemNotes:
    """What the contract says about one item, for every view."""

    deviations: tuple[Deviation, ...] = ()
    deviation_waivers: tuple[Waiver | None, ...] = ()
    waivers: tuple[Waiver, ...] = ()
    attestation: Attestation | None = None
    regressions: tuple[Delta, ...] = ()
    in_force: str | None = None

    def lines(self) -> list[str]:
        out = []
        for d, w in zip(self.deviations, self.deviation_waivers, strict=True):
            out.append(f"deviation: {d.describe()}" + (" — waived" if w else " — not waived"))
        for w in self.waivers:
            out.append(f"WAIVED by {w.approver} until {w.expires.isoformat()} ({w.ticket}): "
                       f"{w.reason}")
        if self.attestation is not None:
            a = self.attestation
            out.append(f"ATTESTED by {a.by} on {a.when} ({a.ticket}): {a.statement}")
        for r in self.regressions:
            out.append(f"regressed vs baseline ({r.severity}): {r.describe()}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_force": self.in_force,
            "deviations": [{**d.to_dict(), "waived": w is not None}
                           for d, w in zip(self.deviations, self.deviation_waivers, strict=True)],
            "waivers": [_waiver_brief(w) for w in self.waivers],
            "attestation": self.attestation.to_dict() if self.attestation else None,
            "regressions": [r.to_dict() for r in self.regressions],
        }


def _waiver_brief(w: Waiver) -> dict[str, Any]:
    return {"scope": w.scope, "reason": w.reason, "approver": w.approver, "ticket": w.ticket,
            "expires": w.expires.isoformat()}


@dataclass(frozen=True)
class ContractResult:
    """The contract's part of the sign-off (schema 2)."""

    deviations: tuple[tuple[Deviation, Waiver | None], ...]
    waivers: tuple[tuple[Waiver, str, tuple[str, ...]], ...]
    attestations: tuple[tuple[Attestation, str, str], ...]
    baseline: Comparison | None
    checklist: TeamChecklist | None
    covered: Mapping[str, str]
    qualifier: str | None

    def to_dict(self) -> dict[str, Any]:
        from .checklist_source import uncovered_dicts

        return {
            "deviations": [{**d.to_dict(), "waived": w is not None,
                            "waiver": _waiver_brief(w) if w else None}
                           for d, w in self.deviations],
            "waivers": [{**w.to_dict(), "status": status, "applied_to": list(applied)}
                        for w, status, applied in self.waivers],
            "attestations": [{**a.to_dict(), "status": status, "note": note}
                             for a, status, note in self.attestations],
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "uncovered": uncovered_dicts(self.checklist, dict(self.covered))
            if self.checklist else [],
            "checklist_source": {
                "file": self.checklist.path,
                "lines": [line.to_dict() for line in self.checklist.lines],
            } if self.checklist else None,
        }

    def summary_lines(self) -> list[str]:
        """Plain-text lines for the terminal and Markdown views (callers escape)."""
        out = []
        for d, w in self.deviations:
            state = f"waived ({w.ticket}, {w.approver}, until {w.expires})" if w else "NOT WAIVED"
            out.append(f"deviation: {d.describe()} — {state}")
        for w, status, applied in self.waivers:
            target = f" → {', '.join(applied)}" if applied else ""
            out.append(f"waiver {status}: {w.scope} ({w.ticket}, {w.approver}, until "
                       f"{w.expires}){target}: {w.reason}")
        for a, status, note in self.attestations:
            out.append(f"attestation {status}: {a.item} by {a.by} on {a.when} ({a.ticket})"
                       + (f": {note}" if note else f": {a.statement}"))
        if self.baseline is not None:
            b = self.baseline
            ident = b.identity
            out.append(f"baseline: {ident.get('release')} commit {ident.get('commit')} of "
                       f"{ident.get('generated_at')} (schema {ident.get('schema')}, "
                       f"{ident.get('verdict')}) from {b.path}")
            for nodeid in b.newly_failing:
                out.append(f"baseline: passed before, fails now: {nodeid}")
            for r in b.regressions:
                out.append(f"baseline regression ({r.severity}): {r.item}: {r.describe()}")
            out.append(f"baseline: {len(b.deltas)} measurements compared, "
                       f"{len(b.regressions)} regressions")
        if self.checklist is not None:
            for line in self.checklist.uncovered:
                cover = self.covered.get(line.id)
                out.append(f"team checklist {self.checklist.path}:{line.number} "
                           f"'{line.text}' ({line.id}): "
                           + (cover if cover else "UNCOVERED — no check, attestation or waiver"))
        return out


# -- applying ----------------------------------------------------------------------------------------
def _covers_check(w: Waiver, item: str | None, check: CheckRecord) -> bool:
    if w.covers_check(item, check.nodeid):
        return True
    failing = [m.name for m in check.measurements if m.ok is False]
    return bool(failing) and all(w.covers_measurement(item, check.nodeid, n) for n in failing)


def _check_waivers(check: CheckRecord, item: str | None,
                   active: Sequence[Waiver]) -> list[Waiver] | None:
    """The waivers that together cover every failure of ``check``, or None."""
    whole = [w for w in active if w.covers_check(item, check.nodeid)]
    if whole:
        return whole[:1]
    failing = [m.name for m in check.measurements if m.ok is False]
    if not failing:
        return None  # an error without measurements needs an item or check waiver
    chosen: list[Waiver] = []
    for name in failing:
        found = [w for w in active if w.covers_measurement(item, check.nodeid, name)]
        if not found:
            return None
        if found[0] not in chosen:
            chosen.append(found[0])
    return chosen


def _label(item: ItemResult) -> str:
    return item.text


def apply(signoff: SignOff, contract: Contract) -> SignOff:
    """The sign-off with the contract applied (statuses, gate results, verdict, notes)."""
    from .baseline import compare
    from .gates import GATES_BY_ID

    today = contract.today
    waivers = contract.exceptions.waivers
    active = [w for w in waivers if not w.expired(today)]
    applied: dict[int, list[str]] = {id(w): [] for w in waivers}
    records = [c for g in signoff.gates for c in g.checks]
    comparison = compare(contract.baseline, records, contract.tolerances,
                         contract.on_regression) if contract.baseline else None
    regressions: dict[str, list[Delta]] = {}
    for delta in comparison.regressions if comparison else ():
        regressions.setdefault(delta.check, []).append(delta)
    dev_items = by_item(list(contract.deviations))
    dev_waiver: dict[str, Waiver | None] = {}
    for d in contract.deviations:
        dev_waiver[d.setting] = next(
            (w for w in active if w.covers_deviation(d.setting, d.items)), None)
    attest_by_item: dict[str, list[Attestation]] = {}
    for a in contract.exceptions.attestations:
        attest_by_item.setdefault(a.item, []).append(a)
    attest_state: dict[int, tuple[str, str]] = {}

    team = contract.checklist
    covered: dict[str, str] = {}
    team_waived: set[str] = set()
    if team is not None:
        for line in team.uncovered:
            waiver = next((w for w in active if w.item == line.id), None)
            attested = attest_by_item.get(line.id, [])
            if waiver is not None:
                covered[line.id] = "waived"
                applied[id(waiver)].append(line.id)
                team_waived.add(line.id)
            elif attested:
                covered[line.id] = "attested"
                attest_state[id(attested[0])] = ("applied", "")
                for extra in attested[1:]:
                    attest_state[id(extra)] = ("ignored", "another attestation covers it")

    gates: list[GateResult] = []
    for g in signoff.gates:
        items: list[ItemResult] = []
        changed = False
        for it in g.items:
            key = f"{g.gate.id}.{it.id}" if it.id else None
            status = it.status
            used: list[Waiver] = []
            unwaived_failure = False
            waived_failure = False
            for check in it.checks:
                if check.counts_as_failure:
                    cover = _check_waivers(check, key, active)
                    if cover is None:
                        unwaived_failure = True
                    else:
                        waived_failure = True
                        used += [w for w in cover if w not in used]
                for delta in regressions.get(check.nodeid, []):
                    if delta.severity != "failure":
                        continue
                    cover_r = next((w for w in active if w.covers_check(key, check.nodeid)
                                    or w.covers_measurement(key, check.nodeid, delta.name)), None)
                    if cover_r is None:
                        unwaived_failure = True
                    else:
                        waived_failure = True
                        if cover_r not in used:
                            used.append(cover_r)
            devs = tuple(dev_items.get(key, [])) if key else ()
            dws = tuple(dev_waiver.get(d.setting) for d in devs)
            for w in dws:
                if w is not None and w not in used:
                    used.append(w)
            if unwaived_failure:
                status = "failed"
            elif waived_failure:
                rest = [c for c in it.checks if not c.counts_as_failure]
                if all(c.bundled is False for c in it.checks):
                    status = "not_run"  # a waived custom check earns nothing (DESIGN.md, Trust)
                else:
                    status = "waived" if all(c.measured for c in rest) else "not_measured"
            if status in ("passed", "waived") and any(w is None for w in dws):
                status = "deviation"
            elif status == "passed" and devs:
                status = "waived"
            attestation = None
            for a in attest_by_item.get(key or "", []):
                if attestation is None and status in ("not_run", "not_measured") \
                        and key in contract.attestable:
                    attestation = a
                    status = "attested"
                    attest_state[id(a)] = ("applied", "")
                elif key not in contract.attestable:
                    attest_state[id(a)] = ("ignored", "not attestable: the catalogue measures "
                                           "this item with a check")
                elif attestation is not None:
                    attest_state[id(a)] = ("ignored", "another attestation covers it")
                else:
                    attest_state[id(a)] = ("ignored", f"measured by a check ({it.status}): a "
                                           "measurement is never replaced by a statement")
            item_regressions = tuple(d for c in it.checks
                                     for d in (comparison.regressions if comparison else ())
                                     if d.check == c.nodeid)
            for w in used:
                applied[id(w)].append(key or it.text)
            text, in_force = it.text, None
            if devs and it.id and contract.wording is not None and g.gate.id in GATES_BY_ID:
                try:
                    template = GATES_BY_ID[g.gate.id].item(it.id)
                    in_force = it.text
                    text = template.text.format_map(dict(contract.wording))
                except (KeyError, ValueError):
                    pass
            if devs:
                shown = [show(d.value_in_force, d.unit) if len(devs) == 1
                         else f"{d.setting} {show(d.value_in_force, d.unit)}" for d in devs]
                state = "deviation" + ("s" if len(devs) > 1 else "")
                if all(dws):
                    state += ", waived"
                text = f"{text} (in force: {', '.join(shown)} — {state})"
            notes = ItemNotes(devs, dws, tuple(used), attestation, item_regressions, in_force)
            has_notes = bool(devs or used or attestation or item_regressions)
            if status != it.status or has_notes:
                changed = True
            items.append(dataclasses.replace(it, status=status, text=text,
                                             notes=notes if has_notes else None))
        lines = [line for line in (team.uncovered if team else ())
                 if line.gate == g.gate.id and line.id not in covered]
        if changed or lines:
            gates.append(_regate(g, items, lines))
        else:
            gates.append(g)

    pre = [r for r in gates if getattr(r.gate, "stage", PRE_DEPLOYMENT) == PRE_DEPLOYMENT]
    known_gates = {r.gate.id for r in gates}
    loose_lines = [line for line in (team.uncovered if team else ())
                   if (line.gate is None or line.gate not in known_gates)
                   and line.id not in covered]
    verdict, reason = _verdict(pre, loose_lines, signoff)
    pre_items = [i for r in pre for i in r.items]
    qualifier = None
    if verdict == "APPROVED":
        kinds = []
        if any(i.status == "waived" for i in pre_items) or team_waived:
            kinds.append("waivers")
        if any(i.status == "attested" for i in pre_items) or "attested" in covered.values():
            kinds.append("attestations")
        if kinds:
            qualifier = "with " + " and ".join(kinds)
            tickets = sorted({w.ticket for w in waivers if applied[id(w)]} |
                             {a.ticket for a in contract.exceptions.attestations
                              if attest_state.get(id(a), ("", ""))[0] == "applied"})
            reason += f"; {qualifier}: {', '.join(tickets)}"

    waiver_rows = []
    for w in waivers:
        status = EXPIRED if w.expired(today) else (ACTIVE if applied[id(w)] else UNUSED)
        waiver_rows.append((w, status, tuple(applied[id(w)])))
    attestation_rows = []
    for a in contract.exceptions.attestations:
        state, note = attest_state.get(id(a), ("ignored", "its item is not in this run's "
                                                          "catalogue or was not collected"))
        attestation_rows.append((a, state, note))
    result = ContractResult(
        deviations=tuple((d, dev_waiver.get(d.setting)) for d in contract.deviations),
        waivers=tuple(waiver_rows), attestations=tuple(attestation_rows), baseline=comparison,
        checklist=team, covered=covered, qualifier=qualifier)
    return dataclasses.replace(signoff, gates=tuple(gates), verdict=verdict, reason=reason,
                               contract=result)


def _regate(g: GateResult, items: list[ItemResult], lines: Sequence[Any]) -> GateResult:
    statuses = [i.status for i in items]
    if g.status == "not_run" and "attested" not in statuses and not lines:
        return dataclasses.replace(g, items=tuple(items))
    if "failed" in statuses:
        status = "failed"
        reason = "failed: " + ", ".join(_label(i) for i in items if i.status == "failed")
    elif any(s in ("not_measured", "not_run", "deviation") for s in statuses) or g.deselected \
            or lines:
        status = "incomplete"
        parts = []
        for label, wanted, custom in (
                ("not measured", "not_measured", None), ("no check ran for", "not_run", False),
                ("only custom checks ran for (a custom check never earns an item alone)",
                 "not_run", True), ("deviation not waived", "deviation", None)):
            found = [_label(i) for i in items if i.status == wanted
                     and (custom is None or bool(i.checks) == custom)]
            if found:
                parts.append(f"{label}: " + ", ".join(found))
        if lines:
            parts.append("team checklist line not covered: " + ", ".join(
                f"'{line.text}'" for line in lines))
        if g.deselected:
            parts.append(f"{g.deselected} checks deselected")
        reason = "; ".join(parts)
    else:
        status = "passed"
        extras = [s for s in ("waived", "attested") if s in statuses]
        reason = f"all {len(g.checks)} checks measured and passed" if g.checks else "attested"
        if extras:
            reason += " (" + ", ".join(
                f"{sum(1 for s in statuses if s == e)} {e}" for e in extras) + ")"
    return dataclasses.replace(g, status=status, reason=reason, items=tuple(items))


def _verdict(pre: Sequence[GateResult], loose_lines: Sequence[Any],
             signoff: SignOff) -> tuple[str, str]:
    statuses = [r.status for r in pre]
    if "failed" in statuses:
        return "REJECTED", "gate failed: " + ", ".join(
            f"{r.gate.number} {r.gate.title}" for r in pre if r.status == "failed")
    if all(s == "passed" for s in statuses) and not loose_lines:
        return "APPROVED", f"all {len(pre)} gates measured and passed"
    parts = []
    if not all(s == "passed" for s in statuses):
        parts.append("gate not passed: " + ", ".join(
            f"{r.gate.number} {r.gate.title} ({status_words(r.status)})" for r in pre
            if r.status != "passed"))
    if loose_lines:
        parts.append("team checklist lines not covered: " + ", ".join(
            f"'{line.text}'" for line in loose_lines))
    return "INCOMPLETE", "; ".join(parts)


# -- for views ---------------------------------------------------------------------------------------
def item_extra(item: ItemResult) -> dict[str, Any]:
    """Extra keys of an item in the JSON sign-off (schema 2)."""
    notes = getattr(item, "notes", None)
    return notes.to_dict() if notes is not None else {}


def signoff_extra(signoff: SignOff) -> dict[str, Any]:
    """Top-level keys schema 2 adds: deviations, waivers, attestations, baseline, uncovered."""
    result = getattr(signoff, "contract", None)
    data = result.to_dict() if result is not None else {
        "deviations": [], "waivers": [], "attestations": [], "baseline": None, "uncovered": [],
        "checklist_source": None}
    data["qualifier"] = result.qualifier if result is not None else None
    data["verdict_line"] = verdict_line(signoff)
    return data


def verdict_line(signoff: SignOff) -> str:
    """``APPROVED``, ``APPROVED with waivers``, ``REJECTED`` …"""
    result = getattr(signoff, "contract", None)
    qualifier = result.qualifier if result is not None else None
    return f"{signoff.verdict} {qualifier}" if qualifier else signoff.verdict


def item_notes(item: ItemResult) -> list[str]:
    notes = getattr(item, "notes", None)
    return notes.lines() if notes is not None else []


def summary_lines(signoff: SignOff) -> list[str]:
    result = getattr(signoff, "contract", None)
    return result.summary_lines() if result is not None else []


# -- loading (configure time) ------------------------------------------------------------------------
class ContractError(Exception):
    """Every problem of the contract's inputs (waivers, attestations, baseline, team checklist)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_contract(settings: Any, *, waivers: str | None, attestations: str | None,
                  baseline: str | None, checklist_source: str | None,
                  wording: Mapping[str, object] | None, today: dt.date) -> Contract:
    """Read and validate every input at once; raises ContractError listing all problems."""
    from pathlib import Path

    from . import gates as catalogue
    from .baseline import BaselineError, load_baseline, parse_tolerances
    from .checklist_source import ChecklistSourceError, catalogue_ids
    from .checklist_source import load as load_checklist
    from .deviations import THRESHOLDS, deviations, resolvable
    from .waivers import WaiverFileError
    from .waivers import load as load_waivers

    gates = getattr(catalogue, "CATALOGUE", catalogue.GATES)
    problems: list[str] = []
    team = None
    if checklist_source:
        try:
            team = load_checklist(Path(checklist_source).expanduser(), gates)
        except ChecklistSourceError as exc:
            problems += exc.problems
    exceptions = Exceptions()
    paths = [Path(p).expanduser() for p in (waivers, attestations) if p]
    if paths:
        known_items = catalogue_ids(gates) - {"pre-deployment"} - {g.id for g in gates}
        if team is not None:
            known_items |= team.ids
        try:
            exceptions = load_waivers(
                paths, known_items=known_items, today=today,
                known_settings={t.setting for t in THRESHOLDS if resolvable(t)})
        except WaiverFileError as exc:
            problems += exc.problems
    rules, rule_problems = parse_tolerances(settings.baseline.tolerances)
    where = getattr(settings, "provenance", {}).get("baseline.tolerances", "baseline.tolerances")
    problems += [f"{where}: {p}" for p in rule_problems]
    loaded = None
    if baseline:
        try:
            loaded = load_baseline(Path(baseline).expanduser())
        except BaselineError as exc:
            problems.append(str(exc))
    if problems:
        raise ContractError(problems)
    return Contract(today=today, deviations=tuple(deviations(settings)), exceptions=exceptions,
                    baseline=loaded, tolerances=tuple(rules),
                    on_regression=settings.baseline.on_regression, checklist=team,
                    wording=wording)
