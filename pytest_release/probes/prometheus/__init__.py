"""Prometheus-family probes, one module per concern:

- :mod:`.api`: the Prometheus server's HTTP API (:class:`PrometheusProbe`)
- :mod:`.alertmanager`: Alertmanager's v2 API and its routing tree (pure)
- :mod:`.promql`: durations, timestamps, string literals, threshold comparisons (pure)
- :mod:`.exposition`: a service's metrics exposition (fetch and parse)
- :mod:`.promtool`: ``promtool check rules`` through :mod:`..tools`

Every name is re-exported here (``from pytest_release.probes.prometheus import ...``).
"""
from __future__ import annotations

from .alertmanager import (
    AlertmanagerProbe,
    parse_matcher,
    receiver_integrations,
    route_matches,
    route_receivers,
    same_endpoint,
)
from .api import Alert, PrometheusProbe, QueryResult, Rule, Target
from .exposition import Exposition, Family, fetch_exposition, parse_exposition, sample_name
from .promql import (
    Comparison,
    format_duration,
    parse_timestamp,
    prom_duration_seconds,
    promql_string,
    threshold_comparisons,
)
from .promtool import ToolRun, promtool_check_rules

__all__ = [
    "Alert", "AlertmanagerProbe", "Comparison", "Exposition", "Family", "PrometheusProbe",
    "QueryResult", "Rule", "Target", "ToolRun", "fetch_exposition", "format_duration",
    "parse_exposition", "parse_matcher", "parse_timestamp", "prom_duration_seconds",
    "promql_string", "promtool_check_rules", "receiver_integrations", "route_matches",
    "route_receivers", "same_endpoint", "sample_name", "threshold_comparisons",
]
