"""Where the files that ship with pytest-release live, from a checkout and from a wheel.

Every default that points at a bundled file (the k6 script, the observability set, example
manifests, the release suite itself) goes through these functions, never through
``Path(__file__).parents[...]`` arithmetic in the caller.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def examples_path(*parts: str) -> Path:
    """A file or folder under ``examples/`` (the example configs, manifests, scripts)."""
    packaged = _PACKAGE / "examples"
    base = packaged if packaged.is_dir() else _CHECKOUT / "examples"
    return base.joinpath(*parts)


def suite_path() -> Path:
    """The bundled release suite (``tests_release/`` in a checkout)."""
    packaged = _PACKAGE / "suite"
    if packaged.is_dir():
        return packaged
    return _CHECKOUT / "tests_release"
