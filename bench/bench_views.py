"""What the sign-off views (JSON, Markdown, the HTML sign-off block) cost a run, and the page load.

Generates a synthetic suite of N gate-marked checks (spread over the six gates, each recording
evidence: a compared measurement and a context value; 1 % fail, 2 % are not measured with a
reason naming a setting) and runs it with pytest in a subprocess, interleaved, in two modes:

* ``views``:   ``--release V --release-signoff s.json --release-checklist c.md --html r.html``
* ``plain``:   ``--release V --html r.html -p no:release-html`` (no sign-off files, no sign-off
  block: the plain pytest-html report of the same run)

and reports the median wall and CPU time of each and the median of the paired differences
(target: views ≤ +1 s at 5,000 checks, judged on CPU time because the machine is shared).
Then it loads both reports in headless Chromium (``--dump-dom``: wall
time until the DOM after load, including pytest-html's own script that builds the table), and
reports the sign-off's share (target ≤ +0.5 s). Finally the views' cost at 1,000 vs 5,000
checks: linear means a ratio near 5 (target ≤ 6.5).

Usage:  python bench/bench_views.py [--checks 5000] [--small 1000] [--runs 3] [--loads 5]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
GATES = ("gate_redis", "gate_api", "gate_load", "gate_security", "gate_observability",
         "gate_gitops")
TARGET_VIEWS_S = 1.0
TARGET_PAGE_S = 0.5
TARGET_RATIO = 6.5

SUITE = '''
import pytest

N = {n}


@pytest.mark.{gate}
@pytest.mark.parametrize("i", range({start}, {stop}))
def test_check(evidence, i):
    evidence.record("context", i)
    if i % 50 == 7:
        evidence.not_measured("api.token is not configured (set api.token in [api] or "
                              "--release-set api.token=...)")
    evidence.check(f"latency p95 of check {{i}}", i % 100 + 0.5, "<", 99.0, unit="ms")
'''


def write_suite(root: Path, n: int) -> Path:
    suite = root / f"suite{n}"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    per = -(-n // len(GATES))
    for k, gate in enumerate(GATES):
        start, stop = k * per, min(n, (k + 1) * per)
        (suite / f"test_{gate}.py").write_text(
            SUITE.format(n=n, gate=gate, start=start, stop=stop))
    return suite


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(suite: Path, mode: str) -> tuple[float, float]:
    """(wall, CPU) seconds of one pytest run."""
    out = suite / mode
    out.mkdir(exist_ok=True)
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--release", "v5.7.1", "--release-suite=off", "--html", str(out / "report.html"),
            "--self-contained-html", "-o", "console_output_style=classic"]
    if mode == "views":
        args += ["--release-signoff", str(out / "signoff.json"),
                 "--release-checklist", str(out / "checklist.md")]
    else:
        args += ["-p", "no:release-html"]
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS")}
    cpu, start = _child_cpu(), time.perf_counter()
    done = subprocess.run(args, cwd=suite, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1, 10, 11):  # 10 REJECTED, 11 INCOMPLETE: a sign-off was written
        sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed, _child_cpu() - cpu


def page_load(path: Path, profile: Path) -> float:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={profile}", "--virtual-time-budget=30000", "--dump-dom",
            path.as_uri()]
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if "results-table" not in done.stdout and "<table" not in done.stdout:
        sys.exit(f"chromium did not render {path}: {done.stderr[-2000:]}")
    return elapsed


def measure(root: Path, n: int, runs: int) -> dict[str, list[float]]:
    suite = write_suite(root, n)
    run(suite, "views")  # warm-up: bytecode, page cache
    times: dict[str, list[float]] = {"views": [], "plain": [], "views_cpu": [], "plain_cpu": []}
    for r in range(runs):
        for mode in (("views", "plain") if r % 2 == 0 else ("plain", "views")):
            wall, cpu = run(suite, mode)
            times[mode].append(wall)
            times[f"{mode}_cpu"].append(cpu)
    times["diff"] = [v - p for v, p in zip(times["views"], times["plain"])]
    times["diff_cpu"] = [v - p for v, p in zip(times["views_cpu"], times["plain_cpu"])]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loads", type=int, default=5)
    opts = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-views-") as tmp:
        root = Path(tmp)
        big = measure(root, opts.checks, opts.runs)
        small = measure(root, opts.small, opts.runs)
        med = {k: statistics.median(v) for k, v in big.items()}
        med_small = statistics.median(small["diff_cpu"])
        print(f"{opts.checks} checks, {opts.runs} interleaved runs per mode (medians; wall / CPU):")
        print(f"  run with views   {med['views']:7.2f} s / {med['views_cpu']:6.2f} s")
        print(f"  run without      {med['plain']:7.2f} s / {med['plain_cpu']:6.2f} s")
        print(f"  views cost       {med['diff']:+7.2f} s / {med['diff_cpu']:+6.2f} s   "
              f"(paired; target ≤ +{TARGET_VIEWS_S:.1f} s, judged on CPU: the machine is shared)")
        ok &= med["diff_cpu"] <= TARGET_VIEWS_S
        ratio = med["diff_cpu"] / med_small if med_small > 0.01 else float("nan")
        print(f"  {opts.small} checks: views cost {med_small:+.2f} s CPU; ratio "
              f"{opts.checks}/{opts.small} = {ratio:.2f} (linear: {opts.checks / opts.small:.0f}, "
              f"target ≤ {TARGET_RATIO})")
        ok &= not ratio > TARGET_RATIO
        suite = root / f"suite{opts.checks}"
        loads: dict[str, list[float]] = {"views": [], "plain": []}
        for r in range(opts.loads):
            for mode in (("views", "plain") if r % 2 == 0 else ("plain", "views")):
                loads[mode].append(page_load(suite / mode / "report.html", root / f"profile{mode}"))
        lv, lp = statistics.median(loads["views"]), statistics.median(loads["plain"])
        sizes = {m: (suite / m / "report.html").stat().st_size / 1e6 for m in loads}
        print(f"page load in headless chromium ({opts.loads} loads each, medians):")
        print(f"  sign-off report  {lv:7.2f} s  ({sizes['views']:.1f} MB)")
        print(f"  plain pytest-html{lp:7.2f} s  ({sizes['plain']:.1f} MB)")
        print(f"  sign-off's share {lv - lp:+7.2f} s   (target ≤ +{TARGET_PAGE_S:.1f} s)")
        ok &= lv - lp <= TARGET_PAGE_S
    print(f"RESULT: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
