"""Effective RBAC grants and least-privilege findings (tables over real object shapes)."""
from __future__ import annotations

import pytest

from pytest_release.bundled import examples_path
from pytest_release.probes.cluster.snapshot import SnapshotCluster
from pytest_release.probes.rbac import (
    ServiceAccountRef,
    effective_grants,
    findings,
    parse_exception,
)

SA = ServiceAccountRef("ns", "app")


class Objects:
    """A ClusterSource over a list of objects (the same interface as the snapshot)."""

    source = "snapshot"
    description = "test objects"

    def __init__(self, objects):
        self.objects = objects

    def list(self, plural, namespace=None):
        kind = {"roles": "Role", "clusterroles": "ClusterRole", "rolebindings": "RoleBinding",
                "clusterrolebindings": "ClusterRoleBinding"}[plural]
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, plural, name, namespace=None):
        return None


def role(rules, kind="Role", name="r"):
    meta = {"name": name, **({"namespace": "ns"} if kind == "Role" else {})}
    return {"kind": kind, "metadata": meta, "rules": rules}


def binding(role_name, kind="RoleBinding", role_kind="Role", subject=None):
    meta = {"name": "b", **({"namespace": "ns"} if kind == "RoleBinding" else {})}
    return {"kind": kind, "metadata": meta,
            "subjects": [subject or {"kind": "ServiceAccount", "name": "app", "namespace": "ns"}],
            "roleRef": {"kind": role_kind, "name": role_name}}


def ids(objects):
    return sorted({f.id for f in findings(effective_grants(Objects(objects), [SA]))})


@pytest.mark.parametrize("rule, expected", [
    ({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}, []),
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}, ["secrets-read"]),
    ({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["one"]},
     ["secrets-read-named"]),
    ({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, ["pods-exec"]),
    ({"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}, ["create-pods"]),
    ({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create"]},
     ["create-workloads"]),
    ({"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}, ["wildcard-apigroups"]),
    ({"apiGroups": [""], "resources": ["*"], "verbs": ["get"]},
     ["pods-attach", "pods-exec", "pods-portforward", "nodes-proxy", "secrets-read",
      "wildcard-resources"]),
    ({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
      "verbs": ["escalate", "bind"]}, ["bind", "escalate"]),
    ({"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}, ["impersonate"]),
    ({"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}, ["nodes-proxy"]),
])
def test_rule_findings(rule, expected):
    assert ids([role([rule]), binding("r")]) == sorted(expected)


def test_broad_roles_and_groups():
    admin = role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], "ClusterRole",
                 "cluster-admin")
    got = ids([admin, binding("cluster-admin", "ClusterRoleBinding", "ClusterRole")])
    assert {"cluster-admin", "wildcard-verbs", "wildcard-resources"} <= set(got)
    everyone = binding("view", "ClusterRoleBinding", "ClusterRole",
                       {"kind": "Group", "name": "system:authenticated"})
    view = role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], "ClusterRole", "view")
    assert ids([view, everyone]) == ["group-authenticated"]


def test_other_subjects_grant_nothing():
    other = binding("r", subject={"kind": "ServiceAccount", "name": "other", "namespace": "ns"})
    elsewhere = binding("r", subject={"kind": "ServiceAccount", "name": "app", "namespace": "x"})
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    assert effective_grants(Objects([role(rules), other, elsewhere]), [SA]) == []


def test_missing_role_is_a_grant_without_rules():
    grants = effective_grants(Objects([binding("gone")]), [SA])
    assert [g.missing_role for g in grants] == [True] and findings(grants) == []


def test_example_snapshot_is_least_privilege():
    cluster = SnapshotCluster(examples_path("cluster"))
    grants = effective_grants(cluster, [ServiceAccountRef("cpt-ajan", "backend")])
    assert [f.id for f in findings(grants)] == ["secrets-read-named"]


@pytest.mark.parametrize("text, expected", [
    ("backend:secrets-read", (ServiceAccountRef("ns", "backend"), "secrets-read")),
    ("other/backend:pods-exec", (ServiceAccountRef("other", "backend"), "pods-exec")),
    ("*:create-pods", (None, "create-pods")),
])
def test_parse_exception(text, expected):
    assert parse_exception(text, "ns") == expected


def test_bad_exception():
    with pytest.raises(ValueError, match="is not SERVICEACCOUNT:FINDING"):
        parse_exception("secrets-read", "ns")
