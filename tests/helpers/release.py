"""Run the release suite in a pytester directory and read back the JSON sign-off.

The pytester directory gets copies of the chosen ``tests_release/`` modules (only those, so a gate
suite someone adds later cannot slow down or break tests of another gate), a ``pytest.ini`` made
from the project's ``[tool.pytest.ini_options]``; the demo service is the installed ``feedback_service``.
The plugin itself is loaded the way users get it: through its ``pytest11`` entry point.
"""
from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests_release"
VERSION = "v5.7.1"
SIGNOFF = "signoff.json"

_XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


class ReleaseRun(NamedTuple):
    result: pytest.RunResult
    signoff: dict[str, Any] | None


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def prepare(pytester: pytest.Pytester, modules: Iterable[str] = ("test_gate_redis.py",)) -> Path:
    """Lay out the pytester dir like the repository (idempotent); return the suite dir."""
    suite = pytester.path / "tests_release"
    suite.mkdir(exist_ok=True)
    for name in ("conftest.py", *modules):
        source = SUITE / name
        if source.exists():
            shutil.copyfile(source, suite / name)
    ini_file = pytester.path / "pytest.ini"
    if not ini_file.exists():
        options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"][
            "ini_options"]
        ini_file.write_text(
            "[pytest]\n" + "".join(f"{k} = {_ini_value(v)}\n" for k, v in options.items())
        )
    return suite


def run_release(
    pytester: pytest.Pytester,
    *args: str,
    modules: Iterable[str] = ("test_gate_redis.py",),
    release: str | None = VERSION,
    signoff: bool = True,
    timeout: float = 120,
) -> ReleaseRun:
    """``pytest --release v5.7.1 --release-signoff signoff.json *args`` in a subprocess."""
    prepare(pytester, modules)
    for name in _XDIST_ENV:  # an outer `-n 2` must not leak into the run under test
        os.environ.pop(name, None)
    path = pytester.path / SIGNOFF
    if path.exists():
        path.unlink()
    # hypothesis' pytest plugin alone costs ~1 s of startup per run and plays no part here.
    argv = ["-p", "no:randomly", "-p", "no:hypothesispytest"]
    if release is not None:
        argv += ["--release", release]
    if signoff:
        argv += ["--release-signoff", str(path)]
    result = pytester.runpytest_subprocess(*argv, *args, timeout=timeout)
    data = json.loads(path.read_text()) if path.exists() else None
    return ReleaseRun(result, data)


# -- reading the model ---------------------------------------------------------------------------
def gate(signoff: dict[str, Any], gate_id: str) -> dict[str, Any]:
    for g in signoff["gates"]:
        if g["id"] == gate_id:
            return g
    raise KeyError(gate_id)


def item(signoff: dict[str, Any], gate_id: str, item_id: str) -> dict[str, Any]:
    for i in gate(signoff, gate_id)["items"]:
        if i["id"] == item_id:
            return i
    raise KeyError(item_id)


def check(signoff: dict[str, Any], gate_id: str, item_id: str) -> dict[str, Any]:
    """The single check that earns ``item_id``."""
    found = [c for c in gate(signoff, gate_id)["checks"] if c["item_id"] == item_id]
    assert len(found) == 1, f"expected one check for {gate_id}.{item_id}, got {found}"
    return found[0]


def measurement(check_: dict[str, Any], name: str) -> dict[str, Any]:
    for m in check_["measurements"]:
        if m["name"] == name:
            return m
    names = [m["name"] for m in check_["measurements"]]
    raise KeyError(f"no measurement {name!r} in {check_['nodeid']}: {names}")


def item_statuses(signoff: dict[str, Any], gate_id: str) -> dict[str, str]:
    return {i["id"]: i["status"] for i in gate(signoff, gate_id)["items"]}


def output(result: pytest.RunResult) -> str:
    return "\n".join([*result.outlines, *result.errlines])
