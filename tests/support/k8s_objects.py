"""One set of Kubernetes objects, and the two ways a pipeline writes it down for a snapshot.

The objects are what ``kubectl get -o yaml`` shows of a small release namespace: server-set
metadata included (uid, resourceVersion, creationTimestamp), so a live read through the API
stand-in and a read of the snapshot directory must give exactly the same dicts.
"""
from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import yaml

from pytest_release.probes.cluster import KINDS

Obj = dict[str, Any]
NS = "feedback"
OTHER_NS = "payments"


def _meta(name: str, namespace: str | None = None, **extra: Any) -> Obj:
    uid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{namespace}.{name}"))
    meta: Obj = {"name": name, "uid": uid, "resourceVersion": "4711",
                 "creationTimestamp": "2026-11-30T08:00:00Z", **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _o(api_version: str, kind: str, meta: Obj, **body: Any) -> Obj:
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


RBAC = "rbac.authorization.k8s.io/v1"
ARGO = "argoproj.io/v1alpha1"
REPORTS = "wgpolicyk8s.io/v1alpha2"


def release_objects() -> list[Obj]:
    """Core, apps, rbac, argoproj.io, kyverno.io, wgpolicyk8s.io; namespaced and cluster-scoped."""
    labels = {"app.kubernetes.io/name": "feedback-service"}
    container = {"name": "app", "image": "registry.local/feedback:v5.7.1",
                 "securityContext": {"runAsNonRoot": True, "privileged": False}}
    canary = {"steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}},
                        {"setWeight": 30}, {"pause": {"duration": "10m"}}]}
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "feedback-reader"}
    cluster_role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "release-checker"}
    objects: list[Obj] = [
        _o("v1", "Namespace", _meta(NS), spec={"finalizers": ["kubernetes"]},
           status={"phase": "Active"}),
        _o("v1", "Namespace", _meta(OTHER_NS), status={"phase": "Active"}),
        _o("v1", "Pod", _meta("feedback-7d9f-abcde", NS, labels=labels),
           spec={"serviceAccountName": "feedback", "containers": [container]},
           status={"phase": "Running"}),
        _o("v1", "Pod", _meta("ledger-0", OTHER_NS),
           spec={"containers": [{"name": "ledger", "image": "registry.local/ledger:1.0"}]}),
        _o("v1", "ServiceAccount", _meta("feedback", NS)),
        _o("apps/v1", "Deployment", _meta("feedback", NS, labels=labels),
           spec={"replicas": 3, "selector": {"matchLabels": labels}},
           status={"readyReplicas": 3}),
        _o(RBAC, "Role", _meta("feedback-reader", NS),
           rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]),
        _o(RBAC, "RoleBinding", _meta("feedback-reader", NS), roleRef=role_ref,
           subjects=[{"kind": "ServiceAccount", "name": "feedback", "namespace": NS}]),
        _o(RBAC, "ClusterRole", _meta("release-checker"),
           rules=[{"apiGroups": ["argoproj.io"], "resources": ["rollouts", "applications"],
                   "verbs": ["get", "list"]},
                  {"nonResourceURLs": ["/healthz", "/version"], "verbs": ["get"]}]),
        _o(RBAC, "ClusterRoleBinding", _meta("release-checker"), roleRef=cluster_role_ref,
           subjects=[{"kind": "ServiceAccount", "name": "pytest-release",
                      "namespace": "default"}]),
        _o(ARGO, "Application", _meta("feedback", "argocd"),
           spec={"source": {"repoURL": "https://git.local/feedback.git",
                            "targetRevision": "v5.7.1"}},
           status={"sync": {"status": "Synced", "revision": "0123abc"},
                   "health": {"status": "Healthy"}}),
        _o(ARGO, "Rollout", _meta("feedback", NS, labels=labels),
           spec={"strategy": {"canary": canary}}, status={"phase": "Healthy"}),
        _o(ARGO, "ClusterAnalysisTemplate", _meta("error-rate"),
           spec={"metrics": [{"name": "error-rate", "successCondition": "result[0] < 0.005"}]}),
        _o("kyverno.io/v1", "ClusterPolicy", _meta("require-signed-images"),
           spec={"validationFailureAction": "Enforce", "rules": [{"name": "verify"}]},
           status={"conditions": [{"type": "Ready", "status": "True"}]}),
        _o("kyverno.io/v1", "Policy", _meta("no-latest-tag", NS),
           spec={"rules": [{"name": "no-latest"}]}),
        _o(REPORTS, "PolicyReport", _meta("polr-feedback", NS),
           summary={"pass": 4, "fail": 0, "warn": 0, "error": 0, "skip": 0},
           results=[{"policy": "no-latest-tag", "rule": "no-latest", "result": "pass"}]),
        _o(REPORTS, "ClusterPolicyReport", _meta("cpolr"),
           summary={"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 0}),
    ]
    return copy.deepcopy(objects)


def _strip_type(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def write_kubectl_lists(directory: Path, objects: list[Obj]) -> Path:
    """One ``kubectl get <plural> -A -o yaml`` file per resource (``kind: List``, typed items),
    plus one ``<Kind>List`` written the way ``-o json`` of a typed list reads (items untyped)."""
    directory.mkdir(parents=True, exist_ok=True)
    by_kind: dict[str, list[Obj]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    for kind, items in by_kind.items():
        res = KINDS[kind]
        if kind == "Deployment":  # a typed list with untyped items, as the API itself answers
            doc: Obj = {"apiVersion": res.api_version, "kind": f"{kind}List",
                        "metadata": {"resourceVersion": "4711"},
                        "items": [_strip_type(i) for i in items]}
        else:
            doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                   "items": items}
        (directory / f"{res.qualified}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False),
                                                         encoding="utf-8")
    return directory


def write_manifests(directory: Path, objects: list[Obj]) -> Path:
    """Plain manifests: one multi-document YAML per namespace (cluster-scoped objects apart)."""
    directory.mkdir(parents=True, exist_ok=True)
    by_file: dict[str, list[Obj]] = {}
    for obj in objects:
        by_file.setdefault(obj["metadata"].get("namespace", "_cluster"), []).append(obj)
    for name, docs in by_file.items():
        sub = directory / ("cluster" if name == "_cluster" else "namespaces")
        sub.mkdir(exist_ok=True)
        (sub / f"{name}.yml").write_text(yaml.safe_dump_all(docs, sort_keys=False),
                                         encoding="utf-8")
    return directory
