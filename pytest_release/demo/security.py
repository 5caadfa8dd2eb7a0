"""Gate 4's part of the demo stack: registry + signed image, a Trivy DB, OPA, cluster objects.

:func:`security_stack` starts, on loopback and in ``workdir``:

* Debian ``docker-registry`` with the demo service image ``your-org/cpt-ajan-backend:<tag>``
  pushed by plain registry HTTP, and its cosign key-based signature made with a fresh
  ECDSA P-256 test key;
* a small Trivy DB (``<workdir>/trivy-cache/db``) so the real ``trivy image`` can find CVEs;
* the OPA-REST server over regopy with ``examples/opa/authz.rego``;
* a copy of ``examples/cluster`` (the Kyverno and RBAC objects) and ``examples/manifests``.

It yields a :class:`SecurityStack` whose :meth:`~SecurityStack.settings` are the ``release.*``,
``security.*`` and ``cluster.*`` values the demo (and the tests) put into their release.toml.
Faults are built by the tests from the same pieces (other tags, keys, policies, snapshots).
"""
from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundled import examples_path
from .opa import OpaServer
from .parts import DemoContext, Overrides
from .registry import SignedImage, signed_demo_image
from .trivydb import build_trivy_db

#: The policies the demo's release requires (all in examples/cluster/kyverno-policies.yaml).
DEMO_POLICIES = ("require-signed-images", "disallow-privileged-containers",
                 "require-run-as-nonroot")
DEMO_NAMESPACE = "cpt-ajan"


@dataclass
class SecurityStack:
    image: SignedImage
    opa: OpaServer
    trivy_cache: Path
    snapshot_dir: Path
    manifests_dir: Path
    workdir: Path

    def settings(self) -> dict[str, dict[str, Any]]:
        """``{table: {key: value}}`` for a release.toml measuring Gate 4 on this stack."""
        return {
            "release": {"image": self.image.image},
            "security": {
                "registry_insecure": True,
                "trivy_cache_dir": str(self.trivy_cache),
                "cosign_public_keys": [str(self.image.public_key)],
                "opa_url": self.opa.url,
                "kyverno_policies": list(DEMO_POLICIES),
                "service_accounts": ["backend"],
                "manifests_dir": str(self.manifests_dir),
            },
            "cluster": {"snapshot_dir": str(self.snapshot_dir), "namespace": DEMO_NAMESPACE},
        }


@contextlib.contextmanager
def security_stack(workdir: Path, *, tag: str = "v5.7.1") -> Iterator[SecurityStack]:
    """Start Gate 4's components (see the module docstring); everything stops on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    cache = build_trivy_db(workdir / "trivy-cache")
    snapshot = workdir / "cluster"
    manifests = workdir / "manifests"
    shutil.copytree(examples_path("cluster"), snapshot, dirs_exist_ok=True)
    shutil.copytree(examples_path("manifests"), manifests, dirs_exist_ok=True)
    with signed_demo_image(workdir, tag=tag) as image, OpaServer() as opa:
        yield SecurityStack(image, opa, cache, snapshot, manifests, workdir)


def toml_lines(settings: dict[str, dict[str, Any]]) -> str:
    """The settings as TOML tables (strings, booleans, numbers, lists of strings)."""
    import json

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v))  # a JSON string is a valid TOML basic string

    out = []
    for table, values in settings.items():
        out.append(f"[{table}]")
        out += [f"{key} = {value(v)}" for key, v in values.items()]
        out.append("")
    return "\n".join(out)


def start_demo_security(workdir: Path, stack: contextlib.ExitStack) -> dict[str, dict[str, Any]]:
    """Start Gate 4's part of the demo on ``stack``; the tables for its release.toml.

    A component that cannot start (``docker-registry`` missing, say) is reported and left out:
    Gate 4 is then *not measured*, never passed.
    """
    from .stack import StackError

    try:
        security = stack.enter_context(security_stack(workdir))
    except (StackError, ImportError, OSError) as exc:
        print(f"demo: security stack not started ({exc}); Gate 4 will be not measured")
        return {}
    print(f"demo: registry {security.image.registry.url} with {security.image.pinned} (signed), "
          f"OPA {security.opa.url}")
    return security.settings()


@contextlib.contextmanager
def demo_part(ctx: DemoContext) -> Iterator[Overrides]:
    """The demo stack part (``demo/parts.py``): Gate 4's components, stopped on exit."""
    from .stack import StackError

    try:
        cm = security_stack(ctx.dir("security"), tag=ctx.args.release)
        security = cm.__enter__()
    except (ImportError, OSError) as exc:
        raise StackError(str(exc)) from None
    try:
        print(f"demo: registry {security.image.registry.url} with {security.image.pinned} "
              f"(signed), OPA {security.opa.url}")
        ctx.shared["signed_image"] = security.image
        ctx.shared["cluster_snapshot"] = security.snapshot_dir
        yield security.settings()
    finally:
        cm.__exit__(None, None, None)
