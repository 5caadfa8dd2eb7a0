"""Path options given with a space keep pytest's rootdir (pytest_release/paths.py).

Each run is a real ``pytest`` subprocess in a project laid out like the repository (pytest.ini
with ``testpaths = tests_release`` and a ``tests/test_gate_redis.py`` of the same basename as the
suite's, which pytest would also collect, and fail to import, if the rootdir moved). The option's
value is an existing file outside the project: that is what moved the rootdir before the fix.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_release.verdict import EXIT_INCOMPLETE
from support.run import VERSION, output, prepare

#: Nothing listens on port 1: Gate 1 ends not measured at once, no redis-server needed.
DOWN = ("--release-set", "redis.url=redis://127.0.0.1:1/0")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    prepare(pytester)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_gate_redis.py").write_text("def test_other():\n    pass\n")
    return pytester


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory outside the project (its common ancestor with the project has no ini)."""
    return tmp_path_factory.mktemp("elsewhere")


def _run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-p", "no:hypothesispytest", "--release", VERSION,
                                        *DOWN, *args, timeout=120)


def _spell(option: str, value: Path, spelling: str) -> list[str]:
    return [option, str(value)] if spelling == "space" else [f"{option}={value}"]


def _assert_project_rootdir(project: pytest.Pytester, result: pytest.RunResult) -> None:
    text = output(result)
    assert f"rootdir: {project.path}" in text, text
    assert "configfile: pytest.ini" in text, text
    assert "import file mismatch" not in text, text
    assert "test_other" not in text and "tests/test_gate_redis.py" not in text, text


@pytest.mark.parametrize("spelling", ["space", "equals"])
def test_release_config_keeps_the_rootdir(project, elsewhere, spelling):
    config = elsewhere / "release.toml"
    config.write_text('[release]\ncommit = "c0ffee1"\n')
    signoff = project.path / "signoff.json"
    result = _run(project, *_spell("--release-config", config, spelling),
                  f"--release-signoff={signoff}")
    _assert_project_rootdir(project, result)
    assert result.ret == EXIT_INCOMPLETE, output(result)
    data = json.loads(signoff.read_text())
    assert data["release"]["commit"] == "c0ffee1"  # the config given was the one read
    nodeids = [c["nodeid"] for g in data["gates"] for c in g["checks"]]
    assert nodeids and all(n.startswith("tests_release/test_gate_redis.py::") for n in nodeids)


@pytest.mark.parametrize("spelling", ["space", "equals"])
def test_release_signoff_keeps_the_rootdir(project, elsewhere, spelling):
    signoff = elsewhere / "s.json"
    signoff.write_text("stale")  # an existing file is what the first parse takes for a path
    result = _run(project, *_spell("--release-signoff", signoff, spelling))
    _assert_project_rootdir(project, result)
    assert result.ret == EXIT_INCOMPLETE, output(result)
    data = json.loads(signoff.read_text())
    gate = next(g for g in data["gates"] if g["id"] == "redis")
    assert gate["checks"] and gate["status"] == "incomplete"  # Redis down: never passed


@pytest.mark.parametrize("spelling", ["space", "equals"])
def test_html_keeps_the_rootdir(project, elsewhere, spelling):
    report = elsewhere / "r.html"
    report.write_text("stale")
    result = _run(project, *_spell("--html", report, spelling), "--self-contained-html")
    _assert_project_rootdir(project, result)
    assert result.ret == EXIT_INCOMPLETE, output(result)
    html = report.read_text()
    assert "stale" not in html and "Redis Persistence" in html


def test_an_option_value_inside_another_project_is_one_error_naming_the_remedy(project, elsewhere):
    # The value's directory has a pytest.ini with addopts of its own: pytest has applied them
    # before any plugin runs, so the plugin cannot undo the move and says what to write instead.
    (elsewhere / "pytest.ini").write_text("[pytest]\naddopts = -p no:randomly\n")
    config = elsewhere / "release.toml"
    config.write_text("")
    result = _run(project, "--release-config", str(config))
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert f"--release-config={config}" in text and "--rootdir" in text, text
    assert text.count("pytest-release:") == 1 and "Traceback" not in text, text


def test_the_repair_also_holds_in_xdist_workers(project, elsewhere):
    # Each worker parses the original command line again: it must land on the same rootdir.
    signoff = elsewhere / "s.json"
    signoff.write_text("stale")
    result = _run(project, "--release-signoff", str(signoff), "-n", "2")
    _assert_project_rootdir(project, result)
    assert result.ret == EXIT_INCOMPLETE, output(result)
    nodeids = [c["nodeid"] for g in json.loads(signoff.read_text())["gates"] for c in g["checks"]]
    assert len(nodeids) == 6 and all(n.startswith("tests_release/") for n in nodeids), nodeids


def test_when_the_right_ini_needs_what_pytest_already_applied_the_error_names_the_remedy(
        project, elsewhere):
    # The project's own addopts switch capture off: pytest has started capturing by the time a
    # plugin can repair the rootdir, so the plugin stops with the remedy instead of half a fix.
    ini = project.path / "pytest.ini"
    ini.write_text(ini.read_text().replace("addopts = ", "addopts = -s "))
    config = elsewhere / "release.toml"
    config.write_text("")
    result = _run(project, "--release-config", str(config))
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert f"--release-config={config}" in text and "--capture" in text, text
    # and with '=' the same project runs
    assert _run(project, f"--release-config={config}", "--collect-only").ret == 0
