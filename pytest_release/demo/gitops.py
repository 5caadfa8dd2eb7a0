"""Gate 6's part of the demo stack: a real git repository with the release tag, and the cluster
objects Argo CD and Argo Rollouts would show for it.

* :class:`ReleaseRepo` — a real repository made with the real ``git``: commits, annotated,
  ssh-signed (``gpg.format ssh``, key from ``ssh-keygen``), unsigned, lightweight and moved
  tags; the allowed-signers file that trusts the signing key. Tests use it for every tag case.
* :func:`gitops_objects` — the example objects (``examples/cluster/gitops-*.yaml``: Application,
  Rollout, AnalysisTemplates, ReplicaSet, Pods) rewritten to the release commit and the image
  digest the registry serves, optionally with one fault (:data:`FAULTS`).
* :func:`start_gitops` — both together for the demo: returns the settings tables (``release``,
  ``gitops``, ``cluster``) to write into the demo's release.toml.

No Argo CD or Argo Rollouts controller can run here: their objects are served as a cluster
snapshot (or through ``demo.k8s_api.KubeApiStandin``), named as stand-ins in the README.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bundled import examples_path
from ..probes.tools import require_tool, run_tool

Obj = dict[str, Any]
GIT_HINT = "install git (apt-get install git)"
SSH_KEYGEN_HINT = "install ssh-keygen (apt-get install openssh-client)"
SIGNER = "release-bot@example.com"


class GitDemoError(RuntimeError):
    """A git or ssh-keygen command of the demo failed (with its stderr)."""


@dataclass
class ReleaseRepo:
    """A real git repository under ``path`` for release tags (created on first use)."""

    path: Path
    git: str = "git"
    timeout_s: float = 30.0
    signing_key: Path | None = None
    allowed_signers: Path | None = None
    commits: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not (self.path / ".git").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "-q", "-b", "main")

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # The user's own git config (commit.gpgsign, hooks, templates) must not change the demo.
        env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
                    "GIT_AUTHOR_NAME": "Release Bot", "GIT_AUTHOR_EMAIL": SIGNER,
                    "GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": SIGNER})
        return env

    def _git(self, *args: str) -> str:
        binary = require_tool(self.git, hint=GIT_HINT)
        out = run_tool([binary, "-C", str(self.path), *args], timeout_s=self.timeout_s,
                       env=self._env(), tool="git")
        if out.returncode != 0:
            raise GitDemoError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
        return out.text.strip()

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        """Commit ``files`` (path → content) with ``message``; returns the full SHA."""
        for name, content in (files or {"release.txt": message}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            self._git("add", "--", name)
        self._git("commit", "-q", "--allow-empty", "-m", message)
        sha = self._git("rev-parse", "HEAD")
        self.commits.append(sha)
        return sha

    def ensure_key(self) -> Path:
        """An ed25519 signing key (``ssh-keygen``) and the allowed-signers file trusting it."""
        if self.signing_key is not None:
            return self.signing_key
        keys = self.path.parent / f"{self.path.name}-keys"
        keys.mkdir(parents=True, exist_ok=True)
        key = keys / "release_signing_key"
        if not key.exists():
            keygen = require_tool("ssh-keygen", hint=SSH_KEYGEN_HINT)
            out = run_tool([keygen, "-q", "-t", "ed25519", "-N", "", "-C", SIGNER, "-f", str(key)],
                           timeout_s=self.timeout_s, tool="ssh-keygen")
            if out.returncode != 0:
                raise GitDemoError(f"ssh-keygen failed: {out.stderr.strip()}")
        signers = keys / "allowed_signers"
        public = (key.with_suffix(".pub") if key.suffix else Path(f"{key}.pub")).read_text()
        signers.write_text(f"{SIGNER} {public.strip()}\n", encoding="utf-8")
        self.signing_key, self.allowed_signers = key, signers
        return key

    def tag(self, name: str, commit: str | None = None, *, kind: str = "signed",
            message: str | None = None, key: Path | None = None, force: bool = False) -> str:
        """Create tag ``name`` at ``commit`` (default HEAD): ``kind`` is ``signed`` (annotated,
        ssh-signed), ``annotated`` (unsigned) or ``lightweight``. Returns the tag's object."""
        target = commit or "HEAD"
        extra = ["-f"] if force else []
        if kind == "lightweight":
            self._git("tag", *extra, name, target)
        elif kind == "annotated":
            self._git("tag", *extra, "-a", "-m", message or f"Release {name}", name, target)
        elif kind == "signed":
            signing = key or self.ensure_key()
            self._git("-c", "gpg.format=ssh", "-c", f"user.signingkey={signing}", "tag", *extra,
                      "-s", "-m", message or f"Release {name}", name, target)
        else:
            raise ValueError(f"unknown tag kind {kind!r}: signed, annotated or lightweight")
        return self._git("rev-parse", f"refs/tags/{name}")

    def other_key(self) -> Path:
        """A second ed25519 key that the allowed-signers file does not trust."""
        key = self.path.parent / f"{self.path.name}-keys" / "untrusted_key"
        if not key.exists():
            keygen = require_tool("ssh-keygen", hint=SSH_KEYGEN_HINT)
            key.parent.mkdir(parents=True, exist_ok=True)
            out = run_tool([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "someone@example.com",
                            "-f", str(key)], timeout_s=self.timeout_s, tool="ssh-keygen")
            if out.returncode != 0:
                raise GitDemoError(f"ssh-keygen failed: {out.stderr.strip()}")
        return key

    def tamper_tag(self, name: str, new_message: str = "Release (edited)") -> str:
        """Replace tag ``name`` by a copy whose message was edited after signing (the signature
        block is kept, so it no longer verifies)."""
        body = self._git("cat-file", "tag", f"refs/tags/{name}")
        head, _, rest = body.partition("\n\n")
        signature = rest[rest.index("-----BEGIN"):] if "-----BEGIN" in rest else ""
        binary = require_tool(self.git, hint=GIT_HINT)
        forged = f"{head}\n\n{new_message}\n{signature}\n"
        proc = subprocess.run([binary, "-C", str(self.path), "mktag"], input=forged.encode(),
                              capture_output=True, timeout=self.timeout_s, env=self._env())
        if proc.returncode != 0:
            raise GitDemoError(f"git mktag failed: {proc.stderr.decode().strip()}")
        sha = proc.stdout.decode().strip()
        self._git("update-ref", f"refs/tags/{name}", sha)
        return sha

    def bare_clone(self, target: Path) -> Path:
        """A bare clone (``file://`` remote for the ls-remote path)."""
        binary = require_tool(self.git, hint=GIT_HINT)
        out = run_tool([binary, "clone", "-q", "--bare", str(self.path), str(target)],
                       timeout_s=self.timeout_s, env=self._env(), tool="git")
        if out.returncode != 0:
            raise GitDemoError(f"git clone --bare failed: {out.stderr.strip()}")
        return target


# -- cluster objects --------------------------------------------------------------------------
EXAMPLE_FILES = ("gitops-application.yaml", "gitops-rollout.yaml", "gitops-analysistemplates.yaml",
                 "gitops-pods.yaml")


def load_examples(directory: Path | None = None) -> list[Obj]:
    """The example GitOps objects, in file order."""
    import yaml

    base = directory or examples_path("cluster")
    objects: list[Obj] = []
    for name in EXAMPLE_FILES:
        for doc in yaml.safe_load_all((base / name).read_text(encoding="utf-8")):
            if isinstance(doc, dict):
                objects.append(doc)
    return objects


def _kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def _set_image(objects: list[Obj], image: str, running: str) -> None:
    for obj in objects:
        kind = obj.get("kind")
        if kind in ("Rollout", "ReplicaSet"):
            for c in obj["spec"]["template"]["spec"]["containers"]:
                c["image"] = image
        elif kind == "Pod":
            for c in obj["spec"]["containers"]:
                c["image"] = image
            for st in obj["status"].get("containerStatuses") or []:
                st["image"] = image
                st["imageID"] = running
        elif kind == "Application":
            obj["status"]["summary"]["images"] = [image]


def gitops_objects(*, commit: str, image_name: str, digest: str, fault: str | None = None,
                   directory: Path | None = None) -> list[Obj]:
    """The example objects at ``commit`` running ``image_name@digest``, with ``fault`` applied.

    ``image_name`` is ``registry/repository`` (no tag); the pod template names the image by
    digest and the pods' imageIDs report the same digest.
    """
    objects = copy.deepcopy(load_examples(directory))
    for app in _kind(objects, "Application"):
        status = app["status"]
        status["sync"]["revision"] = commit
        status["operationState"]["operation"]["sync"]["revision"] = commit
        status["operationState"]["syncResult"]["revision"] = commit
    pinned = f"{image_name}@{digest}"
    _set_image(objects, pinned, pinned)
    if fault is not None:
        if fault not in FAULTS:
            raise KeyError(f"unknown GitOps fault {fault!r} (known: {', '.join(sorted(FAULTS))})")
        FAULTS[fault](objects)
    return objects


def write_snapshot(directory: Path, objects: Iterable[Obj]) -> Path:
    """Write ``objects`` as one multi-document YAML file per kind under ``directory``."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    by_kind: dict[str, list[Obj]] = {}
    for obj in objects:
        by_kind.setdefault(str(obj.get("kind", "Unknown")), []).append(obj)
    for kind, objs in by_kind.items():
        (directory / f"gitops-{kind.lower()}.yaml").write_text(
            yaml.safe_dump_all(objs, sort_keys=False), encoding="utf-8")
    return directory


# -- faults (one at a time; each is a real-shaped object a real cluster could show) ------------
def _app(objects: list[Obj]) -> Obj:
    return _kind(objects, "Application")[0]


def _rollout(objects: list[Obj]) -> Obj:
    return _kind(objects, "Rollout")[0]


def _template(objects: list[Obj], name: str) -> Obj:
    return next(o for o in _kind(objects, "AnalysisTemplate") if o["metadata"]["name"] == name)


def _steps(objects: list[Obj]) -> list[Obj]:
    steps: list[Obj] = _rollout(objects)["spec"]["strategy"]["canary"]["steps"]
    return steps


def _out_of_sync(objects: list[Obj]) -> None:
    app = _app(objects)
    app["status"]["sync"]["status"] = "OutOfSync"
    app["status"]["resources"][0]["status"] = "OutOfSync"


def _other_revision(objects: list[Obj]) -> None:
    other = "0badc0ffee0badc0ffee0badc0ffee0badc0ffee"
    app = _app(objects)
    app["status"]["sync"]["revision"] = other
    app["status"]["operationState"]["syncResult"]["revision"] = other


def _operation_running(objects: list[Obj]) -> None:
    app = _app(objects)
    app["status"]["operationState"]["phase"] = "Running"
    app["status"]["operationState"]["message"] = "waiting for healthy state of argoproj.io/Rollout"
    app["status"]["operationState"].pop("finishedAt", None)


def _operation_failed(objects: list[Obj]) -> None:
    app = _app(objects)
    app["status"]["operationState"]["phase"] = "Failed"
    app["status"]["operationState"]["message"] = "one or more objects failed to apply"


def _degraded(objects: list[Obj]) -> None:
    app = _app(objects)
    app["status"]["health"] = {"status": "Degraded"}
    app["status"]["resources"][0]["health"] = {
        "status": "Degraded", "message": "RolloutAborted: Rollout aborted update to revision 8"}
    _rollout(objects)["status"]["phase"] = "Degraded"


def _resource_missing(objects: list[Obj]) -> None:
    app = _app(objects)
    app["status"]["health"] = {"status": "Missing"}
    canary = next(r for r in app["status"]["resources"] if r["name"] == "cpt-ajan-backend-canary")
    canary["status"] = "OutOfSync"
    canary["health"] = {"status": "Missing"}


def _wrong_weight(objects: list[Obj]) -> None:
    _steps(objects)[2]["setWeight"] = 50


def _wrong_pause(objects: list[Obj]) -> None:
    _steps(objects)[1]["pause"] = {"duration": "2m"}


def _missing_step(objects: list[Obj]) -> None:
    steps = _steps(objects)
    del steps[2:4]  # setWeight 30 and its pause: straight from 10 % to the analysis and 100 %


def _blue_green(objects: list[Obj]) -> None:
    _rollout(objects)["spec"]["strategy"] = {
        "blueGreen": {"activeService": "cpt-ajan-backend", "previewService": "cpt-ajan-backend-canary",
                      "autoPromotionEnabled": True}}


def _analysis_not_wired(objects: list[Obj]) -> None:
    canary = _rollout(objects)["spec"]["strategy"]["canary"]
    canary.pop("analysis", None)
    canary["steps"] = [s for s in canary["steps"] if "analysis" not in s]


def _wrong_interval(objects: list[Obj]) -> None:
    _template(objects, "feedback-latency")["spec"]["metrics"][0]["interval"] = "5m"


def _wrong_threshold(objects: list[Obj]) -> None:
    _template(objects, "feedback-error-rate")["spec"]["metrics"][0]["successCondition"] = \
        "result[0] < 0.05"


def _failure_limit_off_by_one(objects: list[Obj]) -> None:
    # Phase 1 then tolerates one failure: the SECOND failed measurement rolls back, not the first.
    _rollout(objects)["spec"]["strategy"]["canary"]["analysis"]["args"][0]["value"] = "1"


def _template_missing(objects: list[Obj]) -> None:
    objects.remove(_template(objects, "redis-health"))


def _other_digest(objects: list[Obj]) -> None:
    other = "sha256:" + "ab" * 32
    pod = _kind(objects, "Pod")[0]
    for st in pod["status"]["containerStatuses"]:
        name = st["image"].split("@", 1)[0]
        st["imageID"] = f"{name}@{other}"


#: Cluster-side faults, one per violation the issue lists (git-side faults live in the repo).
FAULTS: dict[str, Callable[[list[Obj]], None]] = {
    "out_of_sync": _out_of_sync,
    "other_revision": _other_revision,
    "operation_running": _operation_running,
    "operation_failed": _operation_failed,
    "degraded": _degraded,
    "resource_missing": _resource_missing,
    "wrong_weight": _wrong_weight,
    "wrong_pause": _wrong_pause,
    "missing_step": _missing_step,
    "blue_green": _blue_green,
    "analysis_not_wired": _analysis_not_wired,
    "wrong_interval": _wrong_interval,
    "wrong_threshold": _wrong_threshold,
    "failure_limit_off_by_one": _failure_limit_off_by_one,
    "template_missing": _template_missing,
    "other_digest": _other_digest,
}
#: Repository-side faults: the release tag is lightweight, on another commit, or not signed by a
#: trusted key.
REPO_FAULTS = ("lightweight_tag", "moved_tag", "untrusted_signature", "unsigned_tag")


@dataclass(frozen=True)
class GitopsDemo:
    repo: Path
    commit: str
    tag: str
    allowed_signers: Path
    snapshot_dir: Path

    def settings(self) -> dict[str, dict[str, Any]]:
        """The config tables of Gate 6 for the demo's release.toml."""
        return {
            "release": {"commit": self.commit[:7]},
            "gitops": {"repo": str(self.repo), "tag": self.tag,
                       "allowed_signers": str(self.allowed_signers),
                       "application": "cpt-ajan", "namespace": "argocd"},
            "cluster": {"snapshot_dir": str(self.snapshot_dir)},
        }


def make_release_repo(path: Path, tag: str, *, fault: str | None = None) -> tuple[ReleaseRepo, str]:
    """A repository whose ``tag`` is signed and annotated on the release commit (the second of
    three commits), or shows one of :data:`REPO_FAULTS`. Returns the repo and release commit."""
    repo = ReleaseRepo(path)
    repo.commit("Initial deploy manifests", {"k8s/README.md": "cpt-ajan deploy\n"})
    release = repo.commit(f"Release {tag}", {"k8s/version.txt": f"{tag}\n"})
    later = repo.commit("Work after the release", {"k8s/next.txt": "next\n"})
    repo.ensure_key()
    if fault is None:
        repo.tag(tag, release)
    elif fault == "lightweight_tag":
        repo.tag(tag, release, kind="lightweight")
    elif fault == "unsigned_tag":
        repo.tag(tag, release, kind="annotated")
    elif fault == "moved_tag":
        repo.tag(tag, release)
        repo.tag(tag, later, force=True)
    elif fault == "untrusted_signature":
        repo.tag(tag, release, key=repo.other_key())
    else:
        raise KeyError(f"unknown repository fault {fault!r} (known: {', '.join(REPO_FAULTS)})")
    return repo, release


def start_gitops(workdir: Path, *, image_name: str, digest: str, tag: str = "v5.7.1",
                 fault: str | None = None, snapshot_dir: Path | None = None) -> GitopsDemo:
    """The demo's Gate 6: a release repository and a cluster snapshot at its commit running
    ``image_name@digest`` (a fault from :data:`FAULTS` or :data:`REPO_FAULTS`, or none).

    ``snapshot_dir``: write the objects into this (shared) snapshot directory, beside other
    gates' objects, instead of ``<workdir>/gitops/cluster``."""
    base = workdir / "gitops"
    if base.exists():
        shutil.rmtree(base)
    repo, commit = make_release_repo(base / "deploy-repo", tag,
                                     fault=fault if fault in REPO_FAULTS else None)
    objects = gitops_objects(commit=commit, image_name=image_name, digest=digest,
                             fault=fault if fault in FAULTS else None)
    snapshot = write_snapshot(snapshot_dir or base / "cluster", objects)
    if repo.allowed_signers is None:
        raise GitDemoError("the release repository has no allowed-signers file")
    return GitopsDemo(repo.path, commit, tag, repo.allowed_signers, snapshot)
