"""The checklist's sections after the gates, in its order (issue 10).

Deployment Plan, Canary Analysis Templates, Rollback Triggers, Post-Deployment (24h) and Success
Criteria. A box is ticked only for an item whose checks were all measured and passed; the Success
Criteria are derived from the stages' results, never checked a second time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from ..verdict import GateResult, ItemResult, SignOff

_CRITERION_ICON = {"passed": "✅", "failed": "❌"}


def _stage(signoff: SignOff, stage_id: str) -> GateResult | None:
    return next((g for g in signoff.gates if g.gate.id == stage_id), None)


def _items(result: GateResult | None, ids: Sequence[str]) -> list[ItemResult]:
    if result is None:
        return []
    return [i for i in result.items if i.id in ids]


def _combined(items: Sequence[ItemResult]) -> str:
    statuses = [i.status for i in items]
    if not statuses or all(s == "not_run" for s in statuses):
        return "not_run"
    if "failed" in statuses:
        return "failed"
    if all(s == "passed" for s in statuses):
        return "passed"
    return "not_measured"


def render_stages(signoff: SignOff, item_line: Callable[[ItemResult], str]) -> list[str]:
    """Markdown lines for the sections between the gates and the Sign-Off."""
    canary = _stage(signoff, "canary")
    post = _stage(signoff, "postdeploy")
    analysis = _items(canary, ("analysis_error_rate", "analysis_latency", "analysis_redis"))
    triggers = _items(canary, ("trigger_error_rate", "trigger_latency", "trigger_consecutive",
                               "trigger_redis"))
    burn = _items(post, ("burn_rate",))

    def status(items: Sequence[ItemResult]) -> str:
        return _combined(items).replace("_", " ")

    out = [
        "## Deployment Plan",
        "",
        "### Phase 1: Canary (10%)",
        "- Duration: 5 minutes",
        "- Metrics: Error rate, latency",
        "- Threshold: Max 1 analysis failure",
        f"- _Judged by the live analysis below: {status(analysis)}_",
        "",
        "### Phase 2: Expansion (30%)",
        "- Duration: 10 minutes",
        "- Metrics: All analysis templates",
        "- Threshold: Max 2 failures → rollback",
        "- _Judged by the same analysis with `--release-set analysis.phase=2`_",
        "",
        "### Phase 3: Full (100%)",
        "- Duration: 24 hours",
        "- Monitoring: Error budget burn rate",
        "- Threshold: Burn rate \\< 10%",
        f"- _Judged by Post-Deployment (24h): {status(burn)}_",
        "",
        "## Canary Analysis Templates",
        "",
    ]
    out += [item_line(i) for i in analysis] or ["- [ ] no canary analysis ran — **NOT RUN**"]
    out += ["", "## Rollback Triggers", "", "Automatic rollback if:"]
    out += [item_line(i) for i in triggers] or ["- [ ] no trigger was checked — **NOT RUN**"]
    out += ["", "## Post-Deployment (24h)", "", "Monitor:"]
    out += [item_line(i) for i in (post.items if post else ())] or [
        "- [ ] the post-deployment stage did not run — **NOT RUN**"]
    pre = [g for g in signoff.gates if g.gate.stage == "pre-deployment"]
    criteria = [
        ("All gates PASS", "passed" if signoff.approved else
         "failed" if any(g.status == "failed" for g in pre) else "not_measured",
         f"verdict {signoff.verdict}"),
        ("Canary deployment successful", canary.status if canary else "not_run",
         "Canary stage"),
        ("No rollback triggered", _combined(analysis), "canary analysis within its failure limits"),
        ("Error budget within limits", _combined(burn), "Post-Deployment burn rate"),
        ("No critical incidents", _combined(_items(post, ("alerts", "security"))),
         "Post-Deployment critical alerts and security incidents"),
    ]
    out += ["", "## Success Criteria", ""]
    for text, state, source in criteria:
        icon = _CRITERION_ICON.get(state, "⬜")
        label = "" if state == "passed" else f" — **{state.replace('_', ' ').upper()}**"
        out.append(f"{icon} {text}{label} _(from: {source})_  ")
    out.append("")
    return out
