"""The post-deployment stage against real Prometheus servers holding backfilled 24 h histories.

One Prometheus per scenario (module-scoped), each started by ``pytest_release.demo.history`` on
OpenMetrics generated for it and backfilled by ``promtool``. Every item passes on the healthy
history and fails, naming the time and the value, on the history that violates it.
"""
from __future__ import annotations

from support.run import check, gate, item_statuses, measurement, output

from pytest_release.demo.history import OTHER_DIGEST, release_image
from pytest_release.demo.observability import PrometheusServer

MODULES = ("test_postdeploy.py",)
SECURITY = 'postdeploy.security_matchers=["category=\\"security\\""]'


def run_stage(run_release, server: PrometheusServer, *extra: str):
    return run_release(
        "-m", "stage_postdeploy",
        "--release-set", f"observability.prometheus_url={server.url}",
        "--release-set", f"release.image={release_image()}",
        "--release-set", SECURITY,
        *extra, modules=MODULES)


def messages(signoff, item_id: str) -> str:
    return check(signoff, "postdeploy", item_id)["message"] or ""


def test_healthy_history_passes_every_item(histories, run_release):
    result, signoff = run_stage(run_release, histories["healthy"])
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "postdeploy") == {
        "burn_rate": "passed", "drift": "passed", "slo": "passed", "security": "passed",
        "alerts": "passed"}, output(result)
    assert gate(signoff, "postdeploy")["status"] == "passed"
    assert signoff["stage"] == "postdeploy"
    assert signoff["recommendation"] == "RELEASE COMPLETE"
    burn = check(signoff, "postdeploy", "burn_rate")
    consumed = measurement(burn, next(m["name"] for m in burn["measurements"]
                                      if m["name"].startswith("budget_consumed")))
    assert 0 < consumed["value"] < 0.01  # 0.05 % errors of a 0.5 % budget, 1 day of 30
    assert burn["attachments"][0]["name"] == "error ratio per hour"
    assert burn["attachments"][0]["content"].startswith("<svg")
    assert [g["stage"] for g in signoff["gates"]][-2:] == ["canary", "postdeploy"]
    assert result.ret == 0


def test_error_spike_fails_the_burn_rate_naming_value_and_time(histories, run_release):
    result, signoff = run_stage(run_release, histories["error_spike"])
    assert signoff is not None, output(result)
    statuses = item_statuses(signoff, "postdeploy")
    assert statuses["burn_rate"] == "failed", output(result)
    assert statuses["drift"] == statuses["slo"] == "passed"
    text = messages(signoff, "burn_rate")
    assert "Error budget burn rate < 10%" in text
    assert "budget_consumed over 24h" in text and "measured 0.1" in text  # ~14 % of the budget
    assert "burn pair 1h:5m:14.4" in text and "from 20" in text  # the paging time
    assert "FeedbackErrorRateHigh (critical) firing" in messages(signoff, "alerts")
    assert signoff["recommendation"] == "ROLL BACK"
    assert result.ret != 0


def test_latency_regression_fails_the_slo_naming_the_worst_hour(histories, run_release):
    result, signoff = run_stage(run_release, histories["latency_regression"])
    assert signoff is not None, output(result)
    statuses = item_statuses(signoff, "postdeploy")
    assert statuses["slo"] == "failed", output(result)
    assert statuses["burn_rate"] == statuses["alerts"] == "passed"
    slo = check(signoff, "postdeploy", "slo")
    worst = next(m for m in slo["measurements"] if m["name"].startswith("P95 of the worst hour"))
    assert worst["ok"] is False and worst["value"] > 300, worst
    assert "(ending 20" in worst["name"]
    assert "Performance within SLO" in slo["message"]


def test_image_drift_names_the_pod_the_digest_and_the_time(histories, run_release):
    result, signoff = run_stage(run_release, histories["image_drift"])
    assert signoff is not None, output(result)
    statuses = item_statuses(signoff, "postdeploy")
    assert statuses["drift"] == "failed", output(result)
    assert statuses["burn_rate"] == statuses["slo"] == "passed"
    text = messages(signoff, "drift")
    assert "No drift from deployment SHA" in text
    assert "pod cpt-ajan-backend-7d9f-fghij runs" in text and OTHER_DIGEST in text
    assert "measured 20" in text  # the time of the first deviating sample


def test_critical_alert_period_and_security_alert_are_named(histories, run_release):
    result, signoff = run_stage(run_release, histories["critical_alert"])
    assert signoff is not None, output(result)
    statuses = item_statuses(signoff, "postdeploy")
    assert statuses["alerts"] == "failed" and statuses["security"] == "failed", output(result)
    alerts = messages(signoff, "alerts")
    assert "No critical alerts" in alerts
    assert "RedisDown (critical) firing 20" in alerts
    assert "RedisConnectionFailures (critical) firing" in alerts
    assert "SuspiciousTokenUse" not in alerts  # a warning: not a blocking severity
    assert "SuspiciousTokenUse (warning) firing 20" in messages(signoff, "security")


def test_too_little_traffic_is_not_measured(histories, run_release):
    result, signoff = run_stage(run_release, histories["low_traffic"])
    assert signoff is not None, output(result)
    statuses = item_statuses(signoff, "postdeploy")
    assert statuses["burn_rate"] == statuses["slo"] == "not_measured", output(result)
    assert "too little traffic" in messages(signoff, "burn_rate")
    assert "postdeploy.min_requests = 1000" in messages(signoff, "slo")
    assert gate(signoff, "postdeploy")["status"] == "incomplete"
    assert signoff["recommendation"] == "HOLD"


def test_no_security_source_is_not_measured_never_assumed(histories, run_release):
    server = histories["healthy"]
    result, signoff = run_release(
        "-m", "stage_postdeploy", "--release-set", f"observability.prometheus_url={server.url}",
        "--release-set", f"release.image={release_image()}", modules=MODULES)
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "postdeploy")["security"] == "not_measured"
    assert "postdeploy.security_matchers" in messages(signoff, "security")
    assert signoff["recommendation"] == "HOLD"


def test_prometheus_down_is_not_measured(run_release):
    from pytest_release.demo.stack import free_port

    result, signoff = run_release(
        "-m", "stage_postdeploy",
        "--release-set", f"observability.prometheus_url=http://127.0.0.1:{free_port()}",
        "--release-set", f"release.image={release_image()}", "--release-set", SECURITY,
        modules=MODULES)
    assert signoff is not None, output(result)
    assert set(item_statuses(signoff, "postdeploy").values()) == {"not_measured"}, output(result)
    assert "unreachable" in messages(signoff, "alerts")
    assert signoff["recommendation"] == "HOLD"


def test_a_fresh_prometheus_without_history_is_not_measured(tmp_path, run_release):
    """An empty TSDB would otherwise 'prove' there were no alerts: the coverage guard refuses."""
    from pytest_release.demo.observability import start_prometheus

    server = start_prometheus(tmp_path / "empty", scrape_targets={}, rule_files=())
    try:
        result, signoff = run_stage(run_release, server)
    finally:
        server.stop()
    assert signoff is not None, output(result)
    assert item_statuses(signoff, "postdeploy")["alerts"] == "not_measured", output(result)
    assert "has history for 0.0%" in messages(signoff, "alerts")


def test_an_alert_active_in_alertmanager_fails_the_alert_items(histories, run_release, tmp_path):
    """Alertmanager is the second source: a critical and a security alert posted to a real
    Alertmanager (its v2 API) fail the items although the Prometheus history is healthy."""
    import json
    import urllib.request
    from datetime import UTC, datetime, timedelta

    from pytest_release.demo.observability import start_alertmanager

    alertmanager = start_alertmanager(tmp_path / "am")
    try:
        now = datetime.now(UTC)
        alerts = [{"labels": {"alertname": name, "severity": severity, **extra},
                   "startsAt": (now - timedelta(minutes=3)).isoformat(),
                   "endsAt": (now + timedelta(hours=1)).isoformat()}
                  for name, severity, extra in (("PaymentsDown", "critical", {}),
                                                ("TokenReplay", "warning",
                                                 {"category": "security"}))]
        request = urllib.request.Request(alertmanager.url + "/api/v2/alerts",
                                         data=json.dumps(alerts).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        result, signoff = run_stage(run_release, histories["healthy"], "--release-set",
                                    f"observability.alertmanager_url={alertmanager.url}")
    finally:
        alertmanager.stop()
    assert signoff is not None, output(result)
    statuses = item_statuses(signoff, "postdeploy")
    assert statuses["alerts"] == statuses["security"] == "failed", output(result)
    assert "PaymentsDown since 20" in messages(signoff, "alerts")
    assert "TokenReplay since 20" in messages(signoff, "security")
    assert "TokenReplay" not in messages(signoff, "alerts")
