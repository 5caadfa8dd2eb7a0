"""What installing pytest-release costs every other pytest run in that environment.

Builds two virtualenvs in a temp dir (or ``--venvs DIR``, reused when present):

* ``bare``: the design card's packages only: pytest, pytest-xdist, pytest-html, redis,
  requests, kubernetes, pytest-testinfra;
* ``release``: the same plus pytest-release from this checkout (a normal, non-editable install,
  with every runtime dependency it declares).

Then it runs ``pytest --collect-only -q -p no:cacheprovider`` on a one-test file in a temp dir
(its own ``pytest.ini``) with each venv's interpreter, alternating the order run by run, and
reports medians of wall and child-CPU time, the median of paired differences, and the ratio.
A third variant, the bare venv with every third-party pytest plugin disabled (``-p no:NAME``),
shows what those plugins cost on their own: they are in both venvs, so they are not
pytest-release's cost, but they are most of a start-up.

It also lists what the release venv adds: its pytest11 entry points, the modules a whole
``pytest --collect-only`` imports there and not in the bare venv, and the import time of each
entry-point module (``python -X importtime``, medians). Target: +150 ms at most.
Usage:  python bench/bench_startup.py [--runs 21] [--venvs DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

TARGET_MS = 150.0
REPO = Path(__file__).resolve().parents[1]
#: The design card's packages: installed in both venvs.
CARD = ["pytest", "pytest-xdist", "pytest-html", "redis", "requests", "kubernetes",
        "pytest-testinfra"]
#: Must not be imported by a pytest start in an environment with pytest-release installed.
HEAVY = ("redis", "requests", "kubernetes", "testinfra", "hypothesis", "jwt", "cryptography",
         "yaml", "prometheus_client")
PYTEST = ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]

_ENTRY_POINTS = """
import importlib.metadata as m, json
print(json.dumps(sorted((e.name, e.value, e.dist.name if e.dist else "?")
                        for e in m.entry_points(group="pytest11"))))
"""
_MODULES = """
import json, sys, pytest
rc = pytest.main({args!r})
print("\\n@@" + json.dumps(sorted(sys.modules)))
"""


def _python(env: Path) -> Path:
    return env / "bin" / "python"


def make_venvs(root: Path, repo: Path = REPO) -> dict[str, Path]:
    envs = {"bare": root / "bare", "release": root / "release"}
    for name, env in envs.items():
        if _python(env).exists():
            if name == "release":  # this checkout as it is now
                subprocess.run([str(_python(env)), "-m", "pip", "install", "-q", "--no-deps",
                                "--force-reinstall", str(repo)], check=True, capture_output=True)
            continue
        print(f"creating venv {env} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(env)
        packages = [*CARD, str(repo)] if name == "release" else CARD
        start = time.perf_counter()
        # pip's own configuration and cache: no network beyond the configured indexes.
        proc = subprocess.run([str(_python(env)), "-m", "pip", "install", "-q", *packages],
                              capture_output=True, text=True,
                              env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        if proc.returncode != 0:
            raise SystemExit(f"pip install into {env} failed:\n{proc.stdout}{proc.stderr}")
        print(f"  installed {' '.join(packages)} in {time.perf_counter() - start:.0f} s")
    return envs


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: The children's environment (see --dont-write-bytecode).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall ms, CPU ms of the child): CPU time is the steadier number on a busy machine."""
    cpu0, start = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=CHILD_ENV)
    wall = (time.perf_counter() - start) * 1000.0
    cpu = (_child_cpu() - cpu0) * 1000.0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return wall, cpu


def entry_points(python: Path) -> list[tuple[str, str, str]]:
    out = subprocess.run([str(python), "-c", _ENTRY_POINTS], capture_output=True, text=True,
                         check=True)
    return [tuple(e) for e in json.loads(out.stdout)]  # type: ignore[misc]


def modules_after_start(python: Path, cwd: Path) -> set[str]:
    code = _MODULES.format(args=PYTEST[2:])
    out = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True,
                         check=True, env=CHILD_ENV)
    return set(json.loads(out.stdout.rsplit("@@", 1)[1]))


def import_ms(python: Path, module: str, runs: int) -> float:
    """Median cumulative import time of ``module`` after ``import pytest`` (-X importtime)."""
    pattern = re.compile(rf"\|\s*(\d+) \| {re.escape(module)}$")
    values = []
    for _ in range(runs):
        proc = subprocess.run([str(python), "-X", "importtime", "-c", f"import pytest, {module}"],
                              capture_output=True, text=True, check=True, env=CHILD_ENV)
        for line in proc.stderr.splitlines():
            match = pattern.search(line)
            if match:
                values.append(int(match.group(1)) / 1000.0)
    return statistics.median(values) if values else float("nan")


def summarise(samples: dict[str, list[tuple[float, float]]]) -> None:
    print(f"{'variant':<44}{'wall median':>12}{'wall min':>10}{'CPU median':>12}")
    for name, values in samples.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(f"{name:<44}{statistics.median(walls):>9.0f} ms{min(walls):>7.0f} ms"
              f"{statistics.median(cpus):>9.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per variant (>= 11)")
    parser.add_argument("--venvs", type=Path, default=None,
                        help="keep the two venvs here and reuse them next time")
    parser.add_argument("--import-runs", type=int, default=7,
                        help="-X importtime runs per entry-point module (medians)")
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the pytest-release checkout to install (default: this one); "
                             "another checkout or worktree gives a before/after")
    parser.add_argument("--dont-write-bytecode", action="store_true",
                        help="run pytest with PYTHONDONTWRITEBYTECODE=1 (as many container images "
                             "do): pytest then re-rewrites every plugin module on every start")
    args = parser.parse_args()
    runs = max(11, args.runs)
    if args.dont_write_bytecode:
        CHILD_ENV["PYTHONDONTWRITEBYTECODE"] = "1"
    print(f"PYTHONDONTWRITEBYTECODE={CHILD_ENV.get('PYTHONDONTWRITEBYTECODE', '(unset)')} for pytest")

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root = args.venvs or Path(tmp) / "venvs"
        root.mkdir(parents=True, exist_ok=True)
        envs = make_venvs(root, args.repo.resolve())
        print(f"pytest-release installed from {args.repo.resolve()}")
        cwd = Path(tmp) / "project"
        cwd.mkdir()
        (cwd / "pytest.ini").write_text("[pytest]\n")  # anchor the rootdir here
        (cwd / "test_trivial.py").write_text("def test_nothing():\n    pass\n")

        bare_eps = entry_points(_python(envs["bare"]))
        release_eps = entry_points(_python(envs["release"]))
        added_eps = [e for e in release_eps if e not in bare_eps]
        print("pytest11 entry points in both venvs: "
              + ", ".join(f"{n} ({d})" for n, _, d in bare_eps))
        print("added by installing pytest-release:  "
              + (", ".join(f"{n} = {v} ({d})" for n, v, d in added_eps) or "none"))

        added_modules = (modules_after_start(_python(envs["release"]), cwd)
                         - modules_after_start(_python(envs["bare"]), cwd))
        heavy = sorted(m for m in added_modules if m.split(".")[0] in HEAVY)
        tops = sorted({m.split(".")[0] for m in added_modules})
        print(f"modules a pytest start imports only in the release venv: {len(added_modules)} "
              f"(top-level: {', '.join(tops) or 'none'})")
        heavy_tops = sorted({m.split(".")[0] for m in heavy})
        print(f"  of those, heavy clients ({', '.join(HEAVY)}): "
              + (f"{', '.join(heavy_tops)} ({len(heavy)} modules)" if heavy else "none"))

        print(f"\nimport time after `import pytest` (median of {args.import_runs}, -X importtime)")
        for name, value, dist in release_eps:
            module = value.split(":")[0]
            where = "release venv only" if (name, value, dist) in added_eps else "both venvs"
            print(f"  {module:<34}{import_ms(_python(envs['release']), module, args.import_runs):>7.1f}"
                  f" ms  ({dist}, {where})")

        no_plugins = [arg for n, _, _ in bare_eps for arg in ("-p", f"no:{n}")]
        variants = {
            "bare venv (design-card packages)": [str(_python(envs["bare"])), *PYTEST],
            "release venv (+ pytest-release)": [str(_python(envs["release"])), *PYTEST],
            "bare venv, third-party plugins off (-p no:)": [str(_python(envs["bare"])), *PYTEST,
                                                            *no_plugins],
        }
        for cmd in variants.values():  # warm the OS caches and .pyc files
            timed(cmd, cwd)
            timed(cmd, cwd)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        load0 = os.getloadavg()[0]
        for i in range(runs):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                samples[name].append(timed(variants[name], cwd))
        load1 = os.getloadavg()[0]

    bare, release, alone = (samples[name] for name in variants)
    print(f"\npytest --collect-only -q, one trivial test, {runs} interleaved runs per variant "
          f"(load average {load0:.1f} -> {load1:.1f}, {os.cpu_count()} cores)")
    summarise(samples)

    def median_of(values: list[tuple[float, float]], idx: int) -> float:
        return statistics.median(v[idx] for v in values)

    wall_added = median_of(release, 0) - median_of(bare, 0)
    cpu_added = median_of(release, 1) - median_of(bare, 1)
    paired = statistics.median(r[0] - b[0] for b, r in zip(bare, release))
    paired_cpu = statistics.median(r[1] - b[1] for b, r in zip(bare, release))
    third_party = median_of(bare, 1) - median_of(alone, 1)
    print(f"added by installing pytest-release: wall {wall_added:+.0f} ms (paired {paired:+.0f} ms), "
          f"CPU {cpu_added:+.0f} ms (paired {paired_cpu:+.0f} ms); ratio "
          f"{median_of(release, 0) / median_of(bare, 0):.2f}x wall, "
          f"{median_of(release, 1) / median_of(bare, 1):.2f}x CPU; target <= {TARGET_MS:.0f} ms")
    print(f"the design card's own plugins cost {third_party:+.0f} ms CPU over pytest alone "
          f"(in both venvs; not pytest-release's)")
    ok = max(paired, paired_cpu) <= TARGET_MS and not heavy
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
