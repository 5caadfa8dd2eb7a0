"""Stash keys shared by the plugin, the runner, the collector and the fixtures.

A leaf module: it imports nothing of pytest-release at run time, so no import cycle can form
between the plugin and the objects it registers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .collector import CheckIndex, SignOffCollector
    from .evidence import Evidence
    from .settings import Settings

settings_key: pytest.StashKey[Settings] = pytest.StashKey()
index_key: pytest.StashKey[CheckIndex] = pytest.StashKey()
collector_key: pytest.StashKey[SignOffCollector] = pytest.StashKey()
evidence_key: pytest.StashKey[Evidence] = pytest.StashKey()

#: ``config.workeroutput`` keys (xdist worker → controller).
WORKEROUTPUT_KEY = "pytest_release_index"
USAGE_ERROR_KEY = "pytest_release_usage_error"
