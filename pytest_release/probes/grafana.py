"""Facts about a Grafana dashboard: from the HTTP API (``/api/dashboards/uid/<uid>``) or a JSON file.

The probe flattens panels (including those nested in rows and legacy ``rows[]``), lists every
PromQL target with its panel, and reads the template variables' defaults. Substituting variables
into a query is a pure helper (:func:`substitute`); running the query is Prometheus's job.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..redact import safe_url
from . import ProbeUnavailable, _http


@dataclass(frozen=True)
class PanelQuery:
    """One PromQL target of one panel."""

    panel: str
    panel_id: Any
    ref_id: str
    expr: str
    row: str | None = None

    @property
    def label(self) -> str:
        where = f"{self.row} / " if self.row else ""
        return f"{where}{self.panel!r} [{self.ref_id}]"


@dataclass(frozen=True)
class Variable:
    """A dashboard template variable and its default (``current``) value."""

    name: str
    type: str
    current: tuple[str, ...]
    query: str
    options: tuple[str, ...]
    include_all: bool
    all_value: str | None
    multi: bool

    def defaults(self) -> tuple[str, ...] | None:
        """The values Grafana would use on open; None when only the data source can tell."""
        values = self.current
        if values and values != ("$__all",):
            return values
        if values == ("$__all",) or (not values and self.include_all):
            if self.all_value:
                return (self.all_value,)
            listed = tuple(o for o in self.options if o != "$__all")
            return listed or None
        if self.type in ("custom", "interval"):
            listed = self.options or tuple(v.strip() for v in self.query.split(",") if v.strip())
            return listed[:1] or None
        if self.type in ("constant", "textbox") and self.query:
            return (self.query,)
        return self.options[:1] or None


@dataclass
class Dashboard:
    source: str
    uid: str | None
    title: str
    version: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    panel_titles: list[str] = field(default_factory=list)
    queries: list[PanelQuery] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    variables: dict[str, Variable] = field(default_factory=dict)


def _datasource_type(ds: Any) -> str | None:
    if isinstance(ds, dict):
        kind = ds.get("type")
        return str(kind) if kind else None
    return None  # a name or "${DS_PROMETHEUS}": cannot tell, assume the default (Prometheus)


def _as_values(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def dashboard_from_json(data: Any, source: str) -> Dashboard:
    """Accepts Grafana's API shape ``{"dashboard": ..., "meta": ...}`` or a bare dashboard."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object")
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    model = data["dashboard"] if isinstance(data.get("dashboard"), dict) else data
    if "panels" not in model and "rows" not in model:
        raise ValueError(f"{source}: not a Grafana dashboard (no panels)")
    dashboard = Dashboard(source, model.get("uid"), str(model.get("title", "")),
                          model.get("version"), dict(meta or {}))

    def visit(panel: dict[str, Any], row: str | None) -> None:
        title = str(panel.get("title") or f"panel {panel.get('id', '?')}")
        if panel.get("type") == "row":
            for child in panel.get("panels") or []:
                if isinstance(child, dict):
                    visit(child, title)
            return
        dashboard.panel_titles.append(title)
        if panel.get("libraryPanel") and not panel.get("targets"):
            dashboard.skipped.append(f"{title!r}: library panel (its model is not in the "
                                     "dashboard JSON)")
            return
        panel_ds = _datasource_type(panel.get("datasource"))
        for target in panel.get("targets") or []:
            if not isinstance(target, dict):
                continue
            ref = str(target.get("refId", "?"))
            kind = _datasource_type(target.get("datasource")) or panel_ds
            if kind not in (None, "prometheus", "-- Mixed --", "mixed", "datasource"):
                dashboard.skipped.append(f"{title!r} [{ref}]: {kind} target")
                continue
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                continue
            if target.get("hide"):
                dashboard.skipped.append(f"{title!r} [{ref}]: hidden target")
                continue
            dashboard.queries.append(PanelQuery(title, panel.get("id"), ref, expr, row))

    for panel in model.get("panels") or []:
        if isinstance(panel, dict):
            visit(panel, None)
    for legacy_row in model.get("rows") or []:  # schema < 16
        for panel in (legacy_row or {}).get("panels") or []:
            if isinstance(panel, dict):
                visit(panel, str(legacy_row.get("title") or "row"))

    for raw in (model.get("templating") or {}).get("list") or []:
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        current = raw.get("current") or {}
        query = raw.get("query")
        if isinstance(query, dict):  # newer Prometheus variable editor stores an object
            query = query.get("query", "")
        options = tuple(v for o in raw.get("options") or [] if isinstance(o, dict)
                        for v in _as_values(o.get("value")))
        dashboard.variables[str(raw["name"])] = Variable(
            name=str(raw["name"]), type=str(raw.get("type", "query")),
            current=_as_values(current.get("value") if isinstance(current, dict) else None),
            query=str(query or ""), options=options,
            include_all=bool(raw.get("includeAll")), all_value=raw.get("allValue") or None,
            multi=bool(raw.get("multi")),
        )
    return dashboard


def load_dashboard_file(path: str | Path) -> Dashboard:
    """A dashboard JSON file (bare or API-shaped). Unreadable → ProbeUnavailable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProbeUnavailable(f"cannot read the dashboard file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    return dashboard_from_json(data, str(path))


class GrafanaProbe:
    """Dashboards from a Grafana server's HTTP API (bearer token: service account or API key)."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.display_url = safe_url(self.url)
        self.timeout_s = timeout_s
        self._token = token

    def dashboard(self, uid: str) -> Dashboard | None:
        """The dashboard with ``uid``; None when Grafana answers 404."""
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        path = f"/api/dashboards/uid/{uid}"
        response = _http.send("GET", self.url + path, timeout_s=self.timeout_s,
                              setting="observability.timeout_s",
                              what="Grafana at", display_url=self.display_url, headers=headers)
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise ProbeUnavailable(
                f"Grafana {self.display_url} refused {path} (HTTP {response.status_code})")
        if response.status_code != 200:
            raise ProbeUnavailable(f"Grafana {self.display_url}{path} answered HTTP "
                                   f"{response.status_code}")
        try:
            return dashboard_from_json(response.json(), f"{self.display_url}{path}")
        except ValueError as exc:
            raise ProbeUnavailable(f"Grafana {path} did not answer a dashboard: {exc}") from None


_VARIABLE = re.compile(
    r"\$\{(?P<b>\w+)(?::(?P<bf>\w+))?\}|\[\[(?P<s>\w+)(?::(?P<sf>\w+))?\]\]|\$(?P<p>\w+)")
_REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]])")


def _format(values: Sequence[str], fmt: str | None) -> str:
    escaped = [_REGEX_SPECIAL.sub(r"\\\\\1", v) for v in values]
    if fmt in ("csv", "raw"):
        return ",".join(values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt == "regex":
        return escaped[0] if len(values) == 1 else "(" + "|".join(escaped) + ")"
    # Grafana's Prometheus data source: one value as is, several as an escaped regex group.
    return values[0] if len(values) == 1 else "(" + "|".join(escaped) + ")"


def substitute(expr: str, values: Mapping[str, Sequence[str]]) -> tuple[str, list[str]]:
    """Replace ``$var``, ``${var}``, ``${var:fmt}`` and ``[[var]]``; returns (expr, unresolved)."""
    unresolved: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group("b") or match.group("s") or match.group("p")
        fmt = match.group("bf") or match.group("sf")
        chosen = values.get(name)
        if not chosen:
            if name not in unresolved:
                unresolved.append(name)
            return match.group(0)
        return _format(list(chosen), fmt)

    return _VARIABLE.sub(replace, expr), unresolved


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<metric>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$")


def label_values_query(query: str) -> tuple[str | None, str] | None:
    """``label_values(up, job)`` → ("up", "job"); ``label_values(job)`` → (None, "job")."""
    match = _LABEL_VALUES.match(query or "")
    if not match:
        return None
    return match.group("metric"), match.group("label")


def builtin_variables(*, interval_s: float, range_s: float,
                      scrape_interval_s: float | None) -> dict[str, tuple[str, ...]]:
    """Grafana's built-in ``$__interval``, ``$__rate_interval``, ``$__range`` values.

    ``$__rate_interval`` = max(``$__interval`` + scrape interval, 4 × scrape interval), with
    Prometheus's default scrape interval (15 s) when the target's is unknown.
    """
    scrape = scrape_interval_s or 15.0
    rate = max(interval_s + scrape, 4 * scrape)
    return {
        "__interval": (_prom_duration(interval_s),),
        "__interval_ms": (str(int(interval_s * 1000)),),
        "__rate_interval": (_prom_duration(rate),),
        "__range": (_prom_duration(range_s),),
        "__range_s": (str(int(range_s)),),
        "__range_ms": (str(int(range_s * 1000)),),
    }


def _prom_duration(seconds: float) -> str:
    from .prometheus.promql import format_duration

    return format_duration(seconds)
