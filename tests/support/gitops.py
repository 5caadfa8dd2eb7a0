"""A real Gate 6 target (a signed release repository and a cluster snapshot at its release
commit), cheap enough for any test that needs a *bundled* gate to pass or fail for real: custom
checks never earn an item (DESIGN.md, "Trust"), so a passing gate needs the suite's own checks."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_release.demo.gitops import (
    FAULTS,
    REPO_FAULTS,
    gitops_objects,
    make_release_repo,
    write_snapshot,
)

MODULES = ("test_gate_gitops.py",)
ITEMS = ("synced", "healthy", "canary", "rollback", "tag")
IMAGE = "127.0.0.1:5000/cpt-ajan-backend"
DIGEST = "sha256:" + "5e" * 32


@dataclass
class Target:
    repo: Path
    commit: str
    signers: Path
    snapshot: Path

    def args(self, **overrides: str) -> list[str]:
        values = {
            "release.commit": self.commit[:7], "release.image": f"{IMAGE}@{DIGEST}",
            "gitops.repo": str(self.repo), "gitops.allowed_signers": str(self.signers),
            "cluster.snapshot_dir": str(self.snapshot), **overrides,
        }
        args: list[str] = []
        for key, value in values.items():
            if value:
                # Quoted: an abbreviated SHA like 3548335 or 12e4567 would otherwise be read as
                # a TOML number.
                args += ["--release-set", f"{key}={json.dumps(value)}"]
        return args


def target_factory(tmp_path: Path) -> Callable[..., Target]:
    """``make(fault=None)``: a target with one fault of ``FAULTS`` / ``REPO_FAULTS`` on."""
    made: list[Target] = []

    def make(fault: str | None = None, *, digest: str = DIGEST, image: str = IMAGE) -> Target:
        base = tmp_path / f"target{len(made)}"
        repo, commit = make_release_repo(base / "deploy", "v5.7.1",
                                         fault=fault if fault in REPO_FAULTS else None)
        objects = gitops_objects(commit=commit, image_name=image, digest=digest,
                                 fault=fault if fault in FAULTS else None)
        snapshot = write_snapshot(base / "cluster", objects)
        assert repo.allowed_signers is not None
        made.append(Target(repo.path, commit, repo.allowed_signers, snapshot))
        return made[-1]

    return make
