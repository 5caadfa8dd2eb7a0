"""The one-command demo, end to end: ``python -m pytest_release.demo`` and what it leaves behind.

The demo runs in its own ``TMPDIR``, so every process it starts (redis-server, the feedback
service, pytest and its workers, k6) has its working directory or command line under that
directory; the test watches for them while the demo runs (proving the watch sees them) and
requires that none is left when it returns.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_release.verdict import EXIT_INCOMPLETE, EXIT_REJECTED

pytestmark = pytest.mark.slow
ARTIFACTS = ("report.html", "signoff.json", "checklist.md")
TIMEOUT_S = 240


def _processes_under(root: str) -> dict[int, str]:
    """pid → command line of live processes whose cwd or command line is under ``root``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if not cmdline:  # a zombie between exit and reaping: nothing runs any more
            continue
        if cwd.startswith(root) or root in cmdline:
            found[int(entry.name)] = cmdline
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class DemoRun:
    returncode: int
    output: str
    out: Path
    seen: dict[int, str] = field(default_factory=dict)
    left: dict[int, str] = field(default_factory=dict)

    @property
    def signoff(self) -> dict:
        return json.loads((self.out / "signoff.json").read_text())

    def gate(self, gate_id: str) -> dict:
        return next(g for g in self.signoff["gates"] if g["id"] == gate_id)


def run_demo(tmp_path: Path, *args: str) -> DemoRun:
    """Run the demo like a user would, watching the processes it starts."""
    if sys.platform != "linux":
        pytest.skip("process tracking reads /proc")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "artifacts"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_XDIST_", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"))}
    env["TMPDIR"] = str(tmpdir)
    log = tmp_path / "demo.log"
    seen: dict[int, str] = {}
    with open(log, "w") as stream:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_release.demo", "--out", str(out), *args],
            cwd=tmp_path, env=env, stdout=stream, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + TIMEOUT_S
        while proc.poll() is None:
            if time.monotonic() > deadline:
                proc.send_signal(signal.SIGTERM)  # the demo stops its stack on SIGTERM
                try:
                    proc.wait(30)
                finally:
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGKILL)
                pytest.fail(f"demo did not finish within {TIMEOUT_S} s:\n{log.read_text()}")
            seen.update(_processes_under(str(tmpdir)))
            time.sleep(0.2)
    left = _processes_under(str(tmpdir))
    return DemoRun(proc.returncode, log.read_text(), out, seen, left)


def _assert_cleaned_up(run: DemoRun) -> None:
    commands = list(run.seen.values())
    redis = [c for c in commands if c.split()[0].endswith("redis-server")]
    assert redis, f"never saw the demo's redis-server: {commands}"
    assert any("feedback_service serve" in c for c in commands), commands
    assert run.left == {}, f"left running: {run.left}"
    ports = [int(m) for c in redis for m in re.findall(r":(\d+)$", c)]
    service = re.search(r"demo: service http://127\.0\.0\.1:(\d+)", run.output)
    assert service and ports, run.output
    for port in (*ports, int(service.group(1))):
        assert not _port_open(port), f"port {port} still answers after the demo"
    workdir = re.search(r"feedback service in (\S+)", run.output)
    assert workdir and not Path(workdir.group(1)).exists(), "demo workdir not removed"


def test_demo_signs_off_gates_1_to_3_and_cleans_up(tmp_path):
    run = run_demo(tmp_path, "--load-duration", "5s", "--no-observability")

    assert run.returncode == EXIT_INCOMPLETE, run.output  # the suite's status: not every gate passed
    for name in ARTIFACTS:
        assert (run.out / name).stat().st_size > 0, name
    signoff = run.signoff
    # Gates 4 and 6 have no checks yet and Gate 5 has no Prometheus here: never APPROVED.
    assert signoff["verdict"] == "INCOMPLETE", signoff["reason"]
    for gate_id in ("redis", "api", "load"):
        gate = run.gate(gate_id)
        assert all(c["measured"] for c in gate["checks"])
        if gate_id == "load":
            # issue 12: a 5 s load is shorter than the checklist's 30 s: a deviation, not a pass
            assert gate["status"] == "incomplete", gate["reason"]
            assert "deviation not waived: Duration: 30s with 25 VUs" in gate["reason"]
            assert [d["setting"] for d in signoff["deviations"]] == ["load.duration"]
            continue
        assert gate["status"] == "passed", (gate_id, gate["reason"])
    assert not [g["id"] for g in signoff["gates"] if g["status"] == "failed"]
    assert "demo: verdict INCOMPLETE" in run.output
    assert "- [x]" in (run.out / "checklist.md").read_text()
    _assert_cleaned_up(run)


def test_demo_with_no_ttl_fault_is_rejected_on_the_ttl_checks(tmp_path):
    run = run_demo(tmp_path, "--fault", "no_ttl", "--load-duration", "3s", "--no-observability")

    assert run.returncode == EXIT_REJECTED, run.output
    assert run.signoff["verdict"] == "REJECTED"
    assert "demo: verdict REJECTED" in run.output
    redis_ttl = next(c for c in run.gate("redis")["checks"] if c["item_id"] == "ttl")
    stored_ttl = next(c for c in run.gate("api")["checks"] if c["item_id"] == "stored_ttl")
    assert redis_ttl["outcome"] == stored_ttl["outcome"] == "failed"
    no_expiry = next(m for m in redis_ttl["measurements"]
                     if m["name"] == "keys without expiry (feedback:*)")
    assert no_expiry["value"] > 0 and no_expiry["ok"] is False
    expiry = next(m for m in stored_ttl["measurements"] if m["name"] == "record has an expiry")
    assert expiry["value"] == -1 and expiry["ok"] is False
    failed = {g["id"] for g in run.signoff["gates"] if g["status"] == "failed"}
    assert failed == {"redis", "api"}, run.signoff["reason"]
    _assert_cleaned_up(run)
