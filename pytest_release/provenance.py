"""What the sign-off can say about the checks that produced it (DESIGN.md, "Trust").

- the suite: pytest-release's version, where the bundled checks live and whether their files still
  match the hashes the installed distribution recorded (a wheel's RECORD; a checkout or editable
  install records none, which the sign-off says instead of claiming a match);
- per check, whether it is a **bundled** check (its file's bytes are the bundled file's) or a
  **custom** one (a team's own test carrying a gate marker);
- the conftests and plugins that were active, since either can change what a check does.
"""
from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .bundled import suite_path

DISTRIBUTION = "pytest-release"


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@cache
def suite_digests() -> dict[str, str]:
    """File name → sha256 of every Python file of the bundled suite as it is on disk."""
    root = suite_path()
    found = {}
    for path in sorted(root.glob("*.py")):
        digest = _sha256(path)
        if digest is not None:
            found[path.name] = digest
    return found


def recorded_digests() -> dict[str, str] | None:
    """File name → sha256 the installed distribution recorded for its suite files (RECORD), or
    None when it recorded none (a checkout, an editable install)."""
    try:
        files = metadata.files(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return None
    found = {}
    for entry in files:
        parts = Path(str(entry)).parts
        if parts[:2] != ("pytest_release", "suite") or entry.hash is None:
            continue
        if entry.hash.mode != "sha256":
            continue
        raw = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
        found[parts[-1]] = raw.hex()
    return found or None


def suite_record() -> dict[str, Any]:
    """The ``suite`` block of the sign-off."""
    try:
        version = metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        from . import __version__ as version
    on_disk = suite_digests()
    recorded = recorded_digests()
    if recorded is None:
        return {"version": version, "path": str(suite_path()), "install": "checkout",
                "verified": None,
                "note": "unverified: a checkout or editable install records no hashes"}
    modified = sorted(n for n, d in recorded.items() if on_disk.get(n) != d)
    added = sorted(n for n in on_disk if n not in recorded)
    return {"version": version, "path": str(suite_path()), "install": "wheel",
            "verified": not modified and not added, "modified": modified, "added": added}


@cache
def is_bundled_file(path: Path) -> bool:
    """Are these bytes one of the bundled check files' (by name and sha256)?"""
    digest = _sha256(path)
    return digest is not None and suite_digests().get(path.name) == digest


class BundledIndex:
    """Is the file of a node id one of the bundled checks (the same bytes)? Cached per file."""

    def __init__(self, rootdir: Path) -> None:
        self.rootdir = rootdir
        self._seen: dict[str, bool] = {}

    def __call__(self, nodeid: str) -> bool:
        relative = nodeid.split("::")[0]
        if relative not in self._seen:
            path = (self.rootdir / relative)
            digest = _sha256(path)
            self._seen[relative] = digest is not None and suite_digests().get(path.name) == digest
        return self._seen[relative]


def active(config: Any) -> dict[str, list[str]]:
    """The conftests and the plugin distributions active in this run."""
    conftests = sorted({str(getattr(p, "__file__", "")) for p in config.pluginmanager.get_plugins()
                        if str(getattr(p, "__file__", "")).endswith("conftest.py")})
    plugins = sorted({f"{dist.project_name}=={dist.version}"
                      for _, dist in config.pluginmanager.list_plugin_distinfo()})
    return {"conftests": conftests, "plugins": plugins}
