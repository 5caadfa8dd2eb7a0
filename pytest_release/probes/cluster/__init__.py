"""The cluster source: Kubernetes objects, read live or from a snapshot directory.

Both implementations return the same plain objects: the JSON of the Kubernetes API as dicts
(``{"apiVersion", "kind", "metadata", "spec", "status"}``), so a gate test cannot tell and need
not care where an object came from; the sign-off records it (``source``: ``live`` | ``snapshot``).

* :class:`~.snapshot.SnapshotCluster` reads a directory of ``kubectl get -o yaml`` / ``-o json``
  output (``kind: List`` or ``*List`` documents) or plain manifests, multi-document YAML allowed.
* ``live.LiveCluster`` reads through the ``kubernetes`` client (kubeconfig, context,
  in-cluster, bearer token), with a total deadline on every call.

Resources are named by their plural (``rollouts``, ``policyreports``...) as in :data:`RESOURCES`.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Obj = dict[str, Any]
SourceKind = Literal["live", "snapshot"]


@dataclass(frozen=True)
class Resource:
    """A Kubernetes resource type: where it lives in the API and whether it is namespaced."""

    plural: str
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group`` as kubectl wants it (``rollouts.argoproj.io``, core: ``pods``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _r(plural: str, kind: str, group: str, version: str, namespaced: bool = True) -> Resource:
    return Resource(plural, kind, group, version, namespaced)


#: Every resource type a check reads. One table: the live source builds its paths from it, the
#: snapshot source files objects under it by ``kind``, the stand-in serves discovery from it.
RESOURCES: dict[str, Resource] = {r.plural: r for r in (
    _r("namespaces", "Namespace", "", "v1", False),
    _r("pods", "Pod", "", "v1"),
    _r("services", "Service", "", "v1"),
    _r("serviceaccounts", "ServiceAccount", "", "v1"),
    _r("configmaps", "ConfigMap", "", "v1"),
    _r("deployments", "Deployment", "apps", "v1"),
    _r("replicasets", "ReplicaSet", "apps", "v1"),
    _r("roles", "Role", "rbac.authorization.k8s.io", "v1"),
    _r("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1"),
    _r("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False),
    _r("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False),
    _r("applications", "Application", "argoproj.io", "v1alpha1"),
    _r("rollouts", "Rollout", "argoproj.io", "v1alpha1"),
    _r("analysistemplates", "AnalysisTemplate", "argoproj.io", "v1alpha1"),
    _r("clusteranalysistemplates", "ClusterAnalysisTemplate", "argoproj.io", "v1alpha1", False),
    _r("analysisruns", "AnalysisRun", "argoproj.io", "v1alpha1"),
    _r("clusterpolicies", "ClusterPolicy", "kyverno.io", "v1", False),
    _r("policies", "Policy", "kyverno.io", "v1"),
    _r("validatingpolicies", "ValidatingPolicy", "policies.kyverno.io", "v1", False),
    _r("policyreports", "PolicyReport", "wgpolicyk8s.io", "v1alpha2"),
    _r("clusterpolicyreports", "ClusterPolicyReport", "wgpolicyk8s.io", "v1alpha2", False),
)}
KINDS: dict[str, Resource] = {r.kind: r for r in RESOURCES.values()}


def resource(name: str) -> Resource:
    """The :class:`Resource` for a plural (``rollouts``) or a kind (``Rollout``)."""
    found = RESOURCES.get(name) or KINDS.get(name)
    if found is None:
        raise KeyError(f"unknown resource {name!r} (known: {', '.join(sorted(RESOURCES))})")
    return found


class ClusterSource(Protocol):
    """What every cluster source offers. Raises ``ProbeUnavailable`` when it cannot look."""

    source: SourceKind
    #: Human-readable origin: ``snapshot /path/to/dir`` or ``live https://host:6443 (ctx)``.
    description: str
    #: kubectl flags reaching the same cluster (``--kubeconfig K --context C``; never a token;
    #: ``""`` for a snapshot): ``kubectl_get(..., extra=source.kubectl_flags)``.
    kubectl_flags: str

    def list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        """Objects of a resource; ``namespace=None`` means all namespaces (or cluster-scoped)."""
        ...

    def get(self, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        """One object, or ``None`` when it does not exist."""
        ...


def kubectl_get(plural: str, name: str | None = None, namespace: str | None = None,
                *, output: str = "yaml", extra: str = "") -> str:
    """The read-only ``kubectl get`` command that shows the same object(s)."""
    res = resource(plural)
    argv = ["kubectl", "get", res.qualified]
    if name:
        argv.append(name)
    if res.namespaced:
        argv += ["-n", namespace] if namespace else ["-A"]
    argv += ["-o", output]
    command = shlex.join(argv)
    return f"{command} {extra}".rstrip()


def name_of(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def namespace_of(obj: Obj) -> str | None:
    ns = (obj.get("metadata") or {}).get("namespace")
    return str(ns) if ns else None


def open_cluster(snapshot_dir: str | Path | None = None, kubeconfig: str | Path | None = None,
                 context: str | None = None, server: str | None = None,
                 token: str | None = None, in_cluster: bool = False,
                 ca_file: str | Path | None = None, insecure: bool = False,
                 timeout_s: float = 10.0) -> ClusterSource:
    """The cluster source the settings describe: a snapshot directory, or a live API.

    ``snapshot_dir`` → :class:`~.snapshot.SnapshotCluster`; ``in_cluster``, ``kubeconfig``
    (+ ``context``) or ``server`` (+ ``token``, ``ca_file``, ``insecure``) →
    :class:`~.live.LiveCluster` (``kubernetes`` imported only then). Giving a snapshot *and* a
    live API is refused rather than silently preferring one; giving neither raises
    ``ProbeUnavailable`` saying what to set. Nothing is contacted here: the first ``list``/``get``
    is the first request.
    """
    from .. import ProbeUnavailable

    live = bool(in_cluster or kubeconfig or server)
    if snapshot_dir and live:
        raise ProbeUnavailable(
            "both a cluster snapshot (cluster.snapshot_dir) and a live API (cluster.kubeconfig/"
            "cluster.server/cluster.in_cluster) are configured: set only one")
    if snapshot_dir:
        from .snapshot import SnapshotCluster

        return SnapshotCluster(snapshot_dir)
    if not live:
        raise ProbeUnavailable(
            "no cluster source configured: set cluster.snapshot_dir or "
            "cluster.kubeconfig/cluster.server")
    from .live import LiveCluster

    return LiveCluster(kubeconfig=kubeconfig, context=context, server=server, token=token,
                       in_cluster=in_cluster, ca_file=ca_file, insecure=insecure,
                       timeout_s=timeout_s)
