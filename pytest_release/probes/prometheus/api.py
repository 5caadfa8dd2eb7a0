"""Facts from a Prometheus server's HTTP API (targets, queries, rules, alerts, metadata).

Every call goes through :mod:`.._http` (one total deadline). An unreachable server or a non-API
answer raises :class:`ProbeUnavailable`; a query Prometheus rejects is a fact
(:attr:`QueryResult.error`), not an exception, because a dashboard panel or alert with a broken
query is exactly what a gate looks for.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...redact import safe_url
from .. import ProbeUnavailable, _http, require
from .promql import parse_timestamp, prom_duration_seconds, promql_string

if TYPE_CHECKING:
    import requests


# -- facts ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One active scrape target (``/api/v1/targets``)."""

    job: str
    instance: str
    scrape_url: str
    health: str
    last_error: str
    last_scrape: datetime | None
    scrape_interval_s: float | None
    labels: Mapping[str, str]


@dataclass(frozen=True)
class QueryResult:
    """An instant query: ``series`` (labels, value) or ``error`` when Prometheus rejected it."""

    expr: str
    result_type: str | None = None
    series: tuple[tuple[Mapping[str, str], float], ...] = ()
    error: str | None = None

    @property
    def has_data(self) -> bool:
        return self.error is None and len(self.series) > 0

    @property
    def nan_count(self) -> int:
        return sum(1 for _, value in self.series if math.isnan(value))


@dataclass(frozen=True)
class Rule:
    """A loaded rule (``/api/v1/rules``)."""

    name: str
    type: str
    query: str
    group: str
    file: str
    health: str
    last_error: str
    state: str | None
    duration_s: float
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Alert:
    labels: Mapping[str, str]
    state: str
    active_at: str | None = None
    value: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "?")


class PrometheusProbe:
    """Read-only facts from one Prometheus server's HTTP API."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.display_url = safe_url(self.url)
        self.timeout_s = timeout_s
        self._requests = require("requests", "requests")
        self._session: requests.Session = self._requests.Session()

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
             *, query_errors: bool = False) -> Any:
        response, body = _http.get_json(
            self.url + path, timeout_s=self.timeout_s, what="Prometheus at",
            setting="observability.timeout_s",
            display_url=self.display_url + path, session=self._session, params=params)
        if not isinstance(body, dict) or "status" not in body:
            raise ProbeUnavailable(
                f"{self.display_url}{path} answered HTTP {response.status_code} without the "
                "Prometheus API envelope: is it a Prometheus server?")
        if body["status"] != "success":
            message = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
            if query_errors and response.status_code in (400, 422, 503):
                return _QueryError(message)
            raise ProbeUnavailable(f"Prometheus {path} failed: {message}")
        return body.get("data")

    def build_version(self) -> str | None:
        try:
            return str(self._get("/api/v1/status/buildinfo").get("version"))
        except (ProbeUnavailable, AttributeError):
            return None

    def server_time(self) -> datetime:
        """Prometheus's own clock (``time()``), so target ages do not depend on local skew."""
        data = self._get("/api/v1/query", {"query": "time()"})
        return datetime.fromtimestamp(float(data["result"][1]), tz=UTC)

    def targets(self, job: str | None = None) -> list[Target]:
        data = self._get("/api/v1/targets", {"state": "active"})
        found = []
        for raw in data.get("activeTargets", []):
            labels = dict(raw.get("labels", {}))
            if job is not None and labels.get("job") != job:
                continue
            interval = raw.get("scrapeInterval") or raw.get("discoveredLabels", {}).get(
                "__scrape_interval__")
            found.append(Target(
                job=labels.get("job", ""),
                instance=labels.get("instance", ""),
                scrape_url=str(raw.get("scrapeUrl", "")),
                health=str(raw.get("health", "unknown")),
                last_error=str(raw.get("lastError", "")),
                last_scrape=parse_timestamp(str(raw.get("lastScrape", ""))),
                scrape_interval_s=prom_duration_seconds(interval) if interval else None,
                labels=labels,
            ))
        return found

    def jobs(self) -> list[str]:
        return sorted({t.job for t in self.targets()})

    def query(self, expr: str) -> QueryResult:
        data = self._get("/api/v1/query", {"query": expr}, query_errors=True)
        if isinstance(data, _QueryError):
            return QueryResult(expr, error=data.message)
        result_type = str(data.get("resultType"))
        result = data.get("result")
        series: list[tuple[Mapping[str, str], float]] = []
        if result_type in ("scalar", "string"):
            series.append(({}, _float(result[1])))
        elif result_type == "vector":
            series.extend((dict(s["metric"]), _float(s["value"][1])) for s in result)
        elif result_type == "matrix":
            series.extend((dict(s["metric"]), _float(s["values"][-1][1]))
                          for s in result if s.get("values"))
        return QueryResult(expr, result_type, tuple(series))

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        params = [("match[]", match)] if match else None
        return [str(v) for v in self._get(f"/api/v1/label/{label}/values", params) or []]

    def rules(self, rule_type: str | None = None) -> list[Rule]:
        params = {"type": {"alerting": "alert", "recording": "record"}[rule_type]} \
            if rule_type else None
        data = self._get("/api/v1/rules", params)
        rules = []
        for group in data.get("groups", []):
            for raw in group.get("rules", []):
                rules.append(Rule(
                    name=str(raw.get("name", "")),
                    type=str(raw.get("type", "")),
                    query=str(raw.get("query", "")),
                    group=str(group.get("name", "")),
                    file=str(group.get("file", "")),
                    health=str(raw.get("health", "unknown")),
                    last_error=str(raw.get("lastError", "") or ""),
                    state=raw.get("state"),
                    duration_s=float(raw.get("duration", 0) or 0),
                    labels=dict(raw.get("labels") or {}),
                ))
        return rules

    def alerts(self) -> list[Alert]:
        data = self._get("/api/v1/alerts")
        return [Alert(dict(a.get("labels", {})), str(a.get("state", "")), a.get("activeAt"),
                      a.get("value")) for a in data.get("alerts", [])]

    def target_metadata(self, job: str) -> dict[str, str]:
        """Metric family → type, as the job's targets declare them (``# TYPE``), even unsampled."""
        data = self._get("/api/v1/targets/metadata",
                         {"match_target": f"{{job={promql_string(job)}}}"})
        return {str(m.get("metric")): str(m.get("type")) for m in data or []}

    def alertmanagers(self) -> list[str]:
        data = self._get("/api/v1/alertmanagers")
        return [str(a.get("url", "")) for a in data.get("activeAlertmanagers", [])]


@dataclass(frozen=True)
class _QueryError:
    message: str


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
