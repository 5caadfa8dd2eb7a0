"""Real stacks for the Gate 5 tests: redis-server, the feedback service (healthy and faulty),
Debian's Prometheus and Alertmanager — plus a stand-in for Grafana's HTTP API.

A fixture plugin loaded by ``tests/conftest.py`` (``pytest_plugins``), like ``support.stacks``.
One stack is shared per module; the Prometheus instances that
need different rules (a wrong threshold, an always-firing critical alert) start only when a test
asks for them.
"""
from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.tools import missing_tool
from support.observability import (
    DASHBOARD_FILE,
    DASHBOARD_UID,
    FIRING_RULES,
    GRAFANA_TOKEN,
    HEALTHY_JOB,
    MISSING,
    RENAMED_JOB,
    RULES_FILE,
    STOPPED_JOB,
    ObservabilityStack,
    alertmanager_connected,
    get_json,
    post_feedback,
    wait_until,
)

from pytest_release.demo.observability import (
    DEFAULT_RULE_FILES,
    AlertmanagerServer,
    PrometheusServer,
    start_alertmanager,
    start_prometheus,
    wait_for_alert,
    wait_for_rules,
    wait_for_scrape,
)
from pytest_release.demo.stack import start_redis, start_service


@pytest.fixture(scope="module")
def obs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservabilityStack]:
    """Redis, four services (healthy, metrics_renamed, jwks_private, one to stop), Alertmanager
    and a Prometheus scraping three of them every second with the example rules loaded."""
    if MISSING:
        missing_tool(f"not installed: {', '.join(MISSING)} (apt-get install prometheus "
                    "prometheus-alertmanager redis-server)")
    workdir = tmp_path_factory.mktemp("observability")
    started: list[Any] = []
    try:
        redis = start_redis(workdir / "redis")
        started.append(redis)
        services = {}
        for name, faults in (("healthy", ()), ("renamed", ("metrics_renamed",)),
                             ("private_jwks", ("jwks_private",)), ("stopped", ())):
            services[name] = start_service(workdir / name, redis_url=redis.url, faults=faults)
            started.append(services[name])
        alertmanager = start_alertmanager(workdir / "alertmanager")
        started.append(alertmanager)
        prometheus = start_prometheus(
            workdir / "prometheus",
            scrape_targets={
                HEALTHY_JOB: services["healthy"].url + "/metrics/aiops",
                RENAMED_JOB: services["renamed"].url + "/metrics/aiops",
                STOPPED_JOB: services["stopped"].url + "/metrics/aiops",
            },
            rule_files=DEFAULT_RULE_FILES, alertmanager_url=alertmanager.url, scrape_interval="1s")
        started.append(prometheus)
        for name in ("healthy", "renamed"):
            post_feedback(services[name])
        for job in (HEALTHY_JOB, RENAMED_JOB, STOPPED_JOB):
            wait_for_scrape(prometheus.url, job, timeout=30)
        services["stopped"].stop()
        wait_for_scrape(prometheus.url, STOPPED_JOB, timeout=30, health="down")
        wait_for_rules(prometheus.url, timeout=30)
        wait_until(lambda: alertmanager_connected(prometheus), "Prometheus → Alertmanager")
        stack = ObservabilityStack(
            workdir, redis, services["healthy"], services["renamed"], services["private_jwks"],
            services["stopped"], alertmanager, prometheus, services["healthy"].token(),
            services["private_jwks"].token())
        yield stack
        started.extend(stack.extra)
    finally:
        for component in reversed(started):
            component.stop()


def _extra_prometheus(stack: ObservabilityStack, name: str, rule_files: list[Path],
                      alertmanager: AlertmanagerServer) -> PrometheusServer:
    prometheus = start_prometheus(
        stack.workdir / name, scrape_targets={HEALTHY_JOB: stack.healthy.url + "/metrics/aiops"},
        rule_files=rule_files, alertmanager_url=alertmanager.url, scrape_interval="1s")
    stack.extra.append(prometheus)
    wait_for_scrape(prometheus.url, HEALTHY_JOB, timeout=30)
    wait_for_rules(prometheus.url, timeout=30)
    wait_until(lambda: alertmanager_connected(prometheus), "Prometheus → Alertmanager")
    return prometheus


@pytest.fixture(scope="module")
def wrong_threshold_rules(obs_stack: ObservabilityStack) -> tuple[Path, PrometheusServer]:
    """A rules file whose error-rate alert fires at 5 % instead of 0.5 %, loaded in its own
    Prometheus (same service, same Alertmanager)."""
    path = obs_stack.workdir / "wrong-threshold.rules.yml"
    text = RULES_FILE.read_text()
    assert ") > 0.005" in text
    path.write_text(text.replace(") > 0.005", ") > 0.05"))
    return path, _extra_prometheus(obs_stack, "prometheus-wrong-threshold", [path],
                                   obs_stack.alertmanager)


@pytest.fixture(scope="module")
def firing_stack(obs_stack: ObservabilityStack) -> tuple[PrometheusServer, AlertmanagerServer]:
    """Its own Alertmanager and a Prometheus with the example rules plus an always-firing
    critical alert; returns once both Prometheus and Alertmanager report it."""
    path = obs_stack.workdir / "firing.rules.yml"
    path.write_text(FIRING_RULES)
    alertmanager = start_alertmanager(obs_stack.workdir / "alertmanager-firing")
    obs_stack.extra.append(alertmanager)
    prometheus = _extra_prometheus(obs_stack, "prometheus-firing", [RULES_FILE, path],
                                   alertmanager)
    wait_for_alert(prometheus.url, "ReleaseBlocker", timeout=30)

    def in_alertmanager() -> bool:
        alerts = get_json(alertmanager.url + "/api/v2/alerts?filter=alertname%3D%22ReleaseBlocker%22")
        return any(a["status"]["state"] == "active" for a in alerts)

    wait_until(in_alertmanager, "ReleaseBlocker in Alertmanager")
    return prometheus, alertmanager


@dataclass
class GrafanaStandIn:
    url: str
    token: str
    uid: str
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture(scope="module")
def grafana_standin() -> Iterator[GrafanaStandIn]:
    """A stand-in for Grafana's HTTP API (no Grafana can run here): stdlib HTTP server answering
    ``GET /api/dashboards/uid/aiops-feedback`` with the example dashboard in Grafana's response
    shape ``{"dashboard": ..., "meta": ...}``, 401 without the right bearer token (Grafana's
    ``{"message": "Unauthorized"}``) and 404 ``{"message": "Dashboard not found"}`` for other
    uids."""
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    body = json.dumps({
        "dashboard": {**dashboard, "id": 7, "version": 3},
        "meta": {"type": "db", "slug": "aiops-feedback-service", "url": "/d/aiops-feedback/"
                 "aiops-feedback-service", "version": 3, "folderTitle": "AIOps",
                 "provisioned": True, "canSave": False},
    }).encode()
    seen: list[dict[str, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization",
                                                                              "")})
            if self.headers.get("Authorization") != f"Bearer {GRAFANA_TOKEN}":
                self._send(401, b'{"message":"Unauthorized"}')
            elif self.path == f"/api/dashboards/uid/{DASHBOARD_UID}":
                self._send(200, body)
            elif self.path.startswith("/api/dashboards/uid/"):
                self._send(404, b'{"message":"Dashboard not found"}')
            else:
                self._send(404, b'{"message":"Not found"}')

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="grafana-standin", daemon=True)
    thread.start()
    try:
        yield GrafanaStandIn(f"http://127.0.0.1:{server.server_address[1]}", GRAFANA_TOKEN,
                             DASHBOARD_UID, seen)
    finally:
        server.shutdown()
        server.server_close()
