"""The stages in the catalogue: the verdict stays the six gates'; the recommendation follows
the stage reached (pure tables over verdict.decide and the Markdown view)."""
from __future__ import annotations

import pytest

from pytest_release.gates import CATALOGUE, GATES, GATES_BY_MARKER, STAGES
from pytest_release.report.markdown import render
from pytest_release.verdict import CheckRecord, Measurement, decide

OK = (Measurement("m", 1, None, "==", 1, True),)
BAD = (Measurement("m", 2, None, "==", 1, False),)


def records(gate_ids, outcome="passed"):
    found = []
    for gate in CATALOGUE:
        if gate.id not in gate_ids:
            continue
        for item in gate.items:
            failed = outcome == "failed"
            found.append(CheckRecord(
                nodeid=f"t::{gate.id}_{item.id}", gate=gate.id, item=item.id, title=item.text,
                outcome="failed" if failed else "skipped" if outcome == "skipped" else "passed",
                measurements=() if outcome == "skipped" else BAD if failed else OK))
    return found


def decide_(checks):
    return decide({"version": "v5.7.1"}, checks, generated_at="2026-12-02T06:00:00Z",
                  gates=CATALOGUE)


GATE_IDS = [g.id for g in GATES]


@pytest.mark.parametrize(("checks", "verdict", "stage", "recommendation"), [
    (lambda: records(GATE_IDS), "APPROVED", "pre-deployment", "PROCEED TO CANARY"),
    (lambda: records(GATE_IDS[:5]), "INCOMPLETE", "pre-deployment", "DO NOT DEPLOY"),
    (lambda: records(["redis"], "failed") + records(GATE_IDS[1:]), "REJECTED", "pre-deployment",
     "DO NOT DEPLOY"),
    (lambda: records(GATE_IDS) + records(["canary"]), "APPROVED", "canary", "PROMOTE"),
    (lambda: records(["canary"]), "INCOMPLETE", "canary", "PROMOTE"),
    (lambda: records(["canary"], "failed"), "INCOMPLETE", "canary", "ROLL BACK"),
    (lambda: records(["canary"], "skipped"), "INCOMPLETE", "canary", "HOLD"),
    (lambda: records(["postdeploy"]), "INCOMPLETE", "postdeploy", "RELEASE COMPLETE"),
    (lambda: records(["postdeploy"], "failed"), "INCOMPLETE", "postdeploy", "ROLL BACK"),
    (lambda: records(["redis"], "failed") + records(["canary"]), "REJECTED", "canary",
     "ROLL BACK"),
])
def test_recommendation_follows_the_stage_reached(checks, verdict, stage, recommendation):
    signoff = decide_(checks())
    assert (signoff.verdict, signoff.stage, signoff.recommendation) == (
        verdict, stage, recommendation), signoff.reason
    data = signoff.to_dict()
    assert (data["stage"], data["recommendation"]) == (stage, recommendation)


def test_stages_never_decide_the_pre_deployment_verdict():
    signoff = decide_(records(GATE_IDS) + records(["postdeploy"], "failed"))
    assert signoff.verdict == "APPROVED"
    assert signoff.reason == "all 6 gates measured and passed"
    assert signoff.recommendation == "ROLL BACK"


def test_stage_markers():
    assert {s.marker for s in STAGES} == {"stage_canary", "stage_postdeploy"}
    assert GATES_BY_MARKER["stage_postdeploy"].stage == "postdeploy"
    assert all(g.stage == "pre-deployment" for g in GATES)


def test_markdown_keeps_every_section_in_order_and_ticks_only_measured_passes():
    checks = records(["postdeploy"]) + records(["canary"], "failed")
    text = render(decide_(checks))
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections == ["## Release Metadata", "## Pre-Deployment Gates (ALL MUST PASS)",
                        "## Deployment Plan", "## Canary Analysis Templates",
                        "## Rollback Triggers", "## Post-Deployment (24h)", "## Success Criteria",
                        "## Sign-Off"]
    assert "- [x] No drift from deployment SHA" in text
    assert "- [ ] feedback-error-rate: \\< 0.5% (live analysis) — **FAILED**" in text
    assert "- [ ] Rollback: 2 consecutive analysis failures — **FAILED**" in text
    assert "✅ Error budget within limits" in text
    assert "❌ Canary deployment successful — **FAILED**" in text
    assert "⬜ All gates PASS — **NOT MEASURED**" in text
    assert "**RECOMMENDATION: ROLL BACK** — stage postdeploy" in text
    assert "### " + "⏭️ Gate 7" not in text  # stages are not listed among the gates
