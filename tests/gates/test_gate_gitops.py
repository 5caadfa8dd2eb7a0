"""Gate 6 end to end: the bundled suite against real git repositories and cluster objects in
the real shapes (snapshot directory, the Kubernetes API stand-in, an ``argocd app get -o json``
file), healthy and with one fault at a time; each fault fails its item naming the value."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

# Imported here, before any pytester snapshot of sys.modules: pytester drops modules first
# imported during a test, and neither cryptography's Rust bindings nor requests survive being
# imported a second time in one process (the registry client imports requests lazily).
import requests  # noqa: F401
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: F401
from support.gitops import DIGEST, IMAGE, ITEMS, MODULES, Target, target_factory
from support.run import check, gate, item_statuses, measurement, output

from pytest_release.demo.gitops import (
    gitops_objects,
    start_gitops,
    write_snapshot,
)
from pytest_release.demo.k8s_api import KubeApiStandin
from pytest_release.demo.registry import signed_demo_image
from pytest_release.verdict import EXIT_REJECTED


@pytest.fixture
def gitops_target(tmp_path: Path) -> Callable[..., Target]:
    """``gitops_target(fault=None)``: a real release repository and a cluster snapshot at its
    release commit, with one fault of :data:`FAULTS` / :data:`REPO_FAULTS` switched on."""
    return target_factory(tmp_path)


def _failed(signoff: dict) -> set[str]:
    return {i for i, s in item_statuses(signoff, "gitops").items() if s == "failed"}


def _messages(signoff: dict, item: str) -> str:
    return "\n".join(c["message"] or "" for c in gate(signoff, "gitops")["checks"]
                     if c["item_id"] == item)


def test_a_healthy_release_passes_all_five_items_and_records_the_chain(run_release, gitops_target):
    target = gitops_target()
    result, signoff = run_release("-m", "gate_gitops", *target.args(), modules=MODULES)
    assert result.ret == 0, output(result)
    g = gate(signoff, "gitops")
    assert g["status"] == "passed", g
    assert item_statuses(signoff, "gitops") == dict.fromkeys(ITEMS, "passed")
    assert len(g["checks"]) == 6
    for c in g["checks"]:
        assert c["outcome"] == "passed" and c["measured"], c
        compared = [m for m in c["measurements"] if m["ok"] is not None]
        assert compared and all(m["ok"] for m in compared), c
        assert c["reproduce"] and "git tag v5.7.1" not in c["reproduce"]
    chain = measurement(next(c for c in g["checks"] if "signed_release_digest" in c["nodeid"]),
                        "chain of custody")["value"]
    short = target.commit[:12]
    assert chain == (f"tag v5.7.1 → commit {short} == Argo revision {short} → template image "
                     f"sha256:{'5e' * 6}… == running sha256:{'5e' * 6}… == signed sha256:{'5e' * 6}…")
    tag = check(signoff, "gitops", "tag")
    assert "rev-parse 'v5.7.1^{commit}'" in tag["reproduce"]
    assert measurement(tag, "signed by")["value"] == "release-bot@example.com"
    synced = next(c for c in g["checks"] if "synced_to_the_release_commit" in c["nodeid"])
    revision = next(m for m in synced["measurements"] if m["name"].startswith("sync.revision"))
    assert revision["value"] == revision["threshold"] == target.commit


# fault → (items that fail, fragments the failure messages must contain)
CASES: dict[str, tuple[set[str], tuple[str, ...]]] = {
    "out_of_sync": ({"synced"}, ("expected sync.status == Synced, measured OutOfSync",)),
    "other_revision": ({"synced"}, ("measured 0badc0ffee0badc0ffee0badc0ffee0badc0ffee",
                                    "sync.revision (release commit {short})")),
    "operation_running": ({"synced"}, ("operation in progress (synced {short}, release commit "
                                       "{short}", "measured Running")),
    "operation_failed": ({"synced"}, ("one or more objects failed to apply", "measured Failed")),
    "degraded": ({"healthy"}, ("measured Degraded", "Rollout/cpt-ajan/cpt-ajan-backend: Degraded "
                                                   "(RolloutAborted")),
    "resource_missing": ({"healthy"}, ("Service/cpt-ajan/cpt-ajan-backend-canary: Missing",)),
    "wrong_weight": ({"canary"}, ("phase 2: weight of steps[2] (setWeight: 50) == 30 %, "
                                  "measured 50 %",)),
    "wrong_pause": ({"canary"}, ("phase 1: pause (steps[1] (pause: 2m)) == 300 s, measured 120 s",)),
    "missing_step": ({"canary", "rollback"}, ("phase 2: weight of after the last step (implicit "
                                              "setWeight: 100) == 30 %, measured 100 %",)),
    "blue_green": ({"canary", "rollback"}, ("strategy == canary, measured blueGreen",)),
    "analysis_not_wired": ({"rollback"}, ("analysis wired into the Rollout (background or steps) "
                                          ">= 1, measured 0",)),
    "wrong_interval": ({"rollback"}, ("feedback-latency/p95-latency interval (5m) == 30 s, "
                                      "measured 300 s",)),
    "wrong_threshold": ({"rollback"}, ("feedback-error-rate/error-rate threshold in error ratio "
                                       "(from `result[0] < 0.05`) <= 0.005, measured 0.05",)),
    "failure_limit_off_by_one": ({"rollback"}, (
        "phase 1: feedback-error-rate/error-rate (background) rolls back at failed measurement no. "
        "(failureLimit 1 + 1) <= 1, measured 2",)),
    "template_missing": ({"rollback"}, ("referenced templates that do not exist == [], measured "
                                        "['redis-health']",)),
    "other_digest": ({"synced"}, (f"running sha256:{'ab' * 6}… ≠ signed sha256:{'5e' * 6}…",
                                  "pods running another digest")),
    "lightweight_tag": ({"tag"}, ("(tag = annotated, commit = lightweight) == tag, measured commit",
                                  "non-tag object")),
    "moved_tag": ({"tag", "synced"}, ("tag v5.7.1 → commit (release.commit {c7}) ==",)),
    "untrusted_signature": ({"tag"}, ("No principal matched", "measured not verified")),
    "unsigned_tag": ({"tag"}, ("no signature found", "measured not verified")),
}


@pytest.mark.parametrize("fault", sorted(CASES))
def test_each_fault_fails_its_item_naming_the_value(run_release, gitops_target, fault):
    items, fragments = CASES[fault]
    target = gitops_target(fault)
    result, signoff = run_release("-m", "gate_gitops", *target.args(), modules=MODULES)
    assert result.ret == EXIT_REJECTED, output(result)
    assert _failed(signoff) == items, item_statuses(signoff, "gitops")
    assert all(s == "passed" for i, s in item_statuses(signoff, "gitops").items() if i not in items)
    text = "\n".join(_messages(signoff, i) for i in items)
    for fragment in fragments:
        assert fragment.format(short=target.commit[:12], c7=target.commit[:7]) in text, text
    assert gate(signoff, "gitops")["status"] == "failed"
    assert signoff["verdict"] == "REJECTED"


def test_a_moved_tag_names_both_revisions_in_the_sync_check(run_release, gitops_target):
    target = gitops_target("moved_tag")
    _, signoff = run_release("-m", "gate_gitops", *target.args(), modules=MODULES)
    text = _messages(signoff, "synced")
    moved_to = next(m["value"] for c in gate(signoff, "gitops")["checks"]
                    for m in c["measurements"] if m["name"].startswith("release commit (tag"))
    assert moved_to != target.commit
    assert f"expected sync.revision (release commit {moved_to[:12]}) == {moved_to}, measured " \
           f"{target.commit}" in text
    chain = next(m["value"] for c in gate(signoff, "gitops")["checks"] for m in c["measurements"]
                 if m["name"] == "chain of custody")
    assert f"tag v5.7.1 ≠ commit {moved_to[:12]} (release.commit {target.commit[:7]})" in chain
    assert f"≠ Argo revision {target.commit[:12]}" in chain


def test_an_unreachable_repository_is_not_measured_never_passed(run_release, gitops_target,
                                                                tmp_path):
    target = gitops_target()
    result, signoff = run_release(
        "-m", "gate_gitops",
        *target.args(**{"gitops.repo": "http://127.0.0.1:9/deploy.git"}), modules=MODULES)
    statuses = item_statuses(signoff, "gitops")
    assert statuses == {"synced": "not_measured", "healthy": "passed", "canary": "passed",
                        "rollback": "passed", "tag": "not_measured"}, output(result)
    tag = check(signoff, "gitops", "tag")
    assert "git ls-remote cannot read http://127.0.0.1:9/deploy.git" in tag["message"]
    assert signoff["verdict"] == "INCOMPLETE"


def test_an_unreachable_cluster_is_not_measured_never_passed(run_release, gitops_target):
    target = gitops_target()
    result, signoff = run_release(
        "-m", "gate_gitops", *target.args(**{"cluster.snapshot_dir": ""}),
        "--release-set", "cluster.server=http://127.0.0.1:9", "--release-set",
        "cluster.timeout_s=3", modules=MODULES)
    statuses = item_statuses(signoff, "gitops")
    assert statuses == {"synced": "not_measured", "healthy": "not_measured",
                        "canary": "not_measured", "rollback": "not_measured", "tag": "passed"}, \
        output(result)
    assert gate(signoff, "gitops")["status"] == "incomplete"


def test_the_live_path_reads_the_same_objects_through_the_api_stand_in(run_release, gitops_target,
                                                                      tmp_path):
    target = gitops_target()
    healthy = gitops_objects(commit=target.commit, image_name=IMAGE, digest=DIGEST)
    faulty = gitops_objects(commit=target.commit, image_name=IMAGE, digest=DIGEST,
                            fault="other_digest")
    for objects, failed in ((healthy, set()), (faulty, {"synced"})):
        with KubeApiStandin(objects) as api:
            result, signoff = run_release(
                "-m", "gate_gitops", *target.args(**{"cluster.snapshot_dir": ""}),
                "--release-set", f"cluster.server={api.url}", modules=MODULES)
            assert any(path.startswith("/apis/argoproj.io/v1alpha1/namespaces/argocd/applications")
                       for _, path in api.requests), api.requests
        assert _failed(signoff) == failed, output(result)
        assert item_statuses(signoff, "gitops")["healthy"] == "passed"


def test_the_application_can_come_from_argocd_app_get_json(run_release, gitops_target, tmp_path):
    target = gitops_target()
    app = next(o for o in gitops_objects(commit=target.commit, image_name=IMAGE, digest=DIGEST,
                                         fault="out_of_sync") if o["kind"] == "Application")
    report = tmp_path / "app.json"
    report.write_text(json.dumps(app))
    result, signoff = run_release("-m", "gate_gitops",
                                  *target.args(**{"gitops.argocd_app_json": str(report)}),
                                  modules=MODULES)
    # The snapshot's Application is synced; the report says OutOfSync: the report is what is read.
    assert _failed(signoff) == {"synced"}, output(result)
    assert "measured OutOfSync" in _messages(signoff, "synced")
    assert item_statuses(signoff, "gitops")["healthy"] == "passed"


def test_the_signed_digest_is_the_one_the_security_gate_verifies(run_release, gitops_target,
                                                                tmp_path):
    """A real registry (docker-registry) with the demo image and its cosign signature: the pod
    template names the image by tag only, which is resolved in the registry; the signed digest
    is verified with the public key; pods running another digest break the last link."""
    with signed_demo_image(tmp_path / "oci") as signed:
        name = signed.ref.name
        for fault, failed in ((None, set()), ("other_digest", {"synced"})):
            target = gitops_target(fault, digest=signed.digest, image=name)
            tag_only = [o for o in gitops_objects(commit=target.commit, image_name=name,
                                                  digest=signed.digest, fault=fault)]
            for obj in tag_only:
                if obj["kind"] == "Rollout":
                    obj["spec"]["template"]["spec"]["containers"][0]["image"] = signed.image
            write_snapshot(target.snapshot, tag_only)
            result, signoff = run_release(
                "-m", "gate_gitops", *target.args(**{"release.image": signed.image}),
                "--release-set", f"security.cosign_public_keys=['{signed.public_key}']",
                "--release-set", "security.registry_insecure=true", modules=MODULES)
            assert _failed(signoff) == failed, output(result)
            custody = next(c for c in gate(signoff, "gitops")["checks"]
                           if "signed_release_digest" in c["nodeid"])
            assert measurement(custody, "template tag resolved in the registry to")["value"] == \
                signed.digest
            assert "verified with" in measurement(custody, "signed digest from")["value"]
            if fault:
                assert f"≠ signed {signed.digest[:19]}…" in custody["message"]


@pytest.mark.parametrize("fault", [None, "moved_tag"])
def test_the_demo_part_measures_gate_6_from_its_own_config_tables(run_release, pytester, tmp_path,
                                                                 fault):
    """demo.gitops.start_gitops with the Security demo's real registry image: its tables, written
    as release.toml, make Gate 6 pass; with a fault the broken link is named in the chain."""
    with signed_demo_image(tmp_path / "oci") as signed:
        demo = start_gitops(tmp_path, image_name=signed.ref.name, digest=signed.digest,
                            fault=fault)
        tables = demo.settings()
        tables["release"]["image"] = signed.image
        tables["security"] = {"cosign_public_keys": [str(signed.public_key)],
                              "registry_insecure": True}
        lines = []
        for table, values in tables.items():
            lines.append(f"[{table}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
        (pytester.path / "release.toml").write_text("\n".join(lines) + "\n")
        result, signoff = run_release("-m", "gate_gitops", modules=MODULES)
    if fault is None:
        assert result.ret == 0, output(result)
        assert gate(signoff, "gitops")["status"] == "passed"
    else:
        assert _failed(signoff) == {"tag", "synced"}, output(result)
        chain = next(m["value"] for c in gate(signoff, "gitops")["checks"]
                     for m in c["measurements"] if m["name"] == "chain of custody")
        assert f"(release.commit {demo.commit[:7]})" in chain and "≠ Argo revision" in chain


def test_a_rollout_referencing_a_deployment_follows_its_pod_template(run_release, gitops_target):
    """``spec.workloadRef``: the Rollout takes its pod template from a Deployment; the chain
    reads the image there."""
    target = gitops_target()
    objects = gitops_objects(commit=target.commit, image_name=IMAGE, digest=DIGEST)
    rollout = next(o for o in objects if o["kind"] == "Rollout")
    template = rollout["spec"].pop("template")
    rollout["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": "cpt-ajan-backend"}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "cpt-ajan-backend", "namespace": "cpt-ajan"},
                  "spec": {"replicas": 0, "selector": rollout["spec"]["selector"],
                           "template": template}}
    write_snapshot(target.snapshot, [*objects, deployment])
    result, signoff = run_release("-m", "gate_gitops", *target.args(), modules=MODULES)
    assert result.ret == 0, output(result)
    custody = next(c for c in gate(signoff, "gitops")["checks"]
                   if "signed_release_digest" in c["nodeid"])
    assert measurement(custody, "pod template image")["value"] == f"{IMAGE}@{DIGEST}"


def test_the_tag_item_wording_follows_the_release_version():
    from pytest_release.gates import GATES_BY_ID

    item = GATES_BY_ID["gitops"].item("tag")
    assert item.render() == "Git tag: v5.7.1"
    assert item.render({"release_version": "v5.8.0"}) == "Git tag: v5.8.0"
