"""Prometheus history and SLO arithmetic for the canary and post-deployment stages.

:class:`HistoryProbe` runs instant queries at a chosen time and range queries
(``/api/v1/query_range``) through a :class:`~.prometheus.PrometheusProbe`; the rest of the module
is pure functions (burn rate, budget consumed, runs of a condition, ``for:`` semantics), tested by
tables. Probes return facts and never assert.

Definitions (SRE workbook, "Alerting on SLOs"), also in the README:

* error ratio over a window W = errors ÷ requests counted over W;
* burn rate = error ratio ÷ (1 − SLO): 1 spends the budget exactly over the SLO period;
* budget consumed over W = burn rate × W ÷ SLO period (a share of the whole period's budget);
* a multiwindow pair (long, short, factor) *pages* when both windows' burn rates exceed factor.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import ProbeUnavailable

if TYPE_CHECKING:
    from .prometheus import PrometheusProbe

#: Prometheus refuses range queries of more than 11,000 points per series.
MAX_POINTS = 11000

Point = tuple[float, float]


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and (unix time, value) points."""

    labels: Mapping[str, str]
    points: tuple[Point, ...]


@dataclass(frozen=True)
class RangeResult:
    """A range query's series, or the error Prometheus answered with."""

    expr: str
    start: float
    end: float
    step: float
    series: tuple[RangeSeries, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Instant:
    """An instant query at ``time``: (labels, value) per series, or the error."""

    expr: str
    time: float
    series: tuple[tuple[Mapping[str, str], float], ...] = ()
    error: str | None = None

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.series]


def iso(ts: float) -> str:
    """Unix seconds as ``2026-12-02T06:10:00Z`` (what the evidence shows)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


class HistoryProbe:
    """Queries over time through one :class:`PrometheusProbe` (its deadline and errors)."""

    def __init__(self, prometheus: PrometheusProbe) -> None:
        self.prometheus = prometheus
        self.display_url = prometheus.display_url

    def now(self) -> float:
        """Prometheus's own clock (unix seconds)."""
        return self.prometheus.server_time().timestamp()

    def at(self, expr: str, ts: float) -> Instant:
        data = self.prometheus._get("/api/v1/query", {"query": expr, "time": f"{ts:.3f}"},
                                    query_errors=True)
        message = getattr(data, "message", None)
        if message is not None:
            return Instant(expr, ts, error=str(message))
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "scalar":
            return Instant(expr, ts, (({}, _float(result[1])),))
        if kind == "vector":
            return Instant(expr, ts, tuple((dict(s["metric"]), _float(s["value"][1]))
                                           for s in result))
        return Instant(expr, ts, error=f"unexpected result type {kind!r}")

    def range(self, expr: str, start: float, end: float, step: float) -> RangeResult:
        if end <= start or step <= 0:
            raise ValueError(f"empty range {start}..{end} step {step}")
        points = (end - start) / step + 1
        if points > MAX_POINTS:
            raise ProbeUnavailable(
                f"range query of {points:.0f} points exceeds Prometheus's {MAX_POINTS}: "
                "use a longer step or a shorter window")
        data = self.prometheus._get("/api/v1/query_range", {
            "query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"},
            query_errors=True)
        message = getattr(data, "message", None)
        if message is not None:
            return RangeResult(expr, start, end, step, error=str(message))
        series = tuple(
            RangeSeries(dict(s.get("metric", {})),
                        tuple((float(t), _float(v)) for t, v in s.get("values", [])))
            for s in data.get("result", []))
        return RangeResult(expr, start, end, step, series)

    def reproduce(self, expr: str, start: float, end: float, step: float) -> str:
        """The ``promtool query range`` command showing the same series."""
        import shlex

        return (f"promtool query range --start={iso(start)} --end={iso(end)} --step={step:g}s "
                f"{self.display_url} {shlex.quote(expr)}")


# -- burn rate (pure) -------------------------------------------------------------------------------
def error_ratio(errors: float, requests: float) -> float | None:
    """errors ÷ requests; None when there were no requests (nothing to judge)."""
    if requests <= 0 or not math.isfinite(requests):
        return None
    return max(0.0, errors) / requests


def burn_rate(ratio: float, slo: float) -> float:
    """error ratio ÷ (1 − SLO): how many times faster than sustainable the budget burns."""
    if not 0 < slo < 1:
        raise ValueError(f"SLO target must be between 0 and 1, got {slo}")
    return ratio / (1 - slo)


def budget_consumed(ratio: float, slo: float, window_s: float, period_s: float) -> float:
    """The share of the SLO period's error budget spent in a window: burn × window ÷ period."""
    return burn_rate(ratio, slo) * window_s / period_s


@dataclass(frozen=True)
class BurnPair:
    """A multiwindow burn-rate alert: both windows above ``factor`` at the same time pages."""

    long_s: float
    short_s: float
    factor: float
    text: str


def parse_burn_pair(text: str) -> BurnPair:
    """``"1h:5m:14.4"`` → BurnPair(3600, 300, 14.4). Raises ValueError."""
    from .prometheus import prom_duration_seconds

    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3:
        raise ValueError(f"burn pair {text!r}: expected LONG:SHORT:FACTOR, e.g. 1h:5m:14.4")
    long_s, short_s = prom_duration_seconds(parts[0]), prom_duration_seconds(parts[1])
    factor = float(parts[2])
    if not (long_s > short_s > 0 and factor > 0):
        raise ValueError(f"burn pair {text!r}: need LONG > SHORT > 0 and FACTOR > 0")
    return BurnPair(long_s, short_s, factor, text)


def both_above(long_points: Sequence[Point], short_points: Sequence[Point],
               factor: float) -> list[Point]:
    """Times (with the long window's burn) where both windows' burn rates exceed ``factor``."""
    short = dict(short_points)
    return [(t, v) for t, v in long_points
            if v > factor and t in short and short[t] > factor]


# -- runs of a condition over time (pure) -----------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """Consecutive steps where a series was present (a filtering expression held)."""

    start: float
    end: float
    peak: float

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def runs(points: Iterable[Point], step: float) -> list[Run]:
    """Group points into runs of consecutive steps (a gap longer than 1.5 steps ends a run)."""
    found: list[Run] = []
    start = last = peak = None
    for t, v in sorted(points):
        if start is None or last is None or peak is None or t - last > 1.5 * step:
            if start is not None and last is not None and peak is not None:
                found.append(Run(start, last, peak))
            start, peak = t, v
        else:
            peak = max(peak, v) if math.isfinite(v) else peak
        last = t
    if start is not None and last is not None and peak is not None:
        found.append(Run(start, last, peak))
    return found


def fire_times(points: Iterable[Point], step: float, for_s: float) -> list[tuple[float, Run]]:
    """When an alert with ``for: for_s`` over this filtered series would have fired.

    Prometheus fires once the expression has held at every evaluation for ``for_s``: a run that
    starts at t and lasts at least ``for_s`` fires at t + for_s.
    """
    return [(r.start + for_s, r) for r in runs(points, step) if r.duration_s >= for_s]


def consecutive_failures(samples: Sequence[tuple[float, bool]], n: int) -> list[float]:
    """Times at which the n-th failure in a row occurred (each streak reported once)."""
    found: list[float] = []
    streak = 0
    for ts, failed in samples:
        streak = streak + 1 if failed else 0
        if streak == n:
            found.append(ts)
    return found


def merge_series(series: Iterable[RangeSeries]) -> list[Point]:
    """All points of several series (a filtered ``by (job)`` expression has one per job)."""
    return sorted(p for s in series for p in s.points if math.isfinite(p[1]))


def coverage(points: Sequence[Point], start: float, end: float, step: float) -> float:
    """Share of the window's steps that have a sample (1.0 = the history covers it all)."""
    expected = int(round((end - start) / step)) + 1
    seen = {round((t - start) / step) for t, _ in points if start - step / 2 <= t <= end + step / 2}
    return min(1.0, len(seen) / expected) if expected > 0 else 0.0


def worst(points: Sequence[Point]) -> Point | None:
    """The (time, value) with the highest finite value."""
    finite = [p for p in points if math.isfinite(p[1])]
    return max(finite, key=lambda p: p[1]) if finite else None


@dataclass(frozen=True)
class AlertPeriod:
    """An alert seen firing in ``ALERTS`` history: from ``start`` to ``end`` (last sample)."""

    name: str
    labels: Mapping[str, str]
    start: float
    end: float

    def describe(self) -> str:
        severity = self.labels.get("severity")
        where = f" ({severity})" if severity else ""
        return f"{self.name}{where} firing {iso(self.start)} – {iso(self.end)}"


def alert_periods(series: Iterable[RangeSeries], step: float) -> list[AlertPeriod]:
    """Firing periods of each ``ALERTS`` series, in time order."""
    found = [
        AlertPeriod(s.labels.get("alertname", "?"), s.labels, run.start, run.end)
        for s in series for run in runs([p for p in s.points if p[1] > 0], step)
    ]
    return sorted(found, key=lambda a: (a.start, a.name))


def image_deviations(series: Iterable[RangeSeries], label: str,
                     expected: str) -> list[tuple[float, Mapping[str, str], str]]:
    """(first time, labels, value) of every series whose ``label`` does not name ``expected``.

    ``expected`` is a digest (``sha256:…``) or an image reference with ``@sha256:…`` (compared
    by digest, so ``docker-pullable://repo@sha256:…`` matches) or a plain reference (equality).
    """
    want = expected.split("@", 1)[1] if "@" in expected else expected
    by_digest = want.startswith("sha256:")
    found = []
    for s in series:
        value = s.labels.get(label, "")
        ok = value.endswith("@" + want) or value == want if by_digest else value == want
        if not ok and s.points:
            found.append((min(t for t, _ in s.points), s.labels, value))
    return sorted(found, key=lambda d: d[0])
