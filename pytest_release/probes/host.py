"""Facts read from a host through pytest-testinfra (any of its backends)."""
from __future__ import annotations

from typing import Any

from . import ProbeUnavailable


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
        raise ProbeUnavailable(f"cannot read {path} on the Redis host: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
