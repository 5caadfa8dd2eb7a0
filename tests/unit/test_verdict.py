"""verdict.decide as a pure table: check outcomes + evidence → gate status → verdict."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_release.gates import GATES, GATES_BY_ID
from pytest_release.verdict import CheckRecord, Measurement, decide

OK = (Measurement("value", 1, None, "==", 1, True),)
BAD = (Measurement("value", 2, None, "==", 1, False),)
CONTEXT_ONLY = (Measurement("note", "seen"),)
RELEASE = {"version": "v5.7.1", "commit": "98ee13c", "image": None}


def rec(gate: str, item: str | None, outcome: str = "passed",
        measurements: tuple[Measurement, ...] = OK, **kw: Any) -> CheckRecord:
    return CheckRecord(nodeid=f"tests_release/test_gate_{gate}.py::test_{item}", gate=gate,
                       item=item, title=str(item), outcome=outcome, measurements=measurements, **kw)


def full_gate(gate_id: str, **override: tuple[str, tuple[Measurement, ...]] | None) -> list[CheckRecord]:
    """One measured, passing check per catalogue item; ``item=(outcome, measurements)`` or
    ``item=None`` (no check for that item) changes one of them."""
    records = []
    for item in GATES_BY_ID[gate_id].items:
        if item.id in override:
            if override[item.id] is None:
                continue
            outcome, measurements = override[item.id]  # type: ignore[misc]
            records.append(rec(gate_id, item.id, outcome, measurements))
        else:
            records.append(rec(gate_id, item.id))
    return records


def all_gates(**per_gate: list[CheckRecord]) -> list[CheckRecord]:
    records: list[CheckRecord] = []
    for g in GATES:
        records += per_gate.get(g.id, full_gate(g.id))
    return records


def decide_(checks: list[CheckRecord], deselected: dict[str, int] | None = None):
    return decide(RELEASE, checks, generated_at="2026-11-26T16:00:00Z", deselected=deselected)


# (case id, checks, deselected, gate "redis" status, redis item statuses that differ from
#  "passed", verdict) — every other gate is complete and passed unless the case replaces it.
CASES = [
    ("all passed", all_gates(), None, "passed", {}, "APPROVED"),
    ("a skip", all_gates(redis=full_gate("redis", ttl=("skipped", ()))), None,
     "incomplete", {"ttl": "not_measured"}, "INCOMPLETE"),
    ("an error", all_gates(redis=full_gate("redis", aof=("error", ()))), None,
     "failed", {"aof": "failed"}, "REJECTED"),
    ("a failure", all_gates(redis=full_gate("redis", aof=("failed", BAD))), None,
     "failed", {"aof": "failed"}, "REJECTED"),
    ("passed without measurements", all_gates(redis=full_gate("redis", p95=("passed", ()))),
     None, "incomplete", {"p95": "not_measured"}, "INCOMPLETE"),
    ("passed with context values only",
     all_gates(redis=full_gate("redis", p95=("passed", CONTEXT_ONLY))),
     None, "incomplete", {"p95": "not_measured"}, "INCOMPLETE"),
    ("passed but a measurement is not ok",
     all_gates(redis=full_gate("redis", maxmemory=("passed", OK + BAD))),
     None, "failed", {"maxmemory": "failed"}, "REJECTED"),
    ("deselected gate", all_gates(redis=[]), {"redis": 6}, "not_run",
     {i.id: "not_run" for i in GATES_BY_ID["redis"].items}, "INCOMPLETE"),
    ("one check deselected", all_gates(redis=full_gate("redis", retry=None)), {"redis": 1},
     "incomplete", {"retry": "not_run"}, "INCOMPLETE"),
    ("catalogue item without a check", all_gates(redis=full_gate("redis", retry=None)), None,
     "incomplete", {"retry": "not_run"}, "INCOMPLETE"),
    ("failure beats incomplete",
     all_gates(redis=full_gate("redis", ttl=("skipped", ()), aof=("failed", BAD))), None,
     "failed", {"ttl": "not_measured", "aof": "failed"}, "REJECTED"),
]


@pytest.mark.parametrize(
    ("checks", "deselected", "status", "items", "verdict"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_outcomes_decide_gate_status_and_verdict(checks, deselected, status, items, verdict):
    signoff = decide_(checks, deselected)
    redis = signoff.gates[0]
    assert redis.gate.id == "redis"
    assert redis.status == status, redis.reason
    expected_items = {i.id: items.get(i.id, "passed") for i in GATES_BY_ID["redis"].items}
    assert {i.id: i.status for i in redis.items} == expected_items
    assert all(g.status == "passed" for g in signoff.gates[1:])
    assert signoff.verdict == verdict, signoff.reason
    assert signoff.approved is (verdict == "APPROVED")


def test_all_six_gates_passed_is_approved():
    signoff = decide_(all_gates())
    assert [g.status for g in signoff.gates] == ["passed"] * 6
    assert signoff.verdict == "APPROVED"
    assert signoff.to_dict()["verdict"] == "APPROVED"
    assert signoff.totals["passed"] == sum(len(g.items) for g in GATES)
    assert signoff.totals["not_measured"] == 0


@pytest.mark.parametrize("gate", [g.id for g in GATES])
def test_a_partial_run_is_never_approved(gate):
    """`-m gate_security` style: only one gate ran (and passed)."""
    signoff = decide_(full_gate(gate))
    statuses = {g.gate.id: g.status for g in signoff.gates}
    assert statuses.pop(gate) == "passed"
    assert set(statuses.values()) == {"not_run"}
    assert signoff.verdict == "INCOMPLETE"


def test_deselected_gate_is_not_run_with_a_reason():
    signoff = decide_(full_gate("redis"), deselected={"api": 6})
    api = signoff.gates[1]
    assert api.status == "not_run"
    assert api.deselected == 6
    assert "deselected" in api.reason
    assert signoff.verdict == "INCOMPLETE"


def test_check_of_an_unknown_gate_is_a_value_error():
    with pytest.raises(ValueError, match="unknown gate 'kafka'"):
        decide_([rec("kafka", "lag")])


def test_unknown_outcome_is_a_value_error():
    with pytest.raises(ValueError, match="outcome must be one of"):
        rec("redis", "ttl", outcome="xpassed")


def test_check_outside_the_catalogue_still_counts():
    """A check whose item id is not in the catalogue is shown as an extra line and gated."""
    extra = rec("redis", "not-an-item", outcome="failed", measurements=BAD)
    signoff = decide_(all_gates(redis=full_gate("redis") + [extra]))
    redis = signoff.gates[0]
    assert redis.status == "failed"
    assert redis.items[-1].id is None and redis.items[-1].status == "failed"


def test_json_model_reports_effective_outcome_and_measured():
    signoff = decide_(full_gate("redis", maxmemory=("passed", BAD), p95=("passed", ())))
    checks = {c["item_id"]: c for c in signoff.to_dict()["gates"][0]["checks"]}
    assert checks["maxmemory"]["outcome"] == "failed"
    assert checks["maxmemory"]["measurements"][0]["ok"] is False
    assert checks["p95"]["outcome"] == "passed" and checks["p95"]["measured"] is False
    assert signoff.to_dict()["schema"] == 2  # issue 12: schema 2 is a superset of schema 1


_OUTCOME = st.sampled_from([("passed", OK), ("passed", ()), ("passed", BAD), ("failed", BAD),
                            ("error", ()), ("skipped", ()), None])


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({
    g.id: st.fixed_dictionaries({i.id: _OUTCOME for i in g.items}) for g in GATES
}), st.dictionaries(st.sampled_from([g.id for g in GATES]), st.integers(0, 3)))
def test_approved_only_when_every_item_of_every_gate_is_measured_and_passed(spec, deselected):
    checks = [r for gate_id, items in spec.items() for r in full_gate(gate_id, **items)]
    signoff = decide_(checks, deselected)
    everything_passed = not any(deselected.values()) and all(
        o == ("passed", OK) for items in spec.values() for o in items.values()
    )
    anything_failed = any(
        o is not None and (o[0] in ("failed", "error") or o[1] == BAD)
        for items in spec.values() for o in items.values()
    )
    assert signoff.approved is everything_passed
    assert (signoff.verdict == "REJECTED") is anything_failed
