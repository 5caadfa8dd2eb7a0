"""Secrets out of pytest's own outputs that no report pass sees: log records (caplog, report
sections, live log, ``--log-file``), the ``--debug`` file and pytest-metadata's Environment.

- :func:`install_log_redaction`: a log record factory masks (and neutralises) every record's
  message once, when it is made, so every handler (pytest's and the user's) sees the masked text.
- :func:`scrub_debug_file`: the ``--debug`` file written before the settings were known is
  rewritten masked, and every later trace line is masked before it is written.
- :func:`scrub_metadata`: credentialed values (``https://user:pass@host``, known secrets) in
  pytest-metadata's table are masked in place.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

import pytest

from .redact import Redactor, neutralise

_previous_factory: Callable[..., logging.LogRecord] | None = None


def install_log_redaction(redact: Redactor) -> None:
    """Mask every log record's message when it is created (idempotent; undone by
    :func:`uninstall_log_redaction`)."""
    global _previous_factory
    uninstall_log_redaction()
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's own error to report
            return record
        record.msg = neutralise(redact(message), keep_newlines=True)
        record.args = None
        return record

    _previous_factory = previous
    logging.setLogRecordFactory(factory)


def uninstall_log_redaction() -> None:
    global _previous_factory
    if _previous_factory is not None:
        logging.setLogRecordFactory(_previous_factory)
        _previous_factory = None


def scrub_debug_file(config: pytest.Config, redact: Redactor) -> None:
    """``--debug``: rewrite what pytest wrote so far masked and mask every later trace line."""
    root = config.trace.root
    write = getattr(root, "_writer", None)
    debugfile = getattr(write, "__self__", None)
    if debugfile is None or not hasattr(debugfile, "name"):
        return
    try:
        debugfile.flush()
        with open(debugfile.name, encoding="utf-8", errors="replace") as f:
            written = f.read()
        debugfile.seek(0)
        debugfile.truncate()
        debugfile.write(redact(written))
    except (OSError, ValueError):
        return
    root.setwriter(lambda text: debugfile.write(redact(text)))


def scrub_metadata(metadata: MutableMapping[str, Any], redact: Redactor) -> None:
    """Mask credentials and known secrets in pytest-metadata's values (never its keys)."""
    for key, value in list(metadata.items()):
        if isinstance(value, str):
            metadata[key] = redact(value)
        elif isinstance(value, MutableMapping):
            scrub_metadata(value, redact)
