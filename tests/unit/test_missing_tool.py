"""PYTEST_RELEASE_REQUIRE_TOOLS=1 (set by .ci/run) turns a missing component into a failure."""
from __future__ import annotations

import importlib

import pytest
from support import tools


@pytest.mark.parametrize(("value", "outcome"), [("1", pytest.fail.Exception),
                                                ("", pytest.skip.Exception),
                                                ("0", pytest.skip.Exception)])
def test_a_missing_component_skips_only_outside_ci(monkeypatch, value, outcome):
    monkeypatch.setenv("PYTEST_RELEASE_REQUIRE_TOOLS", value)
    try:
        module = importlib.reload(tools)
        with pytest.raises(outcome, match="k6 is not installed"):
            module.missing_tool("k6 is not installed")
    finally:
        monkeypatch.undo()
        importlib.reload(tools)


def test_ci_sets_it_before_the_tests():
    from support.run import REPO

    text = (REPO / ".ci" / "run").read_text()
    assert text.index("export PYTEST_RELEASE_REQUIRE_TOOLS=1") < text.index("-m pytest tests")
    assert ".venv/bin/ruff check pytest_release tests_release" in text
    assert ".venv/bin/mypy --strict pytest_release tests_release" in text
