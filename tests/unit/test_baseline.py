"""Baseline comparison: deltas, tolerance rules both ways, newly failing checks, bad baselines."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_release import baseline as bl
from pytest_release.contract import Contract
from pytest_release.verdict import CheckRecord, Measurement, decide

RULES, PROBLEMS = bl.parse_tolerances(
    ("load.p95 +20%", "load.error_rate x2", "redis.ttl/keys without expiry* from 0",
     "load.success_rate x2", "redis.p95 +5"))


def test_the_default_rules_parse() -> None:
    from pytest_release.settings import BaselineSettings

    rules, problems = bl.parse_tolerances(BaselineSettings().tolerances)
    assert problems == [] and len(rules) == 4
    assert not PROBLEMS


@pytest.mark.parametrize("text", ["load.p95", "load.p95 20%", "p95 +20%", "load.p95 x1",
                                  "load.p95 from 1"])
def test_malformed_rules_are_problems(text: str) -> None:
    rules, problems = bl.parse_tolerances([text])
    assert rules == [] and len(problems) == 1 and repr(text) in problems[0]


def rec(gate: str, item: str, outcome: str, *ms: Measurement) -> CheckRecord:
    return CheckRecord(nodeid=f"tests_release/test_gate_{gate}.py::test_{item}", gate=gate,
                       item=item, title=item, outcome=outcome, measurements=ms)


def signoff_json(*records: CheckRecord) -> dict[str, Any]:
    return decide({"version": "v5.7.0", "commit": "abc1234"}, list(records),
                  generated_at="2026-11-01T10:00:00Z").to_dict()


def p95(value: float) -> Measurement:
    return Measurement("http_req_duration p(95)", value, "ms", "<", 120.0, value < 120)


def rate(value: float) -> Measurement:
    return Measurement("http_req_failed rate", value, None, "<", 0.005, value < 0.005)


def no_expiry(value: int) -> Measurement:
    return Measurement("keys without expiry (feedback:*)", value, None, "==", 0, value == 0)


def success(value: float) -> Measurement:
    return Measurement("checks rate", value, None, ">", 0.995, value > 0.995)


BEFORE = (rec("load", "p95", "passed", p95(50.0)), rec("load", "error_rate", "passed", rate(0.001)),
          rec("redis", "ttl", "passed", no_expiry(0)), rec("load", "success_rate", "passed",
                                                           success(0.999)))


@pytest.fixture
def baseline(tmp_path: Path) -> bl.Baseline:
    path = tmp_path / "earlier.json"
    path.write_text(json.dumps(signoff_json(*BEFORE)))
    return bl.load_baseline(path)


@pytest.mark.parametrize(
    ("now", "regressed"),
    [
        (rec("load", "p95", "passed", p95(59.0)), False),  # +18 %
        (rec("load", "p95", "passed", p95(61.0)), True),  # +22 %
        (rec("load", "p95", "passed", p95(30.0)), False),  # better
        (rec("load", "error_rate", "passed", rate(0.0019)), False),  # x1.9
        (rec("load", "error_rate", "passed", rate(0.0021)), True),  # x2.1
        (rec("redis", "ttl", "failed", no_expiry(1)), True),  # 0 → any
        (rec("redis", "ttl", "passed", no_expiry(0)), False),
        (rec("load", "success_rate", "passed", success(0.6)), False),  # lower, not by half
        (rec("load", "success_rate", "failed", success(0.4)), True),  # below half
    ],
)
def test_tolerances_both_ways(baseline: bl.Baseline, now: CheckRecord, regressed: bool) -> None:
    comparison = bl.compare(baseline, [now], RULES)
    (delta,) = comparison.deltas
    assert delta.regression is regressed
    assert delta.delta == pytest.approx(float(now.measurements[0].value) -
                                        float(delta.before))


def test_identity_newly_failing_first_and_context_values(baseline: bl.Baseline) -> None:
    now = [rec("redis", "ttl", "failed", no_expiry(3), Measurement("keys sampled", 10)),
           rec("load", "p95", "passed", p95(50.0)), rec("api", "jwt", "failed")]
    comparison = bl.compare(baseline, now, RULES)
    assert comparison.identity == {"release": "v5.7.0", "commit": "abc1234",
                                   "generated_at": "2026-11-01T10:00:00Z", "schema": 2,
                                   "verdict": "INCOMPLETE"}
    assert comparison.newly_failing == ("tests_release/test_gate_redis.py::test_ttl",)
    assert [d.name for d in comparison.deltas] == ["keys without expiry (feedback:*)",
                                                   "http_req_duration p(95)"]


def test_a_check_from_another_rootdir_compares_with_itself(baseline: bl.Baseline) -> None:
    moved = CheckRecord(nodeid="pytest_release/suite/test_gate_load.py::test_p95", gate="load",
                        item="p95", title="p95", outcome="passed", measurements=(p95(70.0),))
    assert bl.compare(baseline, [moved], RULES).regressions[0].rule == "load.p95 +20%"


def test_a_regression_fails_its_item_or_only_warns(baseline: bl.Baseline) -> None:
    now = [rec("load", "p95", "passed", p95(90.0))]
    for mode, status in (("failure", "failed"), ("warning", "passed")):
        contract = Contract(today=dt.date(2026, 12, 2), baseline=baseline,
                            tolerances=tuple(RULES), on_regression=mode)
        signoff = decide({"version": "v5.7.1"}, now, generated_at="2026-12-02T00:00:00Z",
                         contract=contract)
        (p95_item,) = [i for g in signoff.gates if g.gate.id == "load" for i in g.items
                       if i.id == "p95"]
        assert p95_item.status == status, mode
        assert p95_item.notes is not None
        assert p95_item.notes.lines()[0].startswith(f"regressed vs baseline ({mode})")
        data = signoff.to_dict()["baseline"]
        assert data["identity"]["release"] == "v5.7.0"
        assert data["regressions"][0]["severity"] == mode


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"hello": 1}', "is not a pytest-release sign-off"),
        ('{"schema": 9, "gates": []}', "has sign-off schema 9"),
        ('{"schema": 2, "gates": [{"id": "redis"}]}', "is malformed"),
        ("[1, 2]", "is not a pytest-release sign-off"),
    ],
)
def test_unreadable_or_incompatible_baselines_are_clear_errors(tmp_path: Path, content: str,
                                                               message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(bl.BaselineError, match=message) as info:
        bl.load_baseline(path)
    assert str(path) in str(info.value)


def test_a_missing_baseline_file(tmp_path: Path) -> None:
    with pytest.raises(bl.BaselineError, match="file not found"):
        bl.load_baseline(tmp_path / "nope.json")


def test_a_schema_1_sign_off_is_compatible(tmp_path: Path) -> None:
    data = signoff_json(*BEFORE)
    data["schema"] = 1
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data))
    assert len(bl.load_baseline(path).checks) == 4
