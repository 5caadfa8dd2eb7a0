"""Start the real Prometheus and Alertmanager of the demo stack on loopback (also used by tests).

Debian's ``prometheus`` (2.42) and ``prometheus-alertmanager`` (0.25) packages provide the
binaries. The generated ``prometheus.yml`` is written as JSON (a subset of YAML), so starting the
stack needs no YAML library. Each server gets its own directory, data path and log file.
"""
from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bundled import examples_path
from .parts import DemoContext, Overrides
from .processes import Process, StackError, executable, free_port, spawn, wait_for

OBSERVABILITY_EXAMPLES = examples_path("observability")
DEFAULT_ALERTMANAGER_CONFIG = OBSERVABILITY_EXAMPLES / "alertmanager.yml"
DEFAULT_RULE_FILES = (OBSERVABILITY_EXAMPLES / "alerts.rules.yml",)

#: A job's targets: one URL / ``host:port`` or several.
Targets = Mapping[str, "str | Sequence[str]"]


@dataclass
class PrometheusServer:
    """A running Prometheus; ``url`` is its base URL (``http://127.0.0.1:PORT``)."""

    process: Process
    port: int
    config_path: Path
    data_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reload(self, timeout: float = 10.0) -> None:
        """Re-read the config and rule files (``POST /-/reload``; lifecycle API is on)."""
        request = urllib.request.Request(self.url + "/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()

    def stop(self) -> None:
        self.process.stop()


@dataclass
class AlertmanagerServer:
    """A running Alertmanager (clustering off); ``url`` is its base URL."""

    process: Process
    port: int
    config_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.stop()


def _http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError):
        return False


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def scrape_configs(scrape_targets: Targets, scrape_interval: str) -> list[dict[str, Any]]:
    """One scrape config per (job, scheme, metrics path); a bare ``host:port`` means /metrics."""
    configs: list[dict[str, Any]] = []
    for job, targets in scrape_targets.items():
        listed = [targets] if isinstance(targets, str) else list(targets)
        groups: dict[tuple[str, str], list[str]] = {}
        for target in listed:
            parts = urllib.parse.urlsplit(target if "://" in target else f"http://{target}")
            if not parts.netloc:
                raise ValueError(f"scrape target {target!r} of job {job!r} has no host:port")
            groups.setdefault((parts.scheme, parts.path or "/metrics"), []).append(parts.netloc)
        for index, ((scheme, path), hosts) in enumerate(sorted(groups.items())):
            configs.append({
                # Prometheus requires unique job_name values; extra groups of one job keep the
                # job label through a relabel so queries by job still see every target.
                "job_name": job if index == 0 else f"{job}-{index}",
                "scheme": scheme,
                "metrics_path": path,
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "static_configs": [{"targets": hosts}],
                **({} if index == 0 else {"relabel_configs": [
                    {"target_label": "job", "replacement": job}]}),
            })
    return configs


def start_prometheus(
    workdir: Path,
    *,
    scrape_targets: Targets,
    rule_files: Sequence[str | Path] = DEFAULT_RULE_FILES,
    alertmanager_url: str | None = None,
    scrape_interval: str = "1s",
    evaluation_interval: str | None = None,
    alert_resend_delay: str | None = None,
    port: int | None = None,
    timeout: float = 30.0,
) -> PrometheusServer:
    """Prometheus scraping ``scrape_targets`` (``{"feedback-service": ["http://h:p/metrics/aiops"]}``).

    Rules are evaluated every ``evaluation_interval`` (default: the scrape interval) and sent to
    ``alertmanager_url`` when given, and re-sent every ``alert_resend_delay`` (default: the
    evaluation interval, not Prometheus's 1m, so an alert that fired before the Alertmanager was
    discovered reaches it within seconds). Returns once Prometheus answers ``/-/ready``; use
    :func:`wait_for_scrape` to wait for the first scrape of a job.
    """
    port = port or free_port()
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval or scrape_interval,
        },
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": scrape_configs(scrape_targets, scrape_interval),
    }
    if alertmanager_url:
        parts = urllib.parse.urlsplit(alertmanager_url)
        config["alerting"] = {"alertmanagers": [{
            "scheme": parts.scheme or "http",
            "path_prefix": parts.path or "/",
            "static_configs": [{"targets": [parts.netloc]}],
        }]}
    return launch_prometheus(workdir, config, port=port, timeout=timeout, retention="1d", flags=(
        f"--rules.alert.resend-delay={alert_resend_delay or evaluation_interval or scrape_interval}",
    ))


def launch_prometheus(workdir: Path, config: dict[str, Any], *, port: int, timeout: float = 30.0,
                      retention: str = "1d", flags: Sequence[str] = ()) -> PrometheusServer:
    """The one start-and-wait of a Prometheus: ``config`` written to ``workdir/prometheus.yml``,
    TSDB in ``workdir/data`` (backfilled blocks there are kept), listening on loopback ``port``;
    returns once ``/-/ready`` answers (stopped again if it never does)."""
    binary = executable("prometheus", "apt-get install prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path, data_path = workdir / "prometheus.yml", workdir / "data"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    process = _start_ready("prometheus", port, workdir, timeout, [
        binary,
        f"--config.file={config_path}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={data_path}",
        f"--storage.tsdb.retention.time={retention}",
        "--web.enable-lifecycle",
        *flags,
        "--log.level=warn",
    ])
    return PrometheusServer(process, port, config_path, data_path)


def _start_ready(name: str, port: int, workdir: Path, timeout: float,
                 argv: list[str]) -> Process:
    """Spawn a Prometheus-family server and wait for its ``/-/ready``; stop it if it never is."""
    process = spawn(name, argv, workdir)
    try:
        wait_for(lambda: _http_ok(f"http://127.0.0.1:{port}/-/ready"), timeout=timeout,
                 what=name, process=process)
    except StackError:
        process.stop()
        raise
    return process


def start_alertmanager(
    workdir: Path,
    *,
    config_file: str | Path = DEFAULT_ALERTMANAGER_CONFIG,
    port: int | None = None,
    timeout: float = 30.0,
) -> AlertmanagerServer:
    """Alertmanager with ``config_file`` (default: examples/observability/alertmanager.yml).

    Clustering is switched off (``--cluster.listen-address=``), so it needs one port only.
    """
    binary = executable("prometheus-alertmanager", "apt-get install prometheus-alertmanager")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    config_path = Path(config_file).resolve()
    process = _start_ready("alertmanager", port, workdir, timeout, [
        binary,
        f"--config.file={config_path}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        f"--storage.path={workdir / 'data'}",
        "--log.level=warn",
    ])
    return AlertmanagerServer(process, port, config_path)


def wait_for_scrape(prom_url: str, job: str, timeout: float = 30.0, *,
                    health: str = "up") -> list[dict[str, Any]]:
    """Wait until every active target of ``job`` reports ``health`` (``up`` or ``down``).

    Returns the targets (``/api/v1/targets`` entries). Raises :class:`StackError` on timeout.
    """
    query = urllib.parse.urlencode({"state": "active"})
    found: list[dict[str, Any]] = []

    def ready() -> bool:
        nonlocal found
        data = _get_json(f"{prom_url.rstrip('/')}/api/v1/targets?{query}")["data"]
        found = [t for t in data.get("activeTargets", []) if t["labels"].get("job") == job]
        return bool(found) and all(t.get("health") == health for t in found)

    _wait(ready, timeout, f"prometheus job {job!r} to be {health}")
    if health == "up":
        # rate() and friends need at least two samples: a dashboard queried after one scrape
        # shows "No data" although everything is fine.
        expr = urllib.parse.urlencode({"query": f'count_over_time(up{{job="{job}"}}[5m])'})

        def samples() -> bool:
            result = _get_json(f"{prom_url.rstrip('/')}/api/v1/query?{expr}")["data"]["result"]
            return bool(result) and min(float(r["value"][1]) for r in result) >= 3

        _wait(samples, timeout, f"three scrapes of prometheus job {job!r}")
    return found


def wait_for_alert(prom_url: str, alertname: str, timeout: float = 30.0, *,
                   state: str = "firing") -> dict[str, Any]:
    """Wait until Prometheus reports alert ``alertname`` in ``state``; returns the alert."""
    match: dict[str, Any] = {}

    def ready() -> bool:
        nonlocal match
        alerts = _get_json(f"{prom_url.rstrip('/')}/api/v1/alerts")["data"]["alerts"]
        for alert in alerts:
            if alert["labels"].get("alertname") == alertname and alert.get("state") == state:
                match = alert
                return True
        return False

    _wait(ready, timeout, f"alert {alertname} to be {state}")
    return match


def wait_for_rules(prom_url: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Wait until every loaded rule has been evaluated once (health no longer ``unknown``)."""
    rules: list[dict[str, Any]] = []

    def ready() -> bool:
        nonlocal rules
        groups = _get_json(f"{prom_url.rstrip('/')}/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return bool(rules) and all(r.get("health") != "unknown" for r in rules)

    _wait(ready, timeout, "rules to be evaluated")
    return rules


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(0.1)
    detail = f" (last error: {last_error})" if last_error else ""
    raise StackError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")


DEMO_JOB = "feedback-service"


def start_demo_observability(workdir: Path, service_url: str,
                             stack: contextlib.ExitStack) -> dict[str, Any]:
    """Alertmanager + Prometheus scraping the demo service; returns the ``[observability]`` table.

    Both servers are stopped by ``stack``. The OTel Collector config and the dashboard are the
    bundled examples (no Collector or Grafana runs in the demo: they are checked as files).
    """
    alertmanager = start_alertmanager(workdir / "alertmanager")
    stack.callback(alertmanager.stop)
    prometheus = start_prometheus(
        workdir / "prometheus",
        scrape_targets={DEMO_JOB: [service_url.rstrip("/") + "/metrics/aiops"]},
        rule_files=DEFAULT_RULE_FILES,
        alertmanager_url=alertmanager.url,
        scrape_interval="1s",
    )
    stack.callback(prometheus.stop)
    wait_for_scrape(prometheus.url, DEMO_JOB, timeout=30)
    wait_for_rules(prometheus.url, timeout=30)
    return {
        "prometheus_url": prometheus.url,
        "alertmanager_url": alertmanager.url,
        "scrape_job": DEMO_JOB,
        "otel_config_file": str(OBSERVABILITY_EXAMPLES / "otel-collector.yaml"),
        "dashboard_file": str(OBSERVABILITY_EXAMPLES / "grafana-dashboard.json"),
        "rule_files": [str(f) for f in DEFAULT_RULE_FILES],
    }


@contextlib.contextmanager
def demo_part(ctx: DemoContext) -> Iterator[Overrides]:
    """Stack part: Prometheus + Alertmanager scraping the demo service (Gate 5)."""
    with contextlib.ExitStack() as stack:
        yield {"observability": start_demo_observability(ctx.dir("observability"),
                                                         ctx.settings["api"]["url"], stack)}
