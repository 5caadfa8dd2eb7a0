"""The sign-off's provenance (issue 11, DESIGN.md "Trust"): which checks are the bundled ones,
which are a team's own, the suite's version and hashes, the active conftests and plugins."""
from __future__ import annotations

CUSTOM = """
import pytest

pytestmark = pytest.mark.gate_api


@pytest.mark.release_item("schema")
def test_my_own_schema_check(evidence):
    evidence.check("invalid bodies rejected", 12, "==", 12)
"""


def test_bundled_and_custom_checks_are_told_apart(run_release, pytester):
    from support.run import prepare

    suite = prepare(pytester)  # a byte-for-byte copy of the bundled Gate 1 module
    (suite / "test_gate_api.py").write_text(CUSTOM)
    (pytester.path / "conftest.py").write_text("# a team's conftest: it could change any check\n")
    run = run_release(modules=("test_gate_redis.py",))
    data = run.signoff
    redis = {c["nodeid"]: c for c in run.gate("redis")["checks"]}
    api = {c["nodeid"]: c for c in run.gate("api")["checks"]}
    assert redis and all(c["bundled"] is True for c in redis.values()), redis
    assert list(api) == ["tests_release/test_gate_api.py::test_my_own_schema_check"]
    assert all(c["bundled"] is False for c in api.values())
    assert data["custom_checks"] == list(api)
    suite_block = data["suite"]
    assert suite_block["install"] == "checkout" and suite_block["verified"] is None
    assert "unverified" in suite_block["note"]
    assert suite_block["version"]
    active = data["active"]
    assert active["conftests"] == [str(pytester.path / "conftest.py")], active
    assert any(p.startswith("pytest-release==") for p in active["plugins"]), active


def test_a_check_whose_fixtures_a_conftest_replaces_earns_nothing(run_release, pytester,
                                                                  tmp_path):
    """The bundled Gate 6 file, byte for byte, against a real healthy target passes — until a
    conftest replaces one of the suite's fixtures: then its checks are the team's, not ours."""
    from support.gitops import MODULES, target_factory

    target = target_factory(tmp_path)()
    healthy = run_release("-m", "gate_gitops", *target.args(), modules=MODULES)
    assert healthy.gate("gitops")["status"] == "passed", healthy.output
    (pytester.path / "conftest.py").write_text(
        "import pytest\n\n\n"
        '@pytest.fixture(scope="session")\n'
        "def release_settings(release_settings):  # could hand the checks anything\n"
        "    return release_settings\n")
    run = run_release("-m", "gate_gitops", *target.args(), modules=MODULES)
    gitops = run.gate("gitops")
    assert gitops["status"] == "incomplete", gitops
    users = [c for c in gitops["checks"] if "release_settings" in c["replaced_fixtures"]]
    assert users and all(c["bundled"] is False for c in users)
    assert all(i["status"] in ("not_run", "passed") for i in gitops["items"])
    assert any(i["status"] == "not_run" for i in gitops["items"])
    assert "replaces the suite's fixtures: release_settings" in run.output
    assert run.result.ret != 0
