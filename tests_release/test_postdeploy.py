"""Post-Deployment (24h): burn rate, drift from the deployment SHA, SLO, security, critical alerts.

Run 24 h after full rollout: ``pytest --release v5.7.1 -m stage_postdeploy``. Every fact is a
range or instant query over the window of Prometheus history that ends now; a window the history
does not cover, or with too little traffic, is *not measured*, never passed.
"""
from __future__ import annotations

import math

import pytest

from pytest_release.probes.prometheus import format_duration, promql_string
from pytest_release.probes.slo import (
    alert_periods,
    both_above,
    budget_consumed,
    burn_rate,
    error_ratio,
    image_deviations,
    iso,
    merge_series,
    parse_burn_pair,
    worst,
)
from pytest_release.report.svg import latency_distribution
from pytest_release.settings import duration_seconds

pytestmark = pytest.mark.stage_postdeploy


def _value(history, expr: str, ts: float) -> float | None:
    result = history.at(expr, ts)
    if result.error:
        pytest.fail(f"Prometheus rejected {expr}: {result.error}", pytrace=False)
    values = [v for v in result.values if math.isfinite(v)]
    return sum(values) if values else None


def _selector(release_settings) -> str:
    return f"job={promql_string(release_settings.postdeploy.job)}"


def _requests_or_not_measured(history, window, release_settings, evidence) -> float:
    cfg = release_settings.postdeploy
    rng = format_duration(window.seconds)
    expr = f"sum(increase(aiops_http_requests_total{{{_selector(release_settings)}}}[{rng}]))"
    requests = _value(history, expr, window.end) or 0.0
    evidence.record("history coverage of the window", round(window.coverage, 4))
    evidence.record(f"requests {iso(window.start)} – {iso(window.end)}", round(requests))
    if requests < cfg.min_requests:
        evidence.not_measured(
            f"only {requests:.0f} requests in the {rng} window (fewer than postdeploy.min_requests "
            f"= {cfg.min_requests}): too little traffic to judge")
    return requests


# -- Error budget burn rate < 10% ------------------------------------------------------------------
@pytest.mark.release_item("burn_rate")
def test_error_budget_burn_is_under_the_limit(history, postdeploy_window, release_settings,
                                              evidence):
    cfg = release_settings.postdeploy
    window = postdeploy_window
    sel = _selector(release_settings)
    rng = format_duration(window.seconds)
    errors_expr = f'sum(increase(aiops_http_errors_total{{{sel},status_class="5xx"}}[{rng}]))'
    evidence.reproduce(history.reproduce(errors_expr, window.start, window.end, window.seconds))
    requests = _requests_or_not_measured(history, window, release_settings, evidence)
    errors = _value(history, errors_expr, window.end) or 0.0
    ratio = error_ratio(errors, requests) or 0.0
    period_s = duration_seconds(cfg.slo_period)
    burn = burn_rate(ratio, cfg.slo_target)
    consumed = budget_consumed(ratio, cfg.slo_target, window.seconds, period_s)
    evidence.record(f"5xx errors over {rng}", round(errors))
    evidence.record(f"error ratio over {rng}", round(ratio, 6))
    evidence.record(f"burn rate over {rng} (SLO {cfg.slo_target:.2%})", round(burn, 4))
    evidence.record(f"budget consumed over {rng} of the {cfg.slo_period} budget", round(consumed, 6))
    hourly_expr = (f'sum(increase(aiops_http_errors_total{{{sel},status_class="5xx"}}[1h])) / '
                   f"sum(increase(aiops_http_requests_total{{{sel}}}[1h]))")
    hourly = history.range(hourly_expr, window.start + 3600, window.end, 3600)
    bars = [(iso(t)[11:13], v * 100) for t, v in merge_series(hourly.series)]
    if bars:
        evidence.attach("error ratio per hour", "image/svg+xml", latency_distribution(
            bars, threshold=(1 - cfg.slo_target) * 100,
            threshold_label=f"burn rate 1 ({(1 - cfg.slo_target) * 100:g} %)", unit="%",
            title=f"5xx error ratio per hour (UTC), {iso(window.start)} – {iso(window.end)}"))
    measure = consumed if cfg.burn_measure == "budget_consumed" else burn
    evidence.check(f"{cfg.burn_measure} over {rng} ({iso(window.start)} – {iso(window.end)})",
                   round(measure, 6), "<", cfg.max_burn, soft=True)

    burn_expr = (f"(sum(increase(aiops_http_errors_total{{{sel},status_class=\"5xx\"}}[{{w}}])) / "
                 f"sum(increase(aiops_http_requests_total{{{sel}}}[{{w}}]))) / {1 - cfg.slo_target:g}")
    for text in cfg.burn_pairs:
        try:
            pair = parse_burn_pair(text)
        except ValueError as exc:
            pytest.fail(f"postdeploy.burn_pairs: {exc}", pytrace=False)
        series = {}
        for key, seconds in (("long", pair.long_s), ("short", pair.short_s)):
            expr = burn_expr.replace("{w}", format_duration(seconds))
            result = history.range(expr, window.start, window.end, window.step)
            if result.error:
                pytest.fail(f"Prometheus rejected {expr}: {result.error}", pytrace=False)
            series[key] = merge_series(result.series)
        paging = both_above(series["long"], series["short"], pair.factor)
        found = "never"
        if paging:
            peak = worst(paging)
            assert peak is not None
            found = (f"from {iso(paging[0][0])} ({len(paging)} steps, peak {peak[1]:.1f}x at "
                     f"{iso(peak[0])})")
        evidence.check(f"burn pair {text}: both windows above {pair.factor:g}x", found, "==",
                       "never", soft=True)


# -- No drift from deployment SHA ------------------------------------------------------------------
@pytest.mark.release_item("drift")
def test_no_drift_from_the_deployment_sha(history, postdeploy_window, release_settings, evidence):
    cfg = release_settings.postdeploy
    expected = release_settings.release.image
    if not expected:
        evidence.not_measured("release.image is not set: set it to the deployed image with its "
                              "digest (repo@sha256:...) in [release] or --release-set release.image=")
    window = postdeploy_window
    expr = f"{cfg.image_series}{{{cfg.image_selector}}}"
    evidence.reproduce(history.reproduce(expr, window.start, window.end, window.step))
    result = history.range(expr, window.start, window.end, window.step)
    if result.error:
        pytest.fail(f"Prometheus rejected {expr}: {result.error}", pytrace=False)
    if not result.series:
        evidence.not_measured(f"no {expr} series in the window: nothing says what ran")
    points = merge_series(result.series)
    evidence.record("expected image", expected)
    evidence.record(f"{cfg.image_series} series in the window", len(result.series))
    evidence.record("samples", len(points))
    evidence.record("images seen", sorted({s.labels.get(cfg.image_label, "") for s in result.series}))
    deviations = image_deviations(result.series, cfg.image_label, expected)
    first = "none"
    if deviations:
        ts, labels, value = deviations[0]
        first = f"{iso(ts)} pod {labels.get('pod', '?')} runs {value}"
        evidence.record("pods off the release", [
            f"{iso(t)} {lab.get('pod', '?')} {v}" for t, lab, v in deviations])
    evidence.check(f"first sample not naming {expected}", first, "==", "none")


# -- Performance within SLO ------------------------------------------------------------------------
@pytest.mark.release_item("slo")
def test_p95_latency_is_within_the_slo(history, postdeploy_window, release_settings, evidence):
    cfg = release_settings.postdeploy
    window = postdeploy_window
    sel = _selector(release_settings)
    rng = format_duration(window.seconds)
    bucket = f"aiops_http_request_duration_seconds_bucket{{{sel}}}"
    whole = f"histogram_quantile(0.95, sum by (le) (increase({bucket}[{rng}])))"
    hourly = f"histogram_quantile(0.95, sum by (le) (rate({bucket}[1h])))"
    evidence.reproduce(history.reproduce(hourly, window.start + 3600, window.end, 3600))
    _requests_or_not_measured(history, window, release_settings, evidence)
    p95 = _value(history, whole, window.end)
    evidence.check(f"P95 over {rng} ({iso(window.start)} – {iso(window.end)})",
                   "no data" if p95 is None else round(p95 * 1000, 2), "<=", cfg.p95_slo_ms,
                   unit="ms", soft=True)
    result = history.range(hourly, window.start + 3600, window.end, 3600)
    if result.error:
        pytest.fail(f"Prometheus rejected {hourly}: {result.error}", pytrace=False)
    points = merge_series(result.series)
    peak = worst(points)
    if peak is None:
        evidence.check("P95 per hour", "no data", "<=", cfg.p95_slo_ms, unit="ms")
        return
    evidence.record("hours measured", len(points))
    evidence.check(f"P95 of the worst hour (ending {iso(peak[0])})", round(peak[1] * 1000, 2),
                   "<=", cfg.p95_slo_ms, unit="ms", soft=True)


# -- No critical alerts ----------------------------------------------------------------------------
def _alertmanager_alerts(release_settings, filters):
    url = release_settings.observability.alertmanager_url
    if not url:
        return None
    from pytest_release.probes.prometheus import AlertmanagerProbe

    probe = AlertmanagerProbe(url, timeout_s=release_settings.observability.timeout_s)
    return probe, probe.alerts(filters, silenced=True, inhibited=True)


def _fired(history, window, matchers: str):
    expr = f'ALERTS{{alertstate="firing",{matchers}}}'
    result = history.range(expr, window.start, window.end, window.step)
    if result.error:
        pytest.fail(f"Prometheus rejected {expr}: {result.error}", pytrace=False)
    return expr, alert_periods(result.series, window.step)


@pytest.mark.release_item("alerts")
def test_no_critical_alert_fired_in_the_window(history, postdeploy_window, release_settings,
                                               evidence):
    cfg = release_settings.postdeploy
    window = postdeploy_window
    severities = "|".join(cfg.blocking_severities)
    expr, periods = _fired(history, window, f"severity=~{promql_string(severities)}")
    evidence.reproduce(history.reproduce(expr, window.start, window.end, window.step))
    evidence.record("history coverage of the window", round(window.coverage, 4))
    fired = [p.describe() for p in periods]
    evidence.check(f"alerts of severity {severities} firing {iso(window.start)} – {iso(window.end)}",
                   fired or "none", "==", "none", soft=True)
    found = _alertmanager_alerts(release_settings, [f"severity=~{promql_string(severities)}"])
    if found is not None:
        probe, active = found
        firing = [f"{a.name} since {a.active_at}" for a in active if a.state == "active"]
        evidence.check(f"alerts of severity {severities} active in {probe.display_url}",
                       firing or "none", "==", "none", soft=True)


# -- No security incidents -------------------------------------------------------------------------
@pytest.mark.release_item("security")
def test_no_security_incident_in_the_window(history, postdeploy_window, release_settings,
                                            evidence):
    cfg = release_settings.postdeploy
    if not cfg.security_matchers:
        evidence.not_measured(
            "no security-incident source is configured: set postdeploy.security_matchers (label "
            "matchers of security alerts, e.g. category=\"security\"); it is never assumed")
    window = postdeploy_window
    expr, periods = _fired(history, window, ",".join(cfg.security_matchers))
    evidence.reproduce(history.reproduce(expr, window.start, window.end, window.step))
    evidence.check(f"security alerts firing {iso(window.start)} – {iso(window.end)}",
                   [p.describe() for p in periods] or "none", "==", "none", soft=True)
    found = _alertmanager_alerts(release_settings, list(cfg.security_matchers))
    if found is not None:
        probe, active = found
        firing = [f"{a.name} since {a.active_at}" for a in active if a.state == "active"]
        evidence.check(f"security alerts active in {probe.display_url}", firing or "none", "==",
                       "none", soft=True)
