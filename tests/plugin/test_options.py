"""The command-line contract, end to end in pytester subprocesses (plugin loaded by entry point)."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from pytest_release.verdict import EXIT_INCOMPLETE

from support.run import gate, output, prepare

FAKE_GATE = """
import pytest

pytestmark = pytest.mark.gate_api


@pytest.mark.release_item("schema")
def test_schema_is_validated(evidence):
    evidence.check("invalid bodies rejected", 12, "==", 12, reproduce="curl -X POST ...")


@pytest.mark.release_item("jwt")
def test_jwt_required(evidence):
    evidence.record("algorithm", "RS256")
    evidence.check("unauthenticated status", 401, "in", (401, 403))
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_missing_release_is_a_usage_error(run_release, xdist):
    result, signoff = run_release(*xdist, release=None)
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--release is required to run release gate checks: pass --release v5.7.1" in text
    assert text.count("--release is required") == 1
    assert "INTERNALERROR" not in text and "Traceback" not in text
    assert signoff is None


def test_missing_release_is_fine_without_gate_tests(pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "test_plain.py")
    assert result.ret == 0
    result.assert_outcomes(passed=1)


def test_bad_config_is_one_error_block_without_traceback(run_release, pytester):
    prepare(pytester)
    pytester.makefile(".toml", release="""
        [redis]
        url = "redis://127.0.0.1:notaport/0"
        p95_ms = "fast"
        [lod]
        vus = 2
    """)
    result, signoff = run_release("--release-set", "load.max_error_rate=5")
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert text.count("configuration problems") == 1
    assert "pytest-release: 4 configuration problems:" in text
    for fragment in ("release.toml: redis.url: the URL's port is not a number",
                     "release.toml: redis.p95_ms: expected a number",
                     "release.toml: [lod]: unknown table (did you mean 'load'?)",
                     "--release-set load.max_error_rate: 5.0 is not a rate"):
        assert fragment in text
    assert "Traceback" not in text and "INTERNALERROR" not in text
    assert signoff is None


def test_missing_explicit_config_file_is_a_usage_error(run_release, pytester):
    result, _ = run_release("--release-config", "nowhere/release.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--release-config file not found" in output(result)
    assert "Traceback" not in output(result)


def test_marker_selects_gate_1_only_under_strict_markers(run_release, pytester):
    suite = prepare(pytester)
    (suite / "test_gate_api.py").write_text(FAKE_GATE)
    result, signoff = run_release("--strict-markers", "-m", "gate_redis",
                                  modules=("test_gate_redis.py",))
    # No redis.url: every Redis check runs and is *not measured*; the API checks are deselected.
    result.assert_outcomes(skipped=6, deselected=2)
    assert result.ret == EXIT_INCOMPLETE
    assert gate(signoff, "redis")["status"] == "incomplete"
    assert {c["outcome"] for c in gate(signoff, "redis")["checks"]} == {"skipped"}
    assert all("redis.url is not configured" in c["message"] for c in gate(signoff, "redis")["checks"])
    api = gate(signoff, "api")
    assert api["status"] == "not_run" and api["checks"] == [] and api["deselected"] == 2
    assert {g["status"] for g in signoff["gates"][2:]} == {"not_run"}
    assert signoff["verdict"] == "INCOMPLETE"


def test_require_approval_fails_a_green_run_that_is_not_approved(run_release, pytester):
    suite = prepare(pytester, modules=())
    (suite / "test_gate_api.py").write_text(FAKE_GATE)
    plain, signoff = run_release(modules=())
    assert plain.ret == EXIT_INCOMPLETE
    plain.assert_outcomes(passed=2)
    assert gate(signoff, "api")["status"] == "incomplete"  # 4 of the 6 API items have no check
    assert signoff["verdict"] == "INCOMPLETE"

    strict, signoff = run_release("--release-require-approval", modules=())
    strict.assert_outcomes(passed=2)
    assert strict.ret == EXIT_INCOMPLETE
    assert signoff["verdict"] == "INCOMPLETE"
    assert ("exit status 11: a selected gate was not measured or not run (verdict "
            "INCOMPLETE)") in output(strict)


def test_markers_are_registered(pytester):
    result = pytester.runpytest_subprocess("--markers")
    assert result.ret == 0
    text = output(result)
    for number, marker, title in [(1, "gate_redis", "Redis Persistence"), (2, "gate_api", "API Validation"),
                                  (3, "gate_load", "Load Test"), (4, "gate_security", "Security"),
                                  (5, "gate_observability", "Observability"), (6, "gate_gitops", "GitOps")]:
        assert f"@pytest.mark.{marker}: Gate {number} ({title}) release checks" in text
    assert "@pytest.mark.release_item(item_id)" in text


def test_help_documents_the_options(pytester):
    text = output(pytester.runpytest_subprocess("--help"))
    for option in ("--release=VERSION", "--release-config=PATH", "--release-set=KEY=VALUE",
                   "--release-signoff=PATH", "--release-checklist=PATH",
                   "--release-require-approval"):
        assert option in text


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_evidence_is_recorded_as_junit_properties(run_release, pytester, xdist):
    suite = prepare(pytester, modules=())
    (suite / "test_gate_api.py").write_text(FAKE_GATE)
    result, signoff = run_release("--junitxml=junit.xml", *xdist, modules=())
    assert result.ret == EXIT_INCOMPLETE
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "junit.xml").iter("testcase")}
    props = [(p.get("name"), json.loads(p.get("value")))
             for p in cases["test_schema_is_validated"].iter("property")]
    names = [name for name, _ in props]
    assert "release.check" in names and "release.measurement" in names
    check = dict(props)["release.check"]
    # a team's own check (FAKE_GATE is not a bundled file): it says so in the JUnit XML too
    assert check == {"gate": "api", "item": "schema", "title": "Zod schema validation active",
                     "bundled": False, "replaced": []}
    measurement = dict(props)["release.measurement"]
    assert measurement == {"name": "invalid bodies rejected", "value": 12, "unit": None, "op": "==",
                           "threshold": 12, "ok": True}
    assert dict(props)["release.reproduce"] == "curl -X POST ..."
    jwt = [json.loads(p.get("value")) for p in cases["test_jwt_required"].iter("property")
           if p.get("name") == "release.measurement"]
    assert [m["name"] for m in jwt] == ["algorithm", "unauthenticated status"]
    # the JSON sign-off carries the same evidence
    schema = [c for c in gate(signoff, "api")["checks"] if c["item_id"] == "schema"][0]
    assert schema["measurements"] == [measurement]


def test_unwritable_signoff_path_is_a_warning_not_a_crash(run_release, pytester):
    suite = prepare(pytester, modules=())
    (suite / "test_gate_api.py").write_text(FAKE_GATE)
    (pytester.path / "blocker").write_text("a file, not a directory")
    result, _ = run_release("--release-checklist", "blocker/checklist.md", modules=())
    assert result.ret == EXIT_INCOMPLETE
    text = output(result)
    assert "ReleaseReportWarning" in text and "could not write" in text
    assert "Traceback" not in text
