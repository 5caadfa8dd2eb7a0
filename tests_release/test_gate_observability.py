"""Gate 5: Observability — scraping, OTel sampling, AIOps metrics, JWKS, dashboard, alerts.

Every fact comes from the real system: Prometheus's and Alertmanager's HTTP APIs, the service's
own ``/metrics/aiops`` and ``/.well-known/jwks.json``, Grafana's API (or an exported dashboard),
the OTel Collector's config file and ``promtool``.
"""
from __future__ import annotations

import difflib
import math
import os
import re
import shlex
from collections import defaultdict
from typing import Any

import pytest

from pytest_release.evidence import Evidence
from pytest_release.probes.grafana import (
    Dashboard,
    builtin_variables,
    label_values_query,
    substitute,
)
from pytest_release.probes.jwks import ASYMMETRIC_ALGORITHMS, fetch_jwks, kty_for_alg, verify_token
from pytest_release.probes.otel import CollectorConfig, error_trace_keep
from pytest_release.probes.prometheus import (
    AlertmanagerProbe,
    PrometheusProbe,
    Rule,
    fetch_exposition,
    format_duration,
    promql_string,
    promtool_check_rules,
    receiver_integrations,
    route_receivers,
    same_endpoint,
    sample_name,
    threshold_comparisons,
)
from pytest_release.settings import ObservabilitySettings, Settings, duration_seconds

pytestmark = pytest.mark.gate_observability


# -- helpers (shell commands and display; no I/O) ---------------------------------------------
def promtool_query(prometheus: PrometheusProbe, expr: str) -> str:
    return f"promtool query instant {prometheus.display_url} {shlex.quote(expr)}"


def labels_text(labels: tuple[str, ...] | list[str]) -> str:
    return ",".join(labels) if labels else "(none)"


# -- Prometheus scraping: Active -------------------------------------------------------------------
@pytest.mark.release_item("scraping")
def test_prometheus_scrapes_the_service(prometheus: PrometheusProbe, release_settings: Settings,
                                        evidence: Evidence) -> None:
    cfg = release_settings.observability
    job = cfg.scrape_job
    up_expr = f"up{{job={_q(job)}}}"
    evidence.reproduce(
        f"curl -s '{prometheus.display_url}/api/v1/targets?state=active' | jq '.data.activeTargets[]"
        f" | select(.labels.job == \"{job}\") | {{scrapeUrl, health, lastScrape, lastError}}'; "
        + promtool_query(prometheus, up_expr))
    version = prometheus.build_version()
    if version:
        evidence.record("Prometheus version", version)
    targets = prometheus.targets(job)
    if not targets:
        evidence.record("jobs Prometheus scrapes", prometheus.jobs())
    evidence.check(f"active targets of job {job!r}", len(targets), ">=", 1)
    now = prometheus.server_time()
    for target in targets:
        who = target.instance
        evidence.record(f"{who} scrape URL", target.scrape_url, subject=who)
        evidence.check(f"{who} health", target.health, "==", "up", soft=True, subject=who)
        evidence.no_error(f"{who} last scrape error", target.last_error, subject=who)
        interval = target.scrape_interval_s or 60.0
        bound = round(cfg.scrape_max_age_intervals * interval, 3)
        age = (now - target.last_scrape).total_seconds() if target.last_scrape else math.inf
        evidence.check(f"{who} last scrape age", round(age, 3), "<=", bound, unit="s", soft=True,
                       subject=who)
    up = prometheus.query(up_expr)
    if up.error:
        evidence.check(up_expr, f"query error: {up.error}", "==", "ok", soft=True)
    values = {labels.get("instance"): value for labels, value in up.series}
    for target in targets:
        value = values.get(target.instance)
        evidence.check(f"up{{instance={_q(target.instance)}}}",
                       "absent" if value is None else value, "==", 1, soft=True)


def _q(value: str) -> str:
    return promql_string(value)


# -- AIOps metrics exposed --------------------------------------------------------------------------
@pytest.mark.release_item("metrics")
def test_aiops_metrics_are_exposed(service_metrics_url: str, release_settings: Settings,
                                   evidence: Evidence) -> None:

    cfg = release_settings.observability
    specs = cfg.families
    exposition = fetch_exposition(service_metrics_url, timeout_s=cfg.timeout_s)
    evidence.reproduce(f"curl -s {shlex.quote(exposition.url)}")
    evidence.check("HTTP status", exposition.status, "==", 200)
    evidence.record("Content-Type", exposition.content_type)
    evidence.check("exposition parses (prometheus_client parser)",
                   exposition.parse_error or "ok", "==", "ok")
    evidence.record("families exposed", len(exposition.families))
    for spec in specs:
        family = exposition.families.get(spec.name)
        if family is None:
            # prometheus_client exports each counter's *_created as a gauge family of its own.
            candidates = [n for n in exposition.families if not n.endswith("_created")]
            similar = difflib.get_close_matches(spec.name, candidates, n=3, cutoff=0.75)
            found = "missing" + (f" (similar: {', '.join(similar)})" if similar else "")
            evidence.check(f"family {spec.name}", found, "==", "present", soft=True)
            continue
        evidence.check(f"type of {spec.name}", family.type, "==", spec.type, soft=True)
        if spec.labels is None:
            continue
        if not family.samples:
            evidence.check(f"labels of {spec.name}", "(no series yet: label names cannot be "
                           "verified)", "==", labels_text(spec.labels), soft=True)
            continue
        if len(family.label_sets) > 1:
            evidence.record(f"label sets of {spec.name}", [labels_text(s) for s in
                                                           family.label_sets])
        evidence.check(f"labels of {spec.name}", labels_text(family.label_names), "==",
                       labels_text(spec.labels), soft=True)


@pytest.mark.release_item("metrics")
def test_aiops_metrics_reach_prometheus(prometheus: PrometheusProbe, release_settings: Settings,
                                        evidence: Evidence) -> None:

    cfg = release_settings.observability
    job = cfg.scrape_job
    specs = cfg.families
    targets = prometheus.targets(job)
    evidence.record(f"targets of job {job!r}", len(targets))
    # Labels Prometheus attaches itself: never part of what the service exports.
    attached = {"__name__", "job", "instance"} | {k for t in targets for k in t.labels}
    metadata = prometheus.target_metadata(job)
    first: str | None = None
    for spec in specs:
        series = sample_name(spec.name, spec.type)
        expr = f"{series}{{job={_q(job)}}}"
        first = first or expr
        declared = metadata.get(spec.name) or metadata.get(series)
        if declared is not None:
            evidence.check(f"type of {spec.name} in Prometheus (# TYPE)", declared, "==",
                           spec.type, soft=True)
        result = prometheus.query(expr)
        if result.error:
            evidence.check(expr, f"query error: {result.error}", "==", "ok", soft=True)
            continue
        if not result.series and spec.labels is None and declared is not None:
            # A family without series yet (no error happened): its # TYPE reached Prometheus,
            # and no label names are required of it.
            evidence.record(f"series of {series} in job {job!r}", "none yet (declared)")
            continue
        evidence.check(f"series of {series} in job {job!r}", len(result.series), ">", 0,
                       soft=True)
        if spec.labels is not None and result.series:
            names = sorted({k for labels, _ in result.series for k in labels} - attached)
            evidence.check(f"labels of {series} in Prometheus", labels_text(names), "==",
                           labels_text(spec.labels), soft=True)
    if first:
        evidence.reproduce(promtool_query(prometheus, first))


# -- JWKS served correctly --------------------------------------------------------------------------

@pytest.mark.release_item("jwks")
def test_jwks_serves_public_signing_keys_only(jwks_url: str, release_settings: Settings,
                                              evidence: Evidence) -> None:

    cfg = release_settings.observability
    document = fetch_jwks(jwks_url, timeout_s=cfg.timeout_s)
    evidence.reproduce(f"curl -s {shlex.quote(document.url)} | jq .")
    evidence.check("HTTP status", document.status, "==", 200)
    evidence.record("Content-Type", document.content_type)
    if document.cache_control:
        evidence.record("Cache-Control", document.cache_control)
    evidence.check("JWK Set document", document.error or "valid", "==", "valid")
    evidence.check("keys in the set", len(document.keys), ">=", 1)
    kids = [k.kid for k in document.keys if k.kid]
    evidence.check("duplicate kids", sorted({k for k in kids if kids.count(k) > 1}), "==", [],
                   soft=True)
    for key in document.keys:
        name = key.label
        evidence.check(f"{name} kid", key.kid or "missing", "!=", "missing", soft=True)
        evidence.check(f"{name} kty", key.kty or "missing", "in", ("RSA", "EC", "OKP"), soft=True)
        evidence.check(f"{name} alg or use", key.alg or key.use or "missing", "!=", "missing",
                       soft=True)
        if key.alg:
            evidence.check(f"{name} alg", key.alg, "in", ASYMMETRIC_ALGORITHMS, soft=True)
            expected_kty = kty_for_alg(key.alg)
            if expected_kty:
                evidence.check(f"{name} kty for alg {key.alg}", key.kty, "==", expected_kty,
                               soft=True)
        if key.use:
            evidence.check(f"{name} use", key.use, "==", "sig", soft=True)
        if key.kty == "RSA":
            evidence.check(f"{name} RSA modulus", key.size_bits or 0, ">=",
                           cfg.jwks_min_rsa_bits, unit="bits", soft=True)
        elif key.kty == "EC":
            evidence.check(f"{name} curve", key.crv, "in", cfg.jwks_ec_curves, soft=True)
        evidence.check(f"{name} private members", list(key.private_members), "==", [], soft=True)
    token = release_settings.api.token
    if not token:
        evidence.record("api.token", "not configured: no token was verified against the set "
                                     "(set api.token to check the service's tokens verify)")
        return
    # The item is about the key set: signature and expiry; the service itself checks aud/iss
    # (Gate 2's JWT item sends wrong ones).
    result = verify_token(token, document.raw_keys)
    evidence.record("api.token header", {"kid": result.kid, "alg": result.alg})
    evidence.check("api.token signature", "verified" if result.ok else
                   f"not verified: {result.error}", "==", "verified", soft=True)


# -- OTel: Probabilistic 10 %, Tail sampling 100 % ---------------------------------------------------
_RATIO_SAMPLERS = ("traceidratio", "parentbased_traceidratio")
_OFF_SAMPLERS = ("always_off", "parentbased_always_off")


def _otel_reproduce(path: str) -> str:
    return (f"yq '.processors, .service.pipelines' {shlex.quote(path)}  "
            f"# or: otelcol validate --config={shlex.quote(path)}")


@pytest.mark.release_item("otel")
def test_otel_head_sampling_is_probabilistic(otel_collector_config: CollectorConfig,
                                             release_settings: Settings,
                                             evidence: Evidence) -> None:
    cfg = release_settings.observability
    config = otel_collector_config
    evidence.reproduce(_otel_reproduce(config.path))
    samplers = config.processors_of_type("probabilistic_sampler")
    evidence.record("probabilistic_sampler processors", sorted(samplers) or "none")
    running = {name: config.pipelines_using(name) for name in samplers}
    for name, pipelines in running.items():
        if not pipelines:
            evidence.record(f"{name}", "defined but in no traces pipeline: it samples nothing")
    active = {name: p for name, p in running.items() if p}
    evidence.check("traces pipelines running a probabilistic_sampler",
                   sum(len(p) for p in active.values()), ">=", 1)
    for name, pipelines in active.items():
        raw: Any = samplers[name].get("sampling_percentage")
        evidence.record(f"{name} pipelines", pipelines)
        try:
            value: Any = float(raw)
        except (TypeError, ValueError):
            value = f"{raw!r} (not a number)"
        evidence.check(f"{name} sampling_percentage", value, "==", cfg.otel_sampling_percentage,
                       unit="%", soft=True)
    env = cfg.sdk_env
    if not env:
        return
    sampler = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on")
    evidence.record("OTEL_TRACES_SAMPLER", sampler)
    evidence.check("SDK sampler", sampler, "not in", _OFF_SAMPLERS, soft=True)
    if sampler in _RATIO_SAMPLERS:
        raw_arg = env.get("OTEL_TRACES_SAMPLER_ARG", "1.0")  # the spec's default ratio
        try:
            ratio: Any = float(raw_arg)
        except ValueError:
            ratio = f"{raw_arg!r} (not a number)"
        evidence.check("OTEL_TRACES_SAMPLER_ARG", ratio, "==",
                       round(cfg.otel_sampling_percentage / 100.0, 6), soft=True)


@pytest.mark.release_item("otel")
def test_otel_tail_sampling_keeps_all_error_traces(otel_collector_config: CollectorConfig,
                                                   release_settings: Settings,
                                                   evidence: Evidence) -> None:

    cfg = release_settings.observability
    config = otel_collector_config
    evidence.reproduce(_otel_reproduce(config.path))
    tails = config.processors_of_type("tail_sampling")
    evidence.record("tail_sampling processors", sorted(tails) or "none")
    for name in tails:
        if not config.pipelines_using(name):
            evidence.record(f"{name}", "defined but in no traces pipeline: it samples nothing")
    keeps = error_trace_keep(config)
    evidence.check("traces pipelines running tail_sampling", len(keeps), ">=", 1)
    for keep in keeps:
        evidence.record(f"{keep.pipeline}: {keep.tail_processor} policies", list(keep.reasons))
        decision_wait = tails.get(keep.tail_processor, {}).get("decision_wait")
        evidence.check(f"{keep.tail_processor} decision_wait", str(decision_wait or "not set"),
                       "!=", "not set", soft=True)
    best = max(keeps, key=lambda k: k.percentage)
    evidence.record("best pipeline for error traces", best.pipeline)
    evidence.check("error traces kept", round(best.percentage, 6), ">=",
                   cfg.otel_error_traces_percentage, unit="%")


# -- Grafana dashboard configured -------------------------------------------------------------------
def _dashboard_values(dashboard: Dashboard, prometheus: PrometheusProbe,
                      cfg: ObservabilitySettings) -> dict[str, tuple[str, ...]]:

    scrape = [t.scrape_interval_s for t in prometheus.targets(cfg.scrape_job)
              if t.scrape_interval_s]
    values = builtin_variables(interval_s=duration_seconds(cfg.dashboard_interval),
                               range_s=duration_seconds(cfg.dashboard_range),
                               scrape_interval_s=min(scrape) if scrape else None)
    for name, variable in dashboard.variables.items():
        if variable.type == "datasource":
            continue
        chosen = variable.defaults()
        if chosen is None:
            parsed = label_values_query(variable.query)
            if parsed is not None:
                metric, label = parsed
                found = prometheus.label_values(label, metric)
                chosen = tuple(found) if (variable.multi or variable.include_all) else \
                    tuple(found[:1])
        if chosen:
            values[name] = chosen
    for name, value in cfg.variable_values.items():
        values[name] = (value,)
    return values


#: Every panel with targets, rows included.
_JQ_PANELS = "[.. | objects | select(.targets? | type == \"array\") | {title, exprs: [.targets[].expr]}]"


@pytest.mark.release_item("dashboard")
def test_grafana_dashboard_panels_have_data(grafana_dashboard: Dashboard | None,
                                            prometheus: PrometheusProbe,
                                            release_settings: Settings,
                                            evidence: Evidence) -> None:

    cfg = release_settings.observability
    if cfg.grafana_url:
        where = f"uid {cfg.dashboard_uid} in Grafana {cfg.grafana_url}"
        evidence.reproduce(f"curl -s -H \"Authorization: Bearer $GRAFANA_TOKEN\" "
                           f"{cfg.grafana_url.rstrip('/')}/api/dashboards/uid/{cfg.dashboard_uid}"
                           f" | jq '.dashboard | {_JQ_PANELS}'")
    else:
        where = str(cfg.dashboard_file)
        evidence.reproduce(f"jq '{_JQ_PANELS}' {shlex.quote(where)}")
    evidence.check(f"dashboard ({where})", "found" if grafana_dashboard else "not found", "==",
                   "found")
    dashboard = grafana_dashboard
    if dashboard is None:  # the check above has already failed
        return
    evidence.record("dashboard", {"title": dashboard.title, "uid": dashboard.uid,
                                  "version": dashboard.version})
    for title in cfg.dashboard_panels or ():
        evidence.check(f"panel {title!r}", "present" if title in dashboard.panel_titles
                       else "missing", "==", "present", soft=True)
    if dashboard.skipped:
        evidence.record("targets not run (not PromQL)", dashboard.skipped)
    evidence.check("panels with PromQL queries", len({q.panel for q in dashboard.queries}), ">=", 1)
    values = _dashboard_values(dashboard, prometheus, cfg)
    evidence.record("template values used", {k: list(v) for k, v in values.items()
                                             if not k.startswith("__")})
    failing: list[str] = []
    for query in dashboard.queries:
        expr, unresolved = substitute(query.expr, values)
        if unresolved:
            evidence.record(f"{query.label} unresolved variables", unresolved)
        result = prometheus.query(expr)
        measured: Any = f"query error: {result.error}" if result.error else len(result.series)
        ok = evidence.check(f"series from panel {query.label} ({expr})", measured, ">", 0,
                            soft=True)
        if not ok:
            failing.append(expr)
    if failing:
        evidence.reproduce(promtool_query(prometheus, failing[0]))


# -- Alerts active ----------------------------------------------------------------------------------
def _rules_by_name(prometheus: PrometheusProbe) -> dict[str, list[Rule]]:
    by_name: dict[str, list[Rule]] = defaultdict(list)
    for rule in prometheus.rules("alerting"):
        by_name[rule.name].append(rule)
    return by_name


@pytest.mark.release_item("alerts")
def test_alert_rules_are_loaded_and_healthy(prometheus: PrometheusProbe, release_settings: Settings,
                                            evidence: Evidence) -> None:

    specs = release_settings.observability.alerts
    evidence.reproduce(f"curl -s '{prometheus.display_url}/api/v1/rules?type=alert' | jq "
                       "'.data.groups[].rules[] | {name, health, lastError, state}'")
    all_rules = prometheus.rules()
    by_name = _rules_by_name(prometheus)
    evidence.record("alerting rules loaded", sum(len(v) for v in by_name.values()))
    for spec in specs:
        found = by_name.get(spec.name, [])
        evidence.check(f"{spec.name} loaded", len(found), ">=", 1, soft=True)
        for rule in found:
            evidence.check(f"{spec.name} health", rule.health, "==", "ok", soft=True)
            evidence.check(f"{spec.name} last error", rule.last_error or "none", "==", "none",
                           soft=True)
            evidence.record(f"{spec.name} ({rule.file}: {rule.group})", {
                "for": format_duration(rule.duration_s), "state": rule.state,
                "severity": rule.labels.get("severity")})
    broken = [f"{r.group}/{r.name}: {r.last_error}" for r in all_rules if r.health == "err"]
    evidence.check("rules with health err (all groups)", broken, "==", [], soft=True)


@pytest.mark.release_item("alerts")
def test_alert_rule_files_pass_promtool(alert_rule_files: list[str], release_settings: Settings,
                                        evidence: Evidence, request: pytest.FixtureRequest) -> None:

    cfg = release_settings.observability
    files = list(alert_rule_files)
    origin = "observability.rule_files"
    if not files and cfg.prometheus_url:
        prometheus = request.getfixturevalue("prometheus")
        reported = sorted({r.file for r in prometheus.rules() if r.file})
        files = [f for f in reported if os.path.isfile(f)]
        origin = "rule files Prometheus reports (readable here)"
        if reported and not files:
            evidence.not_measured(
                f"Prometheus loads {', '.join(reported)}, which are not readable here: set "
                "observability.rule_files to the repository's copies")
    if not files:
        evidence.not_measured("no rule files to check: set observability.rule_files "
                              "(or observability.prometheus_url to use the loaded ones)")
    evidence.record("files checked", files)
    evidence.record("from", origin)
    evidence.reproduce(f"{cfg.promtool} check rules " + " ".join(shlex.quote(f) for f in files))
    for path in files:
        run = promtool_check_rules([path], promtool=cfg.promtool,
                                   timeout_s=max(10.0, cfg.timeout_s * 3))
        verdict = "SUCCESS" if run.returncode == 0 else \
            " | ".join(line.strip() for line in run.output.splitlines()[-4:] if line.strip())
        evidence.check(f"promtool check rules {os.path.basename(path)}", verdict, "==", "SUCCESS",
                       soft=True)


_DIRECTION = {">": "above", ">=": "above", "<": "below", "<=": "below", "==": "==", "!=": "!="}


@pytest.mark.release_item("alerts")
def test_alert_thresholds_match_checklist(prometheus: PrometheusProbe, release_settings: Settings,
                                          evidence: Evidence) -> None:

    specs = [s for s in release_settings.observability.alerts if s.op]
    if not specs:
        evidence.not_measured("no thresholds configured: observability.alert_rules entries are "
                              "names only (use NAME OP NUMBER, e.g. 'RedisConnectionFailures > 5')")
    evidence.reproduce(f"curl -s '{prometheus.display_url}/api/v1/rules?type=alert' | jq "
                       "'.data.groups[].rules[] | {name, query, duration}'")
    by_name = _rules_by_name(prometheus)
    for spec in specs:
        rules = by_name.get(spec.name, [])
        label = f"{spec.name} threshold (expr {spec.op} N)"
        if not rules:
            evidence.check(label, "rule not loaded", "==", spec.threshold, soft=True)
            continue
        comparisons = [c for rule in rules for c in threshold_comparisons(rule.query)]
        evidence.record(f"{spec.name} expr", [rule.query for rule in rules])
        same = [c for c in comparisons if _DIRECTION[c.op] == _DIRECTION[spec.op or ""]]
        exact = [c for c in same if math.isclose(c.threshold, spec.threshold or 0.0,
                                                 rel_tol=1e-9, abs_tol=1e-12)]
        if exact:
            measured: Any = exact[0].threshold
        elif same:
            measured = same[0].threshold
        elif comparisons:
            measured = f"compares {comparisons[0].op} {comparisons[0].threshold:g} instead"
        else:
            measured = "no comparison with a number in the expression"
        evidence.check(label, measured, "==", spec.threshold, soft=True)


@pytest.mark.release_item("alerts")
def test_alertmanager_routes_the_alerts(alertmanager: AlertmanagerProbe,
                                        prometheus: PrometheusProbe, release_settings: Settings,
                                        evidence: Evidence) -> None:

    cfg = release_settings.observability
    status = alertmanager.status()
    evidence.record("Alertmanager version", (status.get("versionInfo") or {}).get("version"))
    evidence.record("cluster", (status.get("cluster") or {}).get("status"))
    config = alertmanager.config()
    evidence.check("Alertmanager has a route tree", "route" in config, "==", True)
    by_name = _rules_by_name(prometheus)
    specs = cfg.alerts
    for spec in specs:
        rules = by_name.get(spec.name, [])
        labels = {**(rules[0].labels if rules else {}), "alertname": spec.name}
        receivers = route_receivers(config["route"], labels)
        notifying = {r: receiver_integrations(config, r) for r in receivers}
        evidence.record(f"{spec.name} ({labels_text(sorted(f'{k}={v}' for k, v in labels.items()))})"
                        " routes to", [f"{r}: {', '.join(i) or 'no integrations'}"
                                       for r, i in notifying.items()])
        evidence.check(f"{spec.name} receivers that notify", sum(1 for i in notifying.values()
                                                                 if i), ">=", 1, soft=True)
    senders = prometheus.alertmanagers()
    evidence.record("Alertmanagers Prometheus sends to", senders)
    evidence.record("observability.alertmanager_url among them",
                    any(same_endpoint(u, alertmanager.url) for u in senders))
    evidence.check("Alertmanagers Prometheus sends alerts to", len(senders), ">=", 1, soft=True)
    example = specs[0].name if specs else "ALERTNAME"
    evidence.reproduce(f"amtool config routes test --alertmanager.url={alertmanager.display_url}"
                       f" alertname={example} severity=critical")


@pytest.mark.release_item("alerts")
def test_no_critical_alert_is_firing(prometheus: PrometheusProbe, release_settings: Settings,
                                     evidence: Evidence, request: pytest.FixtureRequest) -> None:
    cfg = release_settings.observability
    severities = cfg.blocking_severities
    alerts = prometheus.alerts()
    blocking = [a for a in alerts if a.labels.get("severity") in severities]
    firing = sorted({f"{a.name} ({a.labels.get('severity')})" for a in blocking
                     if a.state == "firing"})
    pending = sorted({a.name for a in blocking if a.state == "pending"})
    if pending:
        evidence.record("pending (not yet firing)", pending)
    evidence.check(f"{'/'.join(severities)} alerts firing in Prometheus", firing, "==", [],
                   soft=True)
    reproduce = f"curl -s {prometheus.display_url}/api/v1/alerts | jq '.data.alerts[] | " \
                "select(.state == \"firing\") | .labels'"
    if not cfg.alertmanager_url:
        evidence.record("Alertmanager", "not configured: only Prometheus's view was checked")
    else:
        alertmanager = request.getfixturevalue("alertmanager")
        matcher = (f'severity="{severities[0]}"' if len(severities) == 1 else
                   'severity=~"' + "|".join(re.escape(s) for s in severities) + '"')
        active = alertmanager.alerts([matcher], active=True, silenced=False, inhibited=False)
        silenced = [a for a in alertmanager.alerts([matcher], active=False, silenced=True,
                                                   inhibited=True)]
        if silenced:
            evidence.record("silenced or inhibited in Alertmanager",
                            sorted({a.name for a in silenced}))
        evidence.check(f"{'/'.join(severities)} alerts active in Alertmanager",
                       sorted({a.name for a in active}), "==", [], soft=True)
        reproduce += (f"; curl -sG {alertmanager.display_url}/api/v2/alerts "
                      f"--data-urlencode {shlex.quote('filter=' + matcher)}")
    evidence.reproduce(reproduce)
