"""``promtool check rules`` through :func:`..tools.run_tool` (a total deadline, install hint)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..tools import require_tool, run_tool

INSTALL_HINT = "apt-get install prometheus (it ships promtool)"


@dataclass(frozen=True)
class ToolRun:
    argv: tuple[str, ...]
    returncode: int
    output: str


def promtool_check_rules(files: Sequence[str], *, promtool: str = "promtool",
                         timeout_s: float = 30.0) -> ToolRun:
    """``promtool check rules FILE...``; promtool missing or hanging → ProbeUnavailable."""
    binary = require_tool(promtool, hint=INSTALL_HINT)
    argv = (binary, "check", "rules", *files)
    out = run_tool(argv, timeout_s=timeout_s, tool="promtool")
    return ToolRun(argv, int(out.returncode or 0), (out.text + out.stderr).strip())
