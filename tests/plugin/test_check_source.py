"""evidence.set_source(kind, detail) becomes the check's ``source`` in the sign-off and the views;
the goss-style Evidence helpers are soft by default, ``require`` stops at once."""
from __future__ import annotations

import json

import pytest

CHECKS = '''
import pytest

pytestmark = pytest.mark.gate_gitops


@pytest.mark.release_item("synced")
def test_synced(evidence):
    evidence.set_source("snapshot", "snapshot /srv/cluster-dump")
    evidence.check("sync status", "Synced", "==", "Synced", subject="argocd/cpt-ajan")


@pytest.mark.release_item("healthy")
def test_healthy(evidence):
    evidence.set_source("live", "live https://127.0.0.1:6443")
    evidence.present("health status", None)
    evidence.empty("degraded resources", {"deploy/a", "deploy/b"})
    evidence.no_error("last sync error", "ComparisonError")
    evidence.require("application found", 0, ">=", 1)
    evidence.check("never reached", 1, "==", 2)
'''


def test_source_and_helpers_reach_the_signoff_and_the_views(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate_gitops=CHECKS)
    result = pytester.runpytest_subprocess(
        "test_gate_gitops.py", "-p", "no:randomly", "-p", "no:hypothesispytest",
        "--release", "v5.7.1", "--release-signoff", "signoff.json",
        "--release-checklist", "checklist.md")
    signoff = json.loads((pytester.path / "signoff.json").read_text())
    checks = {c["nodeid"].split("::")[-1]: c for g in signoff["gates"] for c in g["checks"]}
    synced, healthy = checks["test_synced"], checks["test_healthy"]
    assert (synced["source"], synced["source_detail"]) == ("snapshot", "snapshot /srv/cluster-dump")
    assert synced["measurements"][0]["subject"] == "argocd/cpt-ajan"
    assert healthy["source"] == "live" and healthy["outcome"] == "failed"
    names = [m["name"] for m in healthy["measurements"]]
    assert names == ["health status", "degraded resources", "last sync error", "application found"]
    assert [m["ok"] for m in healthy["measurements"]] == [False, False, False, False]
    # require() stopped the check: its own violation is the message, "never reached" is absent.
    assert healthy["message"] == "Health: Healthy: expected application found >= 1, measured 0"
    checklist = (pytester.path / "checklist.md").read_text()
    assert "_source: snapshot (snapshot /srv/cluster-dump)_" in checklist
    assert "[live (live https://127.0.0.1:6443)]" in result.stdout.str()


def test_an_unknown_source_kind_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate_gitops='''
import pytest

@pytest.mark.gate_gitops
@pytest.mark.release_item("synced")
def test_synced(evidence):
    evidence.set_source("cache", "?")
''')
    result = pytester.runpytest_subprocess("test_gate_gitops.py", "-p", "no:randomly",
                                           "--release", "v5.7.1")
    result.stdout.fnmatch_lines(["*unknown source kind 'cache'*"])
