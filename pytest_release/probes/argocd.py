"""Argo CD Application facts, read through the cluster source or from ``argocd app get -o json``.

Both give the same object (``argocd app get -o json`` prints the Application resource), so one
reader serves both. Facts only: sync status and revision, health, the last operation, and the
resources the Application reports. No Argo CD CLI or API server can run here; the live path is
the Kubernetes API (``applications.argoproj.io``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ProbeUnavailable

if TYPE_CHECKING:
    from .cluster import ClusterSource
    from .tools import ToolOutput

Obj = dict[str, Any]

#: operationState.phase values of an operation that has not finished.
RUNNING_PHASES = frozenset({"Running", "Terminating"})
#: operationState.phase values of an operation that did not succeed.
FAILED_PHASES = frozenset({"Failed", "Error"})


@dataclass(frozen=True)
class ResourceStatus:
    """One entry of ``status.resources``: what Argo CD manages and how it is."""

    group: str
    kind: str
    namespace: str | None
    name: str
    sync_status: str | None     # Synced | OutOfSync | Unknown
    health: str | None          # Healthy | Progressing | Degraded | Suspended | Missing | Unknown
    health_message: str | None

    @property
    def ref(self) -> str:
        """``Rollout/ns/name`` (cluster-scoped: ``ClusterRole/name``)."""
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


@dataclass(frozen=True)
class ApplicationFacts:
    name: str
    namespace: str | None
    repo_url: str | None
    target_revision: str | None
    path: str | None
    destination_namespace: str | None
    sync_status: str | None
    sync_revision: str | None
    sync_revisions: tuple[str, ...]     # multi-source Applications
    health: str | None
    health_message: str | None
    operation_phase: str | None         # operationState.phase of the last/current operation
    operation_message: str | None
    operation_revision: str | None      # operationState.syncResult.revision
    operation_requested: bool           # a top-level ``operation`` is pending
    resources: tuple[ResourceStatus, ...]

    @property
    def operation_running(self) -> bool:
        return self.operation_requested or (self.operation_phase in RUNNING_PHASES)

    @property
    def operation_failed(self) -> bool:
        return self.operation_phase in FAILED_PHASES

    @property
    def revisions(self) -> tuple[str, ...]:
        """Every revision the Application is synced to (one, or one per source)."""
        if self.sync_revisions:
            return self.sync_revisions
        return (self.sync_revision,) if self.sync_revision else ()

    def unhealthy(self) -> tuple[ResourceStatus, ...]:
        """Resources with a health assessment other than Healthy (resources Argo CD does not
        assess, like ConfigMaps, have none and are not counted)."""
        return tuple(r for r in self.resources if r.health is not None and r.health != "Healthy")

    def managed(self, kind: str) -> tuple[ResourceStatus, ...]:
        return tuple(r for r in self.resources if r.kind == kind)


def application_facts(obj: Obj) -> ApplicationFacts:
    """Facts of an Application object (``argoproj.io/v1alpha1``)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    source = spec.get("source") or (spec.get("sources") or [{}])[0] or {}
    sync = status.get("sync") or {}
    health = status.get("health") or {}
    operation = status.get("operationState") or {}
    result = operation.get("syncResult") or {}
    resources = []
    for r in status.get("resources") or []:
        if not isinstance(r, dict):
            continue
        h = r.get("health") or {}
        resources.append(ResourceStatus(
            group=str(r.get("group", "")), kind=str(r.get("kind", "")),
            namespace=r.get("namespace") or None, name=str(r.get("name", "")),
            sync_status=r.get("status"), health=h.get("status") if isinstance(h, dict) else None,
            health_message=h.get("message") if isinstance(h, dict) else None,
        ))
    return ApplicationFacts(
        name=str(meta.get("name", "")), namespace=meta.get("namespace"),
        repo_url=source.get("repoURL"), target_revision=source.get("targetRevision"),
        path=source.get("path"),
        destination_namespace=(spec.get("destination") or {}).get("namespace"),
        sync_status=sync.get("status"), sync_revision=sync.get("revision"),
        sync_revisions=tuple(str(r) for r in sync.get("revisions") or []),
        health=health.get("status"), health_message=health.get("message"),
        operation_phase=operation.get("phase"), operation_message=operation.get("message"),
        operation_revision=result.get("revision"),
        operation_requested=bool(obj.get("operation")),
        resources=tuple(resources),
    )


def read_application(cluster: ClusterSource, name: str, namespace: str) -> Obj:
    """The Application object from the cluster; :class:`ProbeUnavailable` when it is absent
    (nothing to measure: the release is not known to Argo CD there)."""
    obj = cluster.get("applications", name, namespace)
    if obj is None:
        raise ProbeUnavailable(
            f"Application {namespace}/{name} not found in {cluster.description}")
    return obj


def parse_app_json(output: ToolOutput) -> Obj:
    """The Application object from ``argocd app get <app> -o json`` output."""
    try:
        obj = json.loads(output.text)
    except ValueError as exc:
        raise ProbeUnavailable(f"{output.path or output.command}: not JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("kind", "Application") != "Application":
        raise ProbeUnavailable(
            f"{output.path or output.command}: not an Application (argocd app get -o json output)")
    return obj
