"""Settings mini-languages are validated at load (file:key errors), derived values live in Settings."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_release.settings import (
    KINDS,
    SECTIONS,
    AlertSpec,
    FamilySpec,
    Settings,
    SettingsError,
    defaults,
    load_settings,
    opt,
)


def load(tmp_path: Path, toml: str = "", *overrides: str) -> Settings:
    path = tmp_path / "release.toml"
    path.write_text(textwrap.dedent(toml))
    return load_settings(path=path, path_is_explicit=True, overrides=list(overrides),
                         version="v1", rootdir=tmp_path, env={})


def problems(tmp_path: Path, toml: str = "", *overrides: str) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load(tmp_path, toml, *overrides)
    return info.value.problems


def test_sections_are_derived_from_the_settings_fields():
    assert list(SECTIONS) == ["release", "redis", "api", "load", "security", "observability",
                              "gitops", "canary", "cluster", "analysis", "postdeploy", "baseline"]
    assert set(defaults().checklist_values()) >= {"redis_ttl", "load_p95_ms", "load_vus"}


def test_every_kind_is_in_the_converter_table():
    with pytest.raises(ValueError, match="unknown setting kind 'nope'"):
        opt(1, "nope", "doc")
    assert {"families", "alerts", "keyvalues", "duration", "rate", "url"} <= set(KINDS)


def test_metric_families_are_parsed(tmp_path):
    s = load(tmp_path, """
        [observability]
        metric_families = ["aiops_feedback_total:counter:type,source", "up:gauge", "x:gauge:"]
    """)
    assert s.observability.families == (FamilySpec("aiops_feedback", "counter", ("source", "type")),
                                         FamilySpec("up", "gauge", None), FamilySpec("x", "gauge", ()))


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("metric_families", '["aiops_feedback:countr:type"]',
     "observability.metric_families: entry 'aiops_feedback:countr:type': expected NAME:TYPE"),
    ("alert_rules", '["FeedbackErrorRateHigh >> 0.005"]',
     "observability.alert_rules: entry 'FeedbackErrorRateHigh >> 0.005': expected NAME or NAME OP"),
    ("otel_sdk_env", '["OTEL_TRACES_SAMPLER"]',
     "observability.otel_sdk_env: entry 'OTEL_TRACES_SAMPLER': expected KEY=VALUE"),
    ("dashboard_variables", '["=x"]', "observability.dashboard_variables: entry '=x': expected KEY=VALUE"),
])
def test_a_malformed_entry_is_a_config_error_naming_file_and_key(tmp_path, key, value, expected):
    found = problems(tmp_path, f"[observability]\n{key} = {value}\n")
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'release.toml'}: ")
    assert expected in found[0]


def test_alerts_and_key_values_are_parsed(tmp_path):
    s = load(tmp_path, """
        [observability]
        alert_rules = ["A > 0.5", "B"]
        otel_sdk_env = ["OTEL_TRACES_SAMPLER = traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1"]
        dashboard_variables = ["job=feedback"]
    """)
    assert s.observability.alerts == (AlertSpec("A", ">", 0.5), AlertSpec("B", None, None))
    assert s.observability.sdk_env == {"OTEL_TRACES_SAMPLER": "traceidratio",
                                       "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    assert s.observability.variable_values == {"job": "feedback"}
    assert defaults().observability.sdk_env is None


def test_derived_urls_and_token_are_computed_once_in_settings(tmp_path):
    s = load(tmp_path, '[api]\nurl = "http://127.0.0.1:8080/"\ntoken = "api-token-1"\n')
    assert s.service_metrics_url == "http://127.0.0.1:8080/metrics/aiops"
    assert s.jwks_url == "http://127.0.0.1:8080/.well-known/jwks.json"
    assert s.load_token is None  # never api.token: the load would spend its rate-limit budget
    s = load(tmp_path, '[api]\nurl = "http://h:1"\nmetrics_url = "http://m:2/metrics"\n'
                       '[load]\ntoken = "load-token-2"\n[observability]\nrule_files = ["r.yml"]\n')
    assert s.service_metrics_url == "http://m:2/metrics"
    assert s.load_token == "load-token-2" and s.load_token_variable == "LOAD_TOKEN"
    assert s.rule_files == (str(tmp_path / "r.yml"),)
    s = load(tmp_path, "", "observability.metrics_url=http://o:3/x", "api.metrics_url=http://m:2/y")
    assert s.service_metrics_url == "http://o:3/x"
    assert defaults().service_metrics_url is None and defaults().jwks_url is None
