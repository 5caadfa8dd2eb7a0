"""Facts read from a host through pytest-testinfra (any of its backends)."""
from __future__ import annotations

from typing import Any

from . import ProbeUnavailable, require


def open_host(spec: str) -> Any:
    """The testinfra host for ``spec`` (local://, ssh://user@host, docker://...)."""
    testinfra = require("testinfra", "pytest-testinfra")
    try:
        return testinfra.get_host(spec)
    except Exception as exc:  # noqa: BLE001 - testinfra raises bare errors for bad specs
        raise ProbeUnavailable(f"testinfra cannot open host {spec!r}: {exc}") from None


def read_file(host: Any, path: str) -> str | None:
    """The text of ``path`` on ``host``, or None if it does not exist.

    testinfra reports an unreachable host or a failed command as a bare AssertionError or
    RuntimeError; that is a host we could not look at, not a fact about the file.
    """
    try:
        handle = host.file(path)
        if not handle.exists:
            return None
        return str(handle.content_string)
    except Exception as exc:  # noqa: BLE001 - testinfra backends raise anything
        name = getattr(getattr(host, "backend", None), "hostname", None) or "the host"
        raise ProbeUnavailable(f"cannot read {path} on {name}: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
