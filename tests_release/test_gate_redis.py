"""Gate 1: Redis Persistence — the checklist's items as measured checks."""
from __future__ import annotations

from typing import Any

import pytest

from pytest_release.evidence import Evidence
from pytest_release.probes.host import read_file
from pytest_release.probes.http_api import FeedbackApi
from pytest_release.probes.redis import REDIS_DEFAULTS, RedisProbe, parse_redis_conf, percentile
from pytest_release.settings import Settings

pytestmark = pytest.mark.gate_redis


def cli(probe: RedisProbe, command: str) -> str:
    return f"redis-cli -u {probe.display_url} {command}"


@pytest.mark.release_item("ttl")
def test_keys_expire_within_ttl_bound(redis_probe: RedisProbe, release_settings: Settings,
                                  evidence: Evidence) -> None:
    cfg = release_settings.redis
    audited = 0
    for pattern in cfg.key_patterns:
        audit = redis_probe.ttl_audit(
            pattern, bound_seconds=cfg.ttl_max_seconds, sample_size=cfg.sample_size,
            scan_count=cfg.scan_count,
        )
        audited += audit.scanned
        evidence.record(f"keys sampled ({pattern})", audit.scanned, subject=pattern)
        if audit.truncated:
            evidence.record(f"sample capped at redis.sample_size ({pattern})", cfg.sample_size,
                            subject=pattern)
        if audit.scanned == 0:
            continue
        evidence.check(f"keys without expiry ({pattern})", audit.no_expiry, "==", 0, soft=True,
                       subject=pattern)
        if audit.no_expiry_examples:
            evidence.record(f"keys without expiry, examples ({pattern})", audit.no_expiry_examples,
                            subject=pattern)
        evidence.check(f"keys with TTL over the bound ({pattern})", audit.over_bound, "==", 0,
                       soft=True, subject=pattern)
        if audit.over_bound_examples:
            evidence.record(f"keys over the bound, examples ({pattern})",
                            audit.over_bound_examples, subject=pattern)
        if audit.max_ttl is not None:
            evidence.check(f"max TTL ({pattern})", audit.max_ttl, "<=", cfg.ttl_max_seconds,
                           unit="s", soft=True, subject=pattern)
    evidence.reproduce(
        cli(redis_probe, f"--scan --pattern '{cfg.key_patterns[0]}' | head | "
                         f"xargs -n1 redis-cli -u {redis_probe.display_url} TTL")
    )
    if audited == 0:
        evidence.not_measured(
            f"no keys match {', '.join(cfg.key_patterns)}: nothing to audit "
            "(write a record first, or fix redis.key_patterns)"
        )


@pytest.mark.release_item("maxmemory")
def test_maxmemory_policy_is_noeviction(redis_probe: RedisProbe, release_settings: Settings,
                                  evidence: Evidence) -> None:
    policy, source = redis_probe.maxmemory_policy()
    reproduce = ("CONFIG GET maxmemory-policy" if source.startswith("CONFIG")
                 else "INFO memory | grep maxmemory_policy")
    evidence.record("read from", source)
    evidence.check("maxmemory-policy", policy, "==", release_settings.redis.maxmemory_policy,
                   reproduce=cli(redis_probe, reproduce))


@pytest.mark.release_item("aof")
def test_aof_is_enabled_and_healthy(redis_probe: RedisProbe, release_settings: Settings,
                                  evidence: Evidence) -> None:
    facts = redis_probe.persistence()
    evidence.reproduce(cli(redis_probe, "INFO persistence"))
    # The *_status fields read "ok" even with persistence off: aof_enabled decides.
    evidence.check("aof_enabled", int(facts.get("aof_enabled", 0)), "==", 1, soft=True)
    evidence.check("aof_last_write_status", facts.get("aof_last_write_status"), "==", "ok",
                   soft=True)
    evidence.check("aof_last_bgrewrite_status", facts.get("aof_last_bgrewrite_status"), "==",
                   "ok", soft=True)
    evidence.record("rdb_last_bgsave_status", facts.get("rdb_last_bgsave_status"))
    config = facts["config"]
    if config is None:
        evidence.record("appendfsync", "not readable: CONFIG is disabled on this server")
    else:
        evidence.check("appendfsync", config.get("appendfsync"), "==",
                       release_settings.redis.appendfsync, soft=True)
        evidence.record("save", config.get("save") or "(RDB snapshots off)")


@pytest.mark.release_item("persisted_config")
def test_persisted_config_matches_running_config(redis_probe: RedisProbe, redis_host: Any,
                                                 release_settings: Settings,
                                                 evidence: Evidence) -> None:
    path = release_settings.redis.config_file
    if not path:
        evidence.not_measured(
            "redis.config_file is not set: without the file on the Redis host a restart could "
            "silently drop AOF or noeviction (set redis.config_file and redis.host)"
        )
    text = read_file(redis_host, path)
    evidence.reproduce(
        f"grep -E '^(appendonly|maxmemory-policy|appendfsync)' {path}; "
        + cli(redis_probe, "CONFIG GET appendonly maxmemory-policy appendfsync")
    )
    if text is None:
        evidence.check(f"{path} exists on {release_settings.redis.host}", False, "==", True)
    persisted = parse_redis_conf(text or "")
    if "include" in persisted:
        evidence.record("include directive (not followed)", persisted["include"])
    running = redis_probe.config("appendonly", "maxmemory-policy", "appendfsync")
    if running is None:
        persistence = redis_probe.persistence()
        running = {
            "appendonly": "yes" if int(persistence.get("aof_enabled", 0)) else "no",
            "maxmemory-policy": redis_probe.maxmemory_policy()[0],
        }
    required = {"appendonly": "yes", "maxmemory-policy": release_settings.redis.maxmemory_policy,
                "appendfsync": release_settings.redis.appendfsync}
    for name, live in running.items():
        stored = persisted.get(name, REDIS_DEFAULTS[name])
        evidence.check(f"{name} in {path}", stored, "==", live, soft=True)
        evidence.check(f"{name} after a restart", stored, "==", required[name], soft=True)


@pytest.mark.release_item("retry")
def test_service_survives_dropped_redis_connections(redis_probe: RedisProbe,
                                                    release_settings: Settings,
                                                    evidence: Evidence,
                                                    request: pytest.FixtureRequest) -> None:
    if not release_settings.api.url:
        evidence.not_measured(
            "needs the service: set api.url (and api.token) so the check can drop the service's "
            "Redis connections and see it recover; the suite's own client retries with backoff"
        )
    if not release_settings.api.token:
        evidence.not_measured(
            "api.token is not configured: the check posts to the service before and after "
            "dropping its Redis connections (set token = \"${API_TOKEN}\" in [api])"
        )
    service: FeedbackApi = request.getfixturevalue("feedback_api")
    name = release_settings.redis.service_client_name
    warmup = service.post_feedback()
    evidence.record("warm-up POST status", warmup.status_code)
    if warmup.status_code in (401, 403):
        # The prerequisite failed, not the product: the check never got to drop a connection.
        evidence.not_measured(
            f"the service refused api.token ({warmup.status_code}) on the warm-up POST: set "
            "api.token to a token the service accepts"
        )
    connections = [c for c in redis_probe.clients() if c.get("name") == name]
    evidence.check(f"service connections named {name!r}", len(connections), ">=", 1,
                   reproduce=cli(redis_probe, f"CLIENT LIST | grep name={name}"))
    killed = sum(redis_probe.kill_client(c["id"]) for c in connections)
    evidence.record("connections killed", killed)
    response = service.post_feedback()
    evidence.check("first POST after the drop", response.status_code, "in", (200, 201, 202),
                   reproduce=service.curl_post())
    evidence.check("answered within", response.elapsed.total_seconds(), "<=",
                   release_settings.redis.recovery_s, unit="s")


@pytest.mark.release_item("p95")
def test_p95_latency_is_under_threshold(redis_probe: RedisProbe, release_settings: Settings,
                                  evidence: Evidence) -> None:
    cfg = release_settings.redis
    timings = redis_probe.round_trip_ms(cfg.latency_samples)
    evidence.record("round trips", len(timings))
    evidence.record("client P50", round(percentile(timings, 50), 3), unit="ms")
    evidence.record("client P99", round(percentile(timings, 99), 3), unit="ms")
    evidence.check("client P95", round(percentile(timings, 95), 3), "<", cfg.p95_ms, unit="ms",
                   soft=True, reproduce=cli(redis_probe, "--latency-history -i 1"))
    server = redis_probe.latency_histogram_p95_ms()
    if server is None:
        evidence.record("server P95", "LATENCY HISTOGRAM unavailable (Redis < 7 or disabled)")
    else:
        p95, calls = server
        evidence.record("server calls in histogram", calls)
        evidence.check("server P95 (LATENCY HISTOGRAM)", p95, "<", cfg.p95_ms, unit="ms",
                       soft=True)
