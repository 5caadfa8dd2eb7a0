"""Real Prometheus history for the canary and post-deployment stages (used by tests and the demo).

:func:`openmetrics` writes the service's own metric families (``aiops_http_requests_total``,
``aiops_http_errors_total``, ``aiops_http_request_duration_seconds``, ``aiops_redis_*``) plus a
``kube_pod_container_info``-style image series, ``up`` and ``ALERTS`` series, for one of the
named :data:`SCENARIOS`. :func:`start_history_prometheus` backfills that text with
``promtool tsdb create-blocks-from openmetrics`` and starts Debian's real Prometheus on it.

The traps (REFERENCE.md): timestamps are **seconds** (milliseconds land in year 58888 without an
error), the file must end with ``# EOF``, all data must lie in the past, retention must be longer
than the history, and blocks are created before the server starts.
"""
from __future__ import annotations

import contextlib
import math
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .observability import DEFAULT_RULE_FILES, PrometheusServer, launch_prometheus
from .stack import StackError, executable, free_port

JOB = "feedback-service"
ROUTE = "/api/v1/aiops/feedback"
NAMESPACE = "aiops"
CONTAINER = "backend"
IMAGE_REPO = "ghcr.io/your-org/cpt-ajan-backend"
#: The release's image digest in every generated history (the drift scenario deviates from it).
RELEASE_DIGEST = "sha256:" + "5" * 8 + "71" * 28
OTHER_DIGEST = "sha256:" + "5" * 8 + "70" * 28
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.12, 0.15, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class Window:
    """``[start_h, end_h)`` hours from the beginning of the history."""

    start_h: float
    end_h: float

    def __contains__(self, hours: float) -> bool:
        return self.start_h <= hours < self.end_h


@dataclass(frozen=True)
class AlertPeriod:
    """An ``ALERTS`` series firing during ``window`` (what the rule manager wrote back then)."""

    name: str
    window: Window
    labels: tuple[tuple[str, str], ...] = (("severity", "critical"),)


@dataclass(frozen=True)
class Track:
    """One instance of the service (``track`` label ``stable`` or ``canary``)."""

    name: str
    instance: str
    pod: str
    rps: float = 20.0
    error_ratio: float = 0.0005
    p95_s: float = 0.06
    #: (window, error ratio) / (window, P95 s) / windows with Redis down / windows on another image
    error_spikes: tuple[tuple[Window, float], ...] = ()
    slow: tuple[tuple[Window, float], ...] = ()
    redis_down: tuple[Window, ...] = ()
    other_image: tuple[Window, ...] = ()
    starts_h: float = 0.0

    def at(self, hours: float) -> tuple[float, float, bool, str]:
        """(error ratio, P95 seconds, redis connected, image digest) at ``hours``."""
        error = next((r for w, r in self.error_spikes if hours in w), self.error_ratio)
        p95 = next((p for w, p in self.slow if hours in w), self.p95_s)
        connected = not any(hours in w for w in self.redis_down)
        digest = OTHER_DIGEST if any(hours in w for w in self.other_image) else RELEASE_DIGEST
        return error, p95, connected, digest


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    tracks: tuple[Track, ...]
    hours: float = 25.0
    step_s: int = 60
    alerts: tuple[AlertPeriod, ...] = field(default=())


def _stable(**kwargs: object) -> Track:
    return Track("stable", "10.0.0.11:8080", "cpt-ajan-backend-7d9f-abcde", **kwargs)  # type: ignore[arg-type]


def _stable_b(**kwargs: object) -> Track:
    return Track("stable", "10.0.0.12:8080", "cpt-ajan-backend-7d9f-fghij", **kwargs)  # type: ignore[arg-type]


# The history is 25 h long so that a 24 h window and its 5 m rate windows are fully covered.
# Incidents are placed at fixed hours of the history (hour 0 = 25 h ago).
SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("healthy", "24 h of normal traffic: 0.05 % errors, P95 60 ms, the release image",
             (_stable(), _stable_b())),
    Scenario("error_spike", "one hour (hours 10-11) with 50 % errors on both pods; "
             "FeedbackErrorRateHigh fired",
             (_stable(error_spikes=((Window(10, 11), 0.5),)),
              _stable_b(error_spikes=((Window(10, 11), 0.5),))),
             alerts=(AlertPeriod("FeedbackErrorRateHigh", Window(10 + 14 / 60, 11 + 5 / 60)),)),
    Scenario("latency_regression", "one hour (hours 16-17) with P95 400 ms; the latency alert "
             "did NOT fire (no ALERTS series)",
             (_stable(slow=((Window(16, 17), 0.4),)), _stable_b(slow=((Window(16, 17), 0.4),)))),
    Scenario("image_drift", "pod fghij runs another image digest during hours 13-15",
             (_stable(), _stable_b(other_image=(Window(13, 15),)))),
    Scenario("critical_alert", "Redis down for 20 minutes at hour 14 (RedisDown and "
             "RedisConnectionFailures fired, critical); a security alert at hour 20",
             (_stable(redis_down=(Window(14, 14 + 20 / 60),)),
              _stable_b(redis_down=(Window(14, 14 + 20 / 60),))),
             alerts=(AlertPeriod("RedisDown", Window(14 + 1 / 60, 14 + 21 / 60)),
                     AlertPeriod("RedisConnectionFailures", Window(14 + 1 / 60, 14 + 25 / 60)),
                     AlertPeriod("SuspiciousTokenUse", Window(20, 20.25),
                                 (("severity", "warning"), ("category", "security"))))),
    Scenario("low_traffic", "24 h with one request every few minutes (too little traffic)",
             (_stable(rps=0.004), _stable_b(rps=0.004))),
    Scenario("canary_healthy", "the last hour: stable pods plus a canary pod started 30 min "
             "ago, all healthy", (_stable(), Track("canary", "10.0.0.21:8080",
                                                   "cpt-ajan-backend-5c4b-canry", starts_h=0.5)),
             hours=1.0, step_s=15),
    Scenario("canary_regressed", "the last hour: a canary pod with 3 % errors, P95 300 ms and "
             "no Redis connection", (_stable(), Track(
                 "canary", "10.0.0.21:8080", "cpt-ajan-backend-5c4b-canry", starts_h=0.5,
                 error_ratio=0.03, p95_s=0.3, redis_down=(Window(0.5, 2.0),))),
             hours=1.0, step_s=15),
)}


def _bucket_fractions(p95_s: float) -> list[float]:
    """Cumulative share of requests at or below each bucket bound: an exponential latency
    distribution whose 95th percentile is ``p95_s``."""
    mean = p95_s / math.log(20)
    return [1.0 - math.exp(-le / mean) for le in LATENCY_BUCKETS]


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in pairs)
    return "{" + body + "}"


def openmetrics(scenario: Scenario | str, *, end: float | None = None) -> str:
    """The OpenMetrics text of ``scenario`` with its last sample at ``end`` (default: now − 1 s).

    Timestamps are integer seconds, the text ends with ``# EOF``.
    """
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    end_s = int(end if end is not None else time.time() - 1)
    steps = int(sc.hours * 3600 // sc.step_s)
    start_s = end_s - steps * sc.step_s
    series: dict[str, dict[str, list[str]]] = {}

    def emit(family: str, sample: str, labels: Sequence[tuple[str, str]], ts: int,
             value: float) -> None:
        text = f"{value:.6g}" if not float(value).is_integer() else str(int(value))
        series.setdefault(family, {}).setdefault(sample + _labels(labels), []).append(
            f"{sample}{_labels(labels)} {text} {ts}")

    for track in sc.tracks:
        base = (("job", JOB), ("instance", track.instance), ("track", track.name))
        ok_total = err_total = dur_sum = redis_errors = 0.0
        buckets = [0.0] * len(LATENCY_BUCKETS)
        count = 0.0
        for index in range(steps + 1):
            ts = start_s + index * sc.step_s
            hours = index * sc.step_s / 3600
            if hours < track.starts_h:
                continue
            error, p95, connected, digest = track.at(hours)
            if index and hours - sc.step_s / 3600 >= track.starts_h:
                n = track.rps * sc.step_s
                ok_total += n * (1 - error)
                err_total += n * error
                count += n
                for b, frac in enumerate(_bucket_fractions(p95)):
                    buckets[b] += n * frac
                dur_sum += n * p95 / math.log(20)
                if not connected:
                    redis_errors += 3 * sc.step_s / 60
            req = (*base, ("method", "POST"), ("route", ROUTE))
            emit("aiops_http_requests", "aiops_http_requests_total", (*req, ("status", "201")),
                 ts, round(ok_total))
            emit("aiops_http_requests", "aiops_http_requests_total", (*req, ("status", "500")),
                 ts, round(err_total))
            emit("aiops_http_errors", "aiops_http_errors_total",
                 (*base, ("route", ROUTE), ("status_class", "5xx")), ts, round(err_total))
            hist = (*base, ("method", "POST"), ("route", ROUTE), ("status", "201"))
            name = "aiops_http_request_duration_seconds"
            for le, value in zip(LATENCY_BUCKETS, buckets):
                emit(name, name + "_bucket", (*hist, ("le", f"{le:g}")), ts, round(value))
            emit(name, name + "_bucket", (*hist, ("le", "+Inf")), ts, round(count))
            emit(name, name + "_count", hist, ts, round(count))
            emit(name, name + "_sum", hist, ts, round(dur_sum, 3))
            emit("aiops_redis_errors", "aiops_redis_errors_total", base, ts, round(redis_errors))
            emit("aiops_redis_connected", "aiops_redis_connected", base, ts, 1 if connected else 0)
            emit("up", "up", base, ts, 1)
            emit("kube_pod_container_info", "kube_pod_container_info", (
                ("namespace", NAMESPACE), ("pod", track.pod), ("container", CONTAINER),
                ("image", f"{IMAGE_REPO}:v5.7.1"), ("image_id", f"{IMAGE_REPO}@{digest}"),
                ("track", track.name)), ts, 1)
    for alert in sc.alerts:
        labels = (("alertname", alert.name), ("alertstate", "firing"), ("job", JOB),
                  *alert.labels)
        for index in range(steps + 1):
            hours = index * sc.step_s / 3600
            if hours in alert.window:
                emit("ALERTS", "ALERTS", labels, start_s + index * sc.step_s, 1)

    types = {"aiops_http_requests": "counter", "aiops_http_errors": "counter",
             "aiops_http_request_duration_seconds": "histogram", "aiops_redis_errors": "counter",
             "aiops_redis_connected": "gauge", "up": "gauge", "kube_pod_container_info": "gauge",
             "ALERTS": "gauge"}
    out: list[str] = []
    for family, by_series in series.items():
        out.append(f"# TYPE {family} {types[family]}")
        for lines in by_series.values():
            out.extend(lines)
    out.append("# EOF")
    return "\n".join(out) + "\n"


def backfill(text: str, data_dir: Path, *, timeout_s: float = 120.0) -> None:
    """``promtool tsdb create-blocks-from openmetrics`` into ``data_dir`` (before any start)."""
    promtool = executable("promtool", "apt-get install prometheus (it ships promtool)")
    data_dir.mkdir(parents=True, exist_ok=True)
    source = data_dir.parent / "history.om.txt"
    source.write_text(text, encoding="utf-8")
    try:
        done = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data_dir)],
            capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StackError(f"promtool backfill did not finish in {timeout_s:.0f} s") from None
    if done.returncode != 0:
        raise StackError(f"promtool tsdb create-blocks-from openmetrics failed "
                         f"({done.returncode}): {(done.stderr or done.stdout).strip()[-800:]}")


def start_history_prometheus(
    workdir: Path,
    scenario: Scenario | str,
    *,
    rule_files: Sequence[str | Path] = DEFAULT_RULE_FILES,
    end: float | None = None,
    evaluation_interval: str = "15s",
    port: int | None = None,
    timeout: float = 30.0,
    extra_series: Callable[[], str] | None = None,
) -> PrometheusServer:
    """Backfill ``scenario`` into ``workdir/data`` and start Prometheus on it (no scrape jobs).

    The alert rules are loaded (so ``/api/v1/rules`` shows where each rollback trigger is
    enforced) but the history's ``ALERTS`` series are what the rule manager wrote in the past.
    Retention is 30 days, far longer than any generated history.
    """
    executable("prometheus", "apt-get install prometheus")  # before the backfill's promtool
    workdir.mkdir(parents=True, exist_ok=True)
    text = openmetrics(scenario, end=end)
    if extra_series is not None:
        text = text.replace("# EOF\n", extra_series() + "# EOF\n")
    backfill(text, workdir / "data")
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": evaluation_interval},
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": [],
    }
    return launch_prometheus(workdir, config, port=port or free_port(), timeout=timeout,
                             retention="30d")


def release_image() -> str:
    """The image reference (with digest) the generated histories deploy."""
    return f"{IMAGE_REPO}@{RELEASE_DIGEST}"


# -- a live canary: two real service instances scraped with a track label --------------------------
class Traffic:
    """Background POSTs to the feedback endpoint of one instance (``bad_share`` malformed)."""

    def __init__(self, url: str, token: str, *, rps: float = 20.0, bad_share: float = 0.0,
                 threads: int = 2) -> None:
        import threading

        self.url = url.rstrip("/") + ROUTE
        self.token = token
        self.pause = threads / rps
        self.bad_share = bad_share
        self.sent = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True,
                                          name=f"traffic-{i}") for i in range(threads)]

    def start(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, offset: int) -> None:
        import urllib.error
        import urllib.request

        good = (b'{"metric":"canary","anomaly":true,"verdict":false,"source":"synthetic",'
                b'"type":"other","severity":"low","note":"canary traffic"}')
        count = offset
        while not self._stop.is_set():
            count += 1
            bad = self.bad_share > 0 and count % max(1, round(1 / self.bad_share)) == 0
            request = urllib.request.Request(
                self.url, data=b'{"metric": ' if bad else good, method="POST",
                headers={"Content-Type": "application/json",
                         "Authorization": f"Bearer {self.token}"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    response.read()
            except (urllib.error.URLError, OSError):
                pass
            self.sent += 1
            self._stop.wait(self.pause)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def start_live_canary(workdir: Path, stack: contextlib.ExitStack, *,
                      canary_faults: Sequence[str] = (), canary_bad_share: float = 0.0,
                      scrape_interval: str = "1s", warmup_s: float = 6.0,
                      history: str | None = None) -> str:
    """Redis, a stable and a canary instance of the real feedback service with traffic, and a
    Prometheus scraping both (``track="stable"`` / ``track="canary"``); returns Prometheus's URL.

    ``canary_faults`` (e.g. ``("slow", "error_500_on_bad_input")``) and ``canary_bad_share`` (a
    share of malformed requests: 400 on a healthy service, 500 with ``error_500_on_bad_input``)
    make the canary regress for real. With ``history`` (a :data:`SCENARIOS` name), that
    scenario's 24 h are backfilled first, ending just before now, so one Prometheus holds both
    the post-deployment window and the live canary (as a production Prometheus does).
    Everything is stopped by ``stack``.
    """
    from .observability import wait_for_scrape
    from .stack import start_redis, start_service

    redis = start_redis(workdir / "redis")
    stack.callback(redis.stop)
    targets: dict[str, str] = {}
    for track, faults, bad in (("stable", (), canary_bad_share),
                               ("canary", tuple(canary_faults), canary_bad_share)):
        service = start_service(workdir / track, redis_url=redis.url, faults=faults)
        stack.callback(service.stop)
        traffic = Traffic(service.url, service.token(sub="loadtest"), bad_share=bad).start()
        stack.callback(traffic.stop)
        targets[track] = service.url
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(Path(f).resolve()) for f in DEFAULT_RULE_FILES],
        "scrape_configs": [{
            "job_name": JOB, "metrics_path": "/metrics/aiops", "scrape_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
            "static_configs": [{"targets": [url.split("://", 1)[1].rstrip("/")],
                                "labels": {"track": track}} for track, url in targets.items()],
        }],
    }
    prom_dir = workdir / "prometheus"
    prom_dir.mkdir(parents=True, exist_ok=True)
    if history is not None:
        backfill(openmetrics(history, end=time.time() - 30), prom_dir / "data")
    prometheus = launch_prometheus(prom_dir, config, port=free_port(), retention="30d")
    stack.callback(prometheus.process.stop)
    url = prometheus.url
    wait_for_scrape(url, JOB, timeout=30)
    time.sleep(warmup_s)  # rate()[5m] needs a few scrapes of traffic
    return url


def demo_stages(workdir: Path, stack: contextlib.ExitStack) -> dict[str, dict[str, object]]:
    """For the demo: a live canary on top of 24 h of healthy history in one Prometheus; returns
    the config tables (``observability``, ``analysis``, ``postdeploy``, ``release``) with which
    ``-m "stage_canary or stage_postdeploy"`` is measured for real."""
    from ..bundled import examples_path

    url = start_live_canary(workdir, stack, canary_bad_share=0.05, history="healthy")
    return {
        "observability": {"prometheus_url": url},
        "analysis": {"templates_dir": str(examples_path("argo")), "count": 10, "interval": "0.5s"},
        "postdeploy": {"security_matchers": ['category="security"']},
        "release": {"image": release_image()},
    }
