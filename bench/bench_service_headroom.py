"""How much load the bundled feedback service takes on this machine, measured with the real k6.

Starts a real redis-server and the service (examples/feedback_service) on loopback, then runs the
Gate 3 script (examples/ops/loadtest_feedback_thresholds.k6.js) at 25 VUs for 30 s with no think
time (the ceiling) and with the suite's default 100 ms think time (the checklist load), ``--runs``
times each, alternating. Prints the medians as a Markdown table.

    python bench/bench_service_headroom.py                 # 3 runs each, 25 VUs, 30 s
    python bench/bench_service_headroom.py --runs 1 --duration 10s
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pytest_release.demo.stack import start_redis, start_service  # noqa: E402
from pytest_release.probes.k6 import find_k6  # noqa: E402

SCRIPT = REPO / "examples" / "ops" / "loadtest_feedback_thresholds.k6.js"
LOAD_SUBJECT = "loadtest"  # exempt from the service's rate limit, as in the demo


def run_k6(k6: str, base_url: str, token: str, *, vus: int, duration: str, think_ms: int,
           workdir: Path) -> dict[str, float]:
    summary = workdir / f"summary-{time.monotonic_ns()}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("K6_")}
    env.update(BASE_URL=base_url, TOKEN=token, VUS=str(vus), DURATION=duration,
               THINK_TIME_MS=str(think_ms), SUMMARY_PATH=str(summary))
    proc = subprocess.run([k6, "run", "--quiet", "--no-usage-report", str(SCRIPT)], env=env,
                          cwd=workdir, capture_output=True, text=True, timeout=600)
    if not summary.exists():
        raise SystemExit(f"k6 exited {proc.returncode} without a summary:\n{proc.stderr[-2000:]}")
    metrics = json.loads(summary.read_text())["metrics"]
    duration_ms = metrics["http_req_duration"]["values"]
    return {
        "requests": metrics["http_reqs"]["values"]["count"],
        "rps": metrics["http_reqs"]["values"]["rate"],
        "p50": duration_ms["med"],
        "p95": duration_ms["p(95)"],
        "p99": duration_ms["p(99)"],
        "error_rate": metrics["http_req_failed"]["values"]["rate"],
        "k6_exit": proc.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vus", type=int, default=25)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--think-times", default="0,100", help="ms, comma-separated")
    args = parser.parse_args()
    k6 = find_k6("k6")
    think_times = [int(t) for t in args.think_times.split(",")]
    results: dict[int, list[dict[str, float]]] = {t: [] for t in think_times}
    with tempfile.TemporaryDirectory(prefix="bench-headroom-") as tmp:
        workdir = Path(tmp)
        redis = start_redis(workdir / "redis")
        service = start_service(workdir / "service", redis_url=redis.url,
                                exempt=(LOAD_SUBJECT,))
        try:
            token = service.token(sub=LOAD_SUBJECT)
            for run in range(args.runs):
                for think in think_times:
                    r = run_k6(k6, service.url, token, vus=args.vus, duration=args.duration,
                               think_ms=think, workdir=workdir)
                    results[think].append(r)
                    print(f"run {run + 1} think {think:>3} ms: {r['rps']:.0f} req/s, "
                          f"p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, "
                          f"errors {r['error_rate']:.4f}", file=sys.stderr, flush=True)
        finally:
            service.stop()
            redis.stop()

    print(f"\n{platform.node()}: {os.cpu_count()} cores, k6 {args.vus} VUs x {args.duration}, "
          f"{args.runs} runs each, medians")
    print("| think time | requests/s | P50 ms | P95 ms | P99 ms | error rate | requests/run |")
    print("|---|---|---|---|---|---|---|")
    for think, runs in results.items():
        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(f"| {think} ms | {med('rps'):.0f} | {med('p50'):.1f} | {med('p95'):.1f} | "
              f"{med('p99'):.1f} | {med('error_rate'):.4f} | {med('requests'):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
