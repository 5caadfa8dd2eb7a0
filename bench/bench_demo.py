"""The full demo sign-off, parallel (pytest-xdist ``--workers auto``) against serial (``--workers 0``).

Each run is ``python -m pytest_release.demo --out <tmp> --workers W --load-duration D`` (plus
``--no-observability`` when asked): the real stack, the whole release suite, the three artifacts.
Runs alternate between the modes so machine noise spreads over both. Reported per mode (medians):

* demo wall: the whole command, stack start and stop included;
* suite: the pytest run alone (the demo's "suite finished in X s");
* overhead: suite minus the k6 load duration: what the rest of the suite adds on top of the
  load. Target: within 10 s on 2 cores.

    python bench/bench_demo.py                          # 3 runs per mode, 30 s load
    python bench/bench_demo.py --runs 1 --load-duration 5s
    python bench/bench_demo.py --modes auto,0,auto:loadfile
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pytest_release.settings import duration_seconds  # noqa: E402

TARGET_OVERHEAD_S = 10.0
_SUITE = re.compile(r"demo: suite finished in ([\d.]+) s with pytest exit code (-?\d+)")
_COUNTS = re.compile(r"=+ (.*) in [\d.]+s")


def run_demo(mode: str, load_duration: str, observability: bool) -> dict[str, object]:
    """``mode`` is a --workers value, optionally with an xdist --dist mode: ``auto:loadfile``."""
    workers, _, dist = mode.partition(":")
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as out:
        command = [sys.executable, "-m", "pytest_release.demo", "--out", out,
                   "--workers", workers, "--load-duration", load_duration]
        if not observability:
            command.append("--no-observability")
        if dist:
            command += ["--", "--dist", dist]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        started = time.monotonic()
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=900)
        wall = time.monotonic() - started
        suite = _SUITE.search(proc.stdout)
        if suite is None:
            raise SystemExit(f"demo failed (exit {proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        signoff = json.loads((Path(out) / "signoff.json").read_text())
        counts = _COUNTS.findall(proc.stdout)
        return {"wall": wall, "suite": float(suite.group(1)), "exit": proc.returncode,
                "verdict": signoff["verdict"], "tests": counts[-1] if counts else "?",
                "gates": " ".join(f"{g['number']}:{g['status']}" for g in signoff["gates"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--load-duration", default="30s")
    parser.add_argument("--modes", default="auto,0",
                        help="--workers values, comma-separated; 'auto:loadfile' adds "
                             "-- --dist loadfile")
    parser.add_argument("--no-observability", action="store_true",
                        help="pass --no-observability (Gate 5 then not measured)")
    args = parser.parse_args()
    load_s = duration_seconds(args.load_duration)
    modes = args.modes.split(",")
    results: dict[str, list[dict[str, object]]] = {m: [] for m in modes}
    for run in range(args.runs):
        for mode in modes:
            r = run_demo(mode, args.load_duration, not args.no_observability)
            results[mode].append(r)
            print(f"run {run + 1} {mode}: wall {r['wall']:.1f} s, suite "
                  f"{r['suite']:.1f} s, exit {r['exit']}, {r['verdict']}, {r['tests']}, "
                  f"gates {r['gates']}", file=sys.stderr, flush=True)

    print(f"\n{platform.node()}: {os.cpu_count()} cores, load {args.load_duration}, "
          f"observability {'off' if args.no_observability else 'on'}, {args.runs} runs per "
          "mode, medians")
    print("| --workers | demo wall s | suite s | overhead beyond load s | within load + "
          f"{TARGET_OVERHEAD_S:g} s | verdict |")
    print("|---|---|---|---|---|---|")
    for mode, runs in results.items():
        wall = statistics.median(float(r["wall"]) for r in runs)  # type: ignore[arg-type]
        suite = statistics.median(float(r["suite"]) for r in runs)  # type: ignore[arg-type]
        overhead = suite - load_s
        verdicts = "/".join(sorted({str(r["verdict"]) for r in runs}))
        print(f"| {mode} | {wall:.1f} | {suite:.1f} | {overhead:.1f} | "
              f"{'yes' if overhead <= TARGET_OVERHEAD_S else 'no'} | {verdicts} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
