"""Absurd, infinite and out-of-range values are configuration errors naming ``file:key``
(issue 11): generic limits per kind, a setting's own limits where it declares them."""
from __future__ import annotations

import pytest

from pytest_release.settings import SettingsError, load_settings


def _load(tmp_path, *, toml=None, overrides=()):
    path = None
    if toml is not None:
        path = tmp_path / "release.toml"
        path.write_text(toml)
    return load_settings(path=path, path_is_explicit=path is not None, overrides=list(overrides),
                         version="v5.7.1", rootdir=tmp_path)


@pytest.mark.parametrize("override, expected", [
    ("api.timeout_s=1e9", "--release-set api.timeout_s: 1000000000.0 is above the maximum 3,600 s"),
    ("redis.latency_samples=1000000000", "--release-set redis.latency_samples: 1000000000 is "
                                         "above the maximum 1e+07"),
    ("load.p95_ms=inf", "--release-set load.p95_ms: inf is not a finite number"),
    ("load.p95_ms=-inf", "--release-set load.p95_ms: -inf is not a finite number"),
    ("load.p95_ms=nan", "--release-set load.p95_ms: nan is not a finite number"),
    ("load.max_error_rate=nan", "--release-set load.max_error_rate: nan is not a rate"),
    ("redis.timeout_s=-1", "--release-set redis.timeout_s: -1.0 is below the minimum 0.01"),
    ("security.max_critical=-1", "--release-set security.max_critical: -1 is below the minimum 0"),
    ("postdeploy.window=100000h", "--release-set postdeploy.window: 100000h (3.6e+08 s) is above"),
    ("load.vus=1000000", "--release-set load.vus: 1000000 is above the maximum 10,000"),
])
def test_an_absurd_override_is_one_config_error_naming_its_key(tmp_path, override, expected):
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, overrides=[override])
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(expected), caught.value.problems


def test_every_absurd_value_of_a_file_is_reported_with_file_and_key(tmp_path):
    toml = "[api]\ntimeout_s = inf\n[redis]\nlatency_samples = 1_000_000_000\nrecovery_s = 1e9\n"
    with pytest.raises(SettingsError) as caught:
        _load(tmp_path, toml=toml)
    problems = sorted(caught.value.problems)
    where = f"{tmp_path / 'release.toml'}: "
    assert [p[len(where):].split(":")[0] for p in problems] == [
        "api.timeout_s", "redis.latency_samples", "redis.recovery_s"], problems
    assert all(p.startswith(where) for p in problems), problems
    assert "maximum 3,600 s" in problems[2] and "not a finite number" in problems[0], problems


def test_the_checklist_defaults_and_generous_real_values_load(tmp_path):
    settings = _load(tmp_path, overrides=["api.timeout_s=60", "redis.latency_samples=100000",
                                          "postdeploy.window=7d".replace("7d", "168h")])
    assert settings.api.timeout_s == 60 and settings.redis.latency_samples == 100000
