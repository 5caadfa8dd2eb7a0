"""probes/redis.py's TTL audit: the pieces it was rebuilt from, and both paths on a real server.

The pure helpers are table-tested (RESP packing against redis-py's own packer, the per-batch
tally); the paths run against real redis-server processes, including binary key names, a
script cache flushed mid-run, EVALSHA refused, a connection killed between pages and a user
that may SCAN but not TTL.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from pytest_release.probes import redis as redis_probe
from pytest_release.probes.redis import RedisProbe, TtlAudit, _tally, _text, _ttl_commands

WEEK = 7 * 24 * 3600
PATTERN = "feedback:*"

# -- pure pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [
    [b"feedback:1"],
    [b"feedback:1", b"feedback:22", b"x" * 300],
    [b"", b"with space", b"crlf\r\ninside", "caf\u00e9".encode(), b"\xff\xfe binary"],
    [],
])
def test_ttl_commands_are_what_redis_py_would_send(keys: list[bytes]) -> None:
    conn = redis.Connection()
    expected = b"".join(b"".join(conn.pack_command("TTL", key)) for key in keys)
    assert _ttl_commands(keys) == expected


def _audit() -> TtlAudit:
    return TtlAudit(PATTERN, bound_seconds=100)


@pytest.mark.parametrize(("ttls", "scanned", "vanished", "no_expiry", "over", "max_ttl"), [
    ([5, 100, 99], 3, 0, 0, 0, 100),          # the bound itself is within it
    ([101, 5000], 2, 0, 0, 2, 5000),
    ([-1, -1, 3], 3, 0, 2, 0, 3),
    ([-2, -2], 0, 2, 0, 0, None),            # vanished keys are not scanned and have no TTL
    ([-1], 1, 0, 1, 0, None),                # no key with a TTL: no max
    ([0, -2, -1, 101], 3, 1, 1, 1, 101),
    ([], 0, 0, 0, 0, None),
])
def test_tally_counts_one_batch(ttls: list[int], scanned: int, vanished: int, no_expiry: int,
                                over: int, max_ttl: int | None) -> None:
    audit = _audit()
    keys = [f"k{i}".encode() for i in range(len(ttls))]
    _tally(audit, keys, ttls, examples=5)
    assert (audit.scanned, audit.vanished, audit.no_expiry, audit.over_bound, audit.max_ttl) == \
        (scanned, vanished, no_expiry, over, max_ttl)
    assert audit.no_expiry_examples == [f"k{i}" for i, t in enumerate(ttls) if t == -1]
    assert audit.over_bound_examples == [f"k{i} (TTL {t} s)" for i, t in enumerate(ttls)
                                         if t > 100]


def test_tally_accumulates_across_batches_and_caps_examples_in_scan_order() -> None:
    audit = _audit()
    _tally(audit, [b"a", b"b", b"c"], [-1, 500, 7], examples=2)
    _tally(audit, [b"d", b"e", b"f", b"g"], [-1, -1, 600, 700], examples=2)
    _tally(audit, [b"h"], [-2], examples=2)
    assert (audit.scanned, audit.vanished, audit.no_expiry, audit.over_bound) == (7, 1, 3, 3)
    assert audit.max_ttl == 700
    assert audit.no_expiry_examples == ["a", "d"]
    assert audit.over_bound_examples == ["b (TTL 500 s)", "f (TTL 600 s)"]
    no_examples = _audit()
    _tally(no_examples, [b"a", b"b"], [-1, 500], examples=0)
    assert no_examples.no_expiry_examples == no_examples.over_bound_examples == []


def test_key_names_become_text_without_failing_on_binary() -> None:
    assert _text(b"feedback:1") == "feedback:1"
    assert _text("caf\u00e9".encode()) == "caf\u00e9"
    assert _text(b"bad\xff") == "bad\\xff"
    assert _text("already text") == "already text"


# -- both paths on a real server ---------------------------------------------------------------


def _seed(client: redis.Redis, plain: int = 40) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(plain):
        pipe.set(f"feedback:{i}", "{}", ex=3600 + i)
    for i in range(3):
        pipe.set(f"feedback:forever:{i}", "{}")
    for i in range(2):
        pipe.set(f"feedback:month:{i}", "{}", ex=30 * 24 * 3600)
    pipe.set(b"feedback:\xff\r\nbinary", "{}")  # no expiry, and not UTF-8
    pipe.set("other:key", "{}")
    pipe.execute()


def _facts(audit: TtlAudit) -> tuple[Any, ...]:
    return (audit.scanned, audit.vanished, audit.no_expiry, audit.over_bound, audit.max_ttl,
            audit.truncated, sorted(audit.no_expiry_examples), sorted(audit.over_bound_examples))


def _both(probe: RedisProbe, sample_size: int, **kw: int) -> tuple[TtlAudit, TtlAudit]:
    scripted = probe._ttl_audit_scripted(PATTERN, WEEK, sample_size, kw.get("scan_count", 7),
                                         kw.get("examples", 10))
    piped = probe._ttl_audit_pipelined(PATTERN, WEEK, sample_size, kw.get("scan_count", 7),
                                       kw.get("batch", 4), kw.get("examples", 10))
    assert scripted is not None
    return scripted, piped


@pytest.fixture
def seeded(redis_server: Callable[..., Any]) -> Any:
    server = redis_server()
    _seed(server.client())
    return server


def test_both_paths_agree_on_everything_including_binary_names(seeded: Any) -> None:
    probe = RedisProbe(seeded.url)
    scripted, piped = _both(probe, 10_000)
    assert _facts(scripted) == _facts(piped)
    assert (piped.scanned, piped.no_expiry, piped.over_bound, piped.truncated) == (46, 4, 2, False)
    assert "feedback:\\xff\r\nbinary" in piped.no_expiry_examples
    assert piped.max_ttl is not None and WEEK < piped.max_ttl <= 30 * 24 * 3600
    probe.close()


@pytest.mark.parametrize("sample_size", [1, 7, 45, 46, 47])
def test_sample_size_boundaries_are_the_same_on_both_paths(seeded: Any, sample_size: int) -> None:
    probe = RedisProbe(seeded.url)
    for batch in (1, 3, 1000):
        scripted, piped = _both(probe, sample_size, batch=batch)
        assert piped.scanned == scripted.scanned == min(sample_size, 46)
        # Exactly the whole keyspace is not a truncated sample; one key fewer is.
        assert piped.truncated is scripted.truncated is (sample_size < 46)
        if sample_size >= 46:
            assert _facts(piped) == _facts(scripted)
    probe.close()


def test_the_fallback_leaves_its_connection_clean_for_the_next_command(seeded: Any) -> None:
    probe = RedisProbe(seeded.url)
    probe._ttl_audit_pipelined(PATTERN, WEEK, 20, 7, 4, 2)  # stops mid-keyspace (truncated)
    assert probe.ttl("feedback:forever:0") == -1
    assert probe.client.get("other:key") == "{}"
    assert len(probe.clients()) >= 1
    probe.close()


def test_evalsha_after_the_first_page_and_eval_again_after_a_script_flush(
        seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = RedisProbe(seeded.url)
    calls: list[str] = []
    real = probe.client.execute_command

    def spy(*args: Any, **options: Any) -> Any:
        calls.append(str(args[0]).lower())
        return real(*args, **options)

    monkeypatch.setattr(probe.client, "execute_command", spy)
    first = probe.ttl_audit(PATTERN, bound_seconds=WEEK, sample_size=10_000, scan_count=7)
    assert calls[0] == "eval" and set(calls[1:]) == {"evalsha"} and len(calls) > 3
    seeded.client().script_flush()
    calls.clear()
    second = probe.ttl_audit(PATTERN, bound_seconds=WEEK, sample_size=10_000, scan_count=7)
    assert _facts(first) == _facts(second)
    # The first page caches it again with EVAL; the first EVALSHA after the flush is answered
    # NOSCRIPT only if it came before that, so at most one extra EVAL.
    assert calls[0] == "eval" and calls.count("eval") <= 2
    probe.close()


def test_a_server_refusing_evalsha_but_running_eval_still_gets_the_script(
        redis_server: Callable[..., Any]) -> None:
    server = redis_server(rename_command=[("EVALSHA", "")])
    _seed(server.client())
    probe = RedisProbe(server.url)
    audit = probe.ttl_audit(PATTERN, bound_seconds=WEEK, sample_size=10_000, scan_count=7)
    assert probe._evalsha_refused is True
    reference = RedisProbe(server.url)._ttl_audit_pipelined(PATTERN, WEEK, 10_000, 7, 4, 5)
    assert (audit.scanned, audit.no_expiry, audit.over_bound) == \
        (reference.scanned, reference.no_expiry, reference.over_bound) == (46, 4, 2)
    probe.close()


def test_a_connection_killed_between_pages_is_retried_without_counting_twice(
        seeded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = RedisProbe(seeded.url)
    admin = seeded.client()
    real_tally = redis_probe._tally
    killed: list[int] = []

    def kill_after_first_page(audit: TtlAudit, *args: Any) -> None:
        real_tally(audit, *args)
        if not killed:
            for client in admin.client_list():
                if client["name"] == "pytest-release":
                    admin.client_kill_filter(_id=client["id"])
                    killed.append(int(client["id"]))

    monkeypatch.setattr(redis_probe, "_tally", kill_after_first_page)
    audit = probe._ttl_audit_pipelined(PATTERN, WEEK, 10_000, 7, 4, 10)
    assert killed  # the audit's connection really was dropped mid-run
    monkeypatch.undo()
    reference = RedisProbe(seeded.url)._ttl_audit_pipelined(PATTERN, WEEK, 10_000, 7, 4, 10)
    assert _facts(audit) == _facts(reference)
    assert audit.scanned == 46
    probe.close()


def test_a_user_who_may_scan_but_not_read_ttls_gets_the_error_and_a_clean_client(
        seeded: Any) -> None:
    admin = seeded.client()
    admin.acl_setuser("scanner", enabled=True, passwords=["+secret"], keys=["*"],
                      commands=["+@all", "-ttl", "-eval", "-evalsha"])
    url = seeded.url.replace("redis://", "redis://scanner:secret@")
    probe = RedisProbe(url)
    with pytest.raises(redis.exceptions.ResponseError, match="(?i)no permissions|noperm"):
        probe.ttl_audit(PATTERN, bound_seconds=WEEK, sample_size=10_000, scan_count=7, batch=4)
    # The TTL replies still in flight were not left on a pooled connection.
    assert probe.client.get("other:key") == "{}"
    assert probe.ping() >= 0
    probe.close()
