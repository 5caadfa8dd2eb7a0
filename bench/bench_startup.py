"""Startup cost of the plugin: `pytest --collect-only -q` with and without pytest-release.

Runs a trivial test file in a temp dir N times each, alternating `-p no:release` (baseline) and the
default (the plugin loaded through its pytest11 entry point), and reports medians (wall and the
child's CPU time) and the difference. Every other installed plugin (pytest-html, xdist,
testinfra, metadata) stays loaded in both variants; hypothesis' plugin is disabled in both unless
--with-hypothesis. Also checks in a fresh interpreter that importing the entry module pulls in
none of the heavy clients. Usage:  python bench/bench_startup.py [--runs 21]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 150.0
HEAVY = ("redis", "requests", "kubernetes", "testinfra")


def heavy_imports() -> list[str]:
    code = ("import sys, pytest_release.plugin; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall ms, CPU ms of the child): CPU time is the steadier number on a busy machine."""
    cpu0, start = _child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = (time.perf_counter() - start) * 1000.0
    cpu = (_child_cpu() - cpu0) * 1000.0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per variant (>= 15)")
    parser.add_argument("--with-hypothesis", action="store_true",
                        help="keep hypothesis' pytest plugin loaded in both variants")
    args = parser.parse_args()
    runs = max(15, args.runs)

    loaded = heavy_imports()
    print(f"import pytest_release.plugin pulls in: {', '.join(loaded) or 'none of'} "
          f"{'' if loaded else ', '.join(HEAVY)}")

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        cwd = Path(tmp)
        (cwd / "pytest.ini").write_text("[pytest]\n")  # anchor the rootdir here
        (cwd / "test_trivial.py").write_text("def test_nothing():\n    pass\n")
        base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        if not args.with_hypothesis:
            # Unrelated to the plugin, ~1 s of imports in both variants: its jitter hides the signal.
            base += ["-p", "no:hypothesispytest"]
        variants = {"without (-p no:release)": base + ["-p", "no:release"],
                    "with (entry point)": base}
        for cmd in variants.values():  # warm the OS caches and .pyc files
            timed(cmd, cwd)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for i in range(runs):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                samples[name].append(timed(variants[name], cwd))

    without, with_ = (samples[name] for name in variants)
    print(f"\npytest --collect-only -q, trivial test file, {runs} alternating runs each")
    print(f"{'variant':<26}{'wall median':>12}{'wall min':>10}{'CPU median':>12}")
    for name, values in samples.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(f"{name:<26}{statistics.median(walls):>9.0f} ms{min(walls):>7.0f} ms"
              f"{statistics.median(cpus):>9.0f} ms")
    wall_added = statistics.median(w for w, _ in with_) - statistics.median(w for w, _ in without)
    cpu_added = statistics.median(c for _, c in with_) - statistics.median(c for _, c in without)
    paired = statistics.median(b[0] - a[0] for a, b in zip(without, with_))
    base = statistics.median(w for w, _ in without)
    print(f"{'added by pytest-release':<26}{wall_added:>9.0f} ms{'':>10}{cpu_added:>9.0f} ms")
    print(f"median of paired wall differences: {paired:.0f} ms "
          f"({(base + wall_added) / base:.2f}x the baseline wall time); target <= {TARGET_MS:.0f} ms")
    ok = max(wall_added, cpu_added) <= TARGET_MS and not loaded
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
