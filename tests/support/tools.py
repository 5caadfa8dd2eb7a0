"""What a test does when a real component (redis-server, prometheus, k6, ...) is missing.

On a developer's machine it skips, saying what to install. In CI (``.ci/run`` sets
``PYTEST_RELEASE_REQUIRE_TOOLS=1``) it FAILS: a broken CI image must never report green.
"""
from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_TOOLS = os.environ.get("PYTEST_RELEASE_REQUIRE_TOOLS", "") not in ("", "0")


def missing_tool(message: str) -> NoReturn:
    """Skip (or, with PYTEST_RELEASE_REQUIRE_TOOLS=1, fail) because a component is missing."""
    __tracebackhide__ = True
    if REQUIRE_TOOLS:
        pytest.fail(f"{message} (PYTEST_RELEASE_REQUIRE_TOOLS=1: a missing component is a "
                    "failure here, not a skip)", pytrace=False)
    pytest.skip(message)
