"""A team's own checklist: binding by tag, wording (numbers-insensitive) and summary wording;
uncovered lines; the team's layout written back with boxes ticked from measurement."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pytest_release import checklist_source as cs
from pytest_release import gates
from pytest_release.bundled import examples_path
from pytest_release.contract import Contract
from pytest_release.verdict import CheckRecord, Measurement, decide
from pytest_release.waivers import Attestation, Exceptions, Waiver

CATALOGUE = getattr(gates, "CATALOGUE", gates.GATES)
SEED = examples_path("checklist-v5.7.1.md")


def test_the_seed_checklist_binds_every_box_line() -> None:
    team = cs.load(SEED, CATALOGUE)
    assert len(team.lines) == 39  # 29 gate lines, 5 post-deployment, 5 success criteria
    unbound = [(line.number, line.text) for line in team.uncovered]
    assert unbound == []
    # every gate line by its own item's wording, in its own gate
    for line in team.lines:
        if line.how == "wording":
            assert line.targets[0].split(".")[0] == line.gate
    assert {line.how for line in team.lines} == {"wording", "summary"}


@pytest.mark.parametrize(
    ("line", "target"),
    [
        ("- [x] TTL: 14 days configured", "redis.ttl"),  # numbers-insensitive
        ("- [ ] **Performance:** P95 < 80ms", "redis.p95"),  # emphasis, other number
        ("* [X] maxmemory POLICY:   noeviction", "redis.maxmemory"),
        ("- [ ] Duration: 2m with 50 VUs", "load.profile"),
        ("- [ ] Git tag: v6.0.0", "gitops.tag"),
        ("- [ ] Our own words <!-- release-item: security.trivy -->", "security.trivy"),
        ("- [ ] Smoke test <!-- release-check: test_smoke.py::test_smoke -->",
         "check:test_smoke.py::test_smoke"),
        ("✅ All gates PASS", "pre-deployment"),
    ],
)
def test_a_line_binds(line: str, target: str) -> None:
    team = cs.parse(f"# Ours\n{line}\n", CATALOGUE)
    (bound,) = team.lines
    assert bound.targets[0] == target


def test_headings_fences_and_plain_bullets_are_not_box_lines() -> None:
    text = ("# v1 ✅\n### ✅ Gate 1: Redis Persistence\n- Duration: 5 minutes\n"
            "```\n- [ ] TTL: 7 days configured\n```\n**Status**: ✅ APPROVED\n")
    assert cs.parse(text, CATALOGUE).lines == ()


TEAM = """# Team release checklist

## Redis
- [ ] TTL: 7 days configured
- [ ] Feature flags reviewed
- [x] Maxmemory policy: noeviction

## Other
- [ ] Customer support briefed
"""


def test_unbound_lines_are_uncovered_with_an_id_and_their_gate() -> None:
    team = cs.parse(TEAM, CATALOGUE, "team.md")
    assert [(line.number, line.id, line.gate) for line in team.uncovered] == [
        (5, "team.feature-flags-reviewed", "redis"),
        (9, "team.customer-support-briefed", None)]


def test_an_unknown_tag_is_a_problem_naming_file_and_line() -> None:
    with pytest.raises(cs.ChecklistSourceError) as info:
        cs.parse("- [ ] x <!-- release-item: security.trivvy -->\n", CATALOGUE, "team.md")
    assert info.value.problems == ["team.md:1: release-item 'security.trivvy' is not in the "
                                   "catalogue (did you mean 'security.trivy'?)"]


def test_a_file_without_boxes_or_missing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.md").write_text("# nothing\n")
    with pytest.raises(cs.ChecklistSourceError, match="no box lines"):
        cs.load(tmp_path / "x.md", CATALOGUE)
    with pytest.raises(cs.ChecklistSourceError, match="file not found"):
        cs.load(tmp_path / "none.md", CATALOGUE)


def records(**outcome: str) -> list[CheckRecord]:
    ok = (Measurement("value", 1, None, "==", 1, True),)
    bad = (Measurement("value", 2, None, "==", 1, False),)
    out = []
    for g in gates.GATES:
        for i in g.items:
            state = outcome.get(f"{g.id}_{i.id}", "passed")
            out.append(CheckRecord(f"tests_release/test_gate_{g.id}.py::test_{i.id}", g.id, i.id,
                                   i.text, state, bad if state == "failed" else ok))
    return out


NONE = Exceptions()


def decide_with(team: cs.TeamChecklist, exceptions: Exceptions = NONE,
                **outcome: str):  # type: ignore[no-untyped-def]
    contract = Contract(today=dt.date(2026, 12, 2), checklist=team, exceptions=exceptions)
    return decide({"version": "v5.7.1"}, records(**outcome), generated_at="2026-12-02T07:00:00Z",
                  contract=contract, gates=gates.GATES)


def test_two_uncovered_lines_block_approved_until_covered() -> None:
    team = cs.parse(TEAM, CATALOGUE, "team.md")
    signoff = decide_with(team)
    assert signoff.verdict == "INCOMPLETE"
    assert "team checklist lines not covered: 'Customer support briefed'" in signoff.reason
    redis = signoff.gates[0]
    assert redis.status == "incomplete"
    assert "team checklist line not covered: 'Feature flags reviewed'" in redis.reason
    data = signoff.to_dict()
    assert [u["id"] for u in data["uncovered"]] == ["team.feature-flags-reviewed",
                                                     "team.customer-support-briefed"]
    assert {u["status"] for u in data["uncovered"]} == {"uncovered"}
    covered = Exceptions(
        (Waiver("flags frozen for this release", "jane.doe", "REL-9", dt.date(2026, 12, 31),
                item="team.feature-flags-reviewed"),),
        (Attestation("team.customer-support-briefed", "briefed on Monday", "sam", "2026-12-01",
                     "CS-3"),))
    signoff = decide_with(team, covered)
    assert signoff.verdict == "APPROVED"
    assert signoff.contract is not None
    assert signoff.contract.qualifier == "with waivers and attestations"
    assert [u["status"] for u in signoff.to_dict()["uncovered"]] == ["waived", "attested"]


def test_the_team_layout_is_written_back_ticked_from_measurement() -> None:
    team = cs.parse(TEAM, CATALOGUE, "team.md")
    signoff = decide_with(team, redis_maxmemory="failed")
    out = cs.render(team, signoff).splitlines()
    assert out[0] == "# Team release checklist"
    assert out[3] == "- [x] TTL: 7 days configured"
    assert out[4].startswith("- [ ] Feature flags reviewed — **UNCOVERED")
    assert out[5] == "- [ ] Maxmemory policy: noeviction — **FAILED**"  # the team's [x] untick
    assert out[8].startswith("- [ ] Customer support briefed — **UNCOVERED")


def test_the_seed_round_trips_with_every_line_from_the_sign_off() -> None:
    team = cs.load(SEED, CATALOGUE)
    signoff = decide_with(team)
    out = cs.render(team, signoff)
    lines = out.splitlines()
    source = SEED.read_text().splitlines()
    assert len(lines) == len(source)
    assert "- [x] TTL: 7 days configured" in lines
    assert "✅ All gates PASS" in lines
    # the seed's pre-ticked boxes of what this run did not measure are not ticked
    assert not any(line.startswith("- [x] Error budget burn rate") for line in lines)
    assert "$(date)" not in out and "2026-12-02 07:00:00 UTC" in out
