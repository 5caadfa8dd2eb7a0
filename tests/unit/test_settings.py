"""Settings: checklist defaults, TOML + overrides, ${ENV} secrets, every problem at once."""
from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from pytest_release.gates import GATES_BY_ID
from pytest_release.settings import (
    MASK,
    SettingsError,
    duration_seconds,
    load_settings,
    parse_override,
    redact,
    safe_url,
)


def load(tmp_path: Path, toml: str | None = None, *overrides: str, env: dict[str, str] | None = None,
         version: str | None = None, explicit: bool = False):
    path = tmp_path / "release.toml"
    if toml is not None:
        path.write_text(textwrap.dedent(toml))
    return load_settings(path=path, path_is_explicit=explicit, overrides=list(overrides),
                         version=version, rootdir=tmp_path, env=env or {})


def problems(tmp_path: Path, toml: str | None = None, *overrides: str, **kw) -> list[str]:
    with pytest.raises(SettingsError) as info:
        load(tmp_path, toml, *overrides, **kw)
    return info.value.problems


def test_defaults_are_the_checklist_numbers(tmp_path):
    s = load(tmp_path)  # no release.toml at the rootdir: defaults only
    assert s.source is None
    assert s.redis.ttl_max_seconds == 7 * 24 * 3600
    assert s.redis.maxmemory_policy == "noeviction"
    assert s.redis.p95_ms == 120
    assert s.redis.key_patterns == ("feedback:*",)
    assert s.load.vus == 25
    assert duration_seconds(s.load.duration) == 30
    assert s.load.max_error_rate == 0.005
    assert s.load.p95_ms == 120
    assert s.load.min_success_rate == 0.995
    assert s.api.feedback_path == "/api/v1/aiops/feedback"
    assert s.release.version is None and s.redis.url is None
    assert s.secrets == frozenset()
    # ... and the same numbers the checklist wording promises
    redis_items = {i.id: i.render() for i in GATES_BY_ID["redis"].items}
    load_items = {i.id: i.render() for i in GATES_BY_ID["load"].items}
    assert redis_items["ttl"] == "TTL: 7 days configured"
    assert redis_items["maxmemory"].endswith(s.redis.maxmemory_policy)
    assert f"P95 < {s.redis.p95_ms:g}ms" in redis_items["p95"]
    assert f"< {s.load.max_error_rate:.1%}" in load_items["error_rate"]
    assert f"> {s.load.min_success_rate:.1%}" in load_items["success_rate"]
    assert f"{s.load.duration} with {s.load.vus} VUs" in load_items["profile"]


def test_toml_file_then_overrides_then_release_option(tmp_path):
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "load.k6.js").write_text("export default function () {}\n")
    s = load(tmp_path, """
        [release]
        version = "v0.0.0"
        commit = "98ee13c"
        [redis]
        url = "redis://127.0.0.1:6379/0"
        p95_ms = 50
        key_patterns = ["feedback:*", "ratelimit:*"]
        [load]
        script = "ops/load.k6.js"
        duration = "1m"
    """, "redis.p95_ms=100", "load.vus=10", "redis.key_patterns=a:*,b:*",
        "release.image=ghcr.io/x/y:v5.7.1", version="v5.7.1")
    assert s.source == str(tmp_path / "release.toml")
    assert s.release.version == "v5.7.1"  # --release wins over the file
    assert s.release.commit == "98ee13c"
    assert s.release.image == "ghcr.io/x/y:v5.7.1"
    assert s.redis.p95_ms == 100.0 and isinstance(s.redis.p95_ms, float)
    assert s.redis.key_patterns == ("a:*", "b:*")
    assert s.load.vus == 10
    assert duration_seconds(s.load.duration) == 60
    assert s.load.script == str(tmp_path / "ops/load.k6.js")  # relative to the config file
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.redis.p95_ms = 1  # type: ignore[misc]


def test_env_interpolation_registers_secrets(tmp_path):
    env = {"API_TOKEN": "tok-3e5f", "REDIS_PASSWORD": "S3cr3t-p4ss", "HOST": "10.0.0.5"}
    s = load(tmp_path, """
        [redis]
        url = "redis://:${REDIS_PASSWORD}@${HOST}:6379/0"
        [api]
        url = "https://api.example.test"
        token = "${API_TOKEN}"
        rate_limit_token = "literal-secret"
    """, env=env)
    assert s.api.token == "tok-3e5f"
    assert s.redis.url == "redis://:S3cr3t-p4ss@10.0.0.5:6379/0"
    assert {"tok-3e5f", "S3cr3t-p4ss", "literal-secret"} <= s.secrets
    text = f"Authorization: Bearer tok-3e5f; connecting to {s.redis.url}; literal-secret"
    assert s.redact(text) == (
        f"Authorization: Bearer {MASK}; connecting to redis://:{MASK}@{MASK}:6379/0; {MASK}"
    )  # every interpolated value counts as a secret, the host included


def test_url_password_is_a_secret_in_both_encodings(tmp_path):
    s = load(tmp_path, None, "redis.url=redis://:p%40ss%2Fw0rd@127.0.0.1:6379/0")
    assert {"p%40ss%2Fw0rd", "p@ss/w0rd"} <= s.secrets
    assert "p@ss" not in s.redact("auth p@ss/w0rd failed")
    assert s.redact("redis://:p%40ss%2Fw0rd@h") == f"redis://:{MASK}@h"


def test_every_problem_is_reported_at_once_with_file_and_key(tmp_path):
    found = problems(tmp_path, """
        [reddis]
        url = "redis://x"
        [redis]
        p59_ms = 10
        p95_ms = -1
        url = "not a url"
        [load]
        vus = "many"
        max_error_rate = 1.5
        duration = "30 seconds"
        token = "${NOT_SET_ANYWHERE}"
    """, "load.p95_ms=fast", "observability.prometheus=http://p:9090", "nokey")
    path = str(tmp_path / "release.toml")
    expected = [
        (path, r"\[reddis\]: unknown table \(did you mean 'redis'\?\)"),
        (path, r"redis\.p59_ms: unknown key \(did you mean 'p95_ms'\?\)"),
        (path, r"redis\.p95_ms: -1(\.0)? is below the minimum"),
        (path, r"redis\.url: not a URL"),
        (path, r"load\.vus: expected an integer, got string 'many'"),
        (path, r"load\.max_error_rate: 1\.5 is not a rate"),
        (path, r"load\.duration: malformed duration '30 seconds'"),
        (path, r"load\.token: environment variable NOT_SET_ANYWHERE is not set"),
        ("--release-set load.p95_ms", "expected a number, got string 'fast'"),
        ("--release-set observability.prometheus", r"unknown key \(did you mean 'prometheus_url'\?\)"),
        ("--release-set 'nokey'", "expected KEY=VALUE"),
    ]
    assert len(found) == len(expected), found
    for where, pattern in expected:
        assert any(p.startswith(where) and re.search(pattern, p) for p in found), (pattern, found)


@pytest.mark.parametrize(("toml", "explicit", "pattern"), [
    ("[redis\nurl = 1", False, r"release\.toml: not valid TOML"),
    (None, True, r"release\.toml: --release-config file not found"),
])
def test_unreadable_config_is_one_clear_problem(tmp_path, toml, explicit, pattern):
    found = problems(tmp_path, toml, explicit=explicit)
    assert len(found) == 1 and re.search(pattern, found[0]), found


def test_missing_default_config_is_fine(tmp_path):
    assert load(tmp_path, None, explicit=False).source is None


def test_plugin_turns_all_problems_into_one_usage_error(pytester):
    pytester.makefile(".toml", release="""
        [redis]
        p95_ms = -5
        ttl = 7
        [load]
        max_error_rate = 2
    """)
    with pytest.raises(pytest.UsageError) as info:
        pytester.parseconfigure("--release-set", "load.vus=0")
    message = str(info.value)
    assert message.startswith("pytest-release: 4 configuration problems:")
    assert "release.toml: redis.p95_ms" in message
    assert "release.toml: redis.ttl: unknown key" in message
    assert "release.toml: load.max_error_rate" in message
    assert "--release-set load.vus: 0 is below the minimum 1" in message


@pytest.mark.parametrize(("text", "key", "value"), [
    ("load.p95_ms=100", "load.p95_ms", 100),
    ("redis.url=redis://h:1/0", "redis.url", "redis://h:1/0"),
    ("load.duration=\"30s\"", "load.duration", "30s"),
    ("redis.key_patterns=[\"a:*\"]", "redis.key_patterns", ["a:*"]),
    (" load.vus = 5 ", "load.vus", 5),
])
def test_parse_override(text, key, value):
    assert parse_override(text) == (key, value)


def test_redact_masks_plain_and_url_encoded_forms():
    secret = "p@ss w/rd+1"
    text = ("plain p@ss w/rd+1 | quote p%40ss%20w/rd%2B1 | quote-all p%40ss%20w%2Frd%2B1 | "
            "form p%40ss+w%2Frd%2B1")
    out = redact(text, {secret})
    assert "p@ss" not in out and "p%40ss" not in out, out
    assert out == f"plain {MASK} | quote {MASK} | quote-all {MASK} | form {MASK}"
    assert redact("nothing here", {""}) == "nothing here"


def test_redact_prefers_the_longest_secret():
    assert redact("token abc123", {"abc", "abc123"}) == f"token {MASK}"


@pytest.mark.parametrize(("url", "shown"), [
    ("redis://:S3cr3t@127.0.0.1:6379/0", f"redis://:{MASK}@127.0.0.1:6379/0"),
    ("redis://user:S3cr3t@host/2", f"redis://user:{MASK}@host/2"),
    ("rediss://:S3cr3t@[::1]:6380/0", f"rediss://:{MASK}@[::1]:6380/0"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("https://api.example.test/path?q=1", "https://api.example.test/path?q=1"),
])
def test_safe_url(url, shown):
    assert safe_url(url) == shown
    assert "S3cr3t" not in safe_url(url)


def test_a_missing_file_setting_is_a_config_error(tmp_path):
    with pytest.raises(SettingsError) as info:
        load(tmp_path, """
            [api]
            signing_key_file = "keys/missing.pem"
        """)
    (problem,) = info.value.problems
    assert "api.signing_key_file" in problem and "missing.pem does not exist" in problem


def test_a_malformed_ipv6_url_is_a_config_error_not_a_crash(tmp_path):
    with pytest.raises(SettingsError) as info:
        load(tmp_path, None, "api.url=http://[::1")
    (problem,) = info.value.problems
    assert problem.startswith("--release-set api.url: not a URL")
