"""Fixtures for the canary and post-deployment stages (issue 10). Clients load on first use.

``history`` is the Prometheus of ``observability.prometheus_url`` seen through time;
``postdeploy_window`` is the window being judged (ending at Prometheus's own now), refused as
*not measured* when the history does not cover it; ``analysis_metrics`` are the canary's
AnalysisTemplate metrics, read from a cluster snapshot when one is configured, else built from
the ``[analysis]`` settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from .evidence import not_measured
from .settings import duration_seconds

if TYPE_CHECKING:
    from .probes.analysis import AnalysisMetric
    from .probes.prometheus import PrometheusProbe
    from .probes.slo import HistoryProbe
    from .settings import Settings


@dataclass(frozen=True)
class HistoryWindow:
    """A judged window of history: [start, end] at ``step`` seconds, and how much is covered."""

    start: float
    end: float
    step: float
    coverage: float
    coverage_expr: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


@pytest.fixture(scope="session")
def history(prometheus: PrometheusProbe) -> HistoryProbe:
    """A :class:`~pytest_release.probes.slo.HistoryProbe` (instant-at-time and range queries)."""
    from .probes.slo import HistoryProbe

    return HistoryProbe(prometheus)


def _window(history: HistoryProbe, length_s: float, step_s: float, job: str,
            min_coverage: float, what: str) -> HistoryWindow:
    from .probes.prometheus import promql_string
    from .probes.slo import coverage, merge_series

    end = float(int(history.now() // step_s) * step_s)
    start = end - length_s
    expr = f"sum(up{{job={promql_string(job)}}})"
    result = history.range(expr, start, end, step_s)
    if result.error:
        not_measured(f"{what}: Prometheus rejected {expr}: {result.error}")
    covered = coverage(merge_series(result.series), start, end, step_s)
    window = HistoryWindow(start, end, step_s, covered, expr)
    if covered < min_coverage:
        not_measured(
            f"{what}: Prometheus at {history.display_url} has history for {covered:.1%} of the "
            f"{length_s / 3600:g} h window ({expr}), less than {min_coverage:.0%}: the window "
            "cannot be judged")
    return window


@pytest.fixture(scope="session")
def postdeploy_window(history: HistoryProbe, release_settings: Settings) -> HistoryWindow:
    """The ``postdeploy.window`` ending now; *not measured* unless history covers it."""
    cfg = release_settings.postdeploy
    return _window(history, duration_seconds(cfg.window), duration_seconds(cfg.step), cfg.job,
                   cfg.min_coverage, "post-deployment window")


@pytest.fixture(scope="session")
def backtest_window(history: HistoryProbe, release_settings: Settings) -> HistoryWindow:
    """The ``analysis.backtest_window`` ending now; *not measured* unless history covers it."""
    cfg = release_settings.analysis
    return _window(history, duration_seconds(cfg.backtest_window),
                   duration_seconds(cfg.backtest_step), release_settings.postdeploy.job,
                   release_settings.postdeploy.min_coverage, "rollback-trigger backtest")


def _args(entries: tuple[str, ...], key: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        if not sep or not name.strip():
            pytest.fail(f"analysis.{key} entry {entry!r}: expected NAME=VALUE, e.g. track=canary",
                        pytrace=False)
        found[name.strip()] = value.strip()
    return found


@pytest.fixture(scope="session")
def analysis_args(release_settings: Settings) -> dict[str, dict[str, str]]:
    """Template args for the ``canary`` and the ``stable`` version."""
    cfg = release_settings.analysis
    return {"canary": _args(cfg.canary_args, "canary_args"),
            "stable": _args(cfg.stable_args, "stable_args")}


@pytest.fixture(scope="session")
def analysis_metrics(release_settings: Settings) -> list[AnalysisMetric]:
    """The canary's analysis metrics: from the AnalysisTemplates of ``analysis.templates_dir``
    (a cluster snapshot) when set, else from the ``[analysis]`` queries and the checklist's
    thresholds."""
    from .probes.analysis import AnalysisMetric, metrics_from_templates

    cfg = release_settings.analysis
    if cfg.templates_dir:
        from .probes.cluster.snapshot import SnapshotCluster

        cluster = SnapshotCluster(cfg.templates_dir)
        objs = [*cluster.list("analysistemplates"), *cluster.list("clusteranalysistemplates")]
        return metrics_from_templates(objs, source=f"snapshot {cfg.templates_dir}")
    interval = duration_seconds(cfg.template_interval)
    limit = cfg.max_failures_phase1
    names = cfg.templates if len(cfg.templates) == 3 else (
        "feedback-error-rate", "feedback-latency", "redis-health")
    return [
        AnalysisMetric(names[0], "error-rate", cfg.error_rate_query, interval, None,
                       f"result[0] < {cfg.max_error_rate:g}", None, limit, 4),
        AnalysisMetric(names[1], "latency-p95", cfg.latency_query, interval, None,
                       f"result[0] < {cfg.max_p95_ms / 1000:g}", None, limit, 4),
        AnalysisMetric(names[2], "redis-connected", cfg.redis_query, interval, None,
                       f"result[0] > {cfg.min_redis:g}", None, limit, 4),
    ]


# -- stages run only when asked for -------------------------------------------------------------------
def _stage_markers() -> dict[str, str]:
    from .gates import PRE_DEPLOYMENT, STAGES

    return {s.marker: s.id for s in STAGES if s.stage != PRE_DEPLOYMENT}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the canary and post-deployment checks unless the run asks for them.

    A stage runs when ``-m`` names its marker (``-m stage_canary``) or its module is named on the
    command line; a plain pre-deployment run (``pytest --release v5.7.1``) must not sit through a
    canary analysis of a canary that does not exist yet. Deselected stage checks show as *not run*.
    """
    markers = _stage_markers()
    expr = str(config.getoption("markexpr", "") or "")
    named = " ".join(str(a) for a in config.args)
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        stage = next((m.name for m in item.iter_markers() if m.name in markers), None)
        asked = stage is None or stage in expr or item.path.name in named
        (keep if asked else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
