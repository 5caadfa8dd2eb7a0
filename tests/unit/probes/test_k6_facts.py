"""K6Run: typed facts from k6's handleSummary JSON (so gate tests read no raw summary)."""
from __future__ import annotations

from pytest_release.probes.k6 import SUCCESSFUL, K6Run

SUMMARY = {
    "state": {"testRunDurationMs": 30012.5},
    "metrics": {
        "http_reqs": {"values": {"count": 1000, "rate": 33.3}},
        "http_req_failed": {"values": {"passes": 4, "fails": 996, "rate": 0.004},
                            "thresholds": {"rate<0.005": {"ok": True}}},
        "checks": {"values": {"passes": 990, "fails": 10, "rate": 0.99}},
        "iterations": {"values": {"count": 1000}},
        "vus_max": {"values": {"max": 25}},
        "http_req_duration": {"values": {"p(95)": 50.0, "med": 10.0}},
        SUCCESSFUL: {"values": {"p(95)": 42.5, "med": 9.0, "max": 80.0}},
    },
}


def test_typed_facts():
    run = K6Run(0, SUMMARY, 31.0, "k6 run x.js", "")
    assert (run.requests, run.failed, run.succeeded) == (1000, 4, 996)
    assert run.error_rate == 0.004 and run.success_rate == 0.99 and run.failed_checks == 10
    assert run.p95_ms == 42.5 and run.latency_all_ms["p(95)"] == 50.0
    assert (run.vus_max, run.iterations, run.request_rate) == (25, 1000, 33.3)
    assert run.ran_s == 30.0125
    assert run.thresholds() == {"http_req_failed rate<0.005": True}


def test_missing_metrics_are_none_or_zero_never_a_pass():
    run = K6Run(99, {}, 0.0, "", "")
    assert run.error_rate is None and run.success_rate is None and run.p95_ms is None
    assert (run.requests, run.succeeded, run.vus_max, run.ran_s) == (0, 0, 0, 0.0)
