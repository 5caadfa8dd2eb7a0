"""The live cluster source: objects read from a Kubernetes API through the ``kubernetes`` client.

Configured like kubectl: a kubeconfig file (and context), the in-cluster service account, or a
server URL with a bearer token (plus a CA file, or TLS verification switched off). Paths are
built from :data:`~pytest_release.probes.cluster.RESOURCES` and sent with the client's generic
``ApiClient.call_api``, so custom resources (``argoproj.io``, ``kyverno.io``, ``wgpolicyk8s.io``)
need no discovery and no generated model: objects come back as the API's JSON, the same plain
dicts :class:`~.snapshot.SnapshotCluster` returns.

Every call has one total deadline (``timeout_s``): the client's ``_request_timeout`` bounds the
connection and each read, a wall-clock guard bounds the whole call (all pages of a list, a server
that drips its answer). Whatever goes wrong is a :class:`~pytest_release.probes.ProbeUnavailable`
with the reason (unreachable, refused credentials, forbidden resource, timeout); ``get`` of an
object that does not exist returns ``None``. A *list* the API answers with 404 (the CRD is not
installed, or serves another version) is not an empty list but *not measured*, because the two
cannot be told apart from here.
"""
from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from .. import ProbeUnavailable, require
from . import Obj, Resource, SourceKind, name_of, namespace_of, resource

T = TypeVar("T")
_Objs = list[Obj]  # ``list`` is shadowed by the method inside the class
_PAGE = 500
_MIN_KUBERNETES = (37, 0)


class LiveCluster:
    """A :class:`~.ClusterSource` over a live Kubernetes API (``source == "live"``).

    Give ``kubeconfig`` (+ ``context``), or ``in_cluster=True``, or ``server`` (+ ``token``);
    ``token``, ``ca_file`` and ``insecure`` also override what a kubeconfig says, like kubectl's
    ``--token``, ``--certificate-authority`` and ``--insecure-skip-tls-verify``.
    """

    source: SourceKind = "live"

    def __init__(self, *, kubeconfig: str | Path | None = None, context: str | None = None,
                 server: str | None = None, token: str | None = None, in_cluster: bool = False,
                 ca_file: str | Path | None = None, insecure: bool = False,
                 timeout_s: float = 10.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.timeout_s = timeout_s
        k8s = require("kubernetes", "kubernetes")
        version = tuple(int(p) for p in str(getattr(k8s, "__version__", "0")).split(".")[:2]
                        if p.isdigit())
        if version < _MIN_KUBERNETES:
            raise ProbeUnavailable(
                f"the kubernetes client {k8s.__version__} is too old for the live cluster source: "
                f"pip install 'kubernetes>={_MIN_KUBERNETES[0]}'")
        from kubernetes import client, config

        cfg = client.Configuration()

        def load(deadline: float) -> str:
            # An exec credential plugin in a kubeconfig runs a program: under the deadline too.
            if in_cluster:
                try:
                    config.load_incluster_config(  # type: ignore[no-untyped-call]
                        client_configuration=cfg)
                except config.ConfigException as exc:
                    raise ProbeUnavailable(
                        f"in-cluster Kubernetes config is not available: {exc}") from None
                return "in-cluster service account"
            if kubeconfig is not None:
                path = Path(kubeconfig).expanduser()
                if not path.is_file():
                    raise ProbeUnavailable(f"kubeconfig {path} does not exist")
                try:
                    config.load_kube_config(  # type: ignore[no-untyped-call]
                        config_file=str(path), context=context, client_configuration=cfg,
                        persist_config=False)
                except Exception as exc:  # ConfigException, yaml errors...: name the file
                    where = f"context {context!r} of " if context else ""
                    raise ProbeUnavailable(
                        f"cannot use {where}kubeconfig {path}: {_first_line(exc)}") from None
                return f"kubeconfig {path}" + (f" context {context}" if context else "")
            if server is not None:
                cfg.host = server.rstrip("/")
                return "server"
            raise ProbeUnavailable("no Kubernetes API configured: give a kubeconfig, a server "
                                   "URL or in_cluster=True")

        self.host = server or "(kubeconfig)"
        origin = self._guarded(load, "load the client configuration")
        if server is not None and (in_cluster or kubeconfig is not None):
            cfg.host = server.rstrip("/")
        if token:
            cfg.api_key = {"authorization": token}
            cfg.api_key_prefix = {"authorization": "Bearer"}
        if ca_file is not None:
            cfg.ssl_ca_cert = str(Path(ca_file).expanduser())
        if insecure:
            cfg.verify_ssl = False
        cfg.retries = False  # one attempt per call: the deadline is the caller's, not urllib3's
        if not urlsplit(str(cfg.host)).hostname:
            raise ProbeUnavailable(f"the Kubernetes API URL {cfg.host!r} has no host")
        self.host = str(cfg.host)
        self.description = f"live {self.host} ({origin})"
        #: kubectl flags that reach the same API (never the token): pass as
        #: ``kubectl_get(..., extra=cluster.kubectl_flags)`` for an exact reproduce command.
        self.kubectl_flags = _kubectl_flags(kubeconfig, context, server, ca_file, insecure,
                                            in_cluster)
        self._api = client.ApiClient(cfg)
        self._api_exception: type[Exception] = client.exceptions.ApiException

    # -- the ClusterSource interface --------------------------------------------------------
    def list(self, plural: str, namespace: str | None = None) -> _Objs:
        return self._list(resource(plural), namespace)

    def _list(self, res: Resource, namespace: str | None, field_selector: str | None = None,
              what: str | None = None) -> _Objs:
        path = _collection_path(res, namespace)
        what = what or _what("list", res, namespace)
        selector = [("fieldSelector", field_selector)] if field_selector else []

        def fetch(deadline: float) -> _Objs:
            items: _Objs = []
            token: str | None = None
            while True:
                query = [*selector, ("limit", str(_PAGE))] + \
                    ([("continue", token)] if token else [])
                status, body = self._call("GET", path, query, None, deadline, what)
                if status == 404:
                    raise ProbeUnavailable(
                        f"the Kubernetes API at {self.host} does not serve {res.qualified} "
                        f"{res.version} (404 {_message(body)}): is the CRD installed, at "
                        "this version?")
                self._raise_for(status, body, what)
                page = items_of(body, res, what, self.host)
                items.extend(page)
                token = str((body.get("metadata") or {}).get("continue") or "") or None
                if token is None:
                    return items

        return self._guarded(fetch, what)

    def get(self, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        res = resource(plural)
        if res.namespaced and not namespace:
            # In any namespace: the first match by namespace name (as the snapshot source does).
            found = [o for o in self._list(res, None, f"metadata.name={name}",
                                           _what("get", res, None, name))
                     if name_of(o) == name]
            return min(found, key=lambda o: namespace_of(o) or "") if found else None
        path = f"{_collection_path(res, namespace if res.namespaced else None)}/{quote(name, safe='')}"
        what = _what("get", res, namespace, name)

        def fetch(deadline: float) -> Obj | None:
            status, body = self._call("GET", path, [], None, deadline, what)
            if status == 404 and body.get("reason") == "NotFound" and \
                    (body.get("details") or {}).get("name") == name:
                return None
            if status == 404:
                raise ProbeUnavailable(
                    f"the Kubernetes API at {self.host} does not serve {res.qualified} "
                    f"{res.version} (404 {_message(body)}): is the CRD installed, at "
                    "this version?")
            self._raise_for(status, body, what)
            body.setdefault("apiVersion", res.api_version)
            body.setdefault("kind", res.kind)
            return body

        return self._guarded(fetch, what)

    # -- beyond the interface: access reviews for RBAC checks ---------------------------------
    def review(self, plural: str, spec: Obj) -> Obj:
        """POST an ``authorization.k8s.io/v1`` review (``selfsubjectaccessreviews``,
        ``selfsubjectrulesreviews``, ``subjectaccessreviews``) and return the API's answer."""
        kinds = {"selfsubjectaccessreviews": "SelfSubjectAccessReview",
                 "selfsubjectrulesreviews": "SelfSubjectRulesReview",
                 "subjectaccessreviews": "SubjectAccessReview"}
        if plural not in kinds:
            raise KeyError(f"unknown review {plural!r} (known: {', '.join(kinds)})")
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": kinds[plural], "spec": spec}
        what = f"create {plural}.authorization.k8s.io"

        def post(deadline: float) -> Obj:
            status, answer = self._call("POST", f"/apis/authorization.k8s.io/v1/{plural}", [],
                                        body, deadline, what)
            self._raise_for(status, answer, what)
            return answer

        return self._guarded(post, what)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # -- plumbing -----------------------------------------------------------------------------
    def _guarded(self, fn: Callable[[float], T], what: str) -> T:
        """Run ``fn(deadline)`` with a wall-clock guard: a call still running at the deadline is
        abandoned (its thread ends when its socket times out) and reported as a timeout."""
        deadline = time.monotonic() + self.timeout_s
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome["value"] = fn(deadline)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=run, name=f"kubernetes {what}", daemon=True)
        worker.start()
        if not done.wait(max(0.0, deadline - time.monotonic())):
            raise ProbeUnavailable(self._timeout_message(what))
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    def _timeout_message(self, what: str) -> str:
        return (f"the Kubernetes API at {self.host} did not answer {what} within "
                f"{self.timeout_s:g} s")

    def _call(self, method: str, path: str, query: builtins.list[tuple[str, str]],
              body: Obj | None, deadline: float, what: str) -> tuple[int, Obj]:
        import urllib3

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeUnavailable(self._timeout_message(what))
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            request = self._api.param_serialize(
                method=method, resource_path=path, query_params=query or None,
                header_params=headers, body=body, auth_settings=["BearerToken"])
            response = self._api.call_api(*request, _request_timeout=remaining)
            raw = response.response
            chunks: builtins.list[bytes] = []
            while True:
                if time.monotonic() >= deadline:
                    raw.close()  # half-read: never hand this connection back for reuse
                    raw.release_conn()
                    raise ProbeUnavailable(self._timeout_message(what))
                chunk = raw.read1(65536) if hasattr(raw, "read1") else raw.read(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            raw.release_conn()  # fully read: the connection may serve the next call
            status = int(response.status)
        except ProbeUnavailable:
            raise
        except self._api_exception as exc:
            # The client turns urllib3's SSLError into ApiException(status=0, reason=text).
            reason = str(getattr(exc, "reason", "") or exc).strip().splitlines()
            raise ProbeUnavailable(
                f"TLS to the Kubernetes API at {self.host} failed ({reason[-1] if reason else exc}):"
                " give the cluster's CA file, or switch verification off for a test cluster"
            ) from None
        except urllib3.exceptions.NewConnectionError as exc:  # (a TimeoutError subclass)
            raise ProbeUnavailable(
                f"the Kubernetes API at {self.host} is unreachable ({_reason(exc)}) for {what}"
            ) from None
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            raise ProbeUnavailable(self._timeout_message(what)) from None
        except urllib3.exceptions.SSLError as exc:
            raise ProbeUnavailable(
                f"TLS to the Kubernetes API at {self.host} failed ({_reason(exc)}): give the "
                "cluster's CA file, or switch verification off for a test cluster") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ProbeUnavailable(
                f"the Kubernetes API at {self.host} is unreachable ({_reason(exc)}) for {what}"
            ) from None
        text = b"".join(chunks)
        try:
            parsed = json.loads(text) if text else {}
        except ValueError:
            raise ProbeUnavailable(
                f"the Kubernetes API at {self.host} answered {what} with {status} and a body "
                f"that is not JSON: {text[:80]!r}") from None
        if not isinstance(parsed, dict):
            raise ProbeUnavailable(f"the Kubernetes API at {self.host} answered {what} with JSON "
                                   f"that is not an object")
        return status, parsed

    def _raise_for(self, status: int, body: Obj, what: str) -> None:
        if 200 <= status < 300:
            return
        if status == 401:
            raise ProbeUnavailable(
                f"the Kubernetes API at {self.host} refused the credentials (401 Unauthorized) "
                f"to {what}: the token is wrong or expired")
        if status == 403:
            raise ProbeUnavailable(
                f"the Kubernetes API at {self.host} does not allow {what} (403 Forbidden: "
                f"{_message(body)}): grant the checks' account read access")
        raise ProbeUnavailable(f"the Kubernetes API at {self.host} answered {what} with {status} "
                               f"{body.get('reason') or ''}: {_message(body)}".replace(" :", ":"))


def items_of(body: Obj, res: Resource, what: str, host: str) -> _Objs:
    """The items of a list answer, each with ``apiVersion`` and ``kind`` (the API leaves them
    out of built-in lists; the snapshot reader fills them in the same way)."""
    items = body.get("items")
    if items is None:
        return []
    if not isinstance(items, builtins.list):
        raise ProbeUnavailable(f"the Kubernetes API at {host} answered {what} with items that "
                               "are not a list")
    out: _Objs = []
    for item in items:
        if isinstance(item, dict):
            out.append({"apiVersion": res.api_version, "kind": res.kind, **item})
    return out


def _kubectl_flags(kubeconfig: str | Path | None, context: str | None, server: str | None,
                   ca_file: str | Path | None, insecure: bool, in_cluster: bool) -> str:
    import shlex

    argv: builtins.list[str] = []
    if kubeconfig is not None and not in_cluster:
        argv += ["--kubeconfig", str(Path(kubeconfig).expanduser())]
        if context:
            argv += ["--context", context]
    if server is not None:
        argv += ["--server", server]
    if ca_file is not None:
        argv += ["--certificate-authority", str(Path(ca_file).expanduser())]
    if insecure:
        argv.append("--insecure-skip-tls-verify")
    return shlex.join(argv)


def _collection_path(res: Resource, namespace: str | None) -> str:
    base = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    if res.namespaced and namespace:
        return f"{base}/namespaces/{quote(namespace, safe='')}/{res.plural}"
    return f"{base}/{res.plural}"


def _what(verb: str, res: Resource, namespace: str | None, name: str | None = None) -> str:
    target = f"{res.qualified} {name}" if name else res.qualified
    if not res.namespaced:
        return f"{verb} {target}"
    return f"{verb} {target} in namespace {namespace}" if namespace else \
        f"{verb} {target} in all namespaces"


def _message(body: Obj) -> str:
    return str(body.get("message") or body.get("reason") or "no message")


def _reason(exc: BaseException) -> str:
    inner = getattr(exc, "reason", None)
    text = str(inner if inner is not None else exc)
    if "Connection refused" in text:
        return "connection refused"
    return _first_line(exc if inner is None else inner)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
