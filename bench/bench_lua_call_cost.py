"""Where the TTL audit's per-key server time goes: one SCAN page vs one redis.call per key.

Starts a throwaway redis-server, loads N ``feedback:<i>`` keys as bench_ttl_audit.py does, and
times inside one script (``redis.call('TIME')`` before and after, so neither the round trip nor
the client is in the number) --inner consecutive SCAN pages (same MATCH and COUNT as the audit;
each call goes on from where the last one stopped, so memory is as cold as in an audit), each
page followed by one of the loops below over its keys; medians and minima over --repeat calls, ns per key
including the SCAN:

* ``SCAN page in Lua``: the SCAN alone, the EVAL floor's whole per-page work;
* ``empty loop``: ``keys[i]`` only (the Lua loop's own cost);
* ``tally only``: the audit's comparisons on a made-up TTL, no redis.call;
* ``PING per key``: one ``redis.call`` that touches no key: the fixed cost of a call;
* ``EXISTS per key`` / ``TTL per key`` / ``PTTL per key``: one keyed call per key;
* ``audit loop``: the audit script's loop (TTL per key plus its tally and examples);
* ``EXISTS of the page``: one variadic call for the whole page: what a multi-key TTL command
  (Redis has none) would cost at best.

It prints ns/key and the best ratio to the SCAN-only floor that a script adding one keyed call
per key can reach on this server, SCAN / (SCAN + TTL per key), before any EVAL overhead or round
trip (both of which the floor has too). Informational; no target.
Usage:  python bench/bench_lua_call_cost.py [--keys 200000] [--repeat 25] [--inner 20]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import redis
from bench_ttl_audit import PATTERN, load_keys

from pytest_release.demo.stack import start_redis

#: ARGV: cursor, pattern, count, pages. Walks ``pages`` consecutive SCAN pages from the cursor
#: (so memory is as cold as in a real audit) and runs the body on each page's keys. Returns
#: {microseconds for all pages, keys seen, next cursor}.
_HEAD = """
local call, cursor, pages = redis.call, ARGV[1], tonumber(ARGV[4])
local bound, want, seen = 604800, 5, 0
local t0 = call('TIME')
for rep = 1, pages do
  local page = call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', ARGV[3])
  local keys = page[2]
  local n = #keys
  cursor, seen = page[1], seen + n
"""
_TAIL = """
end
local t1 = call('TIME')
return {(t1[1] - t0[1]) * 1000000 + (t1[2] - t0[2]), seen, cursor}
"""
_TALLY = """
  local vanished, noexp, over, maxttl = 0, 0, 0, -1
  local noexp_ex, over_ex = {}, {}
  for i = 1, n do
    local ttl = %s
    if ttl > maxttl then maxttl = ttl end
    if ttl < 0 then
      if ttl == -1 then
        noexp = noexp + 1
        if noexp <= want then noexp_ex[noexp] = keys[i] end
      else
        vanished = vanished + 1
      end
    elseif ttl > bound then
      over = over + 1
      if over <= want then over_ex[2 * over - 1] = keys[i]; over_ex[2 * over] = ttl end
    end
  end
"""
BODIES = {
    "SCAN page in Lua": "",
    "empty loop": "for i = 1, n do local k = keys[i] end",
    "tally only": _TALLY % "3600 + i",
    "PING per key": "for i = 1, n do call('PING') end",
    "EXISTS per key": "for i = 1, n do call('EXISTS', keys[i]) end",
    "TTL per key": "for i = 1, n do call('TTL', keys[i]) end",
    "PTTL per key": "for i = 1, n do call('PTTL', keys[i]) end",
    "audit loop": _TALLY % "call('TTL', keys[i])",
    "EXISTS of the page": "if n > 0 then call('EXISTS', unpack(keys)) end",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=25, help="script calls per loop; medians")
    parser.add_argument("--inner", type=int, default=20, help="loops per script call")
    parser.add_argument("--scan-count", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lua-") as tmp:
        server = start_redis(Path(tmp), directives={"appendonly": "no", "save": ""})
        try:
            load_keys(server.port, args.keys, Path(tmp))
            client = redis.Redis(host="127.0.0.1", port=server.port)
            version = client.info("server")["redis_version"]
            shas = {name: client.script_load(_HEAD + body + _TAIL) for name, body in BODIES.items()}
            ns: dict[str, list[float]] = {name: [] for name in BODIES}
            cursors = {name: b"0" for name in BODIES}
            names = list(BODIES)
            for round_ in range(args.repeat):
                for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                    usec, seen, cursors[name] = client.evalsha(
                        shas[name], 0, cursors[name], PATTERN, args.scan_count, args.inner)
                    ns[name].append(int(usec) * 1000.0 / max(1, int(seen)))
        finally:
            server.stop()
    med = {name: statistics.median(values) for name, values in ns.items()}
    print(f"redis-server {version}, {args.keys:,} keys, one SCAN page (COUNT {args.scan_count}) "
          f"per loop, {args.inner} loops per call, medians of {args.repeat} calls")
    print(f"{'per key, server-side':<24}{'median ns':>10}{'min ns':>8}")
    for name, values in ns.items():
        print(f"{name:<24}{med[name]:>10.0f}{min(values):>8.0f}")
    low = {name: min(values) for name, values in ns.items()}
    for label, of in (("medians", med), ("minima", low)):
        scan = of["SCAN page in Lua"]
        extra = {name: of[name] - scan for name in BODIES}
        print(f"{label}: over the SCAN alone ({scan:.0f} ns/key), a redis.call that touches no key "
              f"(PING) adds {extra['PING per key']:.0f} ns/key, TTL {extra['TTL per key']:.0f}, "
              f"the audit's loop {extra['audit loop']:.0f}, its tally alone "
              f"{extra['tally only']:.0f}; best ratio to the SCAN-only floor with one TTL call "
              f"per key {scan / of['TTL per key']:.0%}, with one variadic call per page (Redis "
              f"has no such TTL command) {scan / of['EXISTS of the page']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
