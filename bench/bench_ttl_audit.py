"""TTL audit throughput: RedisProbe.ttl_audit vs. ttl_loop (one TTL round trip per key).

Starts a throwaway redis-server (free loopback port, tmp dir, no persistence), loads N keys
`feedback:<i>` with TTLs through `redis-cli --pipe`, then times the audit over all of them and the
per-key baseline over a smaller sample, comparing keys/s. For reference it also times the audit's
fallback path (SCAN + TTL pipelined in batches, used where EVAL is refused). Stops Redis afterwards.
Usage:  python bench/bench_ttl_audit.py [--keys 1000000] [--loop-keys 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_release.demo.stack import start_redis
from pytest_release.probes.redis import RedisProbe

TARGET_RATIO = 10.0
TARGET_KEYS_PER_S = 100_000
BOUND = 7 * 24 * 3600


def resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n"]
    for p in parts:
        out.append(f"${len(p.encode())}\r\n{p}\r\n")
    return "".join(out).encode()


def load_keys(port: int, count: int, workdir: Path) -> float:
    """SET feedback:<i> with TTLs between 1 h and 7 d, through redis-cli --pipe."""
    start = time.perf_counter()
    data = workdir / "load.resp"
    with data.open("wb") as fh:
        chunk = []
        for i in range(count):
            chunk.append(resp("SET", f"feedback:{i}", "{}", "EX", str(3600 + (i * 37) % (BOUND - 3600))))
            if len(chunk) == 10_000:
                fh.write(b"".join(chunk))
                chunk = []
        fh.write(b"".join(chunk))
    with data.open("rb") as fh:
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=fh, check=True,
                       stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--loop-keys", type=int, default=100_000,
                        help="sample for the per-key baseline (compared as keys/s)")
    parser.add_argument("--pipelined-keys", type=int, default=200_000,
                        help="sample for the pipelined fallback path (0 to skip)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; medians")
    parser.add_argument("--scan-count", type=int, default=1000, help="redis.scan_count")
    parser.add_argument("--batch", type=int, default=None, help="ttl_audit batch (default: its own)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ttl-") as tmp:
        workdir = Path(tmp)
        server = start_redis(workdir, directives={"appendonly": "no", "save": ""})
        port = server.port
        try:
            loaded_in = load_keys(port, args.keys, workdir)
            probe = RedisProbe(f"redis://127.0.0.1:{port}/0", timeout_s=30)
            dbsize = probe.client.dbsize()
            print(f"loaded {dbsize:,} keys in {loaded_in:.1f} s (redis-cli --pipe)")
            extra = {"batch": args.batch} if args.batch else {}

            audit_s, audits = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                audit = probe.ttl_audit("feedback:*", bound_seconds=BOUND, sample_size=args.keys,
                                        scan_count=args.scan_count, **extra)
                audit_s.append(time.perf_counter() - start)
                audits.append(audit)
            audit = audits[-1]
            assert audit.scanned == args.keys and audit.no_expiry == 0 and audit.over_bound == 0, audit

            loop_s = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                counted = probe.ttl_loop("feedback:*", sample_size=args.loop_keys,
                                         scan_count=args.scan_count)
                loop_s.append(time.perf_counter() - start)
            assert counted == args.loop_keys

            piped_s = []
            for _ in range(args.repeat if args.pipelined_keys else 0):
                start = time.perf_counter()
                piped = probe._ttl_audit_pipelined(  # the fallback where EVAL is refused
                    "feedback:*", BOUND, args.pipelined_keys, args.scan_count,
                    args.batch or 1000, 5)
                piped_s.append(time.perf_counter() - start)
                assert piped.scanned == args.pipelined_keys
            probe.close()
        finally:
            server.stop()

    audit_rate = args.keys / statistics.median(audit_s)
    loop_rate = args.loop_keys / statistics.median(loop_s)
    ratio = audit_rate / loop_rate
    print(f"\n{'method':<34}{'keys':>11}{'median s':>10}{'keys/s':>11}")
    print(f"{'ttl_loop (1 TTL round trip/key)':<34}{args.loop_keys:>11,}"
          f"{statistics.median(loop_s):>10.2f}{loop_rate:>11,.0f}")
    if piped_s:
        piped_rate = args.pipelined_keys / statistics.median(piped_s)
        print(f"{'fallback: SCAN + pipelined TTL':<34}{args.pipelined_keys:>11,}"
              f"{statistics.median(piped_s):>10.2f}{piped_rate:>11,.0f}")
    print(f"{'ttl_audit (EVAL per SCAN page)':<34}{args.keys:>11,}"
          f"{statistics.median(audit_s):>10.2f}{audit_rate:>11,.0f}")
    print(f"ratio {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x); audit {audit_rate:,.0f} keys/s "
          f"(target >= {TARGET_KEYS_PER_S:,}); scan_count={args.scan_count}, "
          f"runs={args.repeat}, max TTL seen {audit.max_ttl} s")
    ok = ratio >= TARGET_RATIO and audit_rate >= TARGET_KEYS_PER_S
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
