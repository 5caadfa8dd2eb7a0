"""Probes talk to the world and return facts; they never assert and know nothing of gates.

A probe that cannot look raises :class:`ProbeUnavailable`; the plugin turns that into a
*not measured* check (an incomplete gate), never into a pass.
"""
from __future__ import annotations

import importlib
from types import ModuleType


class ProbeUnavailable(Exception):
    """The fact could not be observed (target down, client missing, access refused)."""


def require(module: str, package: str) -> ModuleType:
    """Import a client library on first use, with an install hint if it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ProbeUnavailable(
            f"the {package} package is not installed: pip install {package}"
        ) from None
