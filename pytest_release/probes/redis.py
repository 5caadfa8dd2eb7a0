"""Facts about a Redis server: configuration, persistence, key expiry, latency, clients.

The suite's own client fails fast on purpose (short timeouts, two retries with backoff): a gate
probe that waits 10 retries × 5 s (redis-py's defaults) would hide a dead target behind a hang.
``socket_timeout`` bounds each read only, and a server that drips its reply a byte at a time
resets it on every byte; so every call also has a TOTAL deadline (``redis.deadline_s``, cut
short by the check's budget, see :mod:`.deadline`): a watchdog thread shuts the call's socket
down when it passes, and no retry starts after it (:class:`_DeadlineRetry`).
"""
from __future__ import annotations

import functools
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ..settings import safe_url
from . import ProbeUnavailable, require
from .deadline import Deadline, call_deadline

if TYPE_CHECKING:
    import redis

T = TypeVar("T")

#: One SCAN page and the TTL of each key on it, tallied server-side (KEYS is never used).
#: ARGV: cursor, pattern, count, keys still wanted, TTL bound, examples wanted. Replies:
#: {cursor, keys on the page, keys taken, scanned, vanished, no expiry, over bound, max TTL,
#:  no-expiry examples, over-bound examples as key, ttl pairs}. Per key it does one TTL and as
#: few Lua operations as it can: most keys have a TTL within the bound and take two comparisons.
_TTL_AUDIT_LUA = """
local call = redis.call
local page = call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local keys = page[2]
local n, limit = #keys, tonumber(ARGV[4])
if n > limit then n = limit end
if n < 0 then n = 0 end
local bound, want = tonumber(ARGV[5]), tonumber(ARGV[6])
local vanished, noexp, over, maxttl = 0, 0, 0, -1
local noexp_ex, over_ex = {}, {}
for i = 1, n do
  local ttl = call('TTL', keys[i])
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
    if over <= want then
      over_ex[2 * over - 1] = keys[i]
      over_ex[2 * over] = ttl
    end
  end
end
return {page[1], #keys, n, n - vanished, vanished, noexp, over, maxttl, noexp_ex, over_ex}
"""
_TTL_AUDIT_SHA = hashlib.sha1(_TTL_AUDIT_LUA.encode()).hexdigest()


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


def _ttl_commands(keys: list[bytes]) -> bytes:
    """``TTL key`` for each key, as one RESP payload (no per-command client bookkeeping)."""
    return b"".join([b"*2\r\n$3\r\nTTL\r\n$%d\r\n%b\r\n" % (len(key), key) for key in keys])


def _tally(audit: TtlAudit, keys: list[bytes], ttls: list[int], examples: int) -> None:
    """Add one batch of (key, TTL) to ``audit``; per-key work in builtins, examples by index."""
    bound = audit.bound_seconds
    vanished, no_expiry = ttls.count(-2), ttls.count(-1)
    over = [i for i, ttl in enumerate(ttls) if ttl > bound]
    audit.vanished += vanished
    audit.scanned += len(ttls) - vanished
    audit.no_expiry += no_expiry
    audit.over_bound += len(over)
    top = max(ttls, default=-1)
    if top >= 0:
        audit.max_ttl = top if audit.max_ttl is None else max(audit.max_ttl, top)
    if no_expiry and len(audit.no_expiry_examples) < examples:
        for key, ttl in zip(keys, ttls):
            if ttl == -1:
                audit.no_expiry_examples.append(_text(key))
                if len(audit.no_expiry_examples) >= examples:
                    break
    for i in over[:max(0, examples - len(audit.over_bound_examples))]:
        audit.over_bound_examples.append(f"{_text(keys[i])} (TTL {ttls[i]} s)")


def _text(key: bytes | str) -> str:
    return key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else str(key)


class _Expired(Exception):
    """A call's total deadline passed (raised instead of starting another attempt)."""


class _Clock:
    """The deadline of the call in progress, shared by every copy of the client's Retry (redis-py
    deep-copies it into each connection), and the watchdog that enforces it."""

    def __init__(self) -> None:
        self.current: Deadline | None = None
        self.fired = False
        self.pool: Any = None
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._idle = False  # the watchdog waits without a timeout: the next arm must wake it
        self._until = 0.0  # or it waits until then

    def __deepcopy__(self, memo: dict[int, Any]) -> _Clock:
        return self

    def arm(self, deadline: Deadline) -> None:
        with self._wake:
            self.current, self.fired = deadline, False
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="redis deadline",
                                                daemon=True)
                self._thread.start()
            elif self._idle or deadline.at < self._until:
                # Otherwise it is in a timed wait for an earlier deadline and re-reads this one
                # when it wakes: no wake-up (thread switch) per call on a busy connection.
                self._wake.notify()

    def disarm(self) -> None:
        with self._wake:
            self.current = None  # the watchdog finds nothing due when it next wakes

    def close(self) -> None:
        with self._wake:
            self._closed, self.current = True, None
            self._wake.notify()

    def _watch(self) -> None:
        with self._wake:
            while not self._closed:
                due = self.current
                if due is None:
                    self._idle = True
                    self._wake.wait()
                    self._idle = False
                    continue
                left = due.at - time.monotonic()
                if left > 0:
                    self._until = due.at
                    self._wake.wait(left)
                    continue
                self.fired, self.current = True, None
                self._shut_in_use()

    def _shut_in_use(self) -> None:
        """Shut down (not close: another thread is reading) every socket of a call in flight;
        the blocked read returns at once and redis-py reports the connection lost."""
        for conn in list(getattr(self.pool, "_in_use_connections", ()) or ()):
            sock = getattr(conn, "_sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _deadline_retry(retry_cls: type[Any], clock: _Clock) -> type[Any]:
    class _DeadlineRetry(retry_cls):  # type: ignore[misc]
        """redis-py's Retry that starts no attempt once the call's deadline has passed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.clock = clock

        def call_with_retry(self, do: Callable[[], T], fail: Any, *args: Any, **kwargs: Any) -> T:
            def guarded() -> T:
                due = self.clock.current
                if self.clock.fired or (due is not None and due.expired()):
                    raise _Expired()
                return do()
            result: T = super().call_with_retry(guarded, fail, *args, **kwargs)
            return result

    return _DeadlineRetry


class RedisProbe:
    """Read-only facts about one Redis (plus one scratch key for round-trip timing)."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, client_name: str = "pytest-release",
                 deadline_s: float = 10.0):
        self.url = url
        self.display_url = safe_url(url)
        self.deadline_s = deadline_s
        redis_mod = require("redis", "redis")
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        self._clock = _Clock()
        retry = _deadline_retry(Retry, self._clock)(ExponentialBackoff(cap=0.2, base=0.01),
                                                    retries=2)

        self._errors: tuple[type[BaseException], ...] = (
            redis_mod.exceptions.ConnectionError,
            redis_mod.exceptions.TimeoutError,
        )
        self._response_error = redis_mod.exceptions.ResponseError
        self._no_script_error = redis_mod.exceptions.NoScriptError
        self._evalsha_refused = False
        self._auth_error = redis_mod.exceptions.AuthenticationError
        try:
            self.client: redis.Redis = redis_mod.Redis.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                retry=retry,
                retry_on_error=list(self._errors),
                client_name=client_name,
                decode_responses=True,
                protocol=2,
            )
        except ValueError as exc:
            raise ProbeUnavailable(f"redis.url {self.display_url} is not usable: {exc}") from None
        self._clock.pool = self.client.connection_pool

    # -- plumbing ----------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` (one or a few Redis commands) within the call's total deadline."""
        limit = call_deadline(self.deadline_s, "redis.deadline_s")
        self._clock.arm(limit)
        try:
            return fn()
        except _Expired:
            raise self._late(what, limit) from None
        except self._auth_error:
            raise ProbeUnavailable(
                f"Redis at {self.display_url} refused authentication ({what}): check redis.url"
            ) from None
        except self._errors as exc:
            if self._clock.fired or limit.expired():
                raise self._late(what, limit) from None
            raise ProbeUnavailable(
                f"Redis at {self.display_url} is unreachable ({what}): {exc}"
            ) from None
        finally:
            self._clock.disarm()

    def _late(self, what: str, limit: Deadline) -> ProbeUnavailable:
        # The connection was shut mid-reply: never hand it back to the pool half-read.
        self.client.connection_pool.disconnect()
        return ProbeUnavailable(
            f"Redis at {self.display_url} did not complete {what} {limit.describe()}")

    def command_unavailable(self, exc: BaseException) -> bool:
        text = str(exc).lower()
        return isinstance(exc, self._response_error) and (
            "unknown command" in text or "no permissions" in text or "noperm" in text
        )

    def close(self) -> None:
        self._clock.close()
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
        # pipelined audit; here no per-key reply crosses the wire at all.
        audit = TtlAudit(pattern, bound_seconds)
        cursor = "0"
        while True:
            remaining = sample_size - (audit.scanned + audit.vanished)
            args = (cursor, pattern, scan_count, remaining, bound_seconds, examples)
            try:
                reply = self._call("TTL audit script", functools.partial(
                    self._eval_audit_page, args, cursor != "0"))
            except self._response_error:
                if cursor == "0" and audit.scanned == audit.vanished == 0:
                    return None
                raise
            cursor, page, taken, scanned, vanished, no_expiry, over, max_ttl = (
                _text(reply[0]), *(int(v) for v in reply[1:8]))
            audit.scanned += scanned
            audit.vanished += vanished
            audit.no_expiry += no_expiry
            audit.over_bound += over
            if max_ttl >= 0:
                audit.max_ttl = max_ttl if audit.max_ttl is None else max(audit.max_ttl, max_ttl)
            for key in reply[8]:
                if len(audit.no_expiry_examples) < examples:
                    audit.no_expiry_examples.append(_text(key))
            pairs = list(reply[9])
            for key, ttl in zip(pairs[0::2], pairs[1::2]):
                if len(audit.over_bound_examples) < examples:
                    audit.over_bound_examples.append(f"{_text(key)} (TTL {int(ttl)} s)")
            if page > taken:
                audit.truncated = True
                break
            if cursor == "0":
                break
        return audit

    def _eval_audit_page(self, args: tuple[Any, ...], cached: bool) -> Any:
        """One page of the audit script: EVALSHA once the first EVAL has cached it (the ~1 kB
        script is then neither sent nor hashed again); EVAL again if the cache was flushed, and
        for good on a server that refuses EVALSHA but runs EVAL."""
        # Replies undecoded: example key names need not be UTF-8 (see _text).
        raw = {"NEVER_DECODE": True}
        if cached and not self._evalsha_refused:
            try:
                return self.client.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", _TTL_AUDIT_SHA, 0, *args, **raw)
            except self._response_error as exc:
                if self.command_unavailable(exc):
                    self._evalsha_refused = True
                elif not isinstance(exc, self._no_script_error):
                    raise
        return self.client.execute_command(  # type: ignore[no-untyped-call]
            "EVAL", _TTL_AUDIT_LUA, 0, *args, **raw)

    def _ttl_audit_pipelined(
        self, pattern: str, bound_seconds: int, sample_size: int, scan_count: int, batch: int,
        examples: int,
    ) -> TtlAudit:
        """SCAN, then the page's TTLs written as one RESP payload per ``batch`` keys on one
        connection, replies read straight from it: the fallback where EVAL is refused.

        redis-py's pipeline spends most of its time packing one command and running one reply
        callback per key; building the ``TTL`` commands as bytes and reading the integer
        replies on the connection takes that per-key work down to a few builtins.
        """
        audit = TtlAudit(pattern, bound_seconds)
        pool = self.client.connection_pool

        def connection() -> redis.connection.Connection:
            try:
                conn: redis.connection.Connection = pool.get_connection()
            except TypeError:  # redis-py < 5.3 wants a command name
                conn = pool.get_connection("SCAN")
            return conn

        conn = self._call("connect", connection)
        batch = max(1, batch)

        Page = tuple[bytes, list[bytes]]  # (next cursor, keys) as SCAN returned them

        def scan_command(cursor: bytes) -> bytes:
            return b"".join(conn.pack_command(  # type: ignore[no-untyped-call]
                "SCAN", cursor, "MATCH", pattern, "COUNT", scan_count))

        def read_page() -> Page:
            next_cursor, keys = conn.read_response(disable_decoding=True)
            return bytes(next_cursor), list(keys)

        def step(cursor: bytes, page: Page | None, wanted: int,
                 ) -> tuple[int, list[bytes], list[int], bytes, Page | None]:
            """TTLs of one page; the next page's SCAN rides in the same write as its last TTL
            batch, so a page costs one round trip, not two. ``page`` None: SCAN ``cursor``."""
            if page is None:
                conn.send_packed_command([scan_command(cursor)])  # type: ignore[no-untyped-call]
                page = read_page()
            next_cursor, keys = page
            taken = keys[:max(0, wanted)]
            more = len(keys) <= len(taken) and next_cursor != b"0"
            chunks = [taken[i:i + batch] for i in range(0, len(taken), batch)] or [[]]
            ttls: list[int] = []
            read = conn.read_response
            for i, chunk in enumerate(chunks):
                payload = _ttl_commands(chunk)
                if more and i == len(chunks) - 1:
                    payload += scan_command(next_cursor)
                if payload:
                    conn.send_packed_command([payload])  # type: ignore[no-untyped-call]
                ttls.extend([read() for _ in chunk])
            return len(keys), taken, ttls, next_cursor, read_page() if more else None

        cursor, page = b"0", None
        try:
            while True:
                wanted = sample_size - (audit.scanned + audit.vanished)
                held: list[Page | None] = [page]

                def dropped(_error: BaseException, held: list[Page | None] = held) -> None:
                    conn.disconnect()  # type: ignore[no-untyped-call]
                    held[0] = None  # the page read on the lost connection is SCANned again

                # Each page is tallied whole or not at all: a retried page never counts twice.
                on_page, keys, ttls, next_cursor, page = self._call(
                    "SCAN + TTL", functools.partial(
                        conn.retry.call_with_retry,
                        lambda: step(cursor, held[0], wanted),  # noqa: B023
                        dropped))
                _tally(audit, keys, ttls, examples)
                if on_page > len(keys):
                    audit.truncated = True
                    break
                if page is None:
                    break
                cursor = next_cursor
        except BaseException:
            conn.disconnect()  # type: ignore[no-untyped-call]  # replies may be in flight
            raise
        finally:
            pool.release(conn)
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
                self._call("DEL", lambda: self.client.delete(key))
            except ProbeUnavailable:
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
