"""Pure aggregation of check outcomes and evidence into a sign-off.

No pytest import: this module decides, the plugin only feeds it. The rules are deliberately
one-sided: nothing that was skipped, errored, lost with a crashed worker, deselected or never
written turns into a pass, and only a complete, measured, passing run is APPROVED.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .gates import GATES, PRE_DEPLOYMENT, STAGE_ORDER, Gate, status_words

if TYPE_CHECKING:  # contract (issue 12)
    from .contract import Contract, ContractResult, ItemNotes

#: Where a check's facts came from (``evidence.set_source``): cluster live/snapshot, tool
#: run/report.
SourceKind = Literal["live", "snapshot", "run", "report"]
SOURCE_KINDS = ("live", "snapshot", "run", "report")

SCHEMA_VERSION = 2  # deviations, waivers, attestations, baseline, uncovered (schema 1 superset)

OUTCOMES = ("passed", "failed", "error", "skipped")
GATE_STATUSES = ("passed", "failed", "incomplete", "not_run")
VERDICTS = ("APPROVED", "REJECTED", "INCOMPLETE")

#: Exit statuses of a release run, beside pytest's own 0-5 (README "Exit status"): a selected gate
#: failed (the release would be REJECTED), or a selected gate was not measured, not run or lost.
EXIT_REJECTED = 10
EXIT_INCOMPLETE = 11
#: pytest's statuses a release run keeps as they are: interrupted, internal error, usage error.
_PYTEST_KEEPS = frozenset({2, 3, 4})


@dataclass(frozen=True)
class Measurement:
    """One measured value compared with its threshold (``ok`` is None for context only)."""

    name: str
    value: Any
    unit: str | None = None
    op: str | None = None
    threshold: Any = None
    ok: bool | None = None
    #: What was measured, when the name alone does not say (a key pattern, a target, a panel).
    subject: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "op": self.op,
            "threshold": self.threshold,
            "ok": self.ok,
        }
        if self.subject is not None:  # schema 1 readers see the same keys as before
            data["subject"] = self.subject
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(
            name=str(data["name"]),
            value=data.get("value"),
            unit=data.get("unit"),
            op=data.get("op"),
            threshold=data.get("threshold"),
            ok=data.get("ok"),
            subject=data.get("subject"),
        )


@dataclass(frozen=True)
class Attachment:
    """A picture or table attached to a check (for example k6 latency over time as SVG)."""

    name: str
    media_type: str
    content: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "media_type": self.media_type, "content": self.content}


@dataclass(frozen=True)
class CheckRecord:
    """Everything known about one check (one test) after the run."""

    nodeid: str
    gate: str
    item: str | None
    title: str
    outcome: str
    measurements: tuple[Measurement, ...] = ()
    reproduce: str | None = None
    message: str | None = None
    duration: float = 0.0
    attachments: tuple[Attachment, ...] = ()
    #: ``live`` | ``snapshot`` | ``run`` | ``report`` (None: the check named no source).
    source: str | None = None
    source_detail: str | None = None
    #: The check could not finish for reasons outside it (its xdist worker died, its module
    #: failed to import): an error that makes the gate incomplete, not failed.
    lost: bool = False
    #: A bundled check (its file is the suite's, byte for byte) or a team's own (False); None
    #: when not known (records built outside a run).
    bundled: bool | None = None
    #: pytest-release fixtures the check used in another definition (a conftest's): such a
    #: check is not bundled, whatever its file.
    replaced_fixtures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")

    @property
    def effective_outcome(self) -> str:
        """The outcome the verdict uses: a measured violation is a failure, whatever came after.

        A "passed" contradicted by its own evidence, or a check that recorded a violation and
        then could not finish (skipped as not measured), is failed.
        """
        if self.outcome in ("passed", "skipped") and any(m.ok is False for m in self.measurements):
            return "failed"
        return self.outcome

    @property
    def measured(self) -> bool:
        """A check counts only when it ran and recorded at least one compared measurement."""
        if self.lost:
            return any(m.ok is False for m in self.measurements)
        outcome = self.effective_outcome
        if outcome == "passed":
            return any(m.ok is not None for m in self.measurements)
        return outcome in ("failed", "error")

    @property
    def counts_as_failure(self) -> bool:
        if any(m.ok is False for m in self.measurements):
            return True
        return self.effective_outcome in ("failed", "error") and not self.lost


@dataclass(frozen=True)
class ItemResult:
    id: str | None
    text: str
    status: str  # passed | failed | not_measured | not_run | deviation | waived | attested
    checks: tuple[CheckRecord, ...]
    notes: ItemNotes | None = None  # contract (issue 12): deviations, waivers, attestation


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    status: str
    reason: str
    items: tuple[ItemResult, ...]
    checks: tuple[CheckRecord, ...]
    deselected: int = 0


@dataclass(frozen=True)
class SignOff:
    release: Mapping[str, Any]
    generated_at: str
    verdict: str
    reason: str
    gates: tuple[GateResult, ...]
    totals: Mapping[str, int] = field(default_factory=dict)
    contract: ContractResult | None = None  # contract (issue 12)
    #: The suite and the run's conftests and plugins (provenance.py; DESIGN.md "Trust").
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def approved(self) -> bool:
        return self.verdict == "APPROVED"

    # -- stages (issue 10) ------------------------------------------------------------------------
    @property
    def stage(self) -> str:
        """The latest stage any check of this run belongs to (pre-deployment when none ran)."""
        ran = [r.gate.stage for r in self.gates if r.status != "not_run"]
        return max(ran, key=STAGE_ORDER.index, default=PRE_DEPLOYMENT)

    @property
    def recommendation(self) -> str:
        """PROCEED TO CANARY → PROMOTE → RELEASE COMPLETE, or DO NOT DEPLOY / ROLL BACK / HOLD.

        Follows the stage reached: a failed canary or post-deployment stage (or failed gates in a
        run that reached a later stage) is ROLL BACK; an incomplete one is HOLD (Argo's
        Inconclusive: pause, never promote on missing data).
        """
        stage = self.stage
        if stage == PRE_DEPLOYMENT:
            return "PROCEED TO CANARY" if self.approved else "DO NOT DEPLOY"
        # every stage after the gates that ran in this run (a failed canary is not undone by a
        # passing post-deployment window)
        results = [r for r in self.gates
                   if r.gate.stage != PRE_DEPLOYMENT and (r.status != "not_run" or
                                                          r.gate.stage == stage)]
        if self.verdict == "REJECTED" or any(r.status == "failed" for r in results):
            return "ROLL BACK"
        if all(r.status == "passed" for r in results):
            return "PROMOTE" if stage == "canary" else "RELEASE COMPLETE"
        return "HOLD"

    def selected_gates(self, requested: Collection[str] = ()) -> tuple[GateResult, ...]:
        """The gates and stages this run asked for: every one with a collected check, and every
        one named by ``requested`` (its marker or id, from ``-m``) even when it has none."""
        return tuple(r for r in self.gates
                     if r.checks or r.gate.marker in requested or r.gate.id in requested)

    def exit_status(self, pytest_status: int, *, requested: Collection[str] = (),
                    require_approval: bool = False) -> int:
        """The run's exit status: non-zero whenever a selected gate did not pass.

        pytest's interrupted / internal error / usage error are kept; a failed selected gate is
        :data:`EXIT_REJECTED`; a selected gate not passed (not measured, lost, no checks) or
        nothing selected at all is :data:`EXIT_INCOMPLETE` (never pytest's 5, "no tests"); with
        ``require_approval`` anything but APPROVED is non-zero too. Otherwise pytest's status
        stands (a failing test outside the gates still exits 1).
        """
        if int(pytest_status) in _PYTEST_KEEPS:
            return int(pytest_status)
        selected = self.selected_gates(requested)
        if any(r.status == "failed" for r in selected) or (
                require_approval and self.verdict == "REJECTED"):
            return EXIT_REJECTED
        if not selected or any(r.status != "passed" for r in selected) or (
                require_approval and not self.approved):
            return EXIT_INCOMPLETE
        return int(pytest_status)

    def redacted(self, redact: Callable[[str], str]) -> SignOff:
        """This sign-off with ``redact`` applied to every string in it (done once, by the
        collector: the views render the result as is)."""
        result: SignOff = _map_strings(self, redact)
        return result

    def to_dict(self) -> dict[str, Any]:
        from .contract import item_extra, signoff_extra  # contract (issue 12)

        return {
            "schema": SCHEMA_VERSION,
            "release": dict(self.release),
            "generated_at": self.generated_at,
            "verdict": self.verdict,
            "reason": self.reason,
            "stage": self.stage,  # issue 10
            "recommendation": self.recommendation,  # issue 10
            "totals": dict(self.totals),
            "gates": [
                {
                    "id": g.gate.id,
                    "stage": g.gate.stage,  # issue 10
                    "number": g.gate.number,
                    "title": g.gate.title,
                    "status": g.status,
                    "reason": g.reason,
                    "deselected": g.deselected,
                    "items": [
                        {"id": i.id, "text": i.text, "status": i.status,
                         "checks": [c.nodeid for c in i.checks], **item_extra(i)}
                        for i in g.items
                    ],
                    "checks": [_check_dict(c) for c in g.checks],
                }
                for g in self.gates
            ],
            # contract (issue 12): qualifier, verdict_line, deviations, waivers, attestations,
            # baseline, uncovered, checklist_source
            **signoff_extra(self),
            # trust (issue 11, additive): the suite and its hashes, the team's own checks, and
            # the conftests and plugins that were active
            "suite": self.provenance.get("suite"),
            "custom_checks": [c.nodeid for g in self.gates for c in g.checks
                              if c.bundled is False],
            "active": self.provenance.get("active"),
        }


def _check_dict(check: CheckRecord) -> dict[str, Any]:
    return {
        "nodeid": check.nodeid,
        "item": check.title,
        "item_id": check.item,
        "outcome": check.effective_outcome,
        "measured": check.measured,
        "lost": check.lost,
        "measurements": [m.to_dict() for m in check.measurements],
        "source": check.source,
        "source_detail": check.source_detail,
        "reproduce": check.reproduce,
        "message": check.message,
        "duration": round(check.duration, 3),
        "attachments": [a.to_dict() for a in check.attachments],
        "bundled": check.bundled,
        "replaced_fixtures": list(check.replaced_fixtures),
    }


def _item_status(checks: Sequence[CheckRecord], partly_deselected: bool = False) -> str:
    if not checks:
        return "not_run"
    if any(c.counts_as_failure for c in checks):
        return "failed"
    if all(c.measured for c in checks) and not partly_deselected:
        return "passed"
    return "not_measured"


def _earned_status(checks: Sequence[CheckRecord], partly_deselected: bool) -> str:
    """A catalogue item's status (DESIGN.md, "Trust"): every check that names the item adds to
    it (a failing custom check fails it), but only a bundled check earns it. A check whose origin
    is unknown (``bundled is None``: a record built outside a run) is taken as bundled."""
    status = _item_status(checks, partly_deselected)
    if status != "failed" and checks and all(c.bundled is False for c in checks):
        return "not_run"
    return status


def _gate_result(gate: Gate, checks: Sequence[CheckRecord], deselected: int,
                 deselected_items: Collection[str | None] = ()) -> GateResult:
    by_item: dict[str | None, list[CheckRecord]] = {}
    for check in checks:
        key = check.item if check.item in {i.id for i in gate.items} else None
        by_item.setdefault(key, []).append(check)
    items = [
        ItemResult(i.id, i.text, _earned_status(by_item.get(i.id, []), i.id in deselected_items),
                   tuple(by_item.get(i.id, [])))
        for i in gate.items
    ]
    for extra in by_item.get(None, []):
        items.append(ItemResult(None, extra.title, _item_status([extra]), (extra,)))

    failed = [c for c in checks if c.counts_as_failure]
    unmeasured = [c for c in checks if not c.measured]
    uncovered = [i for i in items if i.status == "not_run"]
    unearned = [i for i in uncovered if i.checks]  # only custom checks ran for it
    uncovered = [i for i in uncovered if not i.checks]
    if not checks:
        status = "not_run"
        reason = (
            f"deselected ({deselected} checks)" if deselected else "no checks collected for this gate"
        )
    elif failed:
        status = "failed"
        reason = "failed: " + ", ".join(_label(c) for c in failed)
    elif unmeasured or uncovered or unearned or deselected:
        status = "incomplete"
        parts = []
        if unmeasured:
            parts.append("not measured: " + ", ".join(_label(c) for c in unmeasured))
        if uncovered:
            parts.append("no check ran for: " + ", ".join(i.text for i in uncovered))
        if unearned:
            parts.append("only custom checks ran for (a custom check never earns an item alone): "
                         + ", ".join(i.text for i in unearned))
        if deselected:
            parts.append(f"{deselected} checks deselected")
        reason = "; ".join(parts)
    else:
        status = "passed"
        reason = f"all {len(checks)} checks measured and passed"
    return GateResult(gate, status, reason, tuple(items), tuple(checks), deselected)


def _label(check: CheckRecord) -> str:
    return check.title


def decide(
    release: Mapping[str, Any],
    checks: Iterable[CheckRecord],
    *,
    generated_at: str,
    deselected: Mapping[str, int] | None = None,
    deselected_items: Mapping[str, Collection[str | None]] | None = None,
    gates: Sequence[Gate] = GATES,
    contract: Contract | None = None,
    interrupted: bool = False,
) -> SignOff:
    """Aggregate check records into a SignOff.

    A gate is passed only when every check in it ran, recorded a measurement and passed, and
    every checklist item of the gate was covered; failed when any check failed or errored;
    incomplete when anything was skipped, not measured, deselected or lost; not_run when no check
    of the gate was collected. APPROVED needs every gate of the catalogue passed.
    """
    deselected = deselected or {}
    known = {g.id for g in gates}
    by_gate: dict[str, list[CheckRecord]] = {g.id: [] for g in gates}
    for check in checks:
        if check.gate not in known:
            raise ValueError(f"check {check.nodeid} names unknown gate {check.gate!r}")
        by_gate[check.gate].append(check)
    def order(gate: Gate) -> Any:
        rank = {item.id: i for i, item in enumerate(gate.items)}
        return lambda c: (rank.get(c.item or "", len(rank)), c.nodeid)

    results = tuple(
        _gate_result(g, sorted(by_gate[g.id], key=order(g)), deselected.get(g.id, 0),
                     (deselected_items or {}).get(g.id, ()))
        for g in gates
    )
    # The verdict is the pre-deployment stage's: the six gates only (issue 10).
    pre = [r for r in results if r.gate.stage == PRE_DEPLOYMENT]
    statuses = [r.status for r in pre]
    if "failed" in statuses:
        verdict = "REJECTED"
        reason = "gate failed: " + ", ".join(
            f"{r.gate.number} {r.gate.title}" for r in pre if r.status == "failed"
        )
    elif all(s == "passed" for s in statuses):
        verdict = "APPROVED"
        reason = f"all {len(pre)} gates measured and passed"
    else:
        verdict = "INCOMPLETE"
        reason = "gate not passed: " + ", ".join(
            f"{r.gate.number} {r.gate.title} ({status_words(r.status)})" for r in pre
            if r.status != "passed"
        )
    all_checks = [c for r in results for c in r.checks]
    totals = {o: sum(1 for c in all_checks if c.effective_outcome == o) for o in OUTCOMES}
    totals["not_measured"] = sum(1 for c in all_checks if not c.measured)
    signoff = SignOff(dict(release), generated_at, verdict, reason, results, totals)
    if contract is not None:  # contract (issue 12): deviations, waivers, attestations, baseline
        from .contract import apply

        signoff = apply(signoff, contract)
    if interrupted and signoff.verdict == "APPROVED":
        # Whatever the workers managed to report, an interrupted run approves nothing.
        signoff = dataclasses.replace(
            signoff, verdict="INCOMPLETE",
            reason="the run was interrupted before every check finished")
    return signoff


#: Fields whose values come from a fixed vocabulary (never from a target): left as they are.
_ENUMERATED = frozenset({"outcome", "status", "verdict", "source"})


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` on every string of a tree of frozen dataclasses, tuples, lists and mappings."""
    if isinstance(value, str):
        return fn(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _map_strings(getattr(value, f.name), fn)
                   for f in dataclasses.fields(value) if f.init and f.name not in _ENUMERATED}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_map_strings(v, fn) for v in value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, Mapping):
        return {_map_strings(k, fn): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(_map_strings(v, fn) for v in value)
    return value
