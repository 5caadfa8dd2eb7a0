"""Facts from an Alertmanager's v2 API, and its routing tree evaluated for a label set (pure)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ...redact import safe_url
from .. import ProbeUnavailable, _http, require
from .api import Alert


class AlertmanagerProbe:
    """Read-only facts from one Alertmanager's v2 API."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.display_url = safe_url(self.url)
        self.timeout_s = timeout_s

    def _get(self, path: str, params: Any = None) -> Any:
        response, body = _http.get_json(
            self.url + path, timeout_s=self.timeout_s, what="Alertmanager at",
            setting="observability.timeout_s",
            display_url=self.display_url + path, params=params)
        if response.status_code != 200:
            raise ProbeUnavailable(
                f"Alertmanager {self.display_url}{path} answered HTTP {response.status_code}")
        if body is None:
            raise ProbeUnavailable(
                f"{self.display_url}{path} did not answer JSON: is it an Alertmanager?")
        return body

    def status(self) -> dict[str, Any]:
        """``/api/v2/status``: ``config.original`` (YAML), ``versionInfo``, ``cluster``."""
        data = self._get("/api/v2/status")
        if not isinstance(data, dict) or "config" not in data:
            raise ProbeUnavailable(f"{self.display_url}/api/v2/status has no config")
        return data

    def config(self) -> dict[str, Any]:
        """The running configuration, parsed (PyYAML)."""
        yaml = require("yaml", "PyYAML")
        text = self.status()["config"].get("original", "")
        loaded = yaml.safe_load(text) or {}
        return loaded if isinstance(loaded, dict) else {}

    def receivers(self) -> list[str]:
        return [str(r.get("name")) for r in self._get("/api/v2/receivers")]

    def alerts(self, filters: Iterable[str] = (), *, active: bool = True,
               silenced: bool = True, inhibited: bool = True) -> list[Alert]:
        params: list[tuple[str, str]] = [("filter", f) for f in filters]
        params += [("active", str(active).lower()), ("silenced", str(silenced).lower()),
                   ("inhibited", str(inhibited).lower())]
        return [Alert(dict(a.get("labels", {})), str(a.get("status", {}).get("state", "")),
                      a.get("startsAt")) for a in self._get("/api/v2/alerts", params)]


# -- Alertmanager routing (pure) ------------------------------------------------------------------
_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


def _matcher_ok(name: str, op: str, value: str, labels: Mapping[str, str]) -> bool:
    actual = labels.get(name, "")
    if op == "=":
        return actual == value
    if op == "!=":
        return actual != value
    matched = re.fullmatch(value, actual) is not None
    return matched if op == "=~" else not matched


def parse_matcher(text: str) -> tuple[str, str, str]:
    """``severity=~"warning|info"`` → ("severity", "=~", "warning|info")."""
    match = _MATCHER.match(text)
    if not match:
        raise ValueError(f"not an Alertmanager matcher: {text!r}")
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].encode().decode("unicode_escape")
    return name, op, value


def route_matches(route: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a (non-root) route's ``match``, ``match_re`` and ``matchers`` all hold."""
    for name, value in (route.get("match") or {}).items():
        if labels.get(str(name), "") != str(value):
            return False
    for name, value in (route.get("match_re") or {}).items():
        if re.fullmatch(str(value), labels.get(str(name), "")) is None:
            return False
    return all(_matcher_ok(*parse_matcher(str(text)), labels)
               for text in route.get("matchers") or [])


def route_receivers(route: Mapping[str, Any], labels: Mapping[str, str],
                    inherited: str | None = None) -> list[str]:
    """Receivers an alert with ``labels`` is sent to by the routing tree rooted at ``route``.

    Follows Alertmanager: children are tried in order, the first match wins unless it has
    ``continue: true``; a node with no matching child delivers to its own receiver (inherited).
    """
    receiver = route.get("receiver") or inherited
    found: list[str] = []
    for child in route.get("routes") or []:
        if route_matches(child, labels):
            found += route_receivers(child, labels, receiver)
            if not child.get("continue"):
                break
    if not found and receiver:
        found = [str(receiver)]
    return found


def receiver_integrations(config: Mapping[str, Any], name: str) -> list[str]:
    """The notifier kinds (``webhook``, ``pagerduty``, ...) configured on receiver ``name``."""
    for receiver in config.get("receivers") or []:
        if receiver.get("name") == name:
            return sorted(key[: -len("_configs")] for key, value in receiver.items()
                          if key.endswith("_configs") and value)
    return []


def same_endpoint(url_a: str, url_b: str) -> bool:
    """Whether two URLs name the same scheme://host:port (paths and credentials ignored)."""
    a, b = urlsplit(url_a), urlsplit(url_b)
    default = {"http": 80, "https": 443}
    return (a.scheme, a.hostname, a.port or default.get(a.scheme)) == \
        (b.scheme, b.hostname, b.port or default.get(b.scheme))
