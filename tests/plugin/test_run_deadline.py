"""A real ``pytest --release`` run against targets that drip their answers ends, bounded, with
every check *not measured* and the release never APPROVED.

Every target here answers one byte every ``INTERVAL`` seconds (the Redis server drips each
RESP reply; Prometheus, Alertmanager, Grafana, the service's metrics and JWKS endpoints drip a
JSON/exposition body; the service's API drips its headers), so no per-read timeout ever fires.
The run's bound is what the README promises: checks × ``release.check_deadline_s``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from support.drip import DripServer, http_body_drip, http_headers_drip, prometheus_drip, resp_drip

INTERVAL = 0.5
CHECK_DEADLINE_S = 4.0
CALL_DEADLINE_S = 1.5
STARTUP_S = 30.0  # interpreter, plugin and collection in a subprocess on a shared machine


@pytest.fixture
def drip_targets() -> Iterator[dict[str, DripServer]]:
    servers = {
        "redis": DripServer(resp_drip(), interval=INTERVAL),
        "prometheus": DripServer(prometheus_drip(), interval=INTERVAL),
        "alertmanager": DripServer(prometheus_drip(), interval=INTERVAL),
        "grafana": DripServer(http_body_drip(), interval=INTERVAL),
        "service": DripServer(http_headers_drip(), interval=INTERVAL),
    }
    yield servers
    for server in servers.values():
        server.stop()


def test_a_run_against_dripping_targets_ends_bounded_and_not_measured(run_release, drip_targets):
    t = drip_targets
    started = time.monotonic()
    run = run_release(
        "-m", "gate_redis or gate_observability",
        modules=("test_gate_redis.py", "test_gate_observability.py"),
        settings={
            "release.check_deadline_s": str(CHECK_DEADLINE_S),
            "redis.url": t["redis"].redis_url,
            "redis.timeout_s": "5",  # per read: a byte comes every INTERVAL, it never fires
            "redis.deadline_s": str(CALL_DEADLINE_S),
            "api.url": t["service"].url,
            "api.timeout_s": str(CALL_DEADLINE_S),
            "observability.prometheus_url": t["prometheus"].url,
            "observability.alertmanager_url": t["alertmanager"].url,
            "observability.grafana_url": t["grafana"].url,
            "observability.dashboard_uid": "feedback",
            "observability.metrics_url": t["prometheus"].url + "/metrics",
            "observability.jwks_url": t["grafana"].url + "/.well-known/jwks.json",
            "observability.timeout_s": str(CALL_DEADLINE_S),
        },
        timeout=600)
    took = time.monotonic() - started
    assert run.signoff is not None, run.output
    checks = [c for g in ("redis", "observability") for c in run.gate(g)["checks"]]
    assert len(checks) >= 10, run.output
    bound = len(checks) * CHECK_DEADLINE_S + STARTUP_S
    assert took < bound, f"run took {took:.1f} s, bound {bound:.0f} s:\n{run.output}"

    # Nothing dripped its way into a pass or a failure: each check stopped, not measured.
    outcomes = {c["nodeid"]: (c["outcome"], c["measured"]) for c in checks}
    assert all(not measured for _, measured in outcomes.values()), outcomes
    assert all(outcome == "skipped" for outcome, _ in outcomes.values()), outcomes
    reasons = {c["nodeid"]: c["message"] for c in checks}
    timed_out = {n: r for n, r in reasons.items()
                 if re.search(r"did not complete .*within \d", r)}
    # The ones that reached a target name it and the limit that ended them.
    assert any(t["redis"].redis_url in r and "(redis.deadline_s)" in r
               for r in timed_out.values()), reasons
    assert any(f"Prometheus at {t['prometheus'].url}" in r and "(observability.timeout_s)" in r
               for r in timed_out.values()), reasons
    assert any(t["alertmanager"].url in r for r in timed_out.values()), reasons
    assert any(t["grafana"].url in r for r in timed_out.values()), reasons
    assert len(timed_out) >= len(checks) // 2, reasons
    assert run.signoff["verdict"] == "INCOMPLETE"
