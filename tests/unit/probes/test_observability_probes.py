"""Pure pieces of Gate 5, by tables: PromQL thresholds, Alertmanager routing, Grafana variables,
OTel sampling arithmetic, exposition parsing, JWKS facts — and the bundled example files."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from support.observability import DASHBOARD_FILE, OTEL_FILE, RULES_FILE, settings_args

from pytest_release.demo.observability import OBSERVABILITY_EXAMPLES, scrape_configs
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.grafana import (
    Variable,
    dashboard_from_json,
    label_values_query,
    load_dashboard_file,
    substitute,
)
from pytest_release.probes.jwks import JwksDocument, key_facts, parse_jwks, verify_token
from pytest_release.probes.otel import error_trace_keep, load_collector_config, policy_error_keep
from pytest_release.probes.prometheus import (
    format_duration,
    parse_exposition,
    parse_matcher,
    parse_timestamp,
    prom_duration_seconds,
    promql_string,
    promtool_check_rules,
    receiver_integrations,
    route_receivers,
    sample_name,
    threshold_comparisons,
)


# -- PromQL thresholds ----------------------------------------------------------------------------
@pytest.mark.parametrize(("expr", "expected"), [
    ("increase(aiops_redis_errors_total[5m]) > 5", [(">", 5.0)]),
    ('(sum by (job) (rate(aiops_http_errors_total{status_class="5xx"}[5m])) / '
     "sum by (job) (rate(aiops_http_requests_total[5m]))) > 0.005", [(">", 0.005)]),
    ('histogram_quantile(0.95, sum by (le) (rate(x_bucket{route="/a>b"}[5m]))) > 0.15',
     [(">", 0.15)]),
    ("aiops_redis_connected == 0", [("==", 0.0)]),
    ("0.15 < latency_seconds", [(">", 0.15)]),                 # number on the left: flipped
    ("errors > bool 5", [(">", 5.0)]),
    ("((errors >= 1e-3))", [(">=", 0.001)]),
    ("(a > 1) and on(job) (b < 2)", [(">", 1.0), ("<", 2.0)]),
    ("errors_total > 3 or orders_total > 4", [(">", 3.0), (">", 4.0)]),
    ('up{job=~"a|b", x!="y"} != 1', [("!=", 1.0)]),
    ("rate(a[5m]) > rate(b[5m])", []),                          # not a threshold
    ("x * 100 > 0.5", [(">", 0.5)]),                            # the number actually compared
    ("absent(up)", []),
])
def test_threshold_comparisons(expr, expected):
    assert [(c.op, c.threshold) for c in threshold_comparisons(expr)] == expected


# -- Alertmanager routing -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def am_config():
    return yaml.safe_load((OBSERVABILITY_EXAMPLES / "alertmanager.yml").read_text())


@pytest.mark.parametrize(("labels", "receivers"), [
    ({"alertname": "RedisDown", "severity": "critical"}, ["aiops-pager"]),
    ({"alertname": "FeedbackLatencyP95High", "severity": "warning"}, ["aiops-tickets"]),
    ({"alertname": "Other"}, ["aiops-default"]),
])
def test_example_routes(am_config, labels, receivers):
    assert route_receivers(am_config["route"], labels) == receivers
    assert all(receiver_integrations(am_config, r) == ["webhook"] for r in receivers)


def test_routing_match_re_continue_nesting_and_null_receivers():
    config = {
        "route": {"receiver": "root", "routes": [
            {"receiver": "audit", "match_re": {"alertname": ".*"}, "continue": True},
            {"match": {"team": "aiops"}, "routes": [            # inherits "root"
                {"receiver": "null", "matchers": ['severity!~"crit.*"']}]},
            {"receiver": "never", "match": {"team": "aiops"}},
        ]},
        "receivers": [{"name": "root", "email_configs": [{"to": "a@b"}]}, {"name": "audit"},
                      {"name": "null"}],
    }
    assert route_receivers(config["route"], {"alertname": "X", "team": "aiops",
                                             "severity": "critical"}) == ["audit", "root"]
    assert route_receivers(config["route"], {"alertname": "X", "team": "aiops",
                                             "severity": "info"}) == ["audit", "null"]
    assert receiver_integrations(config, "null") == []
    assert receiver_integrations(config, "root") == ["email"]


@pytest.mark.parametrize(("text", "parsed"), [
    ('severity="critical"', ("severity", "=", "critical")),
    ('severity=~"warning|info"', ("severity", "=~", "warning|info")),
    ("team != ops", ("team", "!=", "ops")),
    ('a!~"x\\"y"', ("a", "!~", 'x"y')),
])
def test_parse_matcher(text, parsed):
    assert parse_matcher(text) == parsed


# -- durations, timestamps, names ------------------------------------------------------------------
@pytest.mark.parametrize(("text", "seconds"), [("1s", 1), ("15s", 15), ("1m30s", 90),
                                               ("500ms", 0.5), ("1d", 86400), ("1h", 3600)])
def test_prom_duration_seconds(text, seconds):
    assert prom_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1x", "m5"])
def test_prom_duration_rejects(text):
    with pytest.raises(ValueError):
        prom_duration_seconds(text)


@pytest.mark.parametrize(("seconds", "text"), [(60, "1m"), (61, "61s"), (0.5, "500ms"),
                                               (3600, "1h"), (240, "4m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_parse_timestamp_nanoseconds_and_zero_time():
    parsed = parse_timestamp("2026-11-26T16:45:27.859265143Z")
    assert parsed is not None and parsed.microsecond == 859265 and parsed.utcoffset() is not None
    assert parse_timestamp("0001-01-01T00:00:00Z") is None


def test_sample_names_and_promql_strings():
    assert sample_name("aiops_feedback", "counter") == "aiops_feedback_total"
    assert sample_name("aiops_http_request_duration_seconds", "histogram") == \
        "aiops_http_request_duration_seconds_count"
    assert sample_name("aiops_redis_connected", "gauge") == "aiops_redis_connected"
    assert promql_string('a"b\\c') == '"a\\"b\\\\c"'


def test_scrape_configs_group_targets_by_path():
    configs = scrape_configs({"svc": ["http://127.0.0.1:1/metrics/aiops", "127.0.0.1:2"]}, "1s")
    assert [(c["job_name"], c["metrics_path"], c["static_configs"][0]["targets"])
            for c in configs] == [("svc", "/metrics", ["127.0.0.1:2"]),
                                  ("svc-1", "/metrics/aiops", ["127.0.0.1:1"])]
    assert configs[1]["relabel_configs"] == [{"target_label": "job", "replacement": "svc"}]


# -- exposition -----------------------------------------------------------------------------------
EXPOSITION = """\
# HELP aiops_feedback_total Feedback.
# TYPE aiops_feedback_total counter
aiops_feedback_total{severity="low",source="api",type="bug"} 1.0
# HELP req_seconds Latency.
# TYPE req_seconds histogram
req_seconds_bucket{le="0.1",method="GET"} 1.0
req_seconds_bucket{le="+Inf",method="GET"} 1.0
req_seconds_count{method="GET"} 1.0
req_seconds_sum{method="GET"} 0.01
# HELP errors_total Errors.
# TYPE errors_total counter
"""


def test_parse_exposition_families_types_and_labels():
    families = parse_exposition(EXPOSITION)
    assert families["aiops_feedback"].type == "counter"
    assert families["aiops_feedback"].label_names == ("severity", "source", "type")
    assert families["req_seconds"].type == "histogram"
    assert families["req_seconds"].label_names == ("method",)      # le is not a label name
    assert families["errors"].samples == 0


def test_parse_exposition_rejects_garbage():
    with pytest.raises(ValueError):
        parse_exposition("this is { not prometheus\n")


# -- Grafana ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("expr", "values", "result", "unresolved"), [
    ('up{job="$job"}', {"job": ["api"]}, 'up{job="api"}', []),
    ('up{job="${job}"}', {"job": ["api"]}, 'up{job="api"}', []),
    ('up{job="[[job]]"}', {"job": ["api"]}, 'up{job="api"}', []),
    ('up{job=~"$job"}', {"job": ["a.b", "c"]}, 'up{job=~"(a\\\\.b|c)"}', []),
    ('up{job=~"${job:pipe}"}', {"job": ["a", "b"]}, 'up{job=~"a|b"}', []),
    ("rate(x[$__rate_interval])", {"__rate_interval": ["1m"]}, "rate(x[1m])", []),
    ('up{job="$jobs"}', {"job": ["api"]}, 'up{job="$jobs"}', ["jobs"]),
    ("$__range_s + $missing", {"__range_s": ["3600"]}, "3600 + $missing", ["missing"]),
])
def test_substitute(expr, values, result, unresolved):
    assert substitute(expr, values) == (result, unresolved)


@pytest.mark.parametrize(("variable", "defaults"), [
    (dict(type="query", current=("api",)), ("api",)),
    (dict(type="query", current=("$__all",), include_all=True, all_value=".*"), (".*",)),
    (dict(type="query", current=("$__all",), include_all=True, options=("$__all", "a", "b")),
     ("a", "b")),
    (dict(type="custom", query="prod, staging"), ("prod",)),
    (dict(type="constant", query="eu-1"), ("eu-1",)),
    (dict(type="query", query="label_values(up, job)"), None),
])
def test_variable_defaults(variable, defaults):
    fields = dict(name="v", type="query", current=(), query="", options=(), include_all=False,
                  all_value=None, multi=False)
    fields.update(variable)
    assert Variable(**fields).defaults() == defaults


def test_label_values_query():
    assert label_values_query("label_values(up, job)") == ("up", "job")
    assert label_values_query('label_values(up{env="x"}, instance)') == ('up{env="x"}', "instance")
    assert label_values_query("label_values(job)") == (None, "job")
    assert label_values_query("query_result(up)") is None


def test_example_dashboard_is_read_with_rows_and_variables():
    dashboard = load_dashboard_file(DASHBOARD_FILE)
    assert dashboard.uid == "aiops-feedback"
    assert len(dashboard.queries) == 7
    assert [q.row for q in dashboard.queries if q.panel == "Redis connected"] == ["Redis"]
    assert dashboard.variables["job"].defaults() == ("feedback-service",)
    assert dashboard.variables["job"].query == "label_values(aiops_redis_connected, job)"


def test_dashboard_api_shape_legacy_rows_and_skipped_targets():
    model = {"uid": "u", "title": "t", "rows": [{"title": "Old", "panels": [
        {"title": "Logs", "datasource": {"type": "loki"}, "targets": [{"refId": "A",
                                                                       "expr": "{app=\"x\"}"}]},
        {"title": "Up", "targets": [{"refId": "A", "expr": "up"},
                                    {"refId": "B", "expr": "down", "hide": True}]},
    ]}]}
    dashboard = dashboard_from_json({"dashboard": model, "meta": {"version": 2}}, "api")
    assert [(q.row, q.panel, q.expr) for q in dashboard.queries] == [("Old", "Up", "up")]
    assert dashboard.skipped == ["'Logs' [A]: loki target", "'Up' [B]: hidden target"]
    assert dashboard.meta == {"version": 2}
    with pytest.raises(ValueError, match="not a Grafana dashboard"):
        dashboard_from_json({"meta": {}}, "api")


# -- OTel ---------------------------------------------------------------------------------------------
def test_example_collector_keeps_all_error_traces_and_samples_10_percent():
    config = load_collector_config(OTEL_FILE)
    assert config.processors_of_type("probabilistic_sampler")["probabilistic_sampler/traces"][
        "sampling_percentage"] == 10
    assert config.pipelines_using("probabilistic_sampler/traces") == ["traces/sampled"]
    keeps = error_trace_keep(config)
    assert [(k.pipeline, k.percentage) for k in keeps] == [("traces/errors", 100.0)]


@pytest.mark.parametrize(("policy", "share"), [
    ({"type": "status_code", "status_code": {"status_codes": ["ERROR", "UNSET"]}}, 100.0),
    ({"type": "status_code", "status_code": {"status_codes": ["OK"]}}, 0.0),
    ({"type": "always_sample"}, 100.0),
    ({"type": "probabilistic", "probabilistic": {"sampling_percentage": 25}}, 25.0),
    ({"type": "latency", "latency": {"threshold_ms": 100}}, 0.0),
    ({"type": "and", "and": {"and_sub_policy": [
        {"type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"type": "probabilistic", "probabilistic": {"sampling_percentage": 50}}]}}, 50.0),
])
def test_policy_error_keep(policy, share):
    assert policy_error_keep(policy)[0] == share


def test_collector_config_problems(tmp_path, monkeypatch):
    with pytest.raises(ProbeUnavailable, match="cannot read"):
        load_collector_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("processors: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_collector_config(bad)
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(ProbeUnavailable, match="pip install PyYAML"):
        load_collector_config(OTEL_FILE)


# -- JWKS ---------------------------------------------------------------------------------------------
def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _rsa_jwk(key: rsa.RSAPrivateKey, kid: str, private: bool = False) -> dict:
    pub = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": _b64(pub.n),
           "e": _b64(pub.e)}
    if private:
        jwk["d"] = _b64(key.private_numbers().d)
    return jwk


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_key_facts(rsa_key):
    facts = key_facts(_rsa_jwk(rsa_key, "k1", private=True), 0)
    assert (facts.kid, facts.kty, facts.alg, facts.size_bits, facts.private_members) == \
        ("k1", "RSA", "RS256", 2048, ("d",))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert key_facts(_rsa_jwk(small, "k2"), 1).size_bits == 1024
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    assert key_facts(ec_jwk, 2).crv == "P-256"
    assert key_facts({"kty": "oct", "k": "c2VjcmV0"}, 3).private_members == ("k",)


def test_parse_jwks_errors():
    def doc():
        return JwksDocument("u", 200, "application/json", None)

    assert parse_jwks("{", doc()).error.startswith("not JSON")
    assert parse_jwks('{"keys": {}}', doc()).error.startswith("not a JWK Set")
    assert parse_jwks('{"keys": []}', doc()).keys == []


def test_verify_token(rsa_key):
    keys = [_rsa_jwk(rsa_key, "k1", private=True)]      # private part present: still verifies
    now = int(time.time())
    good = jwt.encode({"sub": "x", "exp": now + 60}, rsa_key, algorithm="RS256",
                      headers={"kid": "k1"})
    assert verify_token(good, keys).verified_with == "k1"
    expired = jwt.encode({"sub": "x", "exp": now - 60}, rsa_key, algorithm="RS256",
                         headers={"kid": "k1"})
    assert "ExpiredSignatureError" in verify_token(expired, keys).error
    other_kid = jwt.encode({"sub": "x"}, rsa_key, algorithm="RS256", headers={"kid": "k9"})
    assert verify_token(other_kid, keys).error == "no key with kid 'k9' in the set"
    hmac = jwt.encode({"sub": "x"}, "secret-of-32-bytes-or-more-000000", algorithm="HS256")
    assert "not an asymmetric" in verify_token(hmac, keys).error
    assert verify_token("not-a-token", keys).error.startswith("not a JWT")


# -- tools and example files -----------------------------------------------------------------------
def test_promtool_missing_is_unavailable():
    with pytest.raises(ProbeUnavailable, match="apt-get install prometheus"):
        promtool_check_rules([str(RULES_FILE)], promtool="no-such-promtool")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_example_prometheus_config_and_rules_pass_promtool():
    for argv in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.rules.yml"]):
        done = subprocess.run(["promtool", *argv], cwd=OBSERVABILITY_EXAMPLES, timeout=30,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_example_alertmanager_config_passes_amtool():
    done = subprocess.run(["amtool", "check-config", "alertmanager.yml"], timeout=30,
                          cwd=OBSERVABILITY_EXAMPLES, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_observability_modules_import_no_heavy_client():
    fixtures = ", ".join(f"pytest_release.fixtures.{m}" for m in
                         ("redis", "api", "load", "prometheus", "jwks", "otel", "grafana"))
    code = (f"import sys; import pytest_release.plugin, {fixtures}, "
            "pytest_release.probes.prometheus, pytest_release.probes.otel, "
            "pytest_release.probes.grafana, pytest_release.probes.jwks, "
            "pytest_release.demo.observability; print(sorted(m for m in ('requests', 'yaml', "
            "'jwt', 'prometheus_client', 'cryptography') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent)
    assert done.stdout.strip() == "[]", done.stderr


def test_malformed_metric_families_say_how_to_pass_them(run_release):
    # A bare string on the command line is split on commas: the configuration error (at load,
    # before any check runs) names the key and explains the TOML array.
    args = settings_args({"metrics_url": "http://127.0.0.1:9/metrics/aiops"})
    args += ["--release-set", "observability.metric_families=aiops_feedback:counter:source,type"]
    result, signoff = run_release("-k", "exposed", *args,
                                  modules=("test_gate_observability.py",))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert signoff is None
    text = "\n".join(result.errlines)
    assert "--release-set observability.metric_families: entry 'type': expected " \
           "NAME:TYPE[:LABEL,LABEL]" in text
    assert "TOML array" in text
    assert "Traceback" not in text
