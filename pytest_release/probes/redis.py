"""Facts about a Redis server: configuration, persistence, key expiry, latency, clients.

The suite's own client fails fast on purpose (short timeouts, two retries with backoff): a gate
probe that waits 10 retries × 5 s (redis-py's defaults) would hide a dead target behind a hang.
"""
from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..settings import safe_url
from . import ProbeUnavailable, require

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

#: One SCAN page and the TTL of each key on it, tallied server-side (KEYS is never used).
#: ARGV: cursor, pattern, count, keys still wanted, TTL bound, examples wanted.
_TTL_AUDIT_LUA = """
local page = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local limit, bound, want = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local taken, scanned, vanished, noexp, over, maxttl = 0, 0, 0, 0, 0, -1
local noexp_ex, over_ex = {}, {}
for _, key in ipairs(page[2]) do
  if taken >= limit then break end
  taken = taken + 1
  local ttl = redis.call('TTL', key)
  if ttl == -2 then
    vanished = vanished + 1
  else
    scanned = scanned + 1
    if ttl == -1 then
      noexp = noexp + 1
      if #noexp_ex < want then noexp_ex[#noexp_ex + 1] = key end
    else
      if ttl > maxttl then maxttl = ttl end
      if ttl > bound then
        over = over + 1
        if #over_ex < 2 * want then
          over_ex[#over_ex + 1] = key
          over_ex[#over_ex + 1] = ttl
        end
      end
    end
  end
end
return {page[1], #page[2], taken, scanned, vanished, noexp, over, maxttl, noexp_ex, over_ex}
"""

#: Built-in defaults, for directives a redis.conf does not mention.
REDIS_DEFAULTS = {"appendonly": "no", "maxmemory-policy": "noeviction", "appendfsync": "everysec"}


@dataclass
class TtlAudit:
    """Expiry of keys under one SCAN pattern (a bounded sample, never KEYS)."""

    pattern: str
    bound_seconds: int
    scanned: int = 0
    no_expiry: int = 0
    over_bound: int = 0
    vanished: int = 0
    max_ttl: int | None = None
    no_expiry_examples: list[str] = field(default_factory=list)
    over_bound_examples: list[str] = field(default_factory=list)
    truncated: bool = False
    seconds: float = 0.0


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(0, min(len(ordered) - 1, int(round(pct / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


class RedisProbe:
    """Read-only facts about one Redis (plus one scratch key for round-trip timing)."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, client_name: str = "pytest-release"):
        self.url = url
        self.display_url = safe_url(url)
        redis_mod = require("redis", "redis")
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self._errors: tuple[type[BaseException], ...] = (
            redis_mod.exceptions.ConnectionError,
            redis_mod.exceptions.TimeoutError,
        )
        self._response_error = redis_mod.exceptions.ResponseError
        self._auth_error = redis_mod.exceptions.AuthenticationError
        try:
            self.client: redis.Redis = redis_mod.Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), retries=2),
                retry_on_error=list(self._errors),
                client_name=client_name,
                decode_responses=True,
                protocol=2,
            )
        except ValueError as exc:
            raise ProbeUnavailable(f"redis.url {self.display_url} is not usable: {exc}") from None

    # -- plumbing ----------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except self._auth_error:
            raise ProbeUnavailable(
                f"Redis at {self.display_url} refused authentication ({what}): check redis.url"
            ) from None
        except self._errors as exc:
            raise ProbeUnavailable(
                f"Redis at {self.display_url} is unreachable ({what}): {exc}"
            ) from None

    def command_unavailable(self, exc: BaseException) -> bool:
        text = str(exc).lower()
        return isinstance(exc, self._response_error) and (
            "unknown command" in text or "no permissions" in text or "noperm" in text
        )

    def close(self) -> None:
        self.client.close()

    # -- facts -------------------------------------------------------------------------------
    def ping(self) -> float:
        """Round trip of one PING, in ms."""
        start = time.perf_counter()
        self._call("PING", self.client.ping)
        return (time.perf_counter() - start) * 1000.0

    def info(self, section: str) -> dict[str, Any]:
        return dict(self._call(f"INFO {section}", lambda: self.client.info(section)))

    def config(self, *names: str) -> dict[str, str] | None:
        """CONFIG GET of ``names`` in one call, or None where CONFIG is disabled or renamed."""
        try:
            values = self._call("CONFIG GET", lambda: self.client.config_get(*names))
        except self._response_error as exc:
            if self.command_unavailable(exc):
                return None
            if len(names) > 1 and "wrong number of arguments" in str(exc).lower():
                # Redis < 7 takes one parameter per CONFIG GET.
                merged: dict[str, str] = {}
                for name in names:
                    one = self.config(name)
                    if one is None:
                        return None
                    merged.update(one)
                return merged
            raise ProbeUnavailable(f"CONFIG GET failed on {self.display_url}: {exc}") from None
        return {str(k): str(v) for k, v in dict(values).items()}

    def maxmemory_policy(self) -> tuple[str, str]:
        """(policy, where it was read): CONFIG GET, or INFO memory on managed Redis."""
        config = self.config("maxmemory-policy")
        if config is not None and "maxmemory-policy" in config:
            return config["maxmemory-policy"], "CONFIG GET maxmemory-policy"
        memory = self.info("memory")
        if "maxmemory_policy" not in memory:
            raise ProbeUnavailable("neither CONFIG GET nor INFO memory report maxmemory-policy")
        return str(memory["maxmemory_policy"]), "INFO memory"

    def persistence(self) -> dict[str, Any]:
        """INFO persistence plus appendonly/appendfsync/save from CONFIG when it is available."""
        facts = self.info("persistence")
        config = self.config("appendonly", "appendfsync", "save")
        facts["config"] = config
        return facts

    def keyspace(self) -> dict[str, Any]:
        return self.info("keyspace")

    def ttl_audit(
        self, pattern: str, *, bound_seconds: int, sample_size: int, scan_count: int,
        batch: int = 1000, examples: int = 5,
    ) -> TtlAudit:
        """SCAN ``pattern`` and read the TTLs of up to ``sample_size`` keys.

        One EVAL per SCAN page does the SCAN and the TTLs server-side and returns only the
        tallies and a few example names (read-only; each call covers one ``scan_count`` page).
        Where scripting is refused (ACL, disabled EVAL, a read-only replica) it falls back to
        SCAN plus TTL pipelined in batches of ``batch``.
        """
        start = time.perf_counter()
        audit = self._ttl_audit_scripted(pattern, bound_seconds, sample_size, scan_count, examples)
        if audit is None:
            audit = self._ttl_audit_pipelined(pattern, bound_seconds, sample_size, scan_count,
                                              batch, examples)
        audit.seconds = time.perf_counter() - start
        return audit

    def _ttl_audit_scripted(
        self, pattern: str, bound_seconds: int, sample_size: int, scan_count: int, examples: int,
    ) -> TtlAudit | None:
        # Python-side work per key (packing a TTL, parsing its reply) is what limits the
        # pipelined audit to ~40k keys/s; here no per-key reply crosses the wire at all.
        audit = TtlAudit(pattern, bound_seconds)
        cursor = "0"
        while True:
            remaining = sample_size - (audit.scanned + audit.vanished)
            try:
                reply = self._call("TTL audit script", functools.partial(
                    self.client.eval, _TTL_AUDIT_LUA, 0, cursor, pattern, scan_count, remaining,
                    bound_seconds, examples))
            except self._response_error:
                if cursor == "0" and audit.scanned == audit.vanished == 0:
                    return None
                raise
            cursor, page, _taken, scanned, vanished, no_expiry, over, max_ttl = (
                str(reply[0]), *(int(v) for v in reply[1:8]))
            audit.scanned += scanned
            audit.vanished += vanished
            audit.no_expiry += no_expiry
            audit.over_bound += over
            if max_ttl >= 0:
                audit.max_ttl = max_ttl if audit.max_ttl is None else max(audit.max_ttl, max_ttl)
            for key in reply[8]:
                if len(audit.no_expiry_examples) < examples:
                    audit.no_expiry_examples.append(str(key))
            pairs = list(reply[9])
            for key, ttl in zip(pairs[0::2], pairs[1::2]):
                if len(audit.over_bound_examples) < examples:
                    audit.over_bound_examples.append(f"{key} (TTL {int(ttl)} s)")
            if page > _taken:
                audit.truncated = True
                break
            if cursor == "0":
                break
        return audit

    def _ttl_audit_pipelined(
        self, pattern: str, bound_seconds: int, sample_size: int, scan_count: int, batch: int,
        examples: int,
    ) -> TtlAudit:
        audit = TtlAudit(pattern, bound_seconds)

        def flush(keys: list[str]) -> None:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.ttl(key)
            ttls = self._call("TTL pipeline", pipe.execute)
            for key, ttl in zip(keys, ttls):
                ttl = int(ttl)
                if ttl == -2:  # expired or deleted between SCAN and TTL
                    audit.vanished += 1
                    continue
                audit.scanned += 1
                if ttl == -1:
                    audit.no_expiry += 1
                    if len(audit.no_expiry_examples) < examples:
                        audit.no_expiry_examples.append(key)
                    continue
                audit.max_ttl = ttl if audit.max_ttl is None else max(audit.max_ttl, ttl)
                if ttl > bound_seconds:
                    audit.over_bound += 1
                    if len(audit.over_bound_examples) < examples:
                        audit.over_bound_examples.append(f"{key} (TTL {ttl} s)")

        pending: list[str] = []
        seen = 0
        cursor: int | str = 0
        while True:
            current = int(cursor)
            cursor, keys = self._call(
                "SCAN",
                lambda: self.client.scan(current, match=pattern, count=scan_count),  # noqa: B023
            )
            for key in keys:
                if seen >= sample_size:
                    audit.truncated = True
                    break
                seen += 1
                pending.append(str(key))
                if len(pending) >= batch:
                    flush(pending)
                    pending = []
            if audit.truncated or int(cursor) == 0:
                break
        if pending:
            flush(pending)
        return audit

    def ttl_loop(self, pattern: str, *, sample_size: int, scan_count: int) -> int:
        """The naive audit (one TTL round trip per key); kept only as the benchmark baseline."""
        count = 0
        for key in self.client.scan_iter(match=pattern, count=scan_count):
            self.client.ttl(key)
            count += 1
            if count >= sample_size:
                break
        return count

    def latency_histogram_p95_ms(self) -> tuple[float, int] | None:
        """Server-side P95 of command execution over all commands (LATENCY HISTOGRAM, Redis ≥ 7).

        Returns (p95 in ms, calls) or None where the command is not available.
        """
        try:
            raw = self._call("LATENCY HISTOGRAM", lambda: self.client.execute_command(  # type: ignore[no-untyped-call]
                "LATENCY", "HISTOGRAM"))
        except self._response_error as exc:
            if self.command_unavailable(exc) or "unknown subcommand" in str(exc).lower():
                return None
            raise
        buckets: dict[int, int] = {}
        total = 0
        for command, data in _pairs(raw):
            info = dict(_pairs(data))
            hist = dict(_pairs(info.get("histogram_usec", [])))
            previous = 0
            for bound in sorted(int(b) for b in hist):
                cumulative = int(hist[bound] if bound in hist else hist[str(bound)])
                buckets[bound] = buckets.get(bound, 0) + cumulative - previous
                previous = cumulative
            total += int(info.get("calls", 0))
        if not buckets:
            return None
        target = 0.95 * sum(buckets.values())
        running = 0
        for bound in sorted(buckets):
            running += buckets[bound]
            if running >= target:
                return bound / 1000.0, total
        return max(buckets) / 1000.0, total

    def round_trip_ms(self, samples: int) -> list[float]:
        """Client-side SET/GET round trips on a scratch key that is removed afterwards."""
        key = f"pytest-release:latency:{uuid.uuid4().hex}"
        timings: list[float] = []
        try:
            for i in range(samples):
                start = time.perf_counter()
                if i % 2:
                    self._call("GET", lambda: self.client.get(key))
                else:
                    self._call("SET", lambda: self.client.set(key, "x", ex=60))
                timings.append((time.perf_counter() - start) * 1000.0)
        finally:
            try:
                self.client.delete(key)
            except self._errors:
                pass
        return timings

    def ttl(self, key: str) -> int:
        """TTL of one key: -1 no expiry, -2 no such key."""
        return int(self._call("TTL", lambda: self.client.ttl(key)))

    def clients(self) -> list[dict[str, str]]:
        return [dict(c) for c in self._call("CLIENT LIST", self.client.client_list)]

    def kill_client(self, client_id: str) -> bool:
        return bool(self._call("CLIENT KILL", lambda: self.client.client_kill_filter(
            _id=client_id)))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    return _percentile(values, pct)


def _pairs(raw: Any) -> Iterable[tuple[Any, Any]]:
    """Redis replies arrive as dicts (RESP3) or flat [k, v, k, v] lists (RESP2)."""
    if isinstance(raw, dict):
        return raw.items()
    items = list(raw or [])
    return zip(items[0::2], items[1::2])


def parse_redis_conf(text: str) -> dict[str, str]:
    """Directives of a redis.conf (last one wins, as in Redis); quotes stripped, names lowered."""
    directives: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition(" ")
        name = name.lower()
        value = value.strip().strip('"').strip("'")
        if name == "save" and name in directives and value:
            directives[name] = f"{directives[name]} {value}".strip()
        else:
            directives[name] = value
    return directives
