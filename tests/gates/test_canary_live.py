"""The canary analysis live: two real instances of the feedback service (stable and canary, told
apart by Prometheus's ``track`` label) with real traffic, scraped every second by a real
Prometheus; the canary regresses for real through the service's own faults (``slow``: +200 ms per
POST; ``error_500_on_bad_input``: malformed requests become 500s instead of 400s)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.run import check, item_statuses, output

from pytest_release.bundled import examples_path
from pytest_release.demo.history import start_live_canary

ANALYSIS = ("analysis_error_rate", "analysis_latency", "analysis_redis")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        urls = {
            "healthy": start_live_canary(Path(tmp_path_factory.mktemp("healthy")), stack,
                                         canary_bad_share=0.05),
            "regressed": start_live_canary(Path(tmp_path_factory.mktemp("regressed")), stack,
                                           canary_faults=("slow", "error_500_on_bad_input"),
                                           canary_bad_share=0.05),
        }
        yield urls


def run_live(run_release, url: str):
    return run_release("-m", "stage_canary", "-k", "analysis_passes",
                       "--release-set", f"observability.prometheus_url={url}",
                       "--release-set", "analysis.count=10", "--release-set", "analysis.interval=0.5s",
                       "--release-set", f"analysis.templates_dir={examples_path('argo')}",
                       modules=("test_canary.py",))


def test_live_healthy_canary_passes(live, run_release):
    result, signoff = run_live(run_release, live["healthy"])
    assert signoff is not None, output(result)
    found = item_statuses(signoff, "canary")
    assert {i: found[i] for i in ANALYSIS} == dict.fromkeys(ANALYSIS, "passed"), output(result)
    samples = [m for m in check(signoff, "canary", "analysis_error_rate")["measurements"]
               if m["name"].startswith("measurement ")]
    # 5 % malformed requests are 400s on a healthy service: no 5xx at all, on either track.
    assert [s["value"]["canary"] for s in samples] == [0.0] * 10
    assert [s["value"]["stable"] for s in samples] == [0.0] * 10


def test_live_regressed_canary_fails_with_its_values(live, run_release):
    result, signoff = run_live(run_release, live["regressed"])
    assert signoff is not None, output(result)
    found = item_statuses(signoff, "canary")
    assert (found["analysis_error_rate"], found["analysis_latency"], found["analysis_redis"]) == (
        "failed", "failed", "passed"), output(result)
    latency = check(signoff, "canary", "analysis_latency")
    samples = [m for m in latency["measurements"] if m["name"].startswith("measurement ")]
    assert all(s["value"]["canary"] > 150 for s in samples), samples  # the slow canary, in ms
    assert all(s["value"]["stable"] < 150 for s in samples), samples  # the stable version is fine
    assert "first failed 20" in latency["message"]
    assert signoff["recommendation"] == "ROLL BACK"


def test_both_stages_on_one_prometheus_with_history_and_a_live_canary(tmp_path, run_release):
    """What the demo runs: 24 h of healthy history backfilled under a live canary, every canary
    and post-deployment item measured and passed → RELEASE COMPLETE."""
    from pytest_release.demo.history import demo_stages

    with contextlib.ExitStack() as stack:
        tables = demo_stages(tmp_path, stack)
        args = [a for table, values in tables.items() for key, value in values.items()
                for a in ("--release-set", f"{table}.{key}={_toml(value)}")]
        result, signoff = run_release("-m", "stage_canary or stage_postdeploy", *args,
                                      modules=("test_canary.py", "test_postdeploy.py"))
    assert signoff is not None, output(result)
    for stage in ("canary", "postdeploy"):
        found = item_statuses(signoff, stage)
        assert set(found.values()) == {"passed"}, (stage, found, output(result))
    assert signoff["recommendation"] == "RELEASE COMPLETE"
    assert signoff["verdict"] == "INCOMPLETE"  # the six gates did not run: never APPROVED


def _toml(value: object) -> str:
    import json

    return json.dumps(value) if isinstance(value, list) else str(value)
