"""Gate 4 against real components: each of the five checks shown to pass and to fail.

Real: docker-registry with pushed images and cosign-layout signatures, trivy (with a locally
built DB), the regopy OPA server, cluster objects from snapshots and the Kubernetes API
stand-in. A run may carry one fault per item at once — the checks are independent, so each
item's failure is still attributable to its own fault — which keeps the pytester runs few.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pytest_release.verdict import EXIT_REJECTED
from support.run import check, gate, item_statuses, measurement, output
from support.security import (
    OPA_TOKEN,
    closed_port,
    kyverno_failing_result,
    kyverno_policy_not_ready,
    rbac_cluster_admin,
    rbac_secrets_list,
    rbac_wildcard,
)

from pytest_release.demo.security import toml_lines

MODULES = ("test_gate_security.py",)
# -k expressions naming one check each (pytester's directory is named after the outer test,
# so a bare "-k cosign" would match every check of a test whose name contains "cosign").
ONLY = {"trivy": "reports_no_critical", "cosign": "signature_verifies",
        "kyverno": "policies_are_ready", "opa": "authorization_table", "rbac": "least_privilege"}
ITEMS = ("trivy", "cosign", "kyverno", "opa", "rbac")


def run(run_release, targets, tmp_path, extra=None, *args):
    result, signoff = run_release(*targets.config(tmp_path, extra), *args, "-p", "no:xdist",
                                  modules=MODULES, timeout=240)
    assert signoff is not None, output(result)
    return result, signoff


def statuses(signoff):
    return item_statuses(signoff, "security")


def m(signoff, item_id, name):
    return measurement(check(signoff, "security", item_id), name)


def test_healthy_stack_passes_all_five_items(run_release, security_stack_targets, tmp_path):
    t = security_stack_targets
    result, signoff = run(run_release, t, tmp_path)
    assert result.ret == 0, output(result)
    assert statuses(signoff) == dict.fromkeys(ITEMS, "passed")
    assert gate(signoff, "security")["status"] == "passed"
    for item_id in ITEMS:
        c = check(signoff, "security", item_id)
        compared = [x for x in c["measurements"] if x["ok"] is not None]
        assert compared and all(x["ok"] for x in compared), c
        assert c["reproduce"], c
    assert m(signoff, "trivy", "CRITICAL findings (vulnerabilities + misconfigurations)")["value"] == 0
    assert m(signoff, "trivy", "artifact digests")["value"] == [t.digests["healthy"]]
    assert m(signoff, "cosign", "image digest")["value"] == t.digests["healthy"]
    assert m(signoff, "cosign", "signed docker-manifest-digest(s)")["value"] == [t.digests["healthy"]]
    assert m(signoff, "cosign", "verified with key")["value"] == str(t.stack.image.public_key)
    assert m(signoff, "cosign", "identity")["value"] == t.stack.image.ref.name
    assert check(signoff, "security", "cosign")["reproduce"].startswith(
        f"cosign verify --key {t.stack.image.public_key} {t.stack.image.ref.name}@sha256:")
    assert m(signoff, "kyverno", "ValidatingPolicy require-run-as-nonroot ready")["ok"] is True
    assert "validatingpolicies.policies.kyverno.io" in check(signoff, "security", "kyverno")["reproduce"]
    assert m(signoff, "opa", "admin-delete")["value"] == "allow"
    assert m(signoff, "opa", "anonymous")["value"] == "deny"
    assert m(signoff, "rbac", "least-privilege violations")["value"] == []
    assert "names=feedback-redis" in m(signoff, "rbac",
                                       "secrets-read-named (limited by resourceNames)")["value"]
    # the checklist's wording with the threshold in force
    items = {i["id"]: i["text"] for i in gate(signoff, "security")["items"]}
    assert items["trivy"] == "Trivy: CRITICAL = 0"


def test_faults_round_one(run_release, security_stack_targets, tmp_path):
    """CRITICAL CVE (real trivy run) · failing PolicyReport result · OPA allows a viewer POST ·
    service account may list secrets. The signature of that image is valid: cosign passes."""
    t = security_stack_targets
    extra = {"release": {"image": t.tags["critical"]},
             "security": {"opa_url": t.opa["permissive"].url},
             "cluster": {"snapshot_dir": t.snapshot("r1", kyverno_failing_result, rbac_secrets_list)}}
    result, signoff = run(run_release, t, tmp_path, extra)
    assert result.ret == EXIT_REJECTED, output(result)
    assert statuses(signoff) == {"trivy": "failed", "cosign": "passed", "kyverno": "failed",
                                 "opa": "failed", "rbac": "failed"}

    trivy = check(signoff, "security", "trivy")
    crit = measurement(trivy, "CRITICAL findings (vulnerabilities + misconfigurations)")
    assert (crit["value"], crit["ok"]) == (1, False)
    assert ("Trivy: CRITICAL = 0: expected CRITICAL findings (vulnerabilities + "
            "misconfigurations) <= 0, measured 1") in trivy["message"]
    listed = measurement(trivy, "CRITICAL findings, listed")["value"]
    assert listed == ["CVE-2020-14343 CRITICAL PyYAML 5.3, fixed 5.4 in Python"]

    kyverno = check(signoff, "security", "kyverno")
    assert "Kyverno: Policies passing: expected results fail == 0, measured 1" in kyverno["message"]
    failing = measurement(kyverno, "failing results (policy/rule on resource)")["value"]
    assert failing == ["disallow-privileged-containers/autogen-privileged-containers on "
                       "Deployment/cpt-ajan/cpt-ajan-backend: validation error: Privileged mode "
                       "is disallowed."]

    opa = check(signoff, "security", "opa")
    assert measurement(opa, "viewer-post")["value"] == "allow"
    assert measurement(opa, "admin-delete")["ok"] is True
    assert ("OPA: Authorization passing: expected viewer-post in ['deny', 'undefined (deny)'], "
            "measured allow") in opa["message"]

    rbac = check(signoff, "security", "rbac")
    assert measurement(rbac, "least-privilege violations")["value"] == ["cpt-ajan/backend:secrets-read"]
    assert "RBAC: Least privilege enforced" in rbac["message"]
    assert "cpt-ajan/backend:secrets-read" in rbac["message"]
    assert signoff["verdict"] == "REJECTED"


def test_faults_round_two(run_release, security_stack_targets, tmp_path):
    """The CRITICAL CVE under a live .trivyignore entry (passes, listed as ignored) · a wrong
    public key · a policy not ready · a wildcard rule · an undefined OPA decision."""
    t = security_stack_targets
    ignore = tmp_path / ".trivyignore"
    ignore.write_text("# accepted until the base image is rebuilt\nCVE-2020-14343 exp:2099-12-31\n")
    extra = {"release": {"image": t.tags["critical"]},
             "security": {"trivyignore": str(ignore), "cosign_public_keys": [str(t.wrong_key)],
                          "opa_url": t.opa["undefined"].url},
             "cluster": {"snapshot_dir": t.snapshot("r2", kyverno_policy_not_ready, rbac_wildcard)}}
    result, signoff = run(run_release, t, tmp_path, extra)
    assert statuses(signoff) == {"trivy": "passed", "cosign": "failed", "kyverno": "failed",
                                 "opa": "failed", "rbac": "failed"}, output(result)
    ignored = m(signoff, "trivy", "ignored CVE-2020-14343")["value"]
    assert "CVE-2020-14343 CRITICAL PyYAML 5.3" in ignored and "exp:2099-12-31" in ignored

    cosign = check(signoff, "security", "cosign")
    assert ("Cosign: Signature verified: expected signatures valid for the image digest >= 1, "
            "measured 0") in cosign["message"]
    sig = measurement(cosign, "signature 1")["value"]
    assert sig["key"] is None and "does not verify with any configured key" in sig["problem"]

    kyverno = check(signoff, "security", "kyverno")
    assert ("expected ClusterPolicy require-signed-images ready == True, measured False"
            in kyverno["message"])
    assert measurement(kyverno, "ClusterPolicy require-signed-images status")["value"] == \
        "failed to configure the webhook"

    opa = check(signoff, "security", "opa")
    assert measurement(opa, "admin-delete")["value"] == "undefined (deny)"
    assert "expected admin-delete in ['allow'], measured undefined (deny)" in opa["message"]
    assert measurement(opa, "anonymous")["ok"] is True  # undefined is a deny

    rbac = m(signoff, "rbac", "least-privilege violations")
    assert rbac["value"] == ["cpt-ajan/backend:wildcard-resources"]


def test_expired_ignore_counts_again_and_cluster_admin_binding_fails(
        run_release, security_stack_targets, tmp_path):
    t = security_stack_targets
    ignore = tmp_path / ".trivyignore.yaml"
    ignore.write_text("vulnerabilities:\n  - id: CVE-2020-14343\n    expired_at: 2020-01-31\n"
                      "    statement: waiting for the base image\n")
    extra = {"release": {"image": t.tags["critical"]},
             "security": {"trivyignore": str(ignore)},
             "cluster": {"snapshot_dir": t.snapshot("r3", rbac_cluster_admin)}}
    result, signoff = run(run_release, t, tmp_path, extra, "-k", f"{ONLY['trivy']} or {ONLY['rbac']}")
    assert statuses(signoff)["trivy"] == "failed", output(result)
    assert statuses(signoff)["rbac"] == "failed"
    assert m(signoff, "trivy", "CRITICAL findings (vulnerabilities + misconfigurations)")["value"] == 1
    expired = m(signoff, "trivy", "ignore expired, counted CVE-2020-14343")["value"]
    assert "exp:2020-01-31" in expired
    violations = m(signoff, "rbac", "least-privilege violations")["value"]
    assert "cpt-ajan/backend:cluster-admin" in violations
    assert "cpt-ajan/backend:wildcard-verbs" in violations


@pytest.mark.parametrize("variant, problem", [
    ("unsigned", "no signature: "),
    ("tampered", "the signature does not verify with any configured key"),
    ("otherdigest", None),
])
def test_cosign_fails_on_a_bad_signature(run_release, security_stack_targets, tmp_path, variant,
                                         problem):
    t = security_stack_targets
    result, signoff = run(run_release, t, tmp_path, {"release": {"image": t.tags[variant]}},
                          "-k", ONLY["cosign"])
    c = check(signoff, "security", "cosign")
    assert c["outcome"] == "failed", output(result)
    assert m(signoff, "cosign", "image digest")["value"] == t.digests[variant]
    valid = m(signoff, "cosign", "signatures valid for the image digest")
    assert (valid["value"], valid["ok"]) == (0, False)
    if variant == "unsigned":
        assert m(signoff, "cosign", "note")["value"].startswith(problem)
    elif variant == "tampered":
        sig = m(signoff, "cosign", "signature 1")["value"]
        # the replaced payload still names the right digest: only the signature catches it
        assert sig["problem"] == problem and sig["signed digest"] == t.digests[variant]
    else:
        signed = m(signoff, "cosign", "signed docker-manifest-digest(s)")
        assert signed["value"] == [t.digests["healthy"]] and signed["ok"] is False
        assert f"measured ['{t.digests['healthy']}']" in c["message"]


def test_trivy_report_path_other_image_stale_and_empty(run_release, security_stack_targets,
                                                       tmp_path):
    """Reports written by the real trivy, read instead of running it (trivy_prefer = report)."""
    t = security_stack_targets
    cases = {
        "other": t.trivy_report("other", t.tags["unsigned"]),
        "stale": t.trivy_report("stale", t.tags["healthy"], created_at="2026-01-01T00:00:00Z"),
        "empty": t.trivy_report("empty", t.tags["empty"], scanners="vuln"),
    }
    seen = {}
    for name, report in cases.items():
        extra = {"security": {"trivy_prefer": "report", "trivy_report": report}}
        if name == "empty":  # the release image itself has nothing trivy can scan
            extra["release"] = {"image": t.tags["empty"]}
        result, signoff = run(run_release, t, tmp_path / name, extra, "-k", ONLY["trivy"])
        seen[name] = check(signoff, "security", "trivy")
        assert seen[name]["outcome"] != "passed", output(result)
    other = seen["other"]
    assert other["outcome"] == "failed"
    digest_check = next(x for x in other["measurements"] if x["name"].startswith("release image digest"))
    assert digest_check["value"] == t.digests["healthy"]
    assert digest_check["threshold"] == [t.digests["unsigned"]] and digest_check["ok"] is False
    stale = seen["stale"]
    assert stale["outcome"] == "failed"
    age = measurement(stale, "report age")
    assert age["ok"] is False and age["value"] > 86400 and age["threshold"] == 86400
    assert "Trivy: CRITICAL = 0: expected report age <= 86400 s" in stale["message"]
    empty = seen["empty"]
    assert empty["outcome"] == "skipped" and not empty["measured"], empty
    assert "has no results: it scanned nothing" in empty["message"]


def test_every_component_unreachable_is_not_measured(run_release, security_stack_targets,
                                                     tmp_path):
    t = security_stack_targets
    port = closed_port()
    extra = {"release": {"image": f"127.0.0.1:{port}/your-org/cpt-ajan-backend:v5.7.1"},
             "security": {"opa_url": f"http://127.0.0.1:{closed_port()}", "timeout_s": 2.0},
             "cluster": {"snapshot_dir": None, "server": f"http://127.0.0.1:{closed_port()}",
                         "timeout_s": 2.0}}
    settings = t.settings(extra)
    del settings["cluster"]["snapshot_dir"]
    path = tmp_path / "release.toml"
    path.write_text(toml_lines(settings))
    result, signoff = run_release("--release-config", str(path), "-p", "no:xdist",
                                  modules=MODULES, timeout=240)
    assert signoff is not None, output(result)
    assert statuses(signoff) == dict.fromkeys(ITEMS, "not_measured"), output(result)
    assert gate(signoff, "security")["status"] == "incomplete"
    for item_id in ITEMS:
        c = check(signoff, "security", item_id)
        assert c["message"].startswith("not measured: "), c
    assert "unreachable" in check(signoff, "security", "opa")["message"]
    assert signoff["verdict"] != "APPROVED"


@pytest.mark.parametrize("fault", [None, "secrets"])
def test_live_cluster_through_the_api_standin(run_release, security_stack_targets, tmp_path,
                                              fault):
    from pytest_release.demo.k8s_api import KubeApiStandin

    t = security_stack_targets
    directory = t.snapshot(f"live-{fault}", *([rbac_secrets_list] if fault else []))
    with KubeApiStandin(directory=Path(directory), token="t0ken-sec") as api:
        settings = t.settings({"cluster": {"server": api.url, "token": "t0ken-sec"}})
        del settings["cluster"]["snapshot_dir"]
        path = tmp_path / "release.toml"
        path.write_text(toml_lines(settings))
        result, signoff = run_release("--release-config", str(path), "-p", "no:xdist",
                                      "-k", f"{ONLY['kyverno']} or {ONLY['rbac']}",
                                      modules=MODULES, timeout=240)
        if fault is None:
            assert shutil.which("kubectl"), "kubectl is missing: apt-get install kubernetes-client"
            # The Kyverno reproduce commands work as printed, run against the same objects
            # (kubectl sends no bearer token over plain HTTP, so a token-less stand-in serves
            # them; the printed command never carries the token anyway).
            reproduce = check(signoff, "security", "kyverno")["reproduce"]
            assert f"--server {api.url}" in reproduce
            with KubeApiStandin(directory=Path(directory)) as open_api:
                for command in reproduce.replace(api.url, open_api.url).split("; "):
                    done = subprocess.run(command, shell=True, timeout=60, capture_output=True,
                                          text=True)
                    assert done.returncode == 0, (command, done.stderr)
                    assert done.stdout.strip(), command
    assert signoff is not None, output(result)
    assert statuses(signoff)["kyverno"] == "passed", output(result)
    sar = m(signoff, "rbac", "SubjectAccessReview: forbidden access the API allows")
    if fault is None:
        assert statuses(signoff)["rbac"] == "passed"
        assert sar["value"] == [] and sar["ok"] is True
    else:
        assert statuses(signoff)["rbac"] == "failed"
        assert sar["value"] == ["cpt-ajan/backend:secrets-read (list secrets)"]
    assert "t0ken-sec" not in output(result)


def test_malformed_security_settings_are_one_usage_error(run_release, security_stack_targets,
                                                         tmp_path):
    t = security_stack_targets
    (tmp_path / ".trivyignore").write_text("CVE-1 exp:2026-02-30\n")
    extra = {"release": {"image": "cpt-ajan-backend:v5.7.1"},
             "security": {"opa_cases": ["permit admin: {}", 'deny anon: {"method": GET}'],
                          "cosign_public_keys": ["keys/missing.pub"],
                          "rbac_allowed_exceptions": ["secrets-read"],
                          "trivyignore": str(tmp_path / ".trivyignore")}}
    result, signoff = run_release(*t.config(tmp_path, extra), "-p", "no:xdist", modules=MODULES)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = output(result)
    assert "6 configuration problems" in text, text
    toml = f"{tmp_path / 'release.toml'}"
    assert f"{toml}: release.image: 'cpt-ajan-backend:v5.7.1': name the registry host" in text
    assert f"{toml}: security.opa_cases[0]: 'permit admin: {{}}' is not 'allow|deny NAME" in text
    assert "security.opa_cases[1]: case anon: the input is not JSON" in text
    assert "security.cosign_public_keys[0]: keys/missing.pub does not exist" in text
    assert "security.rbac_allowed_exceptions[0]: 'secrets-read' is not SERVICEACCOUNT:FINDING" in text
    assert "security.trivyignore: " in text and "'2026-02-30' is not a date" in text
    assert "Traceback" not in text
    assert signoff is None


@pytest.mark.parametrize("case", ["high", "high-allowed", "root-image", "trivy-missing",
                                  "rbac-exception", "manifests-wildcard", "opa-token",
                                  "opa-no-token"])
def test_one_setting_decides_one_item(run_release, security_stack_targets, tmp_path, case,
                                      monkeypatch):
    """HIGH against its limit, a root image, trivy not installed and no report, an explicit RBAC
    exception, an OPA that wants a bearer token (given: measured; not given: not measured)."""
    t = security_stack_targets
    monkeypatch.setenv("OPA_TOKEN", OPA_TOKEN)
    protected = t.opa["protected"].url
    manifests = tmp_path / "manifests"
    shutil.copytree(t.stack.manifests_dir, manifests)
    (manifests / "debug-role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: debug\n"
        "rules:\n  - apiGroups: ['*']\n    resources: ['*']\n    verbs: ['*']\n")
    extra, item_id = {
        "high": ({"release": {"image": t.tags["high"]}}, "trivy"),
        "high-allowed": ({"release": {"image": t.tags["high"]}, "security": {"max_high": 1}},
                         "trivy"),
        "root-image": ({"release": {"image": t.tags["root"]}}, "trivy"),
        "manifests-wildcard": ({"security": {"manifests_dir": str(manifests)}}, "rbac"),
        "opa-token": ({"security": {"opa_url": protected, "opa_token": "${OPA_TOKEN}"}}, "opa"),
        "opa-no-token": ({"security": {"opa_url": protected}}, "opa"),
        "trivy-missing": ({"security": {"trivy": str(tmp_path / "no-such-trivy")}}, "trivy"),
        "rbac-exception": ({"security": {"rbac_allowed_exceptions": ["backend:secrets-read"]},
                            "cluster": {"snapshot_dir": t.snapshot("exc", rbac_secrets_list)}},
                           "rbac"),
    }[case]
    result, signoff = run(run_release, t, tmp_path, extra, "-k", ONLY[item_id])
    c = check(signoff, "security", item_id)
    if case == "high":
        assert c["outcome"] == "failed", output(result)
        high = measurement(c, "HIGH findings")
        assert (high["value"], high["threshold"], high["ok"]) == (1, 0, False)
        assert "expected HIGH findings <= 0, measured 1" in c["message"]
    elif case == "high-allowed":
        assert c["outcome"] == "passed", output(result)
        assert measurement(c, "HIGH findings")["value"] == 1
        assert measurement(c, "HIGH findings, listed")["value"] == [
            "CVE-2023-28858 HIGH redis 4.5.0, fixed 4.5.3 in Python"]
    elif case == "root-image":  # a misconfiguration of the image itself, found by real trivy
        assert c["outcome"] == "failed", output(result)
        listed = measurement(c, "HIGH findings, listed")["value"]
        assert len(listed) == 1 and listed[0].startswith("DS-0002 HIGH"), listed
        assert measurement(c, "HIGH findings")["value"] == 1
    elif case == "manifests-wildcard":  # the cluster is clean; trivy config's second opinion is not
        assert c["outcome"] == "failed", output(result)
        assert measurement(c, "least-privilege violations")["ok"] is True
        serious = measurement(c, "trivy config CRITICAL/HIGH findings (second opinion)")
        assert serious["ok"] is False
        assert any("debug-role.yaml" in f for f in serious["value"]), serious
    elif case == "opa-token":
        assert c["outcome"] == "passed", output(result)
        assert OPA_TOKEN not in output(result) and OPA_TOKEN not in json.dumps(signoff)
        assert "$OPA_TOKEN" in c["reproduce"]
    elif case == "opa-no-token":
        assert c["outcome"] == "skipped" and not c["measured"], output(result)
        assert "answered 401" in c["message"]
    elif case == "trivy-missing":
        assert c["outcome"] == "skipped" and not c["measured"], output(result)
        assert "trivy is not installed and no report file is configured" in c["message"]
        assert "pytest-release[security]" in c["message"]
    else:
        assert c["outcome"] == "passed", output(result)
        excused = measurement(c, "allowed exceptions (security.rbac_allowed_exceptions)")["value"]
        assert len(excused) == 1 and excused[0].startswith("cpt-ajan/backend: secrets-read:")


def test_registry_with_authentication(run_release, security_stack_targets, tmp_path, monkeypatch):
    """A registry that wants credentials: trivy (TRIVY_USERNAME/PASSWORD) and the native cosign
    path both log in; the password (from ${REGISTRY_PASSWORD}) appears in no output."""
    from pytest_release.demo.registry import push_demo_image, sign_image, start_registry
    from pytest_release.probes.oci import ImageRef, Registry

    t = security_stack_targets
    password = "reg-pa55-word"
    server = start_registry(tmp_path / "registry", htpasswd=("releaser", password))
    try:
        client = Registry(server.url, username="releaser", password=password)
        digest = push_demo_image(client, "your-org/cpt-ajan-backend", "v5.7.1")
        ref = ImageRef(server.host, "your-org/cpt-ajan-backend", "v5.7.1", None)
        sign_image(client, ref, digest, t.stack.image.private_key)
        monkeypatch.setenv("REGISTRY_PASSWORD", password)
        extra = {"release": {"image": str(ref)},
                 "security": {"registry_username": "releaser",
                              "registry_password": "${REGISTRY_PASSWORD}"}}
        result, signoff = run(run_release, t, tmp_path / "run", extra, "-k",
                              f"{ONLY['trivy']} or {ONLY['cosign']}")
    finally:
        server.stop()
    assert statuses(signoff)["trivy"] == "passed", output(result)
    assert statuses(signoff)["cosign"] == "passed", output(result)
    assert m(signoff, "cosign", "image digest")["value"] == digest
    assert password not in output(result)
    assert password not in json.dumps(signoff)
    assert password not in (tmp_path / "run" / "release.toml").read_text()
