"""probes.argocd: Application facts from the object (cluster source or argocd app get -o json)."""
from __future__ import annotations

import json

import pytest

from pytest_release.demo.gitops import gitops_objects
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.argocd import application_facts, parse_app_json
from pytest_release.probes.tools import ToolOutput

COMMIT = "1" * 40


def _app(fault: str | None = None) -> dict:
    objects = gitops_objects(commit=COMMIT, image_name="reg.io/app", digest="sha256:" + "0" * 64,
                             fault=fault)
    return next(o for o in objects if o["kind"] == "Application")


def test_the_example_application_is_synced_healthy_and_done():
    facts = application_facts(_app())
    assert (facts.sync_status, facts.revisions, facts.health) == ("Synced", (COMMIT,), "Healthy")
    assert not facts.operation_running and not facts.operation_failed
    assert facts.unhealthy() == ()
    assert [r.ref for r in facts.managed("Rollout")] == ["Rollout/cpt-ajan/cpt-ajan-backend"]
    assert facts.destination_namespace == "cpt-ajan"


@pytest.mark.parametrize(("fault", "running", "failed", "unhealthy"), [
    ("operation_running", True, False, []),
    ("operation_failed", False, True, []),
    ("degraded", False, False, ["Rollout/cpt-ajan/cpt-ajan-backend"]),
    ("resource_missing", False, False, ["Service/cpt-ajan/cpt-ajan-backend-canary"]),
])
def test_operations_and_resource_health(fault, running, failed, unhealthy):
    facts = application_facts(_app(fault))
    assert (facts.operation_running, facts.operation_failed) == (running, failed)
    assert [r.ref for r in facts.unhealthy()] == unhealthy


def test_a_requested_operation_counts_as_running_and_multi_source_revisions_are_all_kept():
    app = _app()
    app["operation"] = {"sync": {"revision": "HEAD"}}
    app["status"]["sync"]["revisions"] = [COMMIT, "2" * 40]
    facts = application_facts(app)
    assert facts.operation_running
    assert facts.revisions == (COMMIT, "2" * 40)


def test_resources_without_a_health_assessment_are_not_unhealthy():
    app = _app()
    app["status"]["resources"].append({"kind": "ConfigMap", "name": "c", "status": "Synced"})
    assert application_facts(app).unhealthy() == ()


def _output(text: str) -> ToolOutput:
    return ToolOutput("argocd", "report", text, "argocd app get cpt-ajan -o json", None,
                      path="app.json")


def test_argocd_app_get_json_is_the_application_object():
    assert parse_app_json(_output(json.dumps(_app())))["metadata"]["name"] == "cpt-ajan"


@pytest.mark.parametrize("text", ["not json", "[]", json.dumps({"kind": "Rollout"})])
def test_a_report_that_is_not_an_application_cannot_be_read(text):
    with pytest.raises(ProbeUnavailable, match="app.json"):
        parse_app_json(_output(text))
