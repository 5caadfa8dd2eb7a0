"""Gate 6: GitOps — the checklist's items as measured checks, plus the chain of custody.

The release commit is what the release tag resolves to in a real git repository, never a
value taken from config alone; the Argo CD Application must be synced to exactly that commit,
and the pods must run the digest the release's signature covers.
"""
from __future__ import annotations

import pytest

from pytest_release.probes.argocd import FAILED_PHASES, RUNNING_PHASES
from pytest_release.probes.custody import short
from pytest_release.probes.git import is_full_sha, is_hex_prefix
from pytest_release.probes.rollouts import (
    Bound,
    Phase,
    analysed_templates,
    format_seconds,
    latency_bound_ms,
    quantile_of,
    ratio_bound,
    template_facts,
)
from pytest_release.settings import duration_seconds

pytestmark = pytest.mark.gate_gitops


@pytest.mark.release_item("synced")
def test_application_is_synced_to_the_release_commit(argocd_application, release_commit,
                                                     release_tag, evidence):
    app = argocd_application.facts
    evidence.set_source(argocd_application.source, argocd_application.detail)
    evidence.reproduce(argocd_application.reproduce)
    evidence.record("Application", f"{app.namespace or '?'}/{app.name}")
    evidence.record(f"release commit (tag {release_tag.name} in {release_tag.repo})", release_commit)
    evidence.check("sync.status", app.sync_status, "==", "Synced", soft=True)
    revisions = app.revisions or ("none",)
    for revision in revisions:
        evidence.check(f"sync.revision (release commit {short(release_commit)})", revision, "==",
                       release_commit, soft=True)
    both = f"synced {short(revisions[0])}, release commit {short(release_commit)}"
    in_progress = "Requested" if app.operation_requested else (app.operation_phase or "none")
    evidence.check(f"operation in progress ({both}, operation revision "
                   f"{short(app.operation_revision)})", in_progress, "not in",
                   sorted(RUNNING_PHASES | {"Requested"}), soft=True)
    evidence.check(f"last operation ({both}): {app.operation_message or 'no message'}",
                   app.operation_phase or "none", "not in", sorted(FAILED_PHASES), soft=True)


@pytest.mark.release_item("synced")
def test_running_pods_run_the_signed_release_digest(release_custody, release_rollout, evidence):
    custody = release_custody
    evidence.set_source(release_rollout.source, release_rollout.detail)
    evidence.reproduce(custody.reproduce)
    evidence.record("chain of custody", custody.chain.text())
    evidence.record("signed digest from", custody.signed.how)
    evidence.check(f"release container in the pod template of Rollout {release_rollout.facts.name}",
                   custody.container or "none", "!=", "none")
    evidence.record("pod template image", custody.template_image)
    if custody.resolved_in_registry:
        evidence.record("template tag resolved in the registry to", custody.template_digest)
    evidence.check("pod template image digest", custody.template_digest or "no digest", "!=",
                   "no digest", soft=True)
    evidence.check("running release containers", len(custody.running), ">=", 1, soft=True)
    template = custody.template_digest or "no digest"
    others = [f"{r.pod}: {short(r.digest) if r.digest else r.image_id or 'no imageID'}"
              for r in custody.running if r.digest != custody.template_digest]
    evidence.check(f"pods running another digest than the template's {short(template)}",
                   others, "==", [], soft=True)
    signed = custody.signed.digest or "none verified"
    unsigned = [f"running {short(r.digest) if r.digest else 'no digest'} ≠ signed {short(signed)} "
                f"({r.pod})" for r in custody.running if r.digest != custody.signed.digest]
    evidence.check("running digests that are not the signed one", unsigned, "==", [], soft=True)
    for link in custody.chain.broken():
        evidence.record(f"broken link ({link.item})", f"{link.left} ≠ {link.right}")


@pytest.mark.release_item("healthy")
def test_application_and_every_resource_are_healthy(argocd_application, evidence):
    app = argocd_application.facts
    evidence.set_source(argocd_application.source, argocd_application.detail)
    evidence.reproduce(argocd_application.reproduce)
    evidence.check(f"health.status ({app.health_message or 'no message'})", app.health, "==",
                   "Healthy", soft=True)
    assessed = [r for r in app.resources if r.health is not None]
    evidence.record("resources with a health assessment", len(assessed))
    unhealthy = [f"{r.ref}: {r.health}" + (f" ({r.health_message})" if r.health_message else "")
                 for r in app.unhealthy()]
    evidence.check("unhealthy resources", unhealthy, "==", [], soft=True)
    if not app.resources:
        evidence.check("resources reported by the Application", 0, ">=", 1)


def _plan(canary) -> list[tuple[int, float | None]]:
    return [(canary.phase1_weight, duration_seconds(canary.phase1_pause)),
            (canary.phase2_weight, duration_seconds(canary.phase2_pause)),
            (canary.final_weight, None)]


@pytest.mark.release_item("canary")
def test_rollout_canary_steps_follow_the_deployment_plan(release_rollout, release_settings,
                                                         evidence):
    rollout = release_rollout.facts
    evidence.set_source(release_rollout.source, release_rollout.detail)
    evidence.reproduce(release_rollout.reproduce)
    evidence.check(f"Rollout {rollout.name} strategy", rollout.strategy or "none", "==", "canary")
    evidence.record("steps", [s.label for s in rollout.steps])
    unreadable = [f"{s.label}: {s.problem}" for s in rollout.steps if s.problem]
    evidence.check("unreadable steps", unreadable, "==", [], soft=True)
    phases = list(rollout.phases)
    plan = _plan(release_settings.canary)
    for number, (weight, pause) in enumerate(plan, 1):
        phase: Phase | None = phases[number - 1] if number <= len(phases) else None
        if phase is None:
            evidence.check(f"phase {number}: setWeight", "missing", "==", weight, soft=True)
            continue
        evidence.check(f"phase {number}: weight of {phase.label}", phase.weight, "==", weight,
                       unit="%", soft=True)
        if pause is None:
            continue
        where = ", ".join(p.label for p in phase.pauses) or f"no pause after {phase.label}"
        measured: float | str = phase.pause_s if phase.pause_s is not None else (
            "indefinite" if phase.indefinite else "missing")
        evidence.check(f"phase {number}: pause ({where})", measured, "==", pause, unit="s",
                       soft=True)
    extra = [p.label for p in phases[len(plan):]]
    evidence.check("weights beyond the plan", extra, "==", [], soft=True)


def _required_templates(canary) -> dict[str, str]:
    return {canary.error_rate_template: "error rate", canary.latency_template: "latency",
            canary.redis_template: "redis"}


def _check_threshold(evidence, label: str, measured: Bound | None, required: Bound,
                     unit: str, condition: str) -> None:
    """The metric's pass bound against the checklist's: it passes when it is at least as strict
    (``< 0.004`` meets ``< 0.005``; ``<= 0.005`` does not, it lets 0.005 through)."""
    name = f"{label} threshold in {unit} (from `{condition}`)"
    same_direction = measured is not None and measured.upper == required.upper \
        and measured.lower == required.lower
    if measured is None or not same_direction:
        evidence.check(name, str(measured) if measured else "no comparison", "==", str(required),
                       soft=True)
        return
    op = "<=" if required.upper else ">="
    evidence.check(name, measured.threshold, op, required.threshold, soft=True)
    if measured.threshold == required.threshold:
        evidence.check(f"{label} comparison at the threshold", measured.op, "in",
                       sorted({required.op, "<" if required.upper else ">"}), soft=True)


@pytest.mark.release_item("rollback")
def test_analysis_rolls_the_canary_back_on_the_checklist_thresholds(release_rollout,
                                                                     release_settings, evidence):
    canary = release_settings.canary
    rollout = release_rollout.facts
    evidence.set_source(release_rollout.source, release_rollout.detail)
    evidence.reproduce(release_rollout.reproduce)
    evidence.check(f"Rollout {rollout.name} strategy", rollout.strategy or "none", "==", "canary")
    wired = [f"{a.where}: {', '.join(t.name for t in a.templates)}" for a in rollout.analyses
             if a.templates]
    evidence.check("analysis wired into the Rollout (background or steps)", len(wired), ">=", 1,
                   soft=True)
    evidence.record("analysis", wired)
    missing = sorted({r.name for r, obj in release_rollout.templates.items() if obj is None})
    evidence.check("referenced templates that do not exist", missing, "==", [], soft=True)
    required = _required_templates(canary)
    names = {r.name for r in rollout.template_refs}
    evidence.check("checklist templates not wired into the Rollout",
                   sorted(set(required) - names), "==", [], soft=True)

    interval = duration_seconds(canary.analysis_interval)
    seen: set[str] = set()
    plan = {1: (canary.phase1_max_failures, canary.phase1_templates,
                duration_seconds(canary.phase1_pause)),
            2: (canary.phase2_max_failures, canary.phase2_templates,
                duration_seconds(canary.phase2_pause))}
    phases = {p.number: p for p in rollout.phases}
    for number, (max_failures, phase_templates, pause_s) in plan.items():
        phase = phases.get(number)
        analysed: dict[str, list] = {}
        for used in analysed_templates(phase.analyses if phase else (),
                                       release_rollout.templates):
            if used.facts is None:
                continue
            dry = [m.name for m in used.facts.metrics if m.dry_run]
            if dry:
                evidence.check(f"phase {number}: {used.ref.name} metrics in dryRun (never roll "
                               "back)", dry, "==", [], soft=True)
            if used.live_metrics:
                analysed.setdefault(used.ref.name, []).extend(
                    (used.analysis, m) for m in used.live_metrics)
            if used.ref.name not in seen:
                seen.add(used.ref.name)
                _check_template(evidence, canary, used.ref.name, used.facts, interval)
        where = phase.label if phase else "missing"
        evidence.check(f"phase {number} ({where}): checklist templates not analysed",
                       sorted(set(phase_templates) - set(analysed)), "==", [], soft=True)
        for template, pairs in sorted(analysed.items()):
            for analysis, metric in pairs:
                fails_at = metric.failures_to_fail
                evidence.check(
                    f"phase {number}: {template}/{metric.name} ({analysis.where}) rolls back at "
                    f"failed measurement no. (failureLimit {metric.failure_limit} + 1)",
                    fails_at if fails_at is not None else "never", "<=", max_failures, soft=True)
                if metric.interval_s:
                    errors_s = metric.errors_to_error * metric.interval_s
                    evidence.check(
                        f"phase {number}: {template}/{metric.name} errors out within the phase "
                        f"((consecutiveErrorLimit {metric.consecutive_error_limit} + 1) x "
                        f"{format_seconds(metric.interval_s)})", errors_s, "<=", pause_s, unit="s",
                        soft=True)
    for name in sorted(set(required) - seen):
        obj = next((o for r, o in release_rollout.templates.items() if r.name == name), None)
        if obj is not None:
            _check_template(evidence, canary, name, template_facts(obj), interval)


def _check_template(evidence, canary, name: str, facts, interval: float) -> None:
    role = _required_templates(canary).get(name)
    if role is None:
        return
    for metric in facts.metrics:
        label = f"{name}/{metric.name}"
        evidence.check(f"{label} interval ({metric.interval_text or 'unset'})",
                       metric.interval_s if metric.interval_s is not None else "unset", "==",
                       interval, unit="s", soft=True)
        if metric.unresolved:
            evidence.check(f"{label} fields that cannot be resolved", list(metric.unresolved),
                           "==", [], soft=True)
        if metric.guards:
            evidence.record(f"{label} passes without data when", list(metric.guards))
        condition = metric.success_condition or (f"not ({metric.failure_condition})"
                                                 if metric.failure_condition else "none")
        evidence.record(f"{label} query", metric.query)
        if role == "error rate":
            _check_threshold(evidence, label, ratio_bound(metric),
                             Bound("<", canary.max_error_rate), "error ratio", condition)
        elif role == "latency":
            evidence.check(f"{label} quantile of the query", quantile_of(metric.query), "==",
                           0.95, soft=True)
            _check_threshold(evidence, label, latency_bound_ms(metric), Bound("<", canary.p95_ms),
                             "ms", condition)
        else:
            _check_threshold(evidence, label, metric.bound("lower"),
                             Bound(">", canary.redis_min_connected), "connections", condition)


@pytest.mark.release_item("tag")
def test_release_tag_is_annotated_signed_and_on_the_release_commit(gitops_repo, release_tag,
                                                                    release_settings, evidence):
    tag = release_tag
    evidence.set_source("run", f"git {'ls-remote ' if tag.remote else ''}{tag.repo}")
    evidence.reproduce(gitops_repo.reproduce_tag(tag.name))
    evidence.check(f"tag {tag.name} exists in {tag.repo}", tag.exists, "==", True)
    evidence.check(f"tag {tag.name} object type (tag = annotated, commit = lightweight)",
                   tag.object_type, "==", "tag", soft=True)
    if tag.tagger:
        evidence.record("tagger", tag.tagger)
    wanted = release_settings.release.commit
    if not wanted:
        evidence.record(f"tag {tag.name} → commit", tag.commit)
        evidence.not_measured("release.commit is not set: nothing to compare the tag's commit with "
                              "(set it in [release], an abbreviated SHA is fine)")
    if not is_hex_prefix(wanted):
        evidence.check("release.commit is a commit SHA", wanted, "==", "a hex SHA")
    if tag.remote:
        # ls-remote cannot expand an abbreviation: the tag's full SHA must start with it.
        evidence.record(f"tag {tag.name} → commit", tag.commit)
        evidence.check(f"tag {tag.name} → commit, first {len(wanted)} digits (release.commit)",
                       (tag.commit or "")[:len(wanted)], "==", wanted.lower(), soft=True)
    else:
        try:
            resolved = gitops_repo.resolve_commit(wanted)
        except ValueError as exc:
            evidence.check("release.commit resolves to one commit", str(exc), "==", "one commit")
            return
        evidence.record(f"release.commit {wanted} resolves to", resolved or "no commit")
        evidence.check(f"tag {tag.name} → commit (release.commit {wanted})", tag.commit, "==",
                       resolved if resolved and is_full_sha(resolved) else f"{wanted} (unknown)",
                       soft=True)
    signers = release_settings.gitops.allowed_signers
    if not signers:
        evidence.record("signature", f"{tag.signature or 'none'}; not verified: "
                                     "gitops.allowed_signers is not set")
        return
    result = gitops_repo.verify_tag(tag.name, signers)
    evidence.reproduce(f"{gitops_repo.reproduce_tag(tag.name)} && {result.command}")
    if result.signer:
        evidence.record("signed by", result.signer)
    evidence.check(f"signature of {tag.name} ({result.detail})",
                   "verified" if result.verified else "not verified", "==", "verified", soft=True)
