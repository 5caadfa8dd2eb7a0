"""Canary: the three Canary Analysis Templates evaluated live, and the four Rollback Triggers.

Run while the canary is live: ``pytest --release v5.7.1 -m stage_canary``.

* Each analysis template's query runs against Prometheus for the canary (and the stable version,
  for comparison) ``analysis.count`` times every ``analysis.interval``; each measurement is judged
  by the template's own condition; no data is a failed measurement. The failures are compared with
  the phase's limit (max 1 in phase 1, max 2 in phase 2).
* Each rollback trigger is found where it is enforced (an alert rule's expression and ``for:`` as
  Prometheus loaded it, or the analysis metrics' ``failureLimit``), its threshold and window are
  compared with the checklist's, and it is backtested over ``analysis.backtest_window`` of history:
  when would it have fired, and did the enforcing alert fire then (``ALERTS``)?
"""
from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

import pytest

from pytest_release.probes.analysis import (
    ConditionError,
    evaluate,
    failures_abort_after,
    parse_condition,
)
from pytest_release.probes.prometheus import (
    format_duration,
    prom_duration_seconds,
    promql_string,
    threshold_comparisons,
)
from pytest_release.probes.slo import (
    alert_periods,
    consecutive_failures,
    fire_times,
    iso,
    merge_series,
)
from pytest_release.report.svg import latency_distribution
from pytest_release.settings import duration_seconds

pytestmark = pytest.mark.stage_canary


# -- Canary Analysis Templates, evaluated live -----------------------------------------------------
def _metric(analysis_metrics, name: str, evidence):
    found = [m for m in analysis_metrics if m.template == name]
    source = analysis_metrics[0].source if analysis_metrics else "settings"
    evidence.record("templates read from", source)
    if not found:
        evidence.check(f"AnalysisTemplate {name!r} (Prometheus metric)", "missing", "==", "present")
    return found[0]


def _analyse(name: str, op: str, threshold: float, unit_scale: float, unit: str,
             prometheus, analysis_metrics, analysis_args, release_settings, evidence) -> None:
    cfg = release_settings.analysis
    metric = _metric(analysis_metrics, name, evidence)
    try:
        for condition in (metric.success_condition, metric.failure_condition):
            if condition:
                parse_condition(condition)
    except ConditionError as exc:
        pytest.fail(f"AnalysisTemplate {name}: {exc}", pytrace=False)
    evidence.record("successCondition", metric.success_condition or "(none)")
    if metric.failure_condition:
        evidence.record("failureCondition", metric.failure_condition)
    thresholds = metric.thresholds
    evidence.check("successCondition threshold", thresholds[0] if thresholds else "none", "==",
                   (op, threshold), soft=True)
    evidence.check("template interval", metric.interval_s if metric.interval_s else "unset", "==",
                   duration_seconds(cfg.template_interval), unit="s", soft=True)
    try:
        queries = {track: metric.query_for(args) for track, args in analysis_args.items()}
    except KeyError as exc:
        pytest.fail(f"AnalysisTemplate {name}: argument {exc} has no value (set analysis."
                    "canary_args / stable_args)", pytrace=False)
    evidence.reproduce(f"promtool query instant {prometheus.display_url} "
                       f"'{' '.join(queries['canary'].split())}'")
    limit = cfg.max_failures_phase1 if cfg.phase == 1 else cfg.max_failures_phase2
    interval = duration_seconds(cfg.interval)
    deadline = time.monotonic() + duration_seconds(cfg.max_wall)
    samples: list[tuple[str, float]] = []
    failures = 0
    first_failed = ""
    taken = 0
    for index in range(cfg.count):
        if index:
            if time.monotonic() + interval > deadline:
                break
            time.sleep(interval)
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        values: dict[str, list[float]] = {}
        errors: dict[str, str] = {}
        for track, expr in queries.items():
            result = prometheus.query(expr)
            if result.error:
                errors[track] = result.error
            values[track] = [v for _, v in result.series]
        judgement = evaluate(values["canary"], metric.success_condition, metric.failure_condition)
        if "canary" in errors:
            judgement = type(judgement)("Error", f"query error: {errors['canary']}")
        taken += 1
        failures += judgement.failed
        canary = values["canary"][0] if values["canary"] else None
        stable = values.get("stable", [None])[0] if values.get("stable") else None
        if judgement.failed and not first_failed:
            first_failed = (f"; first failed {when}: canary {_shown(canary, unit_scale)} {unit} "
                            f"({judgement.phase}: {judgement.reason})")
        evidence.record(f"measurement {index + 1} at {when}", {
            "canary": _shown(canary, unit_scale), "stable": _shown(stable, unit_scale),
            "unit": unit, "phase": judgement.phase, "reason": judgement.reason})
        if canary is not None and math.isfinite(canary):
            samples.append((f"#{index + 1}", canary * unit_scale))
    evidence.record("measurements taken", taken)
    if samples:
        evidence.attach(f"{name}: canary measurements", "image/svg+xml", latency_distribution(
            samples, threshold=threshold * unit_scale, threshold_label=f"{op} {threshold * unit_scale:g}",
            unit=unit, title=f"{name} ({metric.name}) — canary, {len(samples)} measurements"))
    if taken < cfg.count:
        evidence.not_measured(f"only {taken} of {cfg.count} measurements fit in analysis.max_wall "
                              f"= {cfg.max_wall}")
    evidence.check(f"failed measurements of {taken} (phase {cfg.phase}{first_failed})", failures,
                   "<=", limit)


def _template(release_settings, index: int) -> str:
    names = release_settings.analysis.templates
    if len(names) != 3:
        pytest.fail(f"analysis.templates must name 3 templates (error rate, latency, Redis health), "
                    f"got {len(names)}: {', '.join(names)}", pytrace=False)
    return names[index]


def _shown(value: float | None, scale: float) -> float | str:
    if value is None:
        return "no data"
    return round(value * scale, 6) if math.isfinite(value) else str(value)


@pytest.mark.release_item("analysis_error_rate")
def test_feedback_error_rate_analysis_passes(prometheus, analysis_metrics, analysis_args,
                                             release_settings, evidence):
    cfg = release_settings.analysis
    _analyse(_template(release_settings, 0), "<", cfg.max_error_rate, 100.0, "%", prometheus,
             analysis_metrics, analysis_args, release_settings, evidence)


@pytest.mark.release_item("analysis_latency")
def test_feedback_latency_analysis_passes(prometheus, analysis_metrics, analysis_args,
                                          release_settings, evidence):
    cfg = release_settings.analysis
    _analyse(_template(release_settings, 1), "<", cfg.max_p95_ms / 1000, 1000.0, "ms", prometheus,
             analysis_metrics, analysis_args, release_settings, evidence)


@pytest.mark.release_item("analysis_redis")
def test_redis_health_analysis_passes(prometheus, analysis_metrics, analysis_args,
                                      release_settings, evidence):
    cfg = release_settings.analysis
    _analyse(_template(release_settings, 2), ">", cfg.min_redis, 1.0, "connected", prometheus,
             analysis_metrics, analysis_args, release_settings, evidence)


# -- Rollback Triggers: encoded and proven ---------------------------------------------------------
_RANGE = re.compile(r"\[(\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)\]")


def _rule(prometheus, name: str, evidence):
    rules = {r.name: r for r in prometheus.rules("alerting")}
    evidence.reproduce(f"curl -s {prometheus.display_url}/api/v1/rules?type=alert | jq "
                       f"'.data.groups[].rules[] | select(.name == \"{name}\")'")
    if name not in rules:
        evidence.record("alerting rules loaded", sorted(rules))
        evidence.check(f"alerting rule {name!r} loaded in Prometheus", "missing", "==", "present")
    return rules[name]


def _backtest(history, window, rule, for_s: float, tolerance_s: float, evidence) -> None:
    result = history.range(rule.query, window.start, window.end, window.step)
    if result.error:
        pytest.fail(f"Prometheus rejected {rule.name}'s expression: {result.error}", pytrace=False)
    fires = fire_times(merge_series(result.series), window.step, for_s)
    alerts_expr = f'ALERTS{{alertname={promql_string(rule.name)},alertstate="firing"}}'
    alerts = history.range(alerts_expr, window.start, window.end, window.step)
    periods = alert_periods(alerts.series, window.step) if not alerts.error else []
    span = f"{iso(window.start)} – {iso(window.end)}"
    evidence.record(f"backtest {span}: would have fired at",
                    [f"{iso(t)} (held {iso(run.start)} – {iso(run.end)}, peak {run.peak:.4g})"
                     for t, run in fires] or "never")
    evidence.record(f"{rule.name} fired (ALERTS)", [p.describe() for p in periods] or "never")
    unmatched = [f"{iso(t)} (peak {run.peak:.4g})" for t, run in fires
                 if not any(p.start - tolerance_s <= t <= p.end + tolerance_s for p in periods)]
    evidence.check(f"backtest: times the trigger held without {rule.name} firing",
                   unmatched or "none", "==", "none", soft=True)


def _alert_trigger(rule_name: str, op: str, threshold: float, window_s: float, window_kind: str,
                   prometheus, history, backtest_window, release_settings, evidence) -> None:
    rule = _rule(prometheus, rule_name, evidence)
    evidence.record(f"{rule.name} expr", " ".join(rule.query.split()))
    comparisons = threshold_comparisons(rule.query)
    found = comparisons[0] if comparisons else None
    evidence.check(f"{rule.name} threshold", (found.op, found.threshold) if found else "none", "==",
                   (op, threshold), soft=True)
    if window_kind == "for":
        evidence.check(f"{rule.name} for:", rule.duration_s, "==", window_s, unit="s", soft=True)
    else:
        ranges = _RANGE.findall(found.left) if found else []
        evidence.check(f"{rule.name} range window", prom_duration_seconds(ranges[0]) if ranges
                       else "none", "==", window_s, unit="s", soft=True)
        evidence.check(f"{rule.name} for:", rule.duration_s, "==", 0.0, unit="s", soft=True)
    tolerance = duration_seconds(release_settings.analysis.fire_tolerance)
    _backtest(history, backtest_window, rule, rule.duration_s, tolerance, evidence)


@pytest.mark.release_item("trigger_error_rate")
def test_error_rate_trigger_is_enforced_and_backtested(prometheus, history, backtest_window,
                                                       release_settings, evidence):
    cfg = release_settings.analysis
    _alert_trigger(cfg.error_rate_rule, ">", cfg.max_error_rate, duration_seconds(cfg.error_rate_for),
                   "for", prometheus, history, backtest_window, release_settings, evidence)


@pytest.mark.release_item("trigger_latency")
def test_latency_trigger_is_enforced_and_backtested(prometheus, history, backtest_window,
                                                    release_settings, evidence):
    cfg = release_settings.analysis
    _alert_trigger(cfg.latency_rule, ">", cfg.max_p95_ms / 1000, duration_seconds(cfg.latency_for),
                   "for", prometheus, history, backtest_window, release_settings, evidence)


@pytest.mark.release_item("trigger_redis")
def test_redis_failure_trigger_is_enforced_and_backtested(prometheus, history, backtest_window,
                                                          release_settings, evidence):
    cfg = release_settings.analysis
    _alert_trigger(cfg.redis_rule, ">", cfg.redis_max_failures, duration_seconds(cfg.redis_window),
                   "range", prometheus, history, backtest_window, release_settings, evidence)


@pytest.mark.release_item("trigger_consecutive")
def test_consecutive_analysis_failures_abort_the_rollout(history, backtest_window, analysis_metrics,
                                                         analysis_args, release_settings, evidence):
    """Argo's failureLimit counts failures in total: ``failureLimit <= 1`` aborts at the 2nd
    failure, consecutive or not, which enforces "2 consecutive analysis failures"."""
    cfg = release_settings.analysis
    if not analysis_metrics or analysis_metrics[0].source == "settings":
        evidence.not_measured("no AnalysisTemplates were read (set analysis.templates_dir to a "
                              "cluster snapshot): where the rollout enforces this cannot be shown")
    evidence.record("templates read from", analysis_metrics[0].source)
    window = backtest_window
    judged = [m for m in analysis_metrics if m.template in cfg.templates]
    if not judged:
        evidence.check("analysis metrics of analysis.templates", "none", "==", "present")
    for metric in judged:
        evidence.check(f"{metric.template}/{metric.name}: failed measurements that abort "
                       f"(failureLimit {metric.failure_limit} + 1)", failures_abort_after(metric),
                       "<=", cfg.consecutive_failures, soft=True)
        step = metric.interval_s or duration_seconds(cfg.template_interval)
        span = window.end - window.start
        if span / step > 10000:
            step = span / 10000
        try:
            expr = metric.query_for(analysis_args["stable"])
        except KeyError as exc:
            pytest.fail(f"AnalysisTemplate {metric.template}: argument {exc} has no value",
                        pytrace=False)
        result = history.range(expr, window.start, window.end, step)
        if result.error:
            pytest.fail(f"Prometheus rejected {metric.template}'s query: {result.error}",
                        pytrace=False)
        by_step: dict[int, list[float]] = {}
        for series in result.series:
            for ts, value in series.points:
                by_step.setdefault(round((ts - window.start) / step), []).append(value)
        # A step without data is a failed measurement, as in the live analysis (fail closed).
        samples = [(window.start + i * step,
                    evaluate(by_step.get(i, []), metric.success_condition,
                             metric.failure_condition).failed)
                   for i in range(int(span // step) + 1)]
        aborts = consecutive_failures(samples, cfg.consecutive_failures)
        evidence.record(f"{metric.template} backtest ({format_duration(step)} steps, stable "
                        f"version): {cfg.consecutive_failures} consecutive failures at",
                        [iso(t) for t in aborts[:20]] or "never")
