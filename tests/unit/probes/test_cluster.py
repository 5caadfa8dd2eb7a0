"""The cluster source, both ways: the same objects read live and from a snapshot directory.

Live means the real ``kubernetes`` client over HTTP(S) to the loopback Kubernetes API stand-in
(``pytest_release.demo.k8s_api``); snapshot means ``SnapshotCluster`` over files written as
``kubectl get -o yaml`` lists and as plain manifests. Faults are real: a wrong token, a stopped
server, a server that answers late or drips, a missing CRD, a missing or malformed file.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.k8s_objects import NS, OTHER_NS, release_objects, write_kubectl_lists, write_manifests

from pytest_release.demo.k8s_api import DEFAULT_USER, KubeApiStandin
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.cluster import (
    RESOURCES,
    ClusterSource,
    kubectl_get,
    name_of,
    namespace_of,
    open_cluster,
    resource,
)
from pytest_release.probes.cluster.live import LiveCluster
from pytest_release.probes.cluster.snapshot import SnapshotCluster

TOKEN = "standin-token-4f9d2c81"
OBJECTS = release_objects()
#: Every (plural, namespace) a check might list: each resource in each namespace it has
#: objects in, across all namespaces, and in a namespace where it has none.
LISTINGS = sorted({(resource(o["kind"]).plural, namespace_of(o)) for o in OBJECTS}
                  | {(resource(o["kind"]).plural, None) for o in OBJECTS}
                  | {(p, "empty-ns") for p, r in RESOURCES.items() if r.namespaced},
                  key=lambda t: (t[0], t[1] or ""))
KINDS_COVERED = {o["apiVersion"].rsplit("/", 1)[0] if "/" in o["apiVersion"] else "core"
                 for o in OBJECTS}


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return (namespace_of(obj) or "", name_of(obj))


def _sorted(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(objs, key=_key)


@pytest.fixture(scope="module")
def api() -> Iterator[KubeApiStandin]:
    with KubeApiStandin(OBJECTS, token=TOKEN, tls=True) as standin:
        yield standin


@pytest.fixture
def fresh_api() -> Iterator[KubeApiStandin]:
    """A stand-in of the test's own, for tests that switch faults on."""
    with KubeApiStandin(OBJECTS, token=TOKEN) as standin:
        yield standin


@pytest.fixture(scope="module", params=["live", "kubectl-lists", "manifests"])
def source(request: pytest.FixtureRequest, api: KubeApiStandin,
           tmp_path_factory: pytest.TempPathFactory) -> ClusterSource:
    if request.param == "live":
        return open_cluster(server=api.url, token=TOKEN, ca_file=api.ca_file, timeout_s=10)
    directory = tmp_path_factory.mktemp(request.param)
    writer = write_kubectl_lists if request.param == "kubectl-lists" else write_manifests
    return open_cluster(snapshot_dir=writer(directory, OBJECTS))


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> SnapshotCluster:
    return SnapshotCluster(write_manifests(tmp_path_factory.mktemp("reference"), OBJECTS))


def test_the_object_set_spans_the_groups_and_scopes_the_checks_read() -> None:
    assert {"core", "apps", "rbac.authorization.k8s.io", "argoproj.io", "kyverno.io",
            "wgpolicyk8s.io"} <= KINDS_COVERED
    scopes = {RESOURCES[p].namespaced for p, _ in LISTINGS}
    assert scopes == {True, False}


@pytest.mark.parametrize(("plural", "namespace"), LISTINGS, ids=lambda v: str(v))
def test_list_is_the_same_live_and_from_snapshots(source: ClusterSource, plural: str,
                                                  namespace: str | None) -> None:
    expected = _sorted([o for o in OBJECTS if resource(o["kind"]).plural == plural
                        and (namespace is None or namespace_of(o) == namespace)])
    got = source.list(plural, namespace)
    assert _sorted(got) == expected
    if namespace == "empty-ns":
        assert got == []


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}/{_key(o)[0]}/{_key(o)[1]}")
def test_get_is_the_same_live_and_from_snapshots(source: ClusterSource,
                                                 obj: dict[str, Any]) -> None:
    plural = resource(obj["kind"]).plural
    assert source.get(plural, name_of(obj), namespace_of(obj)) == obj
    assert source.get(plural, name_of(obj)) == obj  # namespaced: found in any namespace
    assert source.get(plural, "does-not-exist", namespace_of(obj)) is None
    assert source.get(plural, "does-not-exist") is None


def test_sources_say_where_they_read(source: ClusterSource, api: KubeApiStandin) -> None:
    if source.source == "live":
        assert source.description.startswith(f"live {api.url}")
        assert TOKEN not in source.description
    else:
        assert source.source == "snapshot"
        assert source.description.startswith("snapshot /")


def test_the_live_source_really_read_through_the_api(api: KubeApiStandin) -> None:
    before = len(api.requests)
    live = open_cluster(server=api.url, token=TOKEN, ca_file=api.ca_file)
    live.list("rollouts", NS)
    live.get("clusterpolicies", "require-signed-images")
    assert api.requests[before:] == [
        ("GET", f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/rollouts?limit=500"),
        ("GET", "/apis/kyverno.io/v1/clusterpolicies/require-signed-images"),
    ]


def test_live_list_follows_continue_pages(fresh_api: KubeApiStandin) -> None:
    many = [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"cm-{i:04d}", "namespace": NS}} for i in range(1234)]
    fresh_api.set_objects(many)
    live = open_cluster(server=fresh_api.url, token=TOKEN)
    got = live.list("configmaps", NS)
    assert [name_of(o) for o in got] == [f"cm-{i:04d}" for i in range(1234)]
    pages = [p for _, p in fresh_api.requests if "/configmaps" in p]
    assert len(pages) == 3 and "continue=1000" in pages[2]


def test_built_in_list_items_get_their_kind_like_kubectl(fresh_api: KubeApiStandin) -> None:
    # The API leaves kind/apiVersion out of built-in list items; both sources put them back.
    import json
    import urllib.request

    request = urllib.request.Request(f"{fresh_api.url}/apis/apps/v1/namespaces/{NS}/deployments",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        raw = json.load(answer)
    assert raw["kind"] == "DeploymentList" and "kind" not in raw["items"][0]
    live = open_cluster(server=fresh_api.url, token=TOKEN)
    assert live.list("deployments", NS)[0]["kind"] == "Deployment"


def test_the_standin_serves_a_snapshot_directory_as_it_reads(tmp_path: Path) -> None:
    directory = write_kubectl_lists(tmp_path / "snap", OBJECTS)
    with KubeApiStandin(directory=directory, token=TOKEN) as standin:
        live = open_cluster(server=standin.url, token=TOKEN)
        for plural in ("rollouts", "clusterpolicies", "deployments", "policyreports"):
            assert _sorted(live.list(plural)) == _sorted(SnapshotCluster(directory).list(plural))


def test_faults_switch_one_at_a_time_between_checks(fresh_api: KubeApiStandin) -> None:
    live = open_cluster(server=fresh_api.url, token=TOKEN)
    rollout = live.get("rollouts", "feedback", NS)
    assert rollout is not None and rollout["status"]["phase"] == "Healthy"
    degraded = {**rollout, "status": {"phase": "Degraded"}}
    fresh_api.add(degraded)  # replaces the served Rollout of that name
    assert [o["status"]["phase"] for o in live.list("rollouts", NS)] == ["Degraded"]
    fresh_api.remove("Rollout", "feedback", NS)
    assert live.get("rollouts", "feedback", NS) is None and live.list("rollouts") == []
    fresh_api.set_objects(OBJECTS)
    assert live.get("rollouts", "feedback", NS) == rollout


def test_the_standin_answers_selectors_and_refuses_unsupported_ones(
        fresh_api: KubeApiStandin) -> None:
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    def names(query: str) -> list[str] | int:
        url = f"{fresh_api.url}/api/v1/pods?{query}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return [i["metadata"]["name"] for i in json.load(answer)["items"]]
        except urllib.error.HTTPError as exc:
            status = json.load(exc)
            assert status["kind"] == "Status" and status["reason"] == "BadRequest"
            return exc.code

    app = urllib.parse.quote("app.kubernetes.io/name")
    assert names(f"labelSelector={app}%3Dfeedback-service") == ["feedback-7d9f-abcde"]
    assert names(f"labelSelector={app}%21%3Dfeedback-service") == ["ledger-0"]
    assert names(f"labelSelector=%21{app}") == ["ledger-0"]
    assert names(f"fieldSelector=metadata.namespace%3D{OTHER_NS}") == ["ledger-0"]
    assert names("fieldSelector=metadata.name%3Dnope") == []
    assert names(f"labelSelector={app}%20in%20(a,b)") == 400
    assert names("fieldSelector=spec.nodeName%3Dn1") == 400


def test_the_standin_runs_as_a_command_serving_a_directory(tmp_path: Path) -> None:
    directory = write_manifests(tmp_path / "snap", OBJECTS)
    process = subprocess.Popen([sys.executable, "-m", "pytest_release.demo.k8s_api",
                                str(directory), "--token", TOKEN],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"serving {directory} at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        live = open_cluster(server=url, token=TOKEN, timeout_s=10)
        assert _sorted(live.list("rollouts")) == [o for o in OBJECTS if o["kind"] == "Rollout"]
    finally:
        process.terminate()
        process.wait(timeout=10)


# -- faults: each one a ProbeUnavailable naming the problem ------------------------------------
def test_a_wrong_token_is_not_measured_naming_401_and_the_resource(api: KubeApiStandin) -> None:
    live = open_cluster(server=api.url, token="wrong-token-0000", ca_file=api.ca_file)
    with pytest.raises(ProbeUnavailable, match=r"refused the credentials \(401 Unauthorized\) "
                                               r"to list rollouts\.argoproj\.io in namespace "):
        live.list("rollouts", NS)
    with pytest.raises(ProbeUnavailable) as no_token:
        open_cluster(server=api.url, ca_file=api.ca_file).get("namespaces", NS)
    assert "401" in str(no_token.value) and "get namespaces feedback" in str(no_token.value)
    assert "wrong-token-0000" not in str(no_token.value)


def test_a_forbidden_resource_is_not_measured_naming_it(fresh_api: KubeApiStandin) -> None:
    fresh_api.forbid("policyreports")
    live = open_cluster(server=fresh_api.url, token=TOKEN)
    with pytest.raises(ProbeUnavailable) as denied:
        live.list("policyreports", NS)
    message = str(denied.value)
    assert "403 Forbidden" in message
    assert f"list policyreports.wgpolicyk8s.io in namespace {NS}" in message
    assert 'cannot list resource "policyreports" in API group "wgpolicyk8s.io"' in message
    assert live.list("pods", NS)  # the rest still reads


def test_enforced_rbac_allows_what_the_served_roles_grant() -> None:
    with KubeApiStandin(OBJECTS, token=TOKEN, enforce_rbac=True) as standin:
        live = open_cluster(server=standin.url, token=TOKEN)
        # the ClusterRoleBinding grants the checks' account get/list on rollouts, applications
        assert [name_of(o) for o in live.list("rollouts")] == ["feedback"]
        assert live.get("applications", "feedback", "argocd") is not None
        with pytest.raises(ProbeUnavailable, match=r"403 Forbidden: pods is forbidden: User "
                                                   rf'"{DEFAULT_USER}" cannot list resource '
                                                   r'"pods" in API group "" in the namespace'):
            live.list("pods", NS)


def test_a_missing_crd_is_not_measured_not_an_empty_list(tmp_path: Path) -> None:
    without_argo = [p for p, r in RESOURCES.items() if r.group != "argoproj.io"]
    with KubeApiStandin(OBJECTS, token=TOKEN, served=without_argo) as standin:
        live = open_cluster(server=standin.url, token=TOKEN)
        with pytest.raises(ProbeUnavailable, match=r"does not serve rollouts\.argoproj\.io "
                                                   r"v1alpha1 \(404 .*is the CRD installed"):
            live.list("rollouts", NS)
        with pytest.raises(ProbeUnavailable, match="does not serve"):
            live.get("rollouts", "feedback", NS)
        assert live.get("pods", "nope", NS) is None


def test_an_api_that_went_down_is_not_measured(fresh_api: KubeApiStandin) -> None:
    live = open_cluster(server=fresh_api.url, token=TOKEN, timeout_s=5)
    assert live.list("pods", NS)
    fresh_api.stop()  # also cuts the client's pooled keep-alive connection
    started = time.monotonic()
    with pytest.raises(ProbeUnavailable, match=r"is unreachable \(connection refused\) for list "
                                               r"pods in namespace feedback"):
        live.list("pods", NS)
    assert time.monotonic() - started < 5
    fresh_api.start()  # the same port again: the source recovers
    assert live.list("pods", NS)


def test_an_api_that_never_listened_is_not_measured() -> None:
    from pytest_release.demo.stack import free_port

    live = open_cluster(server=f"https://127.0.0.1:{free_port()}", token=TOKEN, timeout_s=5)
    with pytest.raises(ProbeUnavailable, match="unreachable"):
        live.get("namespaces", NS)


@pytest.mark.parametrize("mode", ["delay", "drip"])
def test_a_slow_api_is_not_measured_within_the_deadline(fresh_api: KubeApiStandin,
                                                        mode: str) -> None:
    deadline = 1.0
    many = [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"cm-{i:04d}", "namespace": NS}} for i in range(200)]
    fresh_api.set_objects(many)
    live = open_cluster(server=fresh_api.url, token=TOKEN, timeout_s=deadline)
    assert len(live.list("configmaps", NS)) == 200  # fast first: the deadline is not too tight
    if mode == "delay":
        fresh_api.slow(delay_s=30)
    else:  # headers at once, then 64 bytes every 50 ms: ~4 s for this body, no read ever idle
        fresh_api.slow(drip_s=0.05)
    started = time.monotonic()
    with pytest.raises(ProbeUnavailable, match=r"did not answer list configmaps in namespace "
                                               r"feedback within 1 s"):
        live.list("configmaps", NS)
    elapsed = time.monotonic() - started
    assert deadline <= elapsed < deadline + 0.5, f"returned after {elapsed:.2f} s"
    fresh_api.slow()  # fast again: the abandoned, half-read connection is not reused
    assert len(live.list("configmaps", NS)) == 200


def test_tls_without_the_ca_is_not_measured_and_insecure_reads(api: KubeApiStandin) -> None:
    with pytest.raises(ProbeUnavailable, match="TLS to the Kubernetes API .* failed .*CERTIFICATE"
                                               "_VERIFY_FAILED"):
        open_cluster(server=api.url, token=TOKEN).list("pods", NS)
    with pytest.warns(Warning, match="Unverified HTTPS request"):
        assert open_cluster(server=api.url, token=TOKEN, insecure=True).list("pods", NS)


def test_missing_snapshot_dir_is_not_measured_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-snapshot"
    with pytest.raises(ProbeUnavailable, match=f"snapshot directory {missing} does not exist"):
        open_cluster(snapshot_dir=missing).list("pods")


@pytest.mark.parametrize(("name", "text"), [
    ("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n"),
    ("broken.json", '{"apiVersion": "v1", "kind": "PodList", "items": [}'),
])
def test_a_malformed_snapshot_file_is_not_measured_naming_it(tmp_path: Path, name: str,
                                                             text: str) -> None:
    write_manifests(tmp_path, OBJECTS)
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ProbeUnavailable, match=f"cluster snapshot file {tmp_path / name} cannot "
                                               "be read: "):
        open_cluster(snapshot_dir=tmp_path).list("rollouts", NS)


# -- configuration ------------------------------------------------------------------------------
def test_nothing_configured_says_what_to_set() -> None:
    with pytest.raises(ProbeUnavailable, match="no cluster source configured: set "
                                               "cluster.snapshot_dir or cluster.kubeconfig/"
                                               "cluster.server"):
        open_cluster()


def test_a_snapshot_and_a_live_api_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ProbeUnavailable, match="configured: set only one"):
        open_cluster(snapshot_dir=tmp_path, server="https://127.0.0.1:6443")


def test_a_kubeconfig_and_its_context_are_used(api: KubeApiStandin, tmp_path: Path) -> None:
    config = api.kubeconfig(tmp_path / "kubeconfig", context="release")
    live = open_cluster(kubeconfig=config, context="release")
    assert live.description == f"live {api.url} (kubeconfig {config} context release)"
    assert _sorted(live.list("policyreports")) == _sorted(
        [o for o in OBJECTS if o["kind"] == "PolicyReport"])
    assert isinstance(live, LiveCluster)
    assert live.kubectl_flags == f"--kubeconfig {config} --context release"
    # The reproduce command alone (server, token and CA come from the kubeconfig) reads it too.
    import shlex

    assert KUBECTL
    command = kubectl_get("policyreports", "polr-feedback", NS, extra=live.kubectl_flags)
    ran = subprocess.run([KUBECTL, *shlex.split(command)[1:]], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert ran.returncode == 0, ran.stderr
    assert yaml.safe_load(ran.stdout)["summary"]["pass"] == 4
    with pytest.raises(ProbeUnavailable, match=f"cannot use context 'staging' of kubeconfig "
                                               f"{config}: .*staging"):
        open_cluster(kubeconfig=config, context="staging")
    with pytest.raises(ProbeUnavailable, match="kubeconfig .*nope does not exist"):
        open_cluster(kubeconfig=tmp_path / "nope")
    # --token overrides the kubeconfig's user, like kubectl's flag
    with pytest.raises(ProbeUnavailable, match="401"):
        open_cluster(kubeconfig=config, token="not-the-token").list("pods", NS)


def test_a_malformed_kubeconfig_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text("clusters: [unclosed\n", encoding="utf-8")
    with pytest.raises(ProbeUnavailable, match=f"kubeconfig {config}"):
        open_cluster(kubeconfig=config)


def test_in_cluster_outside_a_pod_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ProbeUnavailable, match="in-cluster Kubernetes config is not available"):
        open_cluster(in_cluster=True)


def test_in_cluster_reads_with_the_pods_service_account(api: KubeApiStandin, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # What the kubelet gives a pod: two env vars and the mounted token and CA (the client's
    # fixed paths pointed at files here; nothing else is replaced).
    from kubernetes.config import incluster_config

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token_file))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(api.ca_file))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", api.url.rsplit(":", 1)[1])
    live = open_cluster(in_cluster=True)
    assert live.description == f"live {api.url} (in-cluster service account)"
    assert _sorted(live.list("clusterpolicyreports")) == [
        o for o in OBJECTS if o["kind"] == "ClusterPolicyReport"]


def test_a_missing_kubernetes_client_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(ProbeUnavailable, match="pip install kubernetes"):
        LiveCluster(server="https://127.0.0.1:6443")


def test_the_plugin_does_not_import_the_kubernetes_client() -> None:
    code = ("import sys, pytest_release.plugin, pytest_release.fixtures_cluster, "
            "pytest_release.probes.cluster, pytest_release.settings; "
            "sys.exit('kubernetes' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- access reviews (for RBAC checks on the live path) ------------------------------------------
def test_self_subject_access_review_answers_from_the_served_rbac(api: KubeApiStandin) -> None:
    live = LiveCluster(server=api.url, token=TOKEN, ca_file=api.ca_file)

    def can(verb: str, plural: str, namespace: str | None = None) -> bool:
        attrs = {"verb": verb, "group": RESOURCES[plural].group, "resource": plural}
        if namespace:
            attrs["namespace"] = namespace
        status = live.review("selfsubjectaccessreviews", {"resourceAttributes": attrs})["status"]
        return bool(status["allowed"])

    assert can("list", "rollouts", NS) and can("get", "applications", "argocd")
    assert not can("delete", "rollouts", NS)
    assert not can("list", "pods", NS)
    rules = live.review("selfsubjectrulesreviews", {"namespace": NS})["status"]
    assert {"verbs": ["get", "list"], "apiGroups": ["argoproj.io"],
            "resources": ["rollouts", "applications"]} in rules["resourceRules"]
    assert rules["nonResourceRules"] == [{"verbs": ["get"],
                                          "nonResourceURLs": ["/healthz", "/version"]}]


def test_subject_access_review_binds_roles_to_their_namespace(api: KubeApiStandin) -> None:
    live = LiveCluster(server=api.url, token=TOKEN, ca_file=api.ca_file)
    user = f"system:serviceaccount:{NS}:feedback"

    def allowed(namespace: str) -> bool:
        spec = {"user": user, "groups": ["system:serviceaccounts"],
                "resourceAttributes": {"namespace": namespace, "verb": "list", "group": "",
                                       "resource": "configmaps"}}
        return bool(live.review("subjectaccessreviews", spec)["status"]["allowed"])

    assert allowed(NS)
    assert not allowed(OTHER_NS)
    assert user != DEFAULT_USER


# -- kubectl: the reproduce commands work against the stand-in ----------------------------------
KUBECTL = shutil.which("kubectl")


def _kubectl(api: KubeApiStandin, command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    import shlex

    argv = shlex.split(command)
    assert argv[0] == "kubectl"
    assert KUBECTL, "kubectl is not installed: apt-get install kubernetes-client (see .ci/setup)"
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    return subprocess.run([KUBECTL, "--server", api.url, "--token", TOKEN,
                           "--certificate-authority", str(api.ca_file),
                           "--cache-dir", str(tmp_path / "cache"), *argv[1:]],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize(("plural", "name", "namespace"), [
    ("rollouts", None, NS), ("rollouts", "feedback", NS), ("applications", None, None),
    ("clusterpolicies", None, None), ("policyreports", "polr-feedback", NS),
    ("clusterpolicyreports", None, None), ("deployments", None, NS), ("pods", None, None),
    ("clusterrolebindings", "release-checker", None), ("namespaces", None, None),
])
def test_kubectl_get_reproduce_commands_read_the_same_objects(
        api: KubeApiStandin, snapshot: SnapshotCluster, tmp_path: Path, plural: str,
        name: str | None, namespace: str | None) -> None:
    command = kubectl_get(plural, name, namespace)
    ran = _kubectl(api, command, tmp_path)
    assert ran.returncode == 0, ran.stderr
    shown = yaml.safe_load(ran.stdout)
    expected = ([snapshot.get(plural, name, namespace)] if name
                else snapshot.list(plural, namespace))
    got = [shown] if name else shown["items"]
    assert _sorted(got) == _sorted([e for e in expected if e is not None]) != []


def test_kubectl_default_table_and_auth_can_i_work_against_the_standin(
        api: KubeApiStandin, tmp_path: Path) -> None:
    table = _kubectl(api, f"kubectl get ro -n {NS}", tmp_path)
    assert table.returncode == 0, table.stderr
    assert table.stdout.split() == ["NAME", "CREATED", "AT", "feedback", "2026-11-30T08:00:00Z"]
    can = _kubectl(api, f"kubectl auth can-i list rollouts.argoproj.io -n {NS}", tmp_path)
    assert (can.returncode, can.stdout.strip()) == (0, "yes")
    cannot = _kubectl(api, f"kubectl auth can-i delete rollouts.argoproj.io -n {NS}", tmp_path)
    assert (cannot.returncode, cannot.stdout.strip()) == (1, "no")


def test_kubectl_reports_a_missing_object_and_a_bad_token(api: KubeApiStandin,
                                                          tmp_path: Path) -> None:
    ran = _kubectl(api, kubectl_get("rollouts", "nope", NS), tmp_path)
    assert ran.returncode == 1
    assert 'Error from server (NotFound): rollouts.argoproj.io "nope" not found' in ran.stderr
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    assert KUBECTL
    bad = subprocess.run([KUBECTL, "--server", api.url, "--token", "wrong",
                          "--certificate-authority", str(api.ca_file), "get", "pods", "-A"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 1 and "You must be logged in to the server" in bad.stderr


# -- the fixture --------------------------------------------------------------------------------
FIXTURE_TEST = """
def test_reads(cluster):
    assert cluster.source == {source!r}
    assert [o["metadata"]["name"] for o in cluster.list("rollouts", "feedback")] == ["feedback"]
"""


def test_the_cluster_fixture_reads_the_configured_source(pytester: pytest.Pytester,
                                                         api: KubeApiStandin, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot_dir = write_kubectl_lists(tmp_path / "snap", OBJECTS)
    pytester.makepyfile(test_snapshot=FIXTURE_TEST.format(source="snapshot"))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:xdist", "--release-set",
        f"cluster.snapshot_dir={snapshot_dir}")
    result.assert_outcomes(passed=1)
    pytester.makepyfile(test_snapshot=FIXTURE_TEST.format(source="live"))
    config = pytester.path / "release.toml"
    config.write_text(f'[cluster]\nserver = "{api.url}"\ntoken = "${{KUBE_TOKEN}}"\n'
                      f'ca_file = "{api.ca_file}"\ntimeout_s = 5\n', encoding="utf-8")
    monkeypatch.setenv("KUBE_TOKEN", TOKEN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert TOKEN not in result.stdout.str()


def test_the_cluster_fixture_without_settings_is_not_measured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_reads=FIXTURE_TEST.format(source="live"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*not measured*no cluster source configured: set "
                                 "cluster.snapshot_dir or cluster.kubeconfig/cluster.server*"])


# -- settings -----------------------------------------------------------------------------------
def test_cluster_settings_load_and_reject_bad_values(tmp_path: Path) -> None:
    from pytest_release.settings import SettingsError, load_settings

    ca = tmp_path / "ca.crt"
    ca.write_text("not checked here", encoding="utf-8")
    config = tmp_path / "release.toml"
    config.write_text('[cluster]\nserver = "https://k8s.internal:6443"\n'
                      'token = "${KUBE_TOKEN}"\nca_file = "ca.crt"\nnamespace = "feedback"\n',
                      encoding="utf-8")

    def load(*overrides: str) -> Any:
        return load_settings(path=config, path_is_explicit=True, overrides=list(overrides),
                             version="v5.7.1", rootdir=tmp_path, env={"KUBE_TOKEN": TOKEN})

    cfg = load("cluster.in_cluster=true", "cluster.timeout_s=2.5").cluster
    assert (cfg.server, cfg.token, cfg.ca_file, cfg.namespace) == (
        "https://k8s.internal:6443", TOKEN, str(ca), "feedback")
    assert cfg.in_cluster is True and cfg.timeout_s == 2.5
    assert cfg.insecure_skip_tls_verify is False and cfg.snapshot_dir is None
    assert TOKEN not in load().redact(f"token {TOKEN}")
    with pytest.raises(SettingsError) as bad:
        load("cluster.in_cluster=yes", "cluster.timeout_s=0", "cluster.snapshot_dir=nowhere",
             "cluster.server=k8s.internal")
    text = "\n".join(bad.value.problems)
    for key in ("cluster.in_cluster", "cluster.timeout_s", "cluster.snapshot_dir",
                "cluster.server"):
        assert key in text
