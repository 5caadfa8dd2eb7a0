"""The README's promises that can drift: the settings reference and the test command."""
from __future__ import annotations

import re
from pathlib import Path

from pytest_release.settings import reference_markdown

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_reference_matches_the_code():
    match = re.search(r"<!-- settings-reference:start -->\n(.*?)\n<!-- settings-reference:end -->",
                      README, re.S)
    assert match, "README lost its settings-reference markers"
    assert match.group(1) == reference_markdown(), (
        "README settings table is stale: regenerate it from settings.reference_markdown()")


def test_ci_runs_the_readme_test_command():
    command = ".venv/bin/python -m pytest tests -n 2"
    assert command in README
    assert command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
