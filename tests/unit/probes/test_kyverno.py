"""Kyverno policy readiness and report results, on the example snapshot's real shapes."""
from __future__ import annotations

import pytest

from pytest_release.bundled import examples_path
from pytest_release.probes.cluster.snapshot import SnapshotCluster
from pytest_release.probes.kyverno import find_policies, policy_ready, report_results


@pytest.mark.parametrize("status, ready", [
    ({"conditions": [{"type": "Ready", "status": "True"}]}, True),
    ({"conditions": [{"type": "Ready", "status": "False", "message": "webhook"}]}, False),
    ({"conditionStatus": {"ready": True}}, True),
    ({"conditionStatus": {"ready": False, "conditions": [
        {"type": "WebhookConfigured", "status": "False", "message": "no webhook"}]}}, False),
    ({"ready": True}, True),
    ({}, None),
])
def test_policy_ready(status, ready):
    assert policy_ready({"status": status})[0] is ready


def test_example_snapshot_policies_and_reports():
    cluster = SnapshotCluster(examples_path("cluster"))
    states = find_policies(cluster, ["require-signed-images", "ValidatingPolicy/require-run-as-nonroot",
                                     "missing-one"], "cpt-ajan")
    assert [(s.kind, s.ready) for s in states] == [
        ("ClusterPolicy", True), ("ValidatingPolicy", True), (None, None)]
    summary = report_results(cluster, "cpt-ajan")
    assert summary.counts == {"pass": 4, "fail": 0, "warn": 0, "error": 0, "skip": 0}
    assert len(summary.reports) == 2
    assert report_results(cluster, "elsewhere").counts["pass"] == 0
