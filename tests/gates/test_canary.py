"""The canary stage: live analysis of the three templates and the four rollback triggers.

Real Prometheus servers on backfilled histories (``pytest_release.demo.history``): the last hour
with a healthy or a regressed canary pod (label ``track="canary"``) for the live analysis, and
the 24 h scenarios for the trigger backtests. One Prometheus per scenario, module-scoped.
"""
from __future__ import annotations

import pytest
from support.run import check, item_statuses, measurement, output

from pytest_release.bundled import examples_path
from pytest_release.demo.history import start_history_prometheus
from pytest_release.demo.observability import DEFAULT_RULE_FILES, PrometheusServer

MODULES = ("test_canary.py",)
#: The checklist's 10 measurements per template (fewer would be a deviation), taken 0.2 s apart
#: on the backfilled history instead of 30 s apart (the pause is not a checklist number).
FAST = ("--release-set", "analysis.count=10", "--release-set", "analysis.interval=0.2s")
TEMPLATES = ("--release-set", f"analysis.templates_dir={examples_path('argo')}")
ANALYSIS = ("analysis_error_rate", "analysis_latency", "analysis_redis")
TRIGGERS = ("trigger_error_rate", "trigger_latency", "trigger_redis", "trigger_consecutive")


def run_canary(run_release, server: PrometheusServer, *extra: str):
    return run_release("-m", "stage_canary", "--release-set",
                       f"observability.prometheus_url={server.url}", *FAST, *TEMPLATES, *extra,
                       modules=MODULES)


def statuses(signoff, ids) -> dict[str, str]:
    found = item_statuses(signoff, "canary")
    return {i: found[i] for i in ids}


def samples(check_: dict) -> list[dict]:
    return [m for m in check_["measurements"] if m["name"].startswith("measurement ")]


# -- live analysis --------------------------------------------------------------------------------
@pytest.mark.parametrize("source", [TEMPLATES, ()], ids=["templates", "settings"])
def test_healthy_canary_passes_each_analysis_template(histories, run_release, source):
    server = histories["canary_healthy"]
    result, signoff = run_release("-m", "stage_canary", "-k", "analysis_passes",
                                  "--release-set", f"observability.prometheus_url={server.url}",
                                  *FAST, *source, modules=MODULES)
    assert signoff is not None, output(result)
    assert statuses(signoff, ANALYSIS) == dict.fromkeys(ANALYSIS, "passed"), output(result)
    for item_id in ANALYSIS:
        taken = samples(check(signoff, "canary", item_id))
        assert len(taken) == 10  # count 10, each with its time, value and judgement
        assert all(s["value"]["phase"] == "Successful" for s in taken), taken
        assert all(isinstance(s["value"]["stable"], float) for s in taken)  # the comparison
    latency = samples(check(signoff, "canary", "analysis_latency"))
    assert 40 < latency[0]["value"]["canary"] < 100  # P95 ~60 ms, in ms
    origin = measurement(check(signoff, "canary", "analysis_error_rate"), "templates read from")
    assert origin["value"].startswith("snapshot" if source else "settings")
    assert check(signoff, "canary", "analysis_latency")["attachments"][0]["media_type"] == \
        "image/svg+xml"


def test_regressed_canary_fails_each_template_naming_value_and_time(histories, run_release):
    result, signoff = run_canary(run_release, histories["canary_regressed"],
                                 "-k", "analysis")
    assert signoff is not None, output(result)
    assert statuses(signoff, ANALYSIS) == dict.fromkeys(ANALYSIS, "failed"), output(result)
    error_rate = check(signoff, "canary", "analysis_error_rate")["message"]
    assert "feedback-error-rate: < 0.5%" in error_rate
    assert "failed measurements of 10 (phase 1; first failed 20" in error_rate
    assert "canary 3" in error_rate and "measured 10" in error_rate  # ~3 % errors, 10 failures
    latency = check(signoff, "canary", "analysis_latency")["message"]
    assert "canary 2" in latency or "canary 3" in latency  # P95 ~300 ms
    redis = check(signoff, "canary", "analysis_redis")["message"]
    assert "canary 0.0 connected" in redis
    taken = samples(check(signoff, "canary", "analysis_redis"))
    assert [s["value"]["stable"] for s in taken] == [1.0] * 10  # stable stays healthy
    assert signoff["recommendation"] == "ROLL BACK"


def test_no_data_is_a_failed_measurement(histories, run_release):
    result, signoff = run_canary(run_release, histories["canary_healthy"], "-k", "error_rate_analysis",
                                 "--release-set", 'analysis.canary_args=["track=nonexistent"]')
    assert signoff is not None, output(result)
    analysis = check(signoff, "canary", "analysis_error_rate")
    assert item_statuses(signoff, "canary")["analysis_error_rate"] == "failed"
    assert {s["value"]["phase"] for s in samples(analysis)} == {"Error"}
    assert "no data" in analysis["message"]


def test_phase_two_allows_two_failures(histories, run_release):
    result, signoff = run_canary(run_release, histories["canary_regressed"], "-k", "redis_health",
                                 "--release-set", "analysis.phase=2",
                                 "--release-set", "analysis.count=2")
    assert signoff is not None, output(result)
    # Two measurements are fewer than the checklist's ten: the check passes, the item shows the
    # deviation (never a plain pass).
    assert check(signoff, "canary", "analysis_redis")["outcome"] == "passed", output(result)
    assert item_statuses(signoff, "canary")["analysis_redis"] == "deviation", output(result)
    failed = measurement(check(signoff, "canary", "analysis_redis"),
                         next(m["name"] for m in check(signoff, "canary", "analysis_redis")[
                             "measurements"] if m["name"].startswith("failed measurements")))
    assert (failed["value"], failed["threshold"]) == (2, 2)


# -- rollback triggers ----------------------------------------------------------------------------
def test_triggers_are_enforced_and_never_fired_on_healthy_history(histories, run_release):
    result, signoff = run_canary(run_release, histories["healthy"], "-k", "backtested or abort")
    assert signoff is not None, output(result)
    assert statuses(signoff, TRIGGERS) == dict.fromkeys(TRIGGERS, "passed"), output(result)
    error_rate = check(signoff, "canary", "trigger_error_rate")
    assert measurement(error_rate, "FeedbackErrorRateHigh threshold")["value"] == [">", 0.005]
    assert measurement(error_rate, "FeedbackErrorRateHigh for:")["value"] == 600
    redis = check(signoff, "canary", "trigger_redis")
    assert measurement(redis, "RedisConnectionFailures range window")["value"] == 300
    fired = [m for m in error_rate["measurements"] if m["name"].startswith("backtest ")]
    assert fired[0]["value"] == "never"


def test_backtest_reports_when_the_error_trigger_fired_and_that_its_rule_did(histories,
                                                                             run_release):
    result, signoff = run_canary(run_release, histories["error_spike"], "-k", "backtested or abort")
    assert signoff is not None, output(result)
    assert statuses(signoff, TRIGGERS) == dict.fromkeys(TRIGGERS, "passed"), output(result)
    error_rate = check(signoff, "canary", "trigger_error_rate")
    would = next(m for m in error_rate["measurements"] if m["name"].startswith("backtest "))
    assert len(would["value"]) == 1 and would["value"][0].startswith("20"), would
    rule = measurement(error_rate, "FeedbackErrorRateHigh fired (ALERTS)")
    assert rule["value"][0].startswith("FeedbackErrorRateHigh (critical) firing 20")
    aborts = next(m for m in check(signoff, "canary", "trigger_consecutive")["measurements"]
                  if m["name"].startswith("feedback-error-rate backtest"))
    assert aborts["value"] != "never"  # the analysis would have aborted during the spike


def test_backtest_fails_when_the_trigger_held_but_its_rule_never_fired(histories, run_release):
    result, signoff = run_canary(run_release, histories["latency_regression"], "-k", "backtested")
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "canary")["trigger_latency"] == "failed", output(result)
    message = check(signoff, "canary", "trigger_latency")["message"]
    assert "Rollback: P95 latency > 150ms for 5 minutes" in message
    assert "without FeedbackLatencyP95High firing" in message
    assert "measured ['20" in message and "(peak 0.4" in message  # when, and P95 ~400 ms
    assert item_statuses(signoff, "canary")["trigger_error_rate"] == "passed"


def test_redis_trigger_backtest_names_the_outage(histories, run_release):
    result, signoff = run_canary(run_release, histories["critical_alert"], "-k", "redis_failure")
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "canary")["trigger_redis"] == "passed", output(result)
    redis = check(signoff, "canary", "trigger_redis")
    would = next(m for m in redis["measurements"] if m["name"].startswith("backtest "))
    assert would["value"] != "never" and "peak" in would["value"][0]


def test_loose_rules_fail_naming_threshold_and_window(tmp_path, run_release):
    rules = DEFAULT_RULE_FILES[0].read_text()
    loose = rules.replace(") > 0.005\n        for: 10m", ") > 0.01\n        for: 15m") \
        .replace("increase(aiops_redis_errors_total[5m]) > 5", "increase(aiops_redis_errors_total[15m]) > 5")
    assert loose != rules
    path = tmp_path / "loose.rules.yml"
    path.write_text(loose)
    server = start_history_prometheus(tmp_path / "prom", "healthy", rule_files=[path])
    try:
        result, signoff = run_canary(run_release, server, "-k", "backtested")
    finally:
        server.stop()
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "canary")["trigger_error_rate"] == "failed", output(result)
    message = check(signoff, "canary", "trigger_error_rate")["message"]
    assert "FeedbackErrorRateHigh threshold == ('>', 0.005), measured ('>', 0.01)" in message
    assert "FeedbackErrorRateHigh for: == 600 s, measured 900" in message
    redis = check(signoff, "canary", "trigger_redis")["message"]
    assert "RedisConnectionFailures range window == 300 s, measured 900" in redis


def test_consecutive_trigger_without_templates_is_not_measured(histories, run_release):
    server = histories["healthy"]
    result, signoff = run_release("-m", "stage_canary", "-k", "abort", "--release-set",
                                  f"observability.prometheus_url={server.url}", modules=MODULES)
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "canary")["trigger_consecutive"] == "not_measured"
    assert "analysis.templates_dir" in check(signoff, "canary", "trigger_consecutive")["message"]


def test_prometheus_down_is_not_measured(run_release):
    from pytest_release.demo.stack import free_port

    result, signoff = run_release("-m", "stage_canary", "--release-set",
                                  f"observability.prometheus_url=http://127.0.0.1:{free_port()}",
                                  *FAST, *TEMPLATES, modules=MODULES)
    assert signoff is not None, output(result)
    found = item_statuses(signoff, "canary")
    assert set(found.values()) == {"not_measured"}, (found, output(result))
    assert signoff["recommendation"] == "HOLD"


def test_stages_run_only_when_asked_for(run_release):
    """A plain pre-deployment run does not sit through a canary analysis: stage checks are
    deselected (not run) unless -m names the stage or its module is named."""
    result, signoff = run_release("--release-set", "observability.prometheus_url=http://127.0.0.1:9",
                                  modules=("test_gate_redis.py", "test_canary.py",
                                           "test_postdeploy.py"))
    assert signoff is not None, output(result)
    stages = {g["id"]: g for g in signoff["gates"] if g["stage"] != "pre-deployment"}
    assert {k: (g["status"], g["deselected"]) for k, g in stages.items()} == {
        "canary": ("not_run", 7), "postdeploy": ("not_run", 5)}
    assert signoff["stage"] == "pre-deployment"
    assert signoff["recommendation"] == "DO NOT DEPLOY"


def test_loose_templates_fail_naming_threshold_interval_and_failure_limit(histories, run_release,
                                                                           tmp_path):
    source = (examples_path("argo") / "analysis-templates.yaml").read_text()
    loose = source.replace("successCondition: result[0] < 0.005", "successCondition: result[0] < 0.01") \
        .replace("      interval: 30s\n      count: 10\n      failureLimit: 1\n      successCondition: "
                 "result[0] < 0.01", "      interval: 1m\n      count: 10\n      failureLimit: 3\n"
                 "      successCondition: result[0] < 0.01")
    assert loose.count("failureLimit: 3") == 1
    (tmp_path / "templates.yaml").write_text(loose)
    where = ("--release-set", f"analysis.templates_dir={tmp_path}")
    result, signoff = run_canary(run_release, histories["canary_healthy"], "-k",
                                 "error_rate_analysis", *where)
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "canary")["analysis_error_rate"] == "failed", output(result)
    message = check(signoff, "canary", "analysis_error_rate")["message"]
    assert "successCondition threshold == ('<', 0.005), measured ('<', 0.01)" in message
    assert "template interval == 30 s, measured 60" in message
    result, signoff = run_canary(run_release, histories["healthy"], "-k", "abort", *where)
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "canary")["trigger_consecutive"] == "failed", output(result)
    message = check(signoff, "canary", "trigger_consecutive")["message"]
    assert "feedback-error-rate/error-rate: failed measurements that abort (failureLimit 3 + 1)" \
        " <= 2, measured 4" in message
