"""Where the files that ship with pytest-release live, from a checkout and from a wheel.

Every default that points at a bundled file (the k6 script, the observability set, example
manifests, the release suite itself) goes through these functions, never through
``Path(__file__).parents[...]`` arithmetic in the caller.

Two layouts, one answer (``setup.py`` maps the first onto the second when building the wheel):

* a checkout (also an editable install): ``<repo>/tests_release/`` and ``<repo>/examples/``
  beside the ``pytest_release/`` package;
* a wheel: ``pytest_release/suite/`` and ``pytest_release/examples/`` inside the package.

The packaged location wins when it exists, so an installed wheel never reads a checkout that
happens to sit next to it.
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


def checkout_root() -> Path | None:
    """The repository root when pytest-release runs from a checkout, else None (a wheel)."""
    if (_PACKAGE / "suite").is_dir() or not (_CHECKOUT / "tests_release").is_dir():
        return None
    return _CHECKOUT


class BundledFile(str):
    """The absolute path of a bundled example file, documented by its place in ``examples/``.

    It is a ``str`` (the absolute path, valid in a checkout and in a wheel), so it can be a
    setting's default; formatted (the README's settings table) it reads ``examples/<parts>``,
    which is the same on every machine.
    """

    label: str

    def __new__(cls, *parts: str) -> BundledFile:
        obj = super().__new__(cls, str(examples_path(*parts)))
        obj.label = "/".join(("examples", *parts))
        return obj

    def __format__(self, spec: str) -> str:
        return format(self.label, spec)
