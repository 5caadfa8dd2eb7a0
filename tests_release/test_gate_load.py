"""Gate 3: Load Test — one real k6 run, each figure its own check."""
from __future__ import annotations

import pytest

from pytest_release.evidence import Evidence
from pytest_release.probes.k6 import K6Run
from pytest_release.report.svg import latency_distribution
from pytest_release.settings import Settings, duration_seconds

pytestmark = pytest.mark.gate_load

PERCENTILES = ("p(50)", "p(75)", "p(90)", "p(95)", "p(99)", "p(99.9)")
P95_NAME = "http_req_duration p(95) of successful requests"


def _context(run: K6Run, evidence: Evidence) -> None:
    evidence.reproduce(run.command)
    evidence.record("k6 exit code", run.exit_code)
    evidence.record("requests", run.requests)


@pytest.mark.release_item("error_rate")
def test_error_rate_is_under_threshold(k6_run: K6Run, release_settings: Settings,
                                       evidence: Evidence) -> None:
    _context(k6_run, evidence)
    evidence.record("failed requests", k6_run.failed)
    evidence.check("http_req_failed rate", k6_run.error_rate, "<",
                   release_settings.load.max_error_rate)


@pytest.mark.release_item("p95")
def test_p95_latency_is_under_threshold(k6_run: K6Run, release_settings: Settings,
                                        evidence: Evidence) -> None:
    _context(k6_run, evidence)
    # The successful responses' latency; the all-requests figure is context.
    latency, limit = k6_run.latency_ms, release_settings.load.p95_ms
    overall = k6_run.latency_all_ms
    if "p(95)" in overall:
        evidence.record("http_req_duration p(95), all requests", round(overall["p(95)"], 2),
                        unit="ms")
    for stat in ("med", "p(90)", "p(99)", "max"):
        if stat in latency:
            evidence.record(f"http_req_duration {stat}", round(latency[stat], 2), unit="ms")
    if k6_run.succeeded <= 0:
        # k6 times refused connections too (about 0 ms): that is no latency of the service.
        evidence.not_measured(f"no request succeeded ({k6_run.failed} of {k6_run.requests} "
                              "failed), so there is no service latency to compare")
    points = [(p.replace("(", "").replace(")", ""), latency[p]) for p in PERCENTILES
              if p in latency]
    if points:
        evidence.attach("latency distribution", "image/svg+xml", latency_distribution(
            points, threshold=limit, threshold_label=f"P95 limit {limit:g} ms",
            title=f"k6 http_req_duration percentiles ({release_settings.load.vus} VUs, "
                  f"{release_settings.load.duration})"))
    evidence.check(P95_NAME, k6_run.p95_ms, "<", limit, unit="ms")


@pytest.mark.release_item("success_rate")
def test_success_rate_is_above_threshold(k6_run: K6Run, release_settings: Settings,
                                         evidence: Evidence) -> None:
    _context(k6_run, evidence)
    evidence.record("failed checks", k6_run.failed_checks)
    evidence.check("checks rate (status is 201)", k6_run.success_rate, ">",
                   release_settings.load.min_success_rate)


@pytest.mark.release_item("profile")
def test_load_profile_ran_as_planned(k6_run: K6Run, release_settings: Settings,
                                     evidence: Evidence) -> None:
    _context(k6_run, evidence)
    load = release_settings.load
    evidence.record("requests/s achieved", round(k6_run.request_rate, 1))
    for expr, ok in sorted(k6_run.thresholds().items()):
        evidence.record(f"k6 threshold {expr}", "ok" if ok else "crossed")
    evidence.check("VUs", k6_run.vus_max, "==", load.vus, soft=True)
    evidence.check("run duration", round(k6_run.ran_s, 1), ">=", duration_seconds(load.duration),
                   unit="s", soft=True)
    evidence.check("iterations", k6_run.iterations, ">", 0, soft=True)
    # A load that reached nobody did not run "against" the release.
    evidence.check("successful requests", k6_run.succeeded, ">", 0, soft=True)
