"""Shared pieces of the Gate 5 tests: stack handles, settings arguments, waiting helpers."""
from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_release.demo.observability import (
    DEFAULT_RULE_FILES,
    OBSERVABILITY_EXAMPLES,
    AlertmanagerServer,
    PrometheusServer,
)
from pytest_release.demo.stack import FeedbackService, RedisServer

DASHBOARD_FILE = OBSERVABILITY_EXAMPLES / "grafana-dashboard.json"
OTEL_FILE = OBSERVABILITY_EXAMPLES / "otel-collector.yaml"
RULES_FILE = DEFAULT_RULE_FILES[0]
DASHBOARD_UID = "aiops-feedback"
GRAFANA_TOKEN = "glsa_standin_0123456789abcdef"
HEALTHY_JOB = "feedback-service"
RENAMED_JOB = "feedback-renamed"
STOPPED_JOB = "feedback-stopped"
FEEDBACK = {"metric": "test", "anomaly": True, "verdict": False, "source": "api", "type": "bug",
            "severity": "low", "note": "test"}

MISSING = [name for name in ("prometheus", "prometheus-alertmanager", "promtool", "redis-server")
           if shutil.which(name) is None]


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def alertmanager_connected(prom: PrometheusServer) -> bool:
    return bool(get_json(prom.url + "/api/v1/alertmanagers")["data"]["activeAlertmanagers"])


def post_feedback(service: FeedbackService) -> None:
    request = urllib.request.Request(
        service.url + "/api/v1/aiops/feedback", data=json.dumps(FEEDBACK).encode(),
        headers={"Authorization": f"Bearer {service.token()}",
                 "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201, response.status


@dataclass
class ObservabilityStack:
    workdir: Path
    redis: RedisServer
    healthy: FeedbackService
    renamed: FeedbackService
    private_jwks: FeedbackService
    stopped: FeedbackService
    alertmanager: AlertmanagerServer
    prometheus: PrometheusServer
    token: str
    private_token: str
    extra: list[Any] = field(default_factory=list)

    def args(self, **settings: Any) -> list[str]:
        """``--release-set`` options for Gate 5 against this stack; ``key=None`` drops a key.

        Keys are ``observability`` keys unless dotted (``api.token``).
        """
        values: dict[str, Any] = {
            "prometheus_url": self.prometheus.url,
            "alertmanager_url": self.alertmanager.url,
            "scrape_job": HEALTHY_JOB,
            "metrics_url": self.healthy.url + "/metrics/aiops",
            "jwks_url": self.healthy.url + "/.well-known/jwks.json",
            "otel_config_file": str(OTEL_FILE),
            "dashboard_file": str(DASHBOARD_FILE),
            "rule_files": [str(RULES_FILE)],
            "api.token": self.token,
        }
        values.update({k.replace("__", "."): v for k, v in settings.items()})
        return settings_args(values)


def settings_args(values: dict[str, Any]) -> list[str]:
    args = ["-m", "gate_observability"]
    for key, value in values.items():
        if value is None:
            continue
        dotted = key if "." in key else f"observability.{key}"
        args += ["--release-set", f"{dotted}={json.dumps(value)}"]  # JSON literals are TOML here
    return args


FIRING_RULES = """\
groups:
  - name: release-blockers
    rules:
      - alert: ReleaseBlocker
        expr: vector(1) > 0
        for: 0s
        labels:
          severity: critical
        annotations:
          summary: always firing, to prove the gate sees a critical alert
"""
