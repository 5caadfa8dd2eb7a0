"""Exit status, refused and interrupted runs, stale artifacts (issue 11, "Artifacts and verdict
integrity"): real pytest subprocesses, real signals."""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest
from support.gitops import MODULES as GITOPS
from support.gitops import target_factory
from support.run import QUICK, VERSION, gate, output, prepare

from pytest_release.verdict import EXIT_INCOMPLETE, EXIT_REJECTED

#: Gate 3's four items, each with a compared value: the gate can pass on its own.
LOAD_GATE = """
import os, pathlib, time
import pytest

pytestmark = pytest.mark.gate_load
P95 = float(os.environ.get("FAKE_P95", "120"))
SLEEP = float(os.environ.get("FAKE_SLEEP", "0"))


def _hold(name):
    if SLEEP:
        pathlib.Path(os.environ["FAKE_STARTED"], name).touch()
        time.sleep(SLEEP)


@pytest.mark.release_item("error_rate")
def test_error_rate(evidence):
    evidence.check("error rate", 0.001, "<=", 0.01)


@pytest.mark.release_item("p95")
def test_p95(evidence):
    evidence.check("p95", P95, "<=", 200)


@pytest.mark.release_item("success_rate")
def test_success_rate(evidence):
    _hold("success_rate")
    evidence.check("success rate", 0.999, ">=", 0.99)


@pytest.mark.release_item("profile")
def test_profile(evidence):
    _hold("profile")
    evidence.check("vus", 500, ">=", 500)
"""


@pytest.fixture
def load_gate(pytester):
    suite = prepare(pytester, modules=())
    (suite / "test_gate_load.py").write_text(LOAD_GATE)
    return pytester


def _signoff(path):
    return json.loads(path.read_text())


@pytest.fixture
def gitops_target(tmp_path):
    """A real Gate 6 target: the bundled gate can pass (or fail) on its own."""
    return target_factory(tmp_path)


def test_a_selected_gate_that_passed_exits_0_and_approval_is_a_separate_contract(run_release,
                                                                               gitops_target):
    target = gitops_target()
    run = run_release("-m", "gate_gitops", *target.args(), modules=GITOPS)
    assert run.result.ret == 0, run.output
    assert gate(run.signoff, "gitops")["status"] == "passed"
    assert run.signoff["verdict"] == "INCOMPLETE"  # five gates not run
    strict = run_release("-m", "gate_gitops", "--release-require-approval", *target.args(),
                         modules=GITOPS)
    assert strict.result.ret == EXIT_INCOMPLETE, strict.output
    assert "exit status 11: a selected gate was not measured or not run" in strict.output


def test_custom_checks_alone_never_pass_a_gate(run_release, load_gate):
    """DESIGN.md, "Trust": four marked tests of a team's own, one per item of Gate 3, each with a
    passing comparison, add to the gate but earn none of its items."""
    run = run_release(modules=())
    assert run.result.ret == EXIT_INCOMPLETE, run.output
    load = gate(run.signoff, "load")
    assert load["status"] == "incomplete", load
    assert {i["id"]: i["status"] for i in load["items"]} == dict.fromkeys(
        ("error_rate", "p95", "success_rate", "profile"), "not_run")
    assert "only custom checks ran for" in load["reason"]
    assert all(c["bundled"] is False for c in load["checks"])
    assert sorted(run.signoff["custom_checks"]) == sorted(c["nodeid"] for c in load["checks"])
    assert "custom checks: 4 (not the bundled suite's" in run.output


def test_a_failed_gate_exits_rejected(run_release, load_gate, monkeypatch):
    run = run_release(modules=(), env={"FAKE_P95": "950"}, monkeypatch=monkeypatch)
    assert run.result.ret == EXIT_REJECTED, run.output
    assert gate(run.signoff, "load")["status"] == "failed"
    assert "exit status 10: a selected gate failed" in run.output


def test_nothing_configured_is_incomplete_not_success(run_release):
    run = run_release()  # the Redis gate with no redis.url: every check skipped
    assert run.result.outcomes.get("skipped", 0) > 0 if hasattr(run.result, "outcomes") else True
    assert gate(run.signoff, "redis")["status"] == "incomplete"
    assert run.result.ret == EXIT_INCOMPLETE, run.output


def test_marker_with_no_checks_prints_the_table_and_never_exits_5(run_release, load_gate):
    run = run_release("-m", "gate_security", modules=())
    text = run.output
    # nothing selected at all is the usage error of issue 7 (one message, the remedy), never 5
    assert run.result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "release sign-off v5.7.1" in text
    assert "gate_security was selected but no checks collected for this gate" in text
    assert "-m/-k selected none of them" in text
    # the deselected gate is worded as the JSON words it (verdict.py), not "no checks"
    assert "Gate 3 Load Test" in text and "deselected (4 checks)" in text


def test_a_gate_with_no_checks_beside_one_that_ran_is_incomplete(run_release, gitops_target):
    run = run_release("-m", "gate_gitops or gate_security", *gitops_target().args(),
                      modules=GITOPS)
    assert run.result.ret == EXIT_INCOMPLETE, run.output
    assert gate(run.signoff, "gitops")["status"] == "passed"
    security = gate(run.signoff, "security")
    assert security["status"] == "not_run"
    assert security["reason"] == "no checks collected for this gate"
    assert "gate_security was selected but no checks collected for this gate" in run.output


@pytest.mark.parametrize("value", ["", " ", "v5.7.1\nverdict: APPROVED", "v5\x1b[2J", "v5\u202e1"])
def test_release_version_must_be_one_printable_line(pytester, value):
    prepare(pytester)
    result = pytester.runpytest_subprocess(*QUICK, f"--release={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert "argument --release" in text and "Traceback" not in text
    assert "verdict: APPROVED" not in text.replace(repr(value), "")


@pytest.mark.parametrize("failure", [
    ["--no-such-flag"],                                   # pytest usage error
    ["--release-set", "load.p95_ms=fast"],                # plugin config error
    ["--release-set", "nosuch.key=1"],
], ids=["unknown-flag", "bad-value", "unknown-key"])
def test_no_failure_mode_leaves_an_earlier_runs_artifacts(load_gate, failure):
    out = load_gate.path / "out"
    out.mkdir()
    paths = {name: out / name for name in ("signoff.json", "checklist.md", "report.html",
                                            "junit.xml")}
    for path in paths.values():
        path.write_text('{"verdict": "APPROVED"}')
    result = load_gate.runpytest_subprocess(
        *QUICK, "--release", VERSION, "--release-signoff", str(paths["signoff.json"]),
        f"--release-checklist={paths['checklist.md']}", "--html", str(paths["report.html"]),
        f"--junitxml={paths['junit.xml']}", *failure)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output(result)
    assert [p.name for p in paths.values() if p.exists()] == []


def test_a_refused_run_writes_no_sign_off_banner(load_gate):
    report = load_gate.path / "report.html"
    result = load_gate.runpytest_subprocess(*QUICK, "--html", str(report))  # no --release
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not report.exists() or "release-signoff" not in report.read_text()


def _start(pytester, *args, sleep="60"):
    started = pytester.path / "started"
    started.mkdir()
    signoff = pytester.path / "signoff.json"
    signoff.write_text('{"verdict": "APPROVED"}')
    env_args = [sys.executable, "-m", "pytest", *QUICK, "--release", VERSION,
                "--release-signoff", str(signoff), *args]
    os.environ["FAKE_SLEEP"], os.environ["FAKE_STARTED"] = sleep, str(started)
    try:
        proc = pytester.popen(env_args, stdout=open(pytester.path / "out.txt", "wb"),
                              stderr=open(pytester.path / "err.txt", "wb"),
                              start_new_session=True)  # Ctrl-C reaches the whole group
    finally:
        del os.environ["FAKE_SLEEP"], os.environ["FAKE_STARTED"]
    return proc, started, signoff


def _wait_for(started, count, proc, limit=60.0):
    deadline = time.monotonic() + limit
    while len(list(started.iterdir())) < count:
        assert proc.poll() is None, "pytest ended before the checks started"
        assert time.monotonic() < deadline, "the checks never started"
        time.sleep(0.1)


def test_sigterm_ends_the_run_as_interrupted_and_never_approved(load_gate):
    proc, started, signoff = _start(load_gate)
    _wait_for(started, 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == pytest.ExitCode.INTERRUPTED
    data = _signoff(signoff)
    assert data["verdict"] == "INCOMPLETE"
    assert gate(data, "load")["status"] != "passed"


def test_sigint_under_xdist_knows_every_check_the_workers_collected(load_gate):
    proc, started, signoff = _start(load_gate, "-n", "2")
    _wait_for(started, 1, proc)  # a worker is mid-check, the others wait or finished
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: controller and workers
    assert proc.wait(timeout=60) == pytest.ExitCode.INTERRUPTED
    data = _signoff(signoff)
    load = gate(data, "load")
    assert load["status"] != "passed", load
    assert data["verdict"] == "INCOMPLETE"
    nodeids = {c["nodeid"].split("::")[-1] for c in load["checks"]}
    assert nodeids == {"test_error_rate", "test_p95", "test_success_rate", "test_profile"}, load
    unfinished = [c for c in load["checks"] if c["nodeid"].endswith(("success_rate", "profile"))]
    assert all(c["outcome"] != "passed" for c in unfinished), unfinished


def test_a_run_without_release_leaves_the_step_summary_alone(pytester, monkeypatch):
    """pytest-release installed in a CI job whose other pytest runs sign nothing off: their
    $GITHUB_STEP_SUMMARY gets no empty sign-off appended."""
    summary = pytester.path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess(*QUICK, "-p", "no:cacheprovider", "test_plain.py")
    assert result.ret == 0, output(result)
    assert summary.read_text() == "earlier step\n"


def test_artifacts_are_written_with_the_umask_not_private(run_release, load_gate):
    run = run_release(modules=())
    mode = (run.outdir / "signoff.json").stat().st_mode & 0o777
    assert mode & 0o044 == 0o044, oct(mode)  # readable by the CI's artifact uploader, as before
