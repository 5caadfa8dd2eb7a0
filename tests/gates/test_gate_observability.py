"""Gate 5 end to end: tests_release/test_gate_observability.py in a pytester subprocess against
real Prometheus 2.42, Alertmanager 0.25 and the feedback service (healthy, then one fault at a
time); the Grafana API path against a stand-in HTTP server (see ``grafana_standin``).

Each failure scenario asserts that the targeted item fails for the right, measured reason and
that the items it does not touch still pass.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.run import gate, measurement
from support.observability import DASHBOARD_FILE, OTEL_FILE, RENAMED_JOB, STOPPED_JOB, settings_args

MODULES = ("test_gate_observability.py",)
ITEMS = ("scraping", "otel", "metrics", "jwks", "dashboard", "alerts")


def run_gate(run_release, *args: str) -> dict[str, Any]:
    result, signoff = run_release(*args, modules=MODULES)
    assert signoff is not None, "\n".join(result.outlines[-40:] + result.errlines[-20:])
    return signoff


def statuses(signoff: dict[str, Any]) -> dict[str, str]:
    return {i["id"]: i["status"] for i in gate(signoff, "observability")["items"]}


def checks(signoff: dict[str, Any], item_id: str) -> dict[str, dict[str, Any]]:
    """The item's checks by test name."""
    return {c["nodeid"].rsplit("::", 1)[1]: c for c in gate(signoff, "observability")["checks"]
            if c["item_id"] == item_id}


def assert_only_failed(signoff: dict[str, Any], *failed: str) -> None:
    expected = {i: ("failed" if i in failed else "passed") for i in ITEMS}
    assert statuses(signoff) == expected, json.dumps(
        [(c["nodeid"], c["outcome"], c["message"]) for c in
         gate(signoff, "observability")["checks"]], indent=1)


# -- healthy ------------------------------------------------------------------------------------
def test_healthy_stack_passes_every_item(obs_stack, grafana_standin, run_release):
    panels = ["Feedback rate by type", "P95 latency", "5xx error ratio", "Redis connected"]
    signoff = run_gate(run_release, *obs_stack.args(
        dashboard_file=None, grafana_url=grafana_standin.url,
        grafana_token=grafana_standin.token, dashboard_uid=grafana_standin.uid,
        dashboard_panels=panels))
    observability = gate(signoff, "observability")
    assert observability["status"] == "passed", observability["reason"]
    assert_only_failed(signoff)
    assert all(c["outcome"] == "passed" and c["measured"] for c in observability["checks"])
    assert len(observability["checks"]) == 12

    scraping = checks(signoff, "scraping")["test_prometheus_scrapes_the_service"]
    instance = obs_stack.healthy.url.split("//")[1]
    assert measurement(scraping, f"{instance} health")["value"] == "up"
    assert measurement(scraping, f'up{{instance="{instance}"}}')["value"] == 1
    age = measurement(scraping, f"{instance} last scrape age")
    assert age["threshold"] == 3.0 and 0 <= age["value"] <= 3.0
    assert "promtool query instant" in scraping["reproduce"]

    otel = checks(signoff, "otel")
    head = otel["test_otel_head_sampling_is_probabilistic"]
    assert measurement(head, "probabilistic_sampler/traces sampling_percentage")["value"] == 10.0
    assert measurement(otel["test_otel_tail_sampling_keeps_all_error_traces"],
                       "error traces kept")["value"] == 100.0

    metrics = checks(signoff, "metrics")
    exposed = metrics["test_aiops_metrics_are_exposed"]
    assert measurement(exposed, "labels of aiops_feedback")["value"] == "severity,source,type"
    assert measurement(exposed, "type of aiops_http_request_duration_seconds")["value"] == \
        "histogram"
    in_prometheus = metrics["test_aiops_metrics_reach_prometheus"]
    assert measurement(in_prometheus, "labels of aiops_http_request_duration_seconds_count in "
                       "Prometheus")["value"] == "method,route,status"

    jwks = checks(signoff, "jwks")["test_jwks_serves_public_signing_keys_only"]
    assert measurement(jwks, "api.token signature")["value"] == "verified"

    dashboard = checks(signoff, "dashboard")["test_grafana_dashboard_panels_have_data"]
    data_checks = [m for m in dashboard["measurements"] if m["name"].startswith("series from")]
    assert len(data_checks) == 7 and all(m["ok"] for m in data_checks)
    # $job, ${job} and [[job]] all became the dashboard's default; $__rate_interval a duration.
    assert not any("$" in m["name"] or "[[" in m["name"] for m in data_checks)
    assert any("Redis / 'Redis connected'" in m["name"] for m in data_checks)  # nested in a row
    assert {r["authorization"] for r in grafana_standin.requests} == \
        {f"Bearer {grafana_standin.token}"}
    assert "$GRAFANA_TOKEN" in dashboard["reproduce"]

    alerts = checks(signoff, "alerts")
    thresholds = alerts["test_alert_thresholds_match_checklist"]
    assert measurement(thresholds, "FeedbackErrorRateHigh threshold (expr > N)")["value"] == 0.005
    assert measurement(thresholds, "FeedbackLatencyP95High threshold (expr > N)")["value"] == 0.15
    assert measurement(thresholds, "RedisConnectionFailures threshold (expr > N)")["value"] == 5
    assert measurement(alerts["test_alert_rule_files_pass_promtool"],
                       "promtool check rules alerts.rules.yml")["value"] == "SUCCESS"
    assert measurement(alerts["test_no_critical_alert_is_firing"],
                       "critical alerts active in Alertmanager")["value"] == []
    # Secrets never reach the sign-off.
    text = json.dumps(signoff)
    assert grafana_standin.token not in text and obs_stack.token not in text


# -- one fault at a time ------------------------------------------------------------------------
def test_stopped_service_fails_scraping(obs_stack, run_release):
    signoff = run_gate(run_release, *obs_stack.args(scrape_job=STOPPED_JOB))
    # With its only target down, the job has no series in Prometheus either.
    assert_only_failed(signoff, "scraping", "metrics")
    scraping = checks(signoff, "scraping")["test_prometheus_scrapes_the_service"]
    instance = obs_stack.stopped.url.split("//")[1]
    assert measurement(scraping, f"{instance} health")["value"] == "down"
    assert "connection refused" in measurement(scraping, f"{instance} last scrape error")["value"]
    assert measurement(scraping, f'up{{instance="{instance}"}}')["value"] == 0
    assert scraping["message"].startswith("Prometheus scraping: Active: expected")
    metrics = checks(signoff, "metrics")
    assert metrics["test_aiops_metrics_are_exposed"]["outcome"] == "passed"
    assert metrics["test_aiops_metrics_reach_prometheus"]["outcome"] == "failed"


def test_renamed_counter_fails_metrics(obs_stack, run_release):
    signoff = run_gate(run_release, *obs_stack.args(
        scrape_job=RENAMED_JOB, metrics_url=obs_stack.renamed.url + "/metrics/aiops"))
    assert_only_failed(signoff, "metrics")
    metrics = checks(signoff, "metrics")
    exposed = metrics["test_aiops_metrics_are_exposed"]
    found = measurement(exposed, "family aiops_feedback")
    assert found["ok"] is False
    assert found["value"] == "missing (similar: aiops_feedbacks)"
    assert "aiops_feedback" in exposed["message"]
    in_prometheus = metrics["test_aiops_metrics_reach_prometheus"]
    assert measurement(in_prometheus,
                       f"series of aiops_feedback_total in job '{RENAMED_JOB}'")["value"] == 0


def test_dashboard_panel_without_data_fails_naming_it(obs_stack, run_release, tmp_path):
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    row = next(p for p in dashboard["panels"] if p.get("type") == "row" and p.get("collapsed"))
    row["panels"].append({
        "id": 90, "type": "stat", "title": "Ghost metric",
        "targets": [{"refId": "A", "expr": 'sum(rate(aiops_ghost_total{job="$job"}'
                                           '[$__rate_interval]))'}]})
    dashboard["panels"].append({
        "id": 91, "type": "timeseries", "title": "Broken query",
        "targets": [{"refId": "B", "expr": "sum(rate(aiops_http_requests_total[5m]"}]})
    path = tmp_path / "dashboard.json"
    path.write_text(json.dumps(dashboard))
    signoff = run_gate(run_release, *obs_stack.args(dashboard_file=str(path)))
    assert_only_failed(signoff, "dashboard")
    check = checks(signoff, "dashboard")["test_grafana_dashboard_panels_have_data"]
    failed = {m["name"]: m["value"] for m in check["measurements"] if m["ok"] is False}
    assert failed == {
        "series from panel Redis / 'Ghost metric' [A] (sum(rate(aiops_ghost_total"
        '{job="feedback-service"}[61s])))': 0,
        "series from panel 'Broken query' [B] (sum(rate(aiops_http_requests_total[5m])":
            failed["series from panel 'Broken query' [B] (sum(rate(aiops_http_requests_total[5m])"],
    }
    assert "parse error" in failed[
        "series from panel 'Broken query' [B] (sum(rate(aiops_http_requests_total[5m])"]
    assert "'Ghost metric'" in check["message"]
    assert "aiops_ghost_total" in check["reproduce"]


def test_wrong_threshold_fails_alerts(obs_stack, wrong_threshold_rules, run_release):
    rules_path, prometheus = wrong_threshold_rules
    signoff = run_gate(run_release, *obs_stack.args(prometheus_url=prometheus.url,
                                                    rule_files=[str(rules_path)]))
    assert_only_failed(signoff, "alerts")
    alerts = checks(signoff, "alerts")
    outcomes = {name: c["outcome"] for name, c in alerts.items()}
    assert outcomes == {
        "test_alert_rules_are_loaded_and_healthy": "passed",
        "test_alert_rule_files_pass_promtool": "passed",  # valid syntax, wrong number
        "test_alert_thresholds_match_checklist": "failed",
        "test_alertmanager_routes_the_alerts": "passed",
        "test_no_critical_alert_is_firing": "passed",
    }
    wrong = measurement(alerts["test_alert_thresholds_match_checklist"],
                        "FeedbackErrorRateHigh threshold (expr > N)")
    assert (wrong["value"], wrong["threshold"], wrong["ok"]) == (0.05, 0.005, False)
    assert measurement(alerts["test_alert_thresholds_match_checklist"],
                       "RedisConnectionFailures threshold (expr > N)")["ok"] is True


def test_rule_file_syntax_error_fails_alerts(obs_stack, run_release, tmp_path):
    broken = tmp_path / "broken.rules.yml"
    broken.write_text("groups:\n  - name: broken\n    rules:\n      - alert: FeedbackErrorRateHigh\n"
                      "        expr: sum(rate(aiops_http_errors_total[5m]) > 0.005\n")
    signoff = run_gate(run_release, *obs_stack.args(rule_files=[str(broken)]))
    assert_only_failed(signoff, "alerts")
    promtool = checks(signoff, "alerts")["test_alert_rule_files_pass_promtool"]
    assert promtool["outcome"] == "failed"
    value = measurement(promtool, "promtool check rules broken.rules.yml")["value"]
    assert "FAILED" in value and "unclosed left parenthesis" in value
    assert promtool["reproduce"] == f"promtool check rules {broken}"


def test_firing_critical_alert_fails_alerts(obs_stack, firing_stack, run_release):
    prometheus, alertmanager = firing_stack
    signoff = run_gate(run_release, *obs_stack.args(prometheus_url=prometheus.url,
                                                    alertmanager_url=alertmanager.url))
    assert_only_failed(signoff, "alerts")
    firing = checks(signoff, "alerts")["test_no_critical_alert_is_firing"]
    assert firing["outcome"] == "failed"
    assert measurement(firing, "critical alerts firing in Prometheus")["value"] == \
        ["ReleaseBlocker (critical)"]
    assert measurement(firing, "critical alerts active in Alertmanager")["value"] == \
        ["ReleaseBlocker"]
    assert 'filter=severity="critical"' in firing["reproduce"]


def test_private_jwks_fails(obs_stack, run_release):
    service = obs_stack.private_jwks
    signoff = run_gate(run_release, *obs_stack.args(
        jwks_url=service.url + "/.well-known/jwks.json", api__token=obs_stack.private_token))
    assert_only_failed(signoff, "jwks")
    jwks = checks(signoff, "jwks")["test_jwks_serves_public_signing_keys_only"]
    private = [m for m in jwks["measurements"] if m["name"].endswith("private members")]
    assert [m["value"] for m in private] == [["d", "p", "q", "dp", "dq", "qi"]]
    # The token still verifies against the public part: the failure is the leak alone.
    assert measurement(jwks, "api.token signature")["value"] == "verified"
    text = json.dumps(signoff)
    assert obs_stack.private_token not in text


def test_token_from_another_key_fails_jwks(obs_stack, run_release):
    signoff = run_gate(run_release, "-k", "jwks",
                       *obs_stack.args(api__token=obs_stack.private_token))
    jwks = checks(signoff, "jwks")["test_jwks_serves_public_signing_keys_only"]
    assert jwks["outcome"] == "failed"
    value = measurement(jwks, "api.token signature")["value"]
    assert value.startswith("not verified: no key with kid")


def _otel_variant(tmp_path: Path, change: str) -> Path:
    config = yaml.safe_load(OTEL_FILE.read_text())
    pipelines = config["service"]["pipelines"]
    if change == "sampling_100":
        config["processors"]["probabilistic_sampler/traces"]["sampling_percentage"] = 100
    elif change == "not_in_pipeline":
        pipelines["traces/sampled"]["processors"].remove("probabilistic_sampler/traces")
    elif change == "same_pipeline":
        pipelines["traces/errors"]["processors"].insert(1, "probabilistic_sampler/traces")
        del pipelines["traces/sampled"]
    elif change == "no_error_policy":
        policies = config["processors"]["tail_sampling"]["policies"]
        policies[:] = [p for p in policies if p["type"] != "status_code"]
    path = tmp_path / f"otel-{change}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(("change", "failing", "name", "value"), [
    ("sampling_100", "test_otel_head_sampling_is_probabilistic",
     "probabilistic_sampler/traces sampling_percentage", 100.0),
    ("not_in_pipeline", "test_otel_head_sampling_is_probabilistic",
     "traces pipelines running a probabilistic_sampler", 0),
    ("same_pipeline", "test_otel_tail_sampling_keeps_all_error_traces", "error traces kept", 10.0),
    ("no_error_policy", "test_otel_tail_sampling_keeps_all_error_traces", "error traces kept",
     10.0),
])
def test_otel_sampling_faults_fail(obs_stack, run_release, tmp_path, change, failing, name, value):
    path = _otel_variant(tmp_path, change)
    signoff = run_gate(run_release, "-k", "otel", *obs_stack.args(otel_config_file=str(path)))
    otel = checks(signoff, "otel")
    assert {n: c["outcome"] for n, c in otel.items()} == {
        n: ("failed" if n == failing else "passed") for n in otel}
    assert measurement(otel[failing], name)["value"] == value
    if change == "not_in_pipeline":
        assert measurement(otel[failing], "probabilistic_sampler/traces")["value"] == \
            "defined but in no traces pipeline: it samples nothing"


def test_unreachable_prometheus_is_never_passed(obs_stack, run_release):
    from pytest_release.demo.stack import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    signoff = run_gate(run_release, *obs_stack.args(prometheus_url=dead))
    observability = gate(signoff, "observability")
    assert observability["status"] == "incomplete"
    assert signoff["verdict"] != "APPROVED"
    assert statuses(signoff) == {"scraping": "not_measured", "otel": "passed",
                                 "metrics": "not_measured", "jwks": "passed",
                                 "dashboard": "not_measured", "alerts": "not_measured"}
    for c in observability["checks"]:
        if c["item_id"] in ("scraping", "dashboard"):
            assert c["outcome"] == "skipped" and "unreachable" in c["message"], c


def test_unconfigured_gate_is_not_measured(run_release):
    signoff = run_gate(run_release, *settings_args({}))
    assert set(statuses(signoff).values()) == {"not_measured"}
    messages = " ".join(c["message"] for c in gate(signoff, "observability")["checks"])
    for key in ("prometheus_url", "alertmanager_url", "otel_config_file", "jwks_url",
                "dashboard_file"):
        assert key in messages


@pytest.mark.parametrize(("settings", "status", "text"), [
    ({"dashboard_uid": "no-such-dashboard"}, "failed", "not found"),
    ({"grafana_token": "wrong-token"}, "not_measured", "HTTP 401"),
])
def test_grafana_api_answers(obs_stack, grafana_standin, run_release, settings, status, text):
    values = {"dashboard_file": None, "grafana_url": grafana_standin.url,
              "grafana_token": grafana_standin.token, "dashboard_uid": grafana_standin.uid,
              **settings}
    signoff = run_gate(run_release, "-k", "dashboard", *obs_stack.args(**values))
    assert statuses(signoff)["dashboard"] == status
    check = checks(signoff, "dashboard")["test_grafana_dashboard_panels_have_data"]
    assert text in check["message"]


@pytest.mark.parametrize(("env", "outcome", "measured"), [
    (["OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1"], "passed",
     0.1),
    (["OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.5"], "failed", 0.5),
    (["OTEL_TRACES_SAMPLER=traceidratio"], "failed", 1.0),       # the spec's default ratio
    (["OTEL_TRACES_SAMPLER=always_off"], "failed", None),
])
def test_otel_sdk_sampler_must_agree(run_release, env, outcome, measured):
    signoff = run_gate(run_release, "-k", "head_sampling", *settings_args(
        {"otel_config_file": str(OTEL_FILE), "otel_sdk_env": env}))
    head = checks(signoff, "otel")["test_otel_head_sampling_is_probabilistic"]
    assert head["outcome"] == outcome, head["message"]
    if measured is None:
        assert measurement(head, "SDK sampler")["ok"] is False
    else:
        arg = measurement(head, "OTEL_TRACES_SAMPLER_ARG")
        assert (arg["value"], arg["threshold"]) == (measured, 0.1)
