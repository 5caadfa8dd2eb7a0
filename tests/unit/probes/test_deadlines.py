"""Every probe call ends at a TOTAL deadline, against real loopback servers that drip their answer.

Each drip server sends a byte every ``INTERVAL`` seconds, well inside every per-read timeout
here (``PER_READ`` s), so a per-read timeout alone would wait for the whole answer (minutes).
Each call must end as ProbeUnavailable (*not measured*) within its deadline plus ``SLACK``,
with a reason naming the target and the deadline and its setting.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.drip import (
    DripServer,
    http_body_drip,
    http_headers_drip,
    prometheus_drip,
    resp_drip,
    running,
)

from pytest_release.probes import ProbeUnavailable
from pytest_release.probes._http import send
from pytest_release.probes.deadline import check_budget
from pytest_release.probes.grafana import GrafanaProbe
from pytest_release.probes.jwks import fetch_jwks
from pytest_release.probes.oci import Registry
from pytest_release.probes.opa import OpaClient
from pytest_release.probes.prometheus import AlertmanagerProbe, PrometheusProbe, fetch_exposition
from pytest_release.probes.redis import RedisProbe
from pytest_release.probes.tools import run_tool

INTERVAL = 0.1
PER_READ = 3.0
DEADLINE = 1.0
SLACK = 1.0


def ends_within(seconds: float, call: Callable[[], Any]) -> str:
    """Run ``call``; it must raise ProbeUnavailable within ``seconds``: its reason."""
    started = time.monotonic()
    with pytest.raises(ProbeUnavailable) as info:
        call()
    took = time.monotonic() - started
    assert took < seconds, f"took {took:.2f} s, bound {seconds} s: {info.value}"
    return str(info.value)


@pytest.fixture
def drip() -> Iterator[Callable[..., DripServer]]:
    servers: list[DripServer] = []

    def start(handler: Any, interval: float = INTERVAL) -> DripServer:
        server = DripServer(handler, interval=interval)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("shape", ["headers", "body"])
def test_http_helper_ends_at_its_deadline(drip, shape):
    server = drip(http_headers_drip() if shape == "headers" else http_body_drip())
    reason = ends_within(DEADLINE + SLACK, lambda: send(
        "GET", server.url + "/x", timeout_s=DEADLINE, what="Example at",
        setting="example.timeout_s"))
    assert reason == (f"Example at {server.url}/x is unreachable: GET did not complete "
                      f"within {DEADLINE:g} s (example.timeout_s)")


def test_http_body_socket_is_shut_at_the_deadline(drip):
    # The worker does not go on reading a dripping body after the caller gave up: the server
    # sees the connection dropped within a few bytes, not after the 10 000 it would drip.
    server = drip(http_body_drip(b"x" * 10_000, "text/plain"))
    ends_within(DEADLINE + SLACK, lambda: send("GET", server.url, timeout_s=DEADLINE,
                                               what="Example at"))
    waited = time.monotonic() + 2.0
    while server.aborted == 0 and time.monotonic() < waited:
        time.sleep(INTERVAL)
    assert server.aborted == 1


PROBES: dict[str, tuple[Callable[[], Any], Callable[[str], Any], str]] = {
    "prometheus query": (prometheus_drip, lambda url: PrometheusProbe(
        url, timeout_s=DEADLINE).query("up"), "Prometheus at"),
    "prometheus targets": (prometheus_drip, lambda url: PrometheusProbe(
        url, timeout_s=DEADLINE).targets(), "Prometheus at"),
    "prometheus headers": (http_headers_drip, lambda url: PrometheusProbe(
        url, timeout_s=DEADLINE).rules(), "Prometheus at"),
    "alertmanager": (prometheus_drip, lambda url: AlertmanagerProbe(
        url, timeout_s=DEADLINE).status(), "Alertmanager at"),
    "grafana": (http_body_drip, lambda url: GrafanaProbe(
        url, timeout_s=DEADLINE).dashboard("abc"), "Grafana"),
    "jwks": (http_body_drip, lambda url: fetch_jwks(
        url + "/.well-known/jwks.json", timeout_s=DEADLINE), "JWKS endpoint"),
    "metrics exposition": (prometheus_drip, lambda url: fetch_exposition(
        url + "/metrics", timeout_s=DEADLINE), "metrics endpoint"),
}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_observability_probes_end_at_their_deadline(drip, name):
    shape, call, what = PROBES[name]
    server = drip(shape())
    reason = ends_within(DEADLINE + SLACK, lambda: call(server.url))
    assert what in reason and f"127.0.0.1:{server.port}" in reason
    assert f"did not complete within {DEADLINE:g} s (observability.timeout_s)" in reason


@pytest.mark.parametrize("shape", [http_headers_drip, http_body_drip])
def test_registry_and_opa_end_at_their_deadline(drip, shape):
    server = drip(shape())
    reason = ends_within(DEADLINE + SLACK, lambda: Registry(
        server.url, timeout_s=DEADLINE).manifest("app", "v1"))
    assert reason.startswith(f"registry {server.url} is unreachable: GET did not complete "
                             f"within {DEADLINE:g} s (security.timeout_s)")
    reason = ends_within(DEADLINE + SLACK, lambda: OpaClient(
        server.url, timeout_s=DEADLINE).decide("release/allow", {}))
    assert reason.startswith(f"OPA {server.url} is unreachable: POST did not complete within")


@pytest.mark.parametrize("call", ["ping", "info", "config", "ttl_audit", "round_trip_ms"])
def test_redis_calls_end_at_their_total_deadline(drip, call):
    # socket_timeout (PER_READ) never fires: a byte arrives every INTERVAL. Retries included.
    server = drip(resp_drip())
    probe = RedisProbe(server.redis_url, timeout_s=PER_READ, deadline_s=DEADLINE)
    calls: dict[str, Callable[[], Any]] = {
        "ping": probe.ping,
        "info": lambda: probe.info("server"),
        "config": lambda: probe.config("appendonly"),
        "ttl_audit": lambda: probe.ttl_audit("k:*", bound_seconds=60, sample_size=10,
                                             scan_count=10),
        "round_trip_ms": lambda: probe.round_trip_ms(20),
    }
    try:
        # round_trip_ms also tries to delete its scratch key: one more deadline.
        bound = DEADLINE * (2 if call == "round_trip_ms" else 1) + SLACK
        reason = ends_within(bound, calls[call])
    finally:
        probe.close()
    assert reason.startswith(f"Redis at {server.redis_url} did not complete ")
    assert reason.endswith(f"within {DEADLINE:g} s (redis.deadline_s)")


def test_redis_deadline_covers_the_fallback_audit(drip):
    # A server that refuses EVAL, then drips the SCAN reply: the pipelined path is bounded too.
    refuse_then_drip = {"n": 0}
    base = resp_drip(b"*2\r\n$1\r\n0\r\n*1\r\n$3\r\nk:1\r\n")

    def handler(conn, server):
        buffer = conn.recv(65536)
        # HELLO/CLIENT SETNAME on connect, then the EVAL: answer both at once.
        while b"EVAL" not in buffer:
            conn.sendall(b"+OK\r\n")
            buffer = conn.recv(65536)
        refuse_then_drip["n"] += 1
        conn.sendall(b"-ERR unknown command 'EVAL'\r\n")
        base(conn, server)

    server = drip(handler)
    probe = RedisProbe(server.redis_url, timeout_s=PER_READ, deadline_s=DEADLINE)
    try:
        reason = ends_within(DEADLINE + SLACK, lambda: probe.ttl_audit(
            "k:*", bound_seconds=60, sample_size=10, scan_count=10))
    finally:
        probe.close()
    assert refuse_then_drip["n"] == 1
    assert reason == (f"Redis at {server.redis_url} did not complete SCAN + TTL "
                      f"within {DEADLINE:g} s (redis.deadline_s)")


def test_a_healthy_redis_still_answers_every_call(redis_server):
    server = redis_server()
    server.client().set("k:1", "v", ex=60)
    probe = RedisProbe(server.url, timeout_s=PER_READ, deadline_s=DEADLINE)
    try:
        assert probe.ping() < DEADLINE * 1000
        audit = probe.ttl_audit("k:*", bound_seconds=3600, sample_size=10, scan_count=10)
        assert (audit.scanned, audit.no_expiry) == (1, 0)
        assert len(probe.round_trip_ms(20)) == 20
        assert probe.config("appendonly") == {"appendonly": "no"}
    finally:
        probe.close()


def test_the_check_budget_cuts_every_longer_call_short(drip):
    # Calls allowed 30 s each end at the check's budget, naming release.check_deadline_s.
    http, redis = drip(http_body_drip()), drip(resp_drip())
    with check_budget(DEADLINE):
        reason = ends_within(DEADLINE + SLACK, lambda: PrometheusProbe(
            http.url, timeout_s=30).query("up"))
    assert reason.endswith(f"did not complete within the check's budget of {DEADLINE:g} s "
                           "(release.check_deadline_s)")
    probe = RedisProbe(redis.redis_url, timeout_s=PER_READ, deadline_s=30)
    try:
        with check_budget(DEADLINE):
            reason = ends_within(DEADLINE + SLACK, probe.ping)
    finally:
        probe.close()
    assert reason.endswith("within the check's budget of 1 s (release.check_deadline_s)")
    with check_budget(DEADLINE):
        reason = ends_within(DEADLINE + SLACK, lambda: run_tool(
            [sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=30, tool="sleeper"))
    assert reason.startswith("sleeper did not finish within the check's budget of 1 s "
                             "(release.check_deadline_s) (killed)")


def test_tools_have_their_own_total_deadline():
    reason = ends_within(DEADLINE + SLACK, lambda: run_tool(
        [sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=DEADLINE,
        tool="sleeper"))
    assert reason.startswith(f"sleeper did not finish within {DEADLINE:g} s (killed)")


def test_drip_servers_really_drip():
    # The harness itself: a plain socket read gets one byte per interval, never the whole reply.
    import socket

    with running(resp_drip(b"+PONG\r\n"), interval=0.2) as server, socket.create_connection(
            ("127.0.0.1", server.port), timeout=2) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        started = time.monotonic()
        first = sock.recv(100)
        assert first == b"+"
        rest = b""
        while len(rest) < 6:
            rest += sock.recv(100)
        assert rest == b"PONG\r\n" and time.monotonic() - started >= 1.0
