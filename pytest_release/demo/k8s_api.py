"""A loopback Kubernetes API **stand-in**: a real HTTP server serving objects in the API's shapes.

No kube-apiserver can run on these machines (see the README's "verified against" table), so the
live cluster source, the demo and ``kubectl`` are pointed at this server instead. It is a real
server on ``127.0.0.1`` (a free port, threaded ``http.server``), not a mock of the client: the
official ``kubernetes`` client and ``kubectl`` talk to it over HTTP exactly as to a cluster.

What it serves, for every resource in :data:`pytest_release.probes.cluster.RESOURCES`:

* discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/{group}``,
  ``/apis/{group}/{version}`` (``APIResourceList`` with name, singularName, kind, namespaced,
  verbs), which is all ``kubectl get`` needs to resolve ``rollouts.argoproj.io``;
* reads: list (``/api/v1/pods``, ``/api/v1/namespaces/{ns}/pods``,
  ``/apis/{g}/{v}/{plural}``, ``/apis/{g}/{v}/namespaces/{ns}/{plural}``) as
  ``{"apiVersion", "kind": "<Kind>List", "metadata": {"resourceVersion"}, "items"}``, get by
  name, ``labelSelector`` (``=``, ``==``, ``!=``, ``key``, ``!key``) and ``fieldSelector``
  (``metadata.name``, ``metadata.namespace``); a ``Table`` when kubectl asks for one;
* errors as ``Status`` objects with the real reasons and codes: ``NotFound`` 404,
  ``Unauthorized`` 401 (when a token is set and the request's bearer token differs),
  ``Forbidden`` 403 (resources switched off with :meth:`KubeApiStandin.forbid`, or every read
  the served RBAC does not allow with ``enforce_rbac=True``),
  ``MethodNotAllowed`` 405 (it is read-only), ``BadRequest`` 400 (an unsupported selector);
* access reviews (``POST /apis/authorization.k8s.io/v1/``): ``selfsubjectaccessreviews``,
  ``selfsubjectrulesreviews`` and ``subjectaccessreviews``, answered from the RBAC objects it
  serves by :func:`rbac_allows` / :func:`rbac_rules` (documented there; a simplification of the
  RBAC authorizer: no aggregated ClusterRoles, no other authorizers);
* slowness on demand (:meth:`KubeApiStandin.slow`): ``delay_s`` before the answer, ``drip_s``
  between small body chunks, to test deadlines.

Usage::

    with KubeApiStandin(objects, token="t0ken") as api:
        api.url                    # http://127.0.0.1:PORT
        api.set_objects([...])     # switch faults between checks
"""
from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..probes.cluster import KINDS, RESOURCES, Obj, Resource, name_of, namespace_of

#: The Kubernetes version the stand-in claims (``/version``), marked as a stand-in.
SERVER_VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-pytest-release-standin",
                  "gitCommit": "0000000000000000000000000000000000000000",
                  "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                  "goVersion": "go1.22.0", "compiler": "gc", "platform": "linux/amd64"}
#: The user a valid bearer token authenticates as (what the self-subject reviews evaluate).
DEFAULT_USER = "system:serviceaccount:default:pytest-release"

_AUTHZ_GROUP, _AUTHZ_VERSION = "authorization.k8s.io", "v1"
_REVIEWS = {
    "selfsubjectaccessreviews": "SelfSubjectAccessReview",
    "selfsubjectrulesreviews": "SelfSubjectRulesReview",
    "subjectaccessreviews": "SubjectAccessReview",
}
_READ_VERBS = ["get", "list"]
#: kubectl's short names for the served resources (``kubectl get ns``, ``kubectl get ro``).
_SHORT_NAMES = {"namespaces": ["ns"], "pods": ["po"], "services": ["svc"],
                "serviceaccounts": ["sa"], "configmaps": ["cm"], "deployments": ["deploy"],
                "replicasets": ["rs"], "applications": ["app", "apps"], "rollouts": ["ro"],
                "clusterpolicies": ["cpol"], "policies": ["pol"], "policyreports": ["polr"],
                "clusterpolicyreports": ["cpolr"], "analysistemplates": ["at"],
                "clusteranalysistemplates": ["cat"], "analysisruns": ["ar"]}
_DRIP_CHUNK = 64
#: Groups compiled into kube-apiserver (their list items carry no kind/apiVersion).
_BUILT_IN_GROUPS = {"", "apps", "rbac.authorization.k8s.io"}


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _status(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    status: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": message, "reason": reason, "code": code}
    if details:
        status["details"] = details
    return status


class _HttpError(Exception):
    def __init__(self, status: Obj) -> None:
        super().__init__(status["message"])
        self.status = status


def _not_found_path() -> _HttpError:
    return _HttpError(_status(404, "NotFound", "the server could not find the requested resource"))


class KubeApiStandin:
    """A Kubernetes API stand-in on ``127.0.0.1:<free port>`` serving ``objects`` read-only.

    ``objects`` are plain API dicts (``apiVersion``, ``kind``, ``metadata``...); ``directory``
    adds every object of a snapshot directory (``kubectl get -o yaml`` lists or manifests, read
    by :class:`~pytest_release.probes.cluster.snapshot.SnapshotCluster`). With ``token`` set,
    every request needs ``Authorization: Bearer <token>`` (else 401); the token authenticates as
    ``user`` in ``groups``. Objects whose kind is not in ``RESOURCES`` are not served.
    """

    def __init__(self, objects: Iterable[Obj] | None = None, directory: Path | None = None,
                 token: str | None = None, *, user: str = DEFAULT_USER,
                 groups: Iterable[str] = ("system:serviceaccounts", "system:authenticated"),
                 delay_s: float = 0.0, drip_s: float = 0.0, tls: bool = False,
                 served: Iterable[str] | None = None, enforce_rbac: bool = False) -> None:
        self.token = token
        #: Authorize every read with :func:`rbac_allows` against the served RBAC objects (as
        #: ``user`` in ``groups``); off by default: the token may read everything.
        self.enforce_rbac = enforce_rbac
        #: The resources (plurals of ``RESOURCES``) this API serves; default all of them. Leave
        #: some out to stand in for a cluster without a CRD (Argo Rollouts not installed).
        self.served: frozenset[str] = frozenset(RESOURCES if served is None else served)
        unknown = self.served - set(RESOURCES)
        if unknown:
            raise KeyError(f"unknown resources {sorted(unknown)} (known: {', '.join(RESOURCES)})")
        self.tls = tls
        #: With ``tls=True``: the PEM file of the self-signed certificate the server presents
        #: (for 127.0.0.1 and localhost), to pass as a CA file.
        self.ca_file: Path | None = None
        self._tls_dir: Any = None
        self._key_file: Path | None = None
        self.user = user
        self.groups = tuple(groups)
        self.delay_s = delay_s
        self.drip_s = drip_s
        #: ``(method, path)`` of every request answered, in order (for tests that need to know
        #: a command really reached this server).
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._objects: list[Obj] = []
        self._forbidden: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._resource_version = 1000
        self.set_objects(list(objects or []) + (_read_directory(directory) if directory else []))

    # -- what it serves ---------------------------------------------------------------------
    def set_objects(self, objects: Iterable[Obj]) -> None:
        """Serve exactly ``objects`` from now on (deep-copied; the caller may keep mutating)."""
        copied = [json.loads(json.dumps(o)) for o in objects]
        with self._lock:
            self._objects = copied
            self._resource_version += 1

    def add(self, *objects: Obj) -> None:
        """Serve ``objects`` too, replacing any served object of the same kind, namespace, name."""
        with self._lock:
            for obj in objects:
                copied = json.loads(json.dumps(obj))
                key = _identity(copied)
                self._objects = [o for o in self._objects if _identity(o) != key]
                self._objects.append(copied)
            self._resource_version += 1

    def remove(self, kind: str, name: str, namespace: str | None = None) -> None:
        """Stop serving one object."""
        with self._lock:
            self._objects = [o for o in self._objects
                             if _identity(o)[:1] + _identity(o)[2:] != (kind, namespace, name)]
            self._resource_version += 1

    @property
    def objects(self) -> list[Obj]:
        """A copy of the objects served now."""
        with self._lock:
            return json.loads(json.dumps(self._objects))  # type: ignore[no-any-return]

    def forbid(self, *plurals: str) -> None:
        """Answer 403 Forbidden for these resources (as RBAC would for a token lacking rights);
        call with no arguments to allow everything again."""
        for plural in plurals:
            if plural not in RESOURCES:
                raise KeyError(f"unknown resource {plural!r}")
        self._forbidden = set(plurals)

    def slow(self, delay_s: float = 0.0, drip_s: float = 0.0) -> None:
        """Wait ``delay_s`` before each answer and ``drip_s`` between its 64-byte body chunks
        (``slow()`` makes it fast again)."""
        self.delay_s, self.drip_s = delay_s, drip_s

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("KubeApiStandin is not started: call start() or use it in a with")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> KubeApiStandin:
        """Listen (again, on the same port after a :meth:`stop`) and serve in a thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _QuietServer(("127.0.0.1", self._port), _handler_class(self))
        server.daemon_threads = True
        server.block_on_close = False
        if self.tls:
            server.socket = self._tls_context().wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"k8s-api-standin:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (clients then see the API as down)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        """:meth:`stop`, and remove the TLS files."""
        self.stop()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir, self.ca_file = None, None

    def _tls_context(self) -> ssl.SSLContext:
        if self.ca_file is None:
            import tempfile

            self._tls_dir = tempfile.TemporaryDirectory(prefix="k8s-api-standin-")
            self.ca_file, self._key_file = _self_signed(Path(self._tls_dir.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self._key_file)
        return context

    def __enter__(self) -> KubeApiStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kubeconfig(self, path: Path, context: str = "standin", namespace: str = "default") -> Path:
        """Write a kubeconfig for this server (and its token) to ``path`` and return it."""
        import yaml

        user: Obj = {"token": self.token} if self.token else {}
        cluster: Obj = {"server": self.url}
        if self.ca_file is not None:
            cluster["certificate-authority"] = str(self.ca_file)
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": user}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context,
                                                       "namespace": namespace}}],
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    # -- answering --------------------------------------------------------------------------
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _authenticate(self, header: str | None) -> None:
        if self.token is None:
            return
        scheme, _, credential = (header or "").partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            raise _HttpError(_status(401, "Unauthorized", "Unauthorized"))

    def answer(self, method: str, target: str, body: bytes, accept: str) -> tuple[int, Obj]:
        """The status code and JSON body for one request (also usable without HTTP)."""
        parts = urlsplit(target)
        path = "/" + "/".join(unquote(p) for p in parts.path.split("/") if p)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append((method, target))
        try:
            if method == "POST":
                return 201, self._review(path, body)
            if method != "GET":
                raise _HttpError(_status(405, "MethodNotAllowed",
                                         f"the stand-in is read-only: {method} is not supported"))
            found = self._discovery(path)
            if found is not None:
                return 200, found
            return 200, self._read(path, query, accept)
        except _HttpError as exc:
            return int(exc.status["code"]), exc.status

    def _discovery(self, path: str) -> Obj | None:
        if path == "/version":
            return dict(SERVER_VERSION)
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self._port}"}]}
        if path == "/api/v1":
            return _resource_list("", "v1", self.served)
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [_group(g, vs) for g, vs in _groups(self.served).items()]}
        segments = path.strip("/").split("/")
        if segments[0] == "apis" and len(segments) in (2, 3):
            groups = _groups(self.served)
            group = segments[1]
            if group not in groups:
                raise _not_found_path()
            if len(segments) == 2:
                return _group(group, groups[group]) | {"kind": "APIGroup", "apiVersion": "v1"}
            if segments[2] not in groups[group]:
                raise _not_found_path()
            return _resource_list(group, segments[2], self.served)
        return None

    def _locate(self, path: str) -> tuple[Resource, str | None, str | None]:
        segments = path.strip("/").split("/")
        if segments[0] == "api" and len(segments) >= 3 and segments[1] == "v1":
            group, version, rest = "", "v1", segments[2:]
        elif segments[0] == "apis" and len(segments) >= 4:
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            raise _not_found_path()
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 2:
            raise _not_found_path()  # subresources (status, log, scale...) are not served
        plural, name = rest[0], (rest[1] if len(rest) == 2 else None)
        res = RESOURCES.get(plural) if plural in self.served else None
        if res is None or res.group != group or res.version != version:
            raise _not_found_path()
        if namespace is not None and not res.namespaced:
            raise _not_found_path()
        if namespace is None and name is not None and res.namespaced:
            raise _not_found_path()
        return res, namespace, name

    def _read(self, path: str, query: Mapping[str, str], accept: str) -> Obj:
        res, namespace, name = self._locate(path)
        if res.plural in self._forbidden:
            raise _HttpError(_forbidden(res, name, namespace, self.user))
        if self.enforce_rbac:
            with self._lock:
                objects = list(self._objects)
            attrs = {"verb": "get" if name else "list", "group": res.group,
                     "resource": res.plural, "namespace": namespace or "", "name": name or ""}
            if not rbac_allows(objects, self.user, self.groups, attrs)[0]:
                raise _HttpError(_forbidden(res, name, namespace, self.user))
        with self._lock:
            # In the order the real API lists (etcd key order): by namespace, then name.
            served = sorted((o for o in self._objects if _serves(res, o)),
                            key=lambda o: (namespace_of(o) or "", name_of(o)))
            resource_version = str(self._resource_version)
        if namespace is not None:
            served = [o for o in served if (namespace_of(o) or "default") == namespace]
        if name is not None:
            for obj in served:
                if name_of(obj) == name:
                    return _with_defaults(obj, res, namespace)
            raise _HttpError(_status(404, "NotFound", f'{res.qualified} "{name}" not found',
                                     {"name": name, "group": res.group, "kind": res.plural}))
        served = [o for o in served if _label_match(o, query.get("labelSelector", ""))
                  and _field_match(o, query.get("fieldSelector", ""))]
        items = [_with_defaults(o, res, namespace_of(o)) for o in served]
        if "as=Table" in accept:
            return _table(items, resource_version)
        meta: Obj = {"resourceVersion": resource_version}
        items = _page(items, query, meta)
        if res.group in _BUILT_IN_GROUPS:
            # The real API leaves kind/apiVersion out of the items of built-in lists.
            for item in items:
                item.pop("kind", None)
                item.pop("apiVersion", None)
        return {"apiVersion": res.api_version, "kind": f"{res.kind}List", "metadata": meta,
                "items": items}

    def _review(self, path: str, body: bytes) -> Obj:
        prefix = f"/apis/{_AUTHZ_GROUP}/{_AUTHZ_VERSION}/"
        plural = path[len(prefix):] if path.startswith(prefix) else ""
        if plural not in _REVIEWS:
            if path.startswith(("/api/", "/apis/")):
                raise _HttpError(_status(405, "MethodNotAllowed",
                                         "the stand-in is read-only: POST is not supported"))
            raise _not_found_path()
        try:
            review = json.loads(body or b"{}")
            if not isinstance(review, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise _HttpError(_status(400, "BadRequest", f"invalid review body: {exc}")) from None
        spec = review.get("spec") or {}
        with self._lock:
            objects = list(self._objects)
        if plural == "subjectaccessreviews":
            user, groups = str(spec.get("user", "")), [str(g) for g in spec.get("groups") or []]
        else:
            user, groups = self.user, list(self.groups)
        if plural == "selfsubjectrulesreviews":
            namespace = str(spec.get("namespace") or "default")
            resource_rules, non_resource_rules = rbac_rules(objects, user, groups, namespace)
            status: Obj = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
                           "incomplete": False}
        else:
            attributes = spec.get("resourceAttributes")
            non_resource = spec.get("nonResourceAttributes")
            if not isinstance(attributes, dict) and not isinstance(non_resource, dict):
                raise _HttpError(_status(
                    400, "BadRequest", "exactly one of resourceAttributes or "
                                       "nonResourceAttributes must be specified"))
            allowed, reason = rbac_allows(objects, user, groups,
                                          attributes if isinstance(attributes, dict) else None,
                                          non_resource if isinstance(non_resource, dict) else None)
            status = {"allowed": allowed, "reason": reason}
        return {"apiVersion": f"{_AUTHZ_GROUP}/{_AUTHZ_VERSION}", "kind": _REVIEWS[plural],
                "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


def _forbidden(res: Resource, name: str | None, namespace: str | None, user: str) -> Obj:
    """The API's 403 for a read RBAC denies, worded as kube-apiserver words it."""
    subject = f'{res.qualified} "{name}"' if name else res.qualified
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    details: Obj = {"group": res.group, "kind": res.plural}
    if name:
        details["name"] = name
    return _status(403, "Forbidden",
                   f'{subject} is forbidden: User "{user}" cannot {"get" if name else "list"} '
                   f'resource "{res.plural}" in API group "{res.group}"{where}', details)


# -- RBAC ---------------------------------------------------------------------------------------
def _binding_applies(binding: Obj, user: str, groups: Iterable[str]) -> bool:
    group_set = set(groups)
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "User" and name == user:
            return True
        if kind == "Group" and name in group_set:
            return True
        if kind == "ServiceAccount":
            sa_ns = subject.get("namespace") or namespace_of(binding) or "default"
            if user == f"system:serviceaccount:{sa_ns}:{name}":
                return True
    return False


def _bound_rules(objects: list[Obj], user: str, groups: Iterable[str],
                 namespace: str | None) -> list[Obj]:
    """The rules of every role bound to the subject, cluster-wide and (if given) in ``namespace``."""
    groups = list(groups)
    roles = {(str(o.get("kind")), namespace_of(o), name_of(o)): o for o in objects
             if o.get("kind") in ("Role", "ClusterRole")}
    rules: list[Obj] = []
    for binding in objects:
        kind = binding.get("kind")
        if kind == "ClusterRoleBinding":
            pass
        elif kind == "RoleBinding":
            if namespace is None or (namespace_of(binding) or "default") != namespace:
                continue
        else:
            continue
        if not _binding_applies(binding, user, groups):
            continue
        ref = binding.get("roleRef") or {}
        ref_kind, ref_name = ref.get("kind"), ref.get("name")
        if ref_kind == "ClusterRole":
            role = roles.get(("ClusterRole", None, str(ref_name)))
        elif ref_kind == "Role" and kind == "RoleBinding":
            role = roles.get(("Role", namespace_of(binding) or "default", str(ref_name)))
        else:
            role = None
        if role is not None:
            rules.extend(r for r in role.get("rules") or [] if isinstance(r, dict))
    return rules


def _matches(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _rule_allows(rule: Obj, attrs: Mapping[str, Any]) -> bool:
    resource = str(attrs.get("resource", ""))
    if attrs.get("subresource"):
        resource = f"{resource}/{attrs['subresource']}"
    names = rule.get("resourceNames") or []
    return (_matches(rule.get("verbs"), str(attrs.get("verb", "")))
            and _matches(rule.get("apiGroups"), str(attrs.get("group", "")))
            and _matches(rule.get("resources"), resource)
            and (not names or str(attrs.get("name", "")) in names))


def _non_resource_allows(rule: Obj, attrs: Mapping[str, Any]) -> bool:
    path = str(attrs.get("path", ""))
    urls = rule.get("nonResourceURLs") or []
    return _matches(rule.get("verbs"), str(attrs.get("verb", ""))) and any(
        u == path or u == "*" or (u.endswith("*") and path.startswith(u[:-1])) for u in urls)


def rbac_allows(objects: list[Obj], user: str, groups: Iterable[str],
                resource_attributes: Mapping[str, Any] | None,
                non_resource_attributes: Mapping[str, Any] | None = None) -> tuple[bool, str]:
    """Whether RBAC objects allow ``user`` (in ``groups``) the access described (the fields of a
    ``SubjectAccessReview``'s ``resourceAttributes`` / ``nonResourceAttributes``), and why.

    The evaluator: a request is allowed when some rule of a role bound to the subject matches it;
    ClusterRoleBindings grant their ClusterRole everywhere, RoleBindings grant their Role or
    ClusterRole in the binding's namespace only. A rule matches when its ``verbs``, ``apiGroups``
    and ``resources`` (``resource/subresource`` for subresources) each contain the request's
    value or ``*``, and ``resourceNames`` is empty or contains the name. Subjects are Users,
    Groups and ServiceAccounts (``system:serviceaccount:<ns>:<name>``). Not modelled: aggregated
    ClusterRoles, the ``system:masters`` group, webhook and node authorizers, deny rules (RBAC has
    none).
    """
    if non_resource_attributes is not None and resource_attributes is None:
        rules = _bound_rules(objects, user, groups, None)
        for rule in rules:
            if _non_resource_allows(rule, non_resource_attributes):
                return True, "allowed by RBAC (stand-in evaluator)"
        return False, ""
    attrs = resource_attributes or {}
    namespace = attrs.get("namespace") or None
    for rule in _bound_rules(objects, user, groups, str(namespace) if namespace else None):
        if _rule_allows(rule, attrs):
            return True, "allowed by RBAC (stand-in evaluator)"
    return False, ""


def rbac_rules(objects: list[Obj], user: str, groups: Iterable[str],
               namespace: str) -> tuple[list[Obj], list[Obj]]:
    """The ``resourceRules`` and ``nonResourceRules`` of a ``SelfSubjectRulesReview`` in
    ``namespace``: every rule bound to the subject there or cluster-wide, as written."""
    resource_rules: list[Obj] = []
    non_resource_rules: list[Obj] = []
    for rule in _bound_rules(objects, user, groups, namespace):
        if rule.get("nonResourceURLs"):
            non_resource_rules.append({"verbs": list(rule.get("verbs") or []),
                                       "nonResourceURLs": list(rule["nonResourceURLs"])})
        else:
            entry: Obj = {"verbs": list(rule.get("verbs") or []),
                          "apiGroups": list(rule.get("apiGroups") or []),
                          "resources": list(rule.get("resources") or [])}
            if rule.get("resourceNames"):
                entry["resourceNames"] = list(rule["resourceNames"])
            resource_rules.append(entry)
    return resource_rules, non_resource_rules


# -- shapes -------------------------------------------------------------------------------------
def _groups(served: frozenset[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for res in RESOURCES.values():
        if res.plural in served and res.group and res.version not in groups.setdefault(res.group, []):
            groups[res.group].append(res.version)
    groups.setdefault(_AUTHZ_GROUP, [_AUTHZ_VERSION])
    return groups


def _group(group: str, versions: list[str]) -> Obj:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": listed[0]}


def _resource_list(group: str, version: str, served: frozenset[str]) -> Obj:
    entries: list[Obj] = [
        {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
         "kind": r.kind, "verbs": list(_READ_VERBS), "shortNames": _SHORT_NAMES.get(r.plural, [])}
        for r in RESOURCES.values()
        if r.plural in served and r.group == group and r.version == version
    ]
    if (group, version) == (_AUTHZ_GROUP, _AUTHZ_VERSION):
        entries += [{"name": plural, "singularName": kind.lower(), "namespaced": False,
                     "kind": kind, "verbs": ["create"]} for plural, kind in _REVIEWS.items()]
    if not entries:
        raise _not_found_path()
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _gv(group, version),
            "resources": entries}


def _identity(obj: Obj) -> tuple[str, str, str | None, str]:
    return (str(obj.get("kind", "")), str(obj.get("apiVersion", "")), namespace_of(obj),
            name_of(obj))


def _serves(res: Resource, obj: Obj) -> bool:
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return obj.get("kind") == res.kind and group == res.group and res.kind in KINDS


def _with_defaults(obj: Obj, res: Resource, namespace: str | None) -> Obj:
    """The object as the API returns it: apiVersion/kind set, namespaced objects in a namespace,
    and the server-set metadata (uid, resourceVersion, creationTimestamp) present."""
    out = json.loads(json.dumps(obj))
    out["apiVersion"], out["kind"] = res.api_version, res.kind
    meta = out.setdefault("metadata", {})
    if res.namespaced:
        meta.setdefault("namespace", namespace or "default")
    else:
        meta.pop("namespace", None)
    seed = f"{res.kind}/{meta.get('namespace', '')}/{meta.get('name', '')}"
    meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, seed)))
    meta.setdefault("resourceVersion", "1")
    meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
    return out  # type: ignore[no-any-return]


def _page(items: list[Obj], query: Mapping[str, str], meta: Obj) -> list[Obj]:
    """``limit`` / ``continue`` chunking: the continue token is the offset of the next item."""
    try:
        limit = int(query.get("limit") or 0)
        offset = int(query.get("continue") or 0)
    except ValueError:
        raise _HttpError(_status(400, "BadRequest", "invalid limit or continue token")) from None
    if limit <= 0:
        return items
    if offset + limit < len(items):
        meta["continue"] = str(offset + limit)
        meta["remainingItemCount"] = len(items) - offset - limit
    return items[offset:offset + limit]


def _label_match(obj: Obj, selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if " in " in term or " notin " in term or "(" in term:
            raise _HttpError(_status(400, "BadRequest",
                                     f"the stand-in does not support set-based selector {term!r}"))
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field_match(obj: Obj, selector: str) -> bool:
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace")}
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        negate = "!=" in term
        key, value = (s.strip() for s in term.replace("!=", "=").replace("==", "=").split("=", 1)) \
            if "=" in term else (term, "")
        if key not in fields:
            raise _HttpError(_status(400, "BadRequest",
                                     f'field label not supported: "{key}" (stand-in: '
                                     "metadata.name and metadata.namespace only)"))
        if (fields[key] == value) == negate:
            return False
    return True


def _table(items: list[Obj], resource_version: str) -> Obj:
    """The ``meta.k8s.io/v1`` Table kubectl's default output asks for: NAME and CREATED AT."""
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name",
             "priority": 0},
            {"name": "Created At", "type": "date", "format": "",
             "description": "creation time", "priority": 0},
        ],
        "rows": [{"cells": [name_of(o), (o.get("metadata") or {}).get("creationTimestamp")],
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o.get("metadata") or {}}} for o in items],
    }


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 / localhost (also its own CA)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-api-standin")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "standin.crt", directory / "standin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def _read_directory(directory: Path) -> list[Obj]:
    from ..probes.cluster.snapshot import SnapshotCluster

    return SnapshotCluster(directory).objects()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up or fails the TLS handshake is the client's business


def _handler_class(standin: KubeApiStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "k8s-api-standin"

        timeout = 30  # an idle or stuck client connection is dropped after 30 s

        def setup(self) -> None:
            super().setup()
            standin._track(self.connection, True)
            if isinstance(self.connection, ssl.SSLSocket):
                self.connection.do_handshake()

        def finish(self) -> None:
            standin._track(self.connection, False)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log is ``standin.requests``

        def _respond(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                standin._authenticate(self.headers.get("Authorization"))
                code, payload = standin.answer(method, self.path, body,
                                               self.headers.get("Accept", ""))
            except _HttpError as exc:
                with standin._lock:
                    standin.requests.append((method, self.path))
                code, payload = int(exc.status["code"]), exc.status
            data = json.dumps(payload).encode()
            if standin.delay_s and standin._stopping.wait(standin.delay_s):
                return
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Audit-Id", str(uuid.uuid4()))
            self.end_headers()
            if not standin.drip_s:
                self.wfile.write(data)
                return
            for start in range(0, len(data), _DRIP_CHUNK):
                self.wfile.write(data[start:start + _DRIP_CHUNK])
                self.wfile.flush()
                if standin._stopping.wait(standin.drip_s):
                    return

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._respond("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._respond("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._respond("PUT")

        def do_PATCH(self) -> None:  # noqa: N802
            self._respond("PATCH")

        def do_DELETE(self) -> None:  # noqa: N802
            self._respond("DELETE")

    return Handler


def _main() -> None:  # python -m pytest_release.demo.k8s_api DIR [--token T] [--tls]
    import argparse

    parser = argparse.ArgumentParser(description="Serve a snapshot directory as a Kubernetes API "
                                                 "stand-in on loopback")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--token")
    parser.add_argument("--tls", action="store_true", help="serve https (self-signed; the CA "
                                                          "file is printed)")
    args = parser.parse_args()
    with KubeApiStandin(directory=args.directory, token=args.token, tls=args.tls) as api:
        ca = f", CA {api.ca_file}" if api.ca_file else ""
        print(f"serving {args.directory} at {api.url} (Ctrl-C stops{ca})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    _main()
