"""Which checks a ``--release`` run collects (pytest_release/selection.py), and introspection.

Real ``pytest`` subprocesses in pytester directories; the bundled suite is the one
``pytest_release.bundled.suite_path()`` names (``tests_release/`` here, ``pytest_release/suite``
in a wheel: tests/e2e/test_wheel_install.py runs the same from an installed wheel).
"""
from __future__ import annotations

import re

import pytest
from support.run import VERSION, output, prepare

from pytest_release.bundled import suite_path

SUITE = str(suite_path().resolve())
DOWN = ("--release-set", "redis.url=redis://127.0.0.1:1/0")


@pytest.fixture
def runner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess("-p", "no:hypothesispytest", *args, timeout=120)

    return run


def test_release_without_paths_in_an_empty_directory_collects_the_bundled_suite(runner):
    result = runner("--release", VERSION, "-m", "gate_redis", "--collect-only", "-q")
    text = output(result)
    assert result.ret == 0, text
    assert "test_gate_redis.py::test_maxmemory_policy_is_noeviction" in text, text
    assert re.search(r"\b6(/\d+)? tests collected", text), text


def test_the_header_names_the_bundled_suite(runner):
    result = runner("--release", VERSION, "-m", "gate_redis", "--collect-only")
    assert "release suite: bundled with pytest-release" in output(result)
    assert SUITE in output(result)


def test_given_paths_without_release_checks_are_one_error_saying_how_to_fix_it(pytester, runner):
    pytester.makepyfile(test_mine="def test_plain():\n    pass\n")
    signoff = pytester.path / "signoff.json"
    result = runner("--release", VERSION, "test_mine.py", f"--release-signoff={signoff}")
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "no release check was selected to run from test_mine.py (only 1 other test)" in text
    assert "--release-suite=bundled" in text, text
    assert not signoff.exists()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_marker_that_selects_no_check_is_one_error(runner, pytester, workers):
    signoff = pytester.path / "signoff.json"
    result = runner("--release", VERSION, "-m", "gate_nothing_here", *workers,
                    f"--release-signoff={signoff}")
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert text.count("no release check was selected") == 1, text
    assert "-m/-k selected none of them" in text and "INTERNALERROR" not in text, text
    assert not signoff.exists()


def test_bundled_adds_the_suite_next_to_the_teams_own_checks(pytester, runner):
    pytester.makepyfile(test_team="import pytest\n\n@pytest.mark.gate_redis\n"
                                  "def test_our_extra_redis_check():\n    pass\n")
    result = runner("--release", VERSION, "--release-suite=bundled", "test_team.py",
                    "-m", "gate_redis", "--collect-only", "-q")
    text = output(result)
    assert result.ret == 0, text
    assert "test_team.py::test_our_extra_redis_check" in text
    assert "test_gate_redis.py::test_aof_is_enabled_and_healthy" in text


def test_the_ini_setting_does_the_same(pytester, runner):
    pytester.makeini("[pytest]\ntestpaths = checks\nrelease_suite = bundled\n")
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "test_team.py").write_text("def test_ours():\n    pass\n")
    result = runner("--release", VERSION, "--collect-only", "-q")
    text = output(result)
    assert "checks/test_team.py::test_ours" in text and "test_gate_api.py::" in text, text


def test_auto_leaves_given_paths_and_a_rootdirs_own_tests_release_alone(pytester, runner):
    prepare(pytester)  # a checkout-like project with its own tests_release/
    (pytester.path / "pytest.ini").write_text("[pytest]\n")  # and no testpaths
    result = runner("--release", VERSION, "--collect-only", "-q")
    text = output(result)
    assert result.ret == 0, text
    assert "tests_release/test_gate_redis.py::" in text and "test_gate_api.py" not in text, text
    assert "release suite: bundled" not in text


def test_off_never_adds_the_suite(runner):
    result = runner("--release", VERSION, "--release-suite", "off", *DOWN)
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "no release check was selected" in text


def test_a_bad_ini_value_is_one_error(pytester, runner):
    pytester.makeini("[pytest]\nrelease_suite = always\n")
    result = runner("--release", VERSION, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "release_suite = 'always': use one of auto, bundled, off" in output(result)


# -- introspection needs no --release, runs no check, writes no sign-off -------------------------
@pytest.fixture
def checkout(pytester: pytest.Pytester) -> pytest.Pytester:
    prepare(pytester, ("test_gate_redis.py", "test_gate_api.py"))
    return pytester


def test_collect_only_without_release_lists_the_checks(checkout, runner):
    result = runner("--collect-only", "-q")
    text = output(result)
    assert result.ret == 0, text
    assert "tests_release/test_gate_api.py::" in text and "ERROR" not in text, text


def test_collect_only_with_release_writes_no_signoff_and_claims_nothing_lost(checkout, runner):
    signoff = checkout.path / "signoff.json"
    signoff.write_text("from an earlier run")
    result = runner("--collect-only", "--release", VERSION, f"--release-signoff={signoff}")
    text = output(result)
    assert result.ret == 0, text
    assert not signoff.exists()  # removed (stale), and not rewritten
    assert "never ran" not in text and "verdict:" not in text, text
    assert "interrupted or worker lost" not in text and "warning" not in text, text


def test_fixtures_without_release(checkout, runner):
    result = runner("--fixtures")
    text = output(result)
    assert result.ret == 0, text
    assert "release_settings" in text and "evidence" in text and "ERROR" not in text, text


def test_markers_without_release(checkout, runner):
    result = runner("--markers")
    text = output(result)
    assert result.ret == 0, text
    assert "@pytest.mark.gate_redis:" in text and "@pytest.mark.release_item" in text, text
