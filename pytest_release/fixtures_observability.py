"""Thin fixtures for Gate 5 (Observability). Clients are imported on first use only.

Each fixture hands a check one real handle (a Prometheus, an Alertmanager, a dashboard, a
Collector config) or ends the check as *not measured* saying which setting is missing.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .evidence import not_measured

if TYPE_CHECKING:
    from .probes.grafana import Dashboard
    from .probes.otel import CollectorConfig
    from .probes.prometheus import AlertmanagerProbe, PrometheusProbe
    from .settings import Settings


def _hint(key: str) -> str:
    return f"set observability.{key} in [observability] or --release-set observability.{key}=..."


@pytest.fixture(scope="session")
def prometheus(release_settings: Settings) -> Iterator[PrometheusProbe]:
    """A :class:`PrometheusProbe` on ``observability.prometheus_url`` (else *not measured*)."""
    cfg = release_settings.observability
    if not cfg.prometheus_url:
        not_measured(f"observability.prometheus_url is not configured ({_hint('prometheus_url')})")
    from .probes.prometheus import PrometheusProbe

    probe = PrometheusProbe(cfg.prometheus_url, timeout_s=cfg.timeout_s)
    yield probe
    probe.close()


@pytest.fixture(scope="session")
def alertmanager(release_settings: Settings) -> AlertmanagerProbe:
    """An :class:`AlertmanagerProbe` on ``observability.alertmanager_url`` (else *not measured*)."""
    cfg = release_settings.observability
    if not cfg.alertmanager_url:
        not_measured(
            f"observability.alertmanager_url is not configured ({_hint('alertmanager_url')})")
    from .probes.prometheus import AlertmanagerProbe

    return AlertmanagerProbe(cfg.alertmanager_url, timeout_s=cfg.timeout_s)


def _service_url(settings: Settings, own: str | None, fallback: str | None, suffix: str,
                 key: str) -> str:
    if own:
        return own
    if fallback:
        return fallback
    if settings.api.url:
        return settings.api.url.rstrip("/") + suffix
    not_measured(f"neither observability.{key} nor api.url is configured ({_hint(key)})")


@pytest.fixture(scope="session")
def service_metrics_url(release_settings: Settings) -> str:
    """``observability.metrics_url``, else ``api.metrics_url``, else ``<api.url>/metrics/aiops``."""
    return _service_url(release_settings, release_settings.observability.metrics_url,
                        release_settings.api.metrics_url, "/metrics/aiops", "metrics_url")


@pytest.fixture(scope="session")
def jwks_url(release_settings: Settings) -> str:
    """``observability.jwks_url``, else ``<api.url>/.well-known/jwks.json``."""
    return _service_url(release_settings, release_settings.observability.jwks_url, None,
                        "/.well-known/jwks.json", "jwks_url")


@pytest.fixture(scope="session")
def otel_collector_config(release_settings: Settings) -> CollectorConfig:
    """The parsed ``observability.otel_config_file`` (a YAML error fails the check)."""
    path = release_settings.observability.otel_config_file
    if not path:
        not_measured("observability.otel_config_file is not configured: the sampling settings live "
                     f"in the OTel Collector config ({_hint('otel_config_file')})")
    from .probes.otel import load_collector_config

    try:
        return load_collector_config(path)
    except ValueError as exc:
        pytest.fail(f"OTel Collector config: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def grafana_dashboard(release_settings: Settings) -> Dashboard | None:
    """The dashboard from Grafana's API (``grafana_url`` + ``dashboard_uid``) or ``dashboard_file``.

    None when Grafana answers 404 for the uid (the check then fails: the dashboard is missing).
    """
    cfg = release_settings.observability
    if cfg.grafana_url:
        if not cfg.dashboard_uid:
            not_measured(f"observability.grafana_url is set but dashboard_uid is not "
                         f"({_hint('dashboard_uid')})")
        from .probes.grafana import GrafanaProbe

        return GrafanaProbe(cfg.grafana_url, token=cfg.grafana_token,
                            timeout_s=cfg.timeout_s).dashboard(cfg.dashboard_uid)
    if cfg.dashboard_file:
        from .probes.grafana import load_dashboard_file

        try:
            return load_dashboard_file(cfg.dashboard_file)
        except ValueError as exc:
            pytest.fail(f"dashboard file: {exc}", pytrace=False)
    not_measured("no dashboard to read: set observability.grafana_url and dashboard_uid "
                 "(live Grafana) or observability.dashboard_file (exported JSON)")


@pytest.fixture(scope="session")
def alert_rule_files(release_settings: Settings, request: pytest.FixtureRequest) -> list[str]:
    """``observability.rule_files`` as absolute paths (relative to the config file's directory)."""
    files = release_settings.observability.rule_files or ()
    base = Path(release_settings.source).parent if release_settings.source \
        else request.config.rootpath
    return [str(p if p.is_absolute() else base / p) for p in (Path(f).expanduser() for f in files)]
