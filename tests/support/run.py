"""The one run-and-parse harness: the release suite in a pytester subprocess → :class:`ReleaseRun`.

The pytester directory gets copies of the chosen ``tests_release/`` modules (only those, so a gate
suite someone adds later cannot slow down or break tests of another gate), a ``pytest.ini`` made
from the project's ``[tool.pytest.ini_options]`` and a conftest doing what the root conftest does.
The plugin itself is loaded the way users get it: through its ``pytest11`` entry points.

``result, signoff = run_release(pytester, ...)`` still unpacks; the readers (``gate``,
``checks``, ``check``, ``measurement``, ``failing``...) are methods of the run and, for a parsed
sign-off dict, module functions of the same names.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests_release"
VERSION = "v5.7.1"
SIGNOFF = "signoff.json"

_XDIST_ENV = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
#: hypothesis' pytest plugin alone costs ~1 s of startup per run and plays no part in most runs.
QUICK = ("-p", "no:randomly", "-p", "no:hypothesispytest")
_runs = itertools.count(1)


@dataclass
class ReleaseRun:
    """One run of the release suite: pytester's result, the sign-off and where it was written."""

    result: pytest.RunResult
    signoff: dict[str, Any] | None
    outdir: Path
    secrets: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[Any]:
        """``result, signoff = run_release(...)``."""
        return iter((self.result, self.signoff))

    @property
    def output(self) -> str:
        return output(self.result)

    def gate(self, gate_id: str) -> dict[str, Any]:
        assert self.signoff is not None, f"no sign-off written:\n{self.output}"
        return gate(self.signoff, gate_id)

    def checks(self, gate_id: str) -> dict[str, dict[str, Any]]:
        """item id → the one check that earns it."""
        found: dict[str, dict[str, Any]] = {}
        for c in self.gate(gate_id)["checks"]:
            assert c["item_id"] not in found, f"two checks for {gate_id}.{c['item_id']}"
            found[c["item_id"]] = c
        return found

    def check(self, gate_id: str, item_id: str) -> dict[str, Any]:
        return self.checks(gate_id)[item_id]

    def outcomes(self, gate_id: str) -> dict[str, str]:
        return {item_id: c["outcome"] for item_id, c in self.checks(gate_id).items()}

    def measurement(self, gate_id: str, item_id: str, name: str) -> dict[str, Any]:
        return measurement(self.check(gate_id, item_id), name)

    def failing(self, gate_id: str, item_id: str) -> dict[str, Any]:
        """measurement name → value of every compared measurement that violated its threshold."""
        return {m["name"]: m["value"] for m in self.check(gate_id, item_id)["measurements"]
                if m["ok"] is False}


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
    settings: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
    own_dir: bool = False,
    quick: bool = True,
    python: str | None = None,
    timeout: float = 120,
) -> ReleaseRun:
    """``pytest --release v5.7.1 --release-signoff <dir>/signoff.json *args`` in a subprocess.

    ``settings`` become ``--release-set KEY=VALUE`` options (None drops a key), ``env`` is set
    for the run only (secrets travel there, never on the command line). ``own_dir`` gives the
    run a directory of its own (``run-N/`` with the sign-off and ``basetemp``) instead of the
    pytester dir; ``quick`` turns hypothesis' and randomly's plugins off; ``python`` runs another
    interpreter. The xdist variables of an outer ``-n 2`` never reach the run under test.
    """
    import pytest

    prepare(pytester, modules)
    with pytest.MonkeyPatch.context() as own:
        patch = monkeypatch or own
        for name in _XDIST_ENV:
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        if own_dir:
            outdir = pytester.path / f"run-{next(_runs)}"
            outdir.mkdir()
        else:
            outdir = pytester.path
        path = outdir / SIGNOFF
        path.unlink(missing_ok=True)
        argv = list(QUICK) if quick else ["-p", "no:cacheprovider"]
        if release is not None:
            argv += ["--release", release]
        if signoff:
            argv += ["--release-signoff", str(path)]
        if own_dir:
            argv.append(f"--basetemp={outdir / 'basetemp'}")
        for key, value in (settings or {}).items():
            if value is not None:
                argv += ["--release-set", f"{key}={value}"]
        argv += args
        if python is None:
            result = pytester.runpytest_subprocess(*argv, timeout=timeout)
        else:
            result = pytester.run(python, "-m", "pytest", *argv, timeout=timeout)
    data = json.loads(path.read_text()) if path.exists() else None
    return ReleaseRun(result, data, outdir, dict(env or {}))


# -- reading a parsed sign-off ------------------------------------------------------------------
def gate(signoff: dict[str, Any], gate_id: str) -> dict[str, Any]:
    for g in signoff["gates"]:
        if g["id"] == gate_id:
            return dict(g)
    raise KeyError(gate_id)


def item(signoff: dict[str, Any], gate_id: str, item_id: str) -> dict[str, Any]:
    for i in gate(signoff, gate_id)["items"]:
        if i["id"] == item_id:
            return dict(i)
    raise KeyError(item_id)


def check(signoff: dict[str, Any], gate_id: str, item_id: str) -> dict[str, Any]:
    """The single check that earns ``item_id``."""
    found = [c for c in gate(signoff, gate_id)["checks"] if c["item_id"] == item_id]
    assert len(found) == 1, f"expected one check for {gate_id}.{item_id}, got {found}"
    return dict(found[0])


def measurement(check_: dict[str, Any], name: str) -> dict[str, Any]:
    for m in check_["measurements"]:
        if m["name"] == name:
            return dict(m)
    names = [m["name"] for m in check_["measurements"]]
    raise KeyError(f"no measurement {name!r} in {check_['nodeid']}: {names}")


def item_statuses(signoff: dict[str, Any], gate_id: str) -> dict[str, str]:
    return {i["id"]: i["status"] for i in gate(signoff, gate_id)["items"]}


def output(result: pytest.RunResult) -> str:
    return "\n".join([*result.outlines, *result.errlines])
