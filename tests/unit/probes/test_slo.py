"""Pure tables for the SLO arithmetic, runs/``for:`` semantics and analysis conditions."""
from __future__ import annotations

import math

import pytest

from pytest_release.probes.analysis import (
    AnalysisMetric,
    ConditionError,
    evaluate,
    failures_abort_after,
    metrics_from_templates,
    parse_condition,
)
from pytest_release.probes.slo import (
    RangeSeries,
    alert_periods,
    both_above,
    budget_consumed,
    burn_rate,
    consecutive_failures,
    coverage,
    error_ratio,
    fire_times,
    image_deviations,
    parse_burn_pair,
    runs,
)

DAY, MONTH = 86400.0, 30 * 86400.0


@pytest.mark.parametrize(("ratio", "slo", "burn"), [
    (0.005, 0.995, 1.0),      # exactly the budget
    (0.0005, 0.995, 0.1),
    (0.072, 0.995, 14.4),     # the 1 h / 5 m page
    (0.0, 0.999, 0.0),
])
def test_burn_rate_is_error_ratio_over_the_budget(ratio, slo, burn):
    assert burn_rate(ratio, slo) == pytest.approx(burn)


@pytest.mark.parametrize(("ratio", "window", "consumed"), [
    (0.005, MONTH, 1.0),          # burn 1 for the whole period spends it all
    (0.005, DAY, 1 / 30),
    (0.015, DAY, 0.1),            # burn 3 for a day: the checklist's 10 %
    (0.0005, DAY, 0.1 / 30),
])
def test_budget_consumed_is_burn_times_window_over_period(ratio, window, consumed):
    assert budget_consumed(ratio, 0.995, window, MONTH) == pytest.approx(consumed)


def test_error_ratio_without_requests_is_unknown():
    assert error_ratio(0, 0) is None
    assert error_ratio(5, 1000) == 0.005


@pytest.mark.parametrize("slo", [0.0, 1.0, 1.5])
def test_impossible_slo_is_refused(slo):
    with pytest.raises(ValueError):
        burn_rate(0.01, slo)


@pytest.mark.parametrize(("text", "expected"), [
    ("1h:5m:14.4", (3600, 300, 14.4)), ("6h:30m:6", (21600, 1800, 6.0)),
    ("3d:6h:1", (259200, 21600, 1.0)),
])
def test_burn_pairs_parse(text, expected):
    pair = parse_burn_pair(text)
    assert (pair.long_s, pair.short_s, pair.factor) == expected


@pytest.mark.parametrize("text", ["1h:5m", "5m:1h:2", "1h:5m:-1", "x:5m:1"])
def test_bad_burn_pairs_are_refused(text):
    with pytest.raises(ValueError):
        parse_burn_pair(text)


def test_both_windows_must_exceed():
    long = [(0, 20.0), (60, 20.0), (120, 5.0)]
    short = [(0, 1.0), (60, 30.0), (120, 30.0)]
    assert both_above(long, short, 14.4) == [(60, 20.0)]


@pytest.mark.parametrize(("times", "for_s", "fires"), [
    ([0, 60, 120, 180], 120, [120]),          # held 3 min: fires after 2
    ([0, 60], 120, []),                        # held 1 min: never
    ([0, 60, 120, 600, 660, 720], 120, [120, 720]),  # two separate runs
    ([0], 0, [0]),                             # no for: fires at once
])
def test_fire_times_follow_for_semantics(times, for_s, fires):
    found = fire_times([(t, 1.0) for t in times], 60, for_s)
    assert [t for t, _ in found] == fires


def test_runs_split_on_gaps_and_keep_the_peak():
    found = runs([(0, 1.0), (60, 3.0), (300, 2.0)], 60)
    assert [(r.start, r.end, r.peak) for r in found] == [(0, 60, 3.0), (300, 300, 2.0)]


@pytest.mark.parametrize(("failed", "n", "expected"), [
    ([False, True, True, True, False, True, True], 2, [2, 6]),
    ([True, False, True, False], 2, []),
    ([True], 1, [0]),
])
def test_consecutive_failures(failed, n, expected):
    assert consecutive_failures(list(enumerate(failed)), n) == expected


def test_coverage_counts_steps_with_samples():
    assert coverage([(t, 1.0) for t in range(0, 601, 60)], 0, 600, 60) == 1.0
    assert coverage([(t, 1.0) for t in range(0, 301, 60)], 0, 600, 60) == pytest.approx(6 / 11)
    assert coverage([], 0, 600, 60) == 0.0


def test_alert_periods_name_each_firing():
    series = [RangeSeries({"alertname": "RedisDown", "severity": "critical"},
                          ((100, 1.0), (160, 1.0), (1000, 1.0)))]
    periods = alert_periods(series, 60)
    assert [(p.name, p.start, p.end) for p in periods] == [("RedisDown", 100, 160),
                                                           ("RedisDown", 1000, 1000)]
    assert periods[0].describe().startswith("RedisDown (critical) firing 1970-01-01T00:01:40Z")


DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("value", "deviates"), [
    (f"ghcr.io/org/app@{DIGEST}", False),
    (f"docker-pullable://ghcr.io/org/app@{DIGEST}", False),
    (DIGEST, False),
    ("ghcr.io/org/app@sha256:" + "b" * 64, True),
    ("", True),
])
def test_image_deviations_compare_digests(value, deviates):
    series = [RangeSeries({"image_id": value, "pod": "p"}, ((50, 1.0), (110, 1.0)))]
    found = image_deviations(series, "image_id", f"ghcr.io/org/app@{DIGEST}")
    assert bool(found) is deviates
    if deviates:
        assert found[0][0] == 50  # the first deviating sample's time


# -- analysis conditions (Argo expr-lang subset) ----------------------------------------------------
@pytest.mark.parametrize(("values", "success", "failure", "phase"), [
    ([0.001], "result[0] < 0.005", None, "Successful"),
    ([0.03], "result[0] < 0.005", None, "Failed"),
    ([], "result[0] < 0.005", None, "Error"),                 # no data: fail closed
    ([1.0], "len(result) > 0 && result[0] > 0", None, "Successful"),
    ([0.0], "result[0] > 0", None, "Failed"),
    ([0.2], "result[0] < 0.15", "result[0] >= 0.3", "Inconclusive"),
    ([0.4], "result[0] < 0.15", "result[0] >= 0.3", "Failed"),
    ([math.nan], "!isNaN(result[0]) && result[0] < 0.15", None, "Failed"),
    ([0.1, 0.2], "result[1] < 0.15", None, "Failed"),
    ([0.1], None, None, "Successful"),
])
def test_conditions_are_judged_like_argo(values, success, failure, phase):
    judgement = evaluate(values, success, failure)
    assert judgement.phase == phase, judgement.reason
    assert judgement.failed is (phase != "Successful")


@pytest.mark.parametrize("condition", ["result[0] <", "__import__('os')", "result.x > 1",
                                       "result[0] in [1]"])
def test_unreadable_conditions_are_errors_not_passes(condition):
    with pytest.raises(ConditionError):
        parse_condition(condition)


def test_templates_are_read_with_argo_defaults():
    template = {"metadata": {"name": "feedback-latency"}, "spec": {
        "args": [{"name": "track", "value": "canary"}, {"name": "service"}],
        "metrics": [{"name": "p95", "interval": "30s", "successCondition": "result[0] < 0.15",
                     "provider": {"prometheus": {"query": 'q{track="{{args.track}}"}'}}},
                    {"name": "web", "provider": {"web": {"url": "http://x"}}}]}}
    [metric] = metrics_from_templates([template], source="snapshot d")
    assert (metric.interval_s, metric.failure_limit, metric.consecutive_error_limit) == (30, 0, 4)
    assert metric.thresholds == [("<", 0.15)]
    assert metric.query_for({}) == 'q{track="canary"}'
    assert metric.query_for({"track": "stable"}) == 'q{track="stable"}'
    assert failures_abort_after(metric) == 1


def test_a_missing_argument_value_is_an_error():
    metric = AnalysisMetric("t", "m", 'q{s="{{args.service}}"}', 30, None, None, None, 1, 4)
    with pytest.raises(KeyError):
        metric.query_for({})
