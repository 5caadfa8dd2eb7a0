"""RBAC: the effective permissions of service accounts, from bindings and roles. Facts only.

:func:`effective_grants` walks RoleBindings and ClusterRoleBindings whose subjects include the
service account (directly, or through the groups every service account is in:
``system:serviceaccounts``, ``system:serviceaccounts:<ns>``, ``system:authenticated``) and the
Roles / ClusterRoles they grant. :func:`findings` names what least privilege forbids; the gate
decides which findings are acceptable (the configured exceptions).

Finding ids (stable, used in ``security.rbac_allowed_exceptions``):
``wildcard-verbs``, ``wildcard-resources``, ``wildcard-apigroups``, ``secrets-read``,
``pods-exec``, ``pods-attach``, ``pods-portforward``, ``create-pods``, ``create-workloads``,
``escalate``, ``bind``, ``impersonate``, ``nodes-proxy``, ``cluster-admin``, ``admin-role``,
``edit-role``, ``group-authenticated``, ``group-unauthenticated``. ``secrets-read-named``
(get on secrets limited by ``resourceNames``) is reported as *recorded*, not as a violation.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .cluster import ClusterSource, Obj, name_of, namespace_of

READ_VERBS = frozenset({"get", "list", "watch", "*"})
WORKLOADS = frozenset({"deployments", "daemonsets", "statefulsets", "replicasets", "jobs",
                       "cronjobs", "replicationcontrollers"})
BROAD_ROLES = {"cluster-admin": "cluster-admin", "admin": "admin-role", "edit": "edit-role"}
RECORDED_ONLY = frozenset({"secrets-read-named"})


@dataclass(frozen=True)
class ServiceAccountRef:
    namespace: str
    name: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Grant:
    """One rule granted to a service account, and the path it came by."""

    sa: ServiceAccountRef
    binding: str            # RoleBinding ns/name or ClusterRoleBinding name
    role: str               # Role ns/name or ClusterRole name
    scope: str              # the namespace the rule applies in, or "cluster"
    subject: str            # how the SA matched: ServiceAccount, or Group system:...
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    missing_role: bool = False

    @property
    def via(self) -> str:
        return f"{self.binding} → {self.role} ({self.scope}; subject {self.subject})"

    def rule_text(self) -> str:
        if self.missing_role:
            return "(role not found)"
        if self.non_resource_urls:
            return f"{','.join(self.verbs)} on {','.join(self.non_resource_urls)}"
        groups = ",".join(g or '""' for g in self.api_groups)
        names = f" names={','.join(self.resource_names)}" if self.resource_names else ""
        return f"{','.join(self.verbs)} on {','.join(self.resources)} [{groups}]{names}"


@dataclass(frozen=True)
class RbacFinding:
    id: str
    sa: ServiceAccountRef
    detail: str
    via: str

    def describe(self) -> str:
        return f"{self.sa}: {self.id}: {self.detail} via {self.via}"


def _subject_matches(subject: Any, sa: ServiceAccountRef, binding_ns: str | None) -> str | None:
    if not isinstance(subject, dict):
        return None
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return "ServiceAccount" if name == sa.name and ns == sa.namespace else None
    if kind == "User" and name == sa.username:
        return f"User {name}"
    if kind == "Group" and name in ("system:serviceaccounts", f"system:serviceaccounts:{sa.namespace}",
                                    "system:authenticated", "system:unauthenticated"):
        return f"Group {name}"
    return None


def _rules(role: Obj, clusterroles: Sequence[Obj]) -> list[dict[str, Any]]:
    rules = [r for r in role.get("rules") or [] if isinstance(r, dict)]
    aggregation = role.get("aggregationRule") or {}
    selectors = aggregation.get("clusterRoleSelectors") if isinstance(aggregation, dict) else None
    if selectors and not rules:
        # The aggregation controller fills rules in on a real cluster; a snapshot of manifests
        # may not have them yet: gather the matching ClusterRoles' rules the same way.
        for other in clusterroles:
            labels = (other.get("metadata") or {}).get("labels") or {}
            for sel in selectors:
                match = (sel or {}).get("matchLabels") or {}
                if match and all(labels.get(k) == v for k, v in match.items()):
                    rules += [r for r in other.get("rules") or [] if isinstance(r, dict)]
    return rules


def _t(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value or [])


def effective_grants(cluster: ClusterSource, accounts: Iterable[ServiceAccountRef]) -> list[Grant]:
    """Every rule granted to each account, with the binding and role it came through."""
    roles = {(namespace_of(r), name_of(r)): r for r in cluster.list("roles")}
    clusterroles_list = cluster.list("clusterroles")
    clusterroles = {name_of(r): r for r in clusterroles_list}
    bindings = [(b, True) for b in cluster.list("rolebindings")]
    bindings += [(b, False) for b in cluster.list("clusterrolebindings")]
    grants: list[Grant] = []
    for sa in accounts:
        for binding, namespaced in bindings:
            bns = namespace_of(binding) if namespaced else None
            # A RoleBinding in another namespace still grants: there (its scope says so).
            subject = next((m for m in (_subject_matches(s, sa, bns)
                                        for s in binding.get("subjects") or []) if m), None)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            ref_kind, ref_name = str(ref.get("kind", "")), str(ref.get("name", ""))
            bname = f"RoleBinding {bns}/{name_of(binding)}" if namespaced else \
                f"ClusterRoleBinding {name_of(binding)}"
            scope = bns if namespaced and bns else "cluster"
            if ref_kind == "Role":
                role = roles.get((bns, ref_name))
                rname = f"Role {bns}/{ref_name}"
            else:
                role = clusterroles.get(ref_name)
                rname = f"ClusterRole {ref_name}"
            base = Grant(sa, bname, rname, scope, subject)
            if role is None:
                grants.append(replace(base, missing_role=True))
                continue
            rules = _rules(role, clusterroles_list)
            if not rules:
                grants.append(base)
            for rule in rules:
                grants.append(replace(
                    base, api_groups=_t(rule.get("apiGroups")), resources=_t(rule.get("resources")),
                    verbs=_t(rule.get("verbs")), resource_names=_t(rule.get("resourceNames")),
                    non_resource_urls=_t(rule.get("nonResourceURLs"))))
    return grants


def _has(values: Sequence[str], *wanted: str) -> bool:
    return "*" in values or any(w in values for w in wanted)


def findings(grants: Iterable[Grant]) -> list[RbacFinding]:
    """What least privilege forbids, one finding per (grant, reason)."""
    found: list[RbacFinding] = []
    seen: set[tuple[str, str, str]] = set()

    def add(fid: str, grant: Grant, detail: str) -> None:
        key = (fid, str(grant.sa), grant.via + detail)
        if key not in seen:
            seen.add(key)
            found.append(RbacFinding(fid, grant.sa, detail, grant.via))

    for g in grants:
        role_name = g.role.split(" ", 1)[1] if g.role.startswith("ClusterRole ") else None
        if role_name in BROAD_ROLES:
            add(BROAD_ROLES[role_name], g, f"bound to ClusterRole {role_name}")
        if g.subject in ("Group system:authenticated", "Group system:unauthenticated"):
            add("group-" + g.subject.rsplit(":", 1)[1], g, f"granted to every {g.subject[6:]} caller")
        if g.missing_role:
            continue
        rule = g.rule_text()
        if "*" in g.verbs:
            add("wildcard-verbs", g, rule)
        if "*" in g.resources or "*" in g.non_resource_urls:
            add("wildcard-resources", g, rule)
        if "*" in g.api_groups:
            add("wildcard-apigroups", g, rule)
        core = not g.api_groups or _has(g.api_groups, "")
        if core and _has(g.resources, "secrets") and READ_VERBS & set(g.verbs):
            if g.resource_names:
                add("secrets-read-named", g, rule)
            else:
                add("secrets-read", g, rule)
        for sub in ("exec", "attach", "portforward"):
            if core and _has(g.resources, f"pods/{sub}") and _has(g.verbs, "create", "get"):
                add(f"pods-{sub}", g, rule)
        if core and _has(g.resources, "pods") and _has(g.verbs, "create"):
            add("create-pods", g, rule)
        if _has(g.verbs, "create") and (WORKLOADS & set(g.resources)):
            add("create-workloads", g, rule)
        for verb in ("escalate", "bind", "impersonate"):
            if verb in g.verbs:
                add(verb, g, rule)
        if core and _has(g.resources, "nodes/proxy"):
            add("nodes-proxy", g, rule)
    return found


def parse_account(text: str, namespace: str) -> ServiceAccountRef:
    """``NAME`` (in ``namespace``) or ``NAMESPACE/NAME``."""
    ns, _, name = text.strip().rpartition("/")
    return ServiceAccountRef(ns or namespace, name)


def parse_exception(text: str, namespace: str) -> tuple[ServiceAccountRef | None, str]:
    """``SA:FINDING`` / ``NS/SA:FINDING`` / ``*:FINDING`` → (account or None for any, finding)."""
    account, sep, finding = text.strip().rpartition(":")
    if not sep or not finding or not account:
        raise ValueError(f"{text!r} is not SERVICEACCOUNT:FINDING (e.g. backend:secrets-read)")
    return (None if account == "*" else parse_account(account, namespace)), finding


#: What to ask the API about each account on a live cluster (SubjectAccessReview).
ACCESS_QUESTIONS: tuple[tuple[str, str, str, str], ...] = (
    # (finding, verb, group, resource[/subresource])
    ("wildcard-verbs", "*", "*", "*"),
    ("secrets-read", "list", "", "secrets"),
    ("pods-exec", "create", "", "pods/exec"),
    ("create-pods", "create", "", "pods"),
    ("impersonate", "impersonate", "", "users"),
    ("escalate", "escalate", "rbac.authorization.k8s.io", "clusterroles"),
    ("bind", "bind", "rbac.authorization.k8s.io", "clusterroles"),
    ("nodes-proxy", "get", "", "nodes/proxy"),
)


def access_review_spec(sa: ServiceAccountRef, verb: str, group: str, resource: str) -> dict[str, Any]:
    """The ``spec`` of a ``SubjectAccessReview``: may ``sa`` ``verb`` ``resource`` in its namespace?"""
    res, _, sub = resource.partition("/")
    attrs: dict[str, Any] = {"namespace": sa.namespace, "verb": verb, "group": group,
                             "resource": res}
    if sub:
        attrs["subresource"] = sub
    return {"user": sa.username,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{sa.namespace}",
                       "system:authenticated"],
            "resourceAttributes": attrs}


def access_review_allowed(answer: Any) -> bool | None:
    """``status.allowed`` of a review answer (None when the answer has none)."""
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict) or "allowed" not in status:
        return None
    return status.get("allowed") is True
