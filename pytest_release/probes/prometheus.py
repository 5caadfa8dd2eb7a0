"""Facts from Prometheus and Alertmanager HTTP APIs, a service's metrics exposition and promtool.

Every request has a timeout. An unreachable server or a non-API answer raises
:class:`ProbeUnavailable`; a query Prometheus rejects is a fact (:attr:`QueryResult.error`), not an
exception, because a dashboard panel or alert with a broken query is exactly what a gate looks for.
``requests`` and ``prometheus_client`` are imported on first use.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..settings import safe_url
from . import ProbeUnavailable, require

if TYPE_CHECKING:
    import requests

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")
_GO_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
             "y": 31536000.0}
_FRACTION = re.compile(r"\.(\d+)")


def prom_duration_seconds(text: str) -> float:
    """A Prometheus/Go duration (``"1m30s"``, ``"500ms"``, ``"1d"``) in seconds."""
    text = text.strip()
    pos = 0
    total = 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return total


def format_duration(seconds: float) -> str:
    """Seconds as the shortest exact Prometheus duration (``60`` → ``"1m"``, ``0.5`` → ``"500ms"``)."""
    millis = int(round(seconds * 1000))
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def parse_timestamp(text: str) -> datetime | None:
    """RFC 3339 with nanoseconds (Go's format) → aware datetime; Go's zero time → None."""
    if not text or text.startswith("0001-01-01"):
        return None
    text = text.replace("Z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def promql_string(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


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
        try:
            response = self._session.get(self.url + path, params=params, timeout=self.timeout_s)
        except self._requests.RequestException as exc:
            raise ProbeUnavailable(
                f"Prometheus at {self.display_url} is unreachable ({path}): {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "status" not in body:
            raise ProbeUnavailable(
                f"{self.display_url}{path} answered HTTP {response.status_code} without the "
                "Prometheus API envelope: is observability.prometheus_url a Prometheus?")
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


class AlertmanagerProbe:
    """Read-only facts from one Alertmanager's v2 API."""

    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.display_url = safe_url(self.url)
        self.timeout_s = timeout_s
        self._requests = require("requests", "requests")

    def _get(self, path: str, params: Any = None) -> Any:
        try:
            response = self._requests.get(self.url + path, params=params, timeout=self.timeout_s)
        except self._requests.RequestException as exc:
            raise ProbeUnavailable(
                f"Alertmanager at {self.display_url} is unreachable ({path}): {exc}") from None
        if response.status_code != 200:
            raise ProbeUnavailable(
                f"Alertmanager {self.display_url}{path} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise ProbeUnavailable(
                f"{self.display_url}{path} did not answer JSON: is observability.alertmanager_url "
                "an Alertmanager?") from None

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


# -- threshold comparisons in PromQL (pure) -------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """``<expr> op number`` at the top level of an alert expression (or of an and/or/unless arm)."""

    op: str
    threshold: float
    left: str


_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+|"
                     r"[Ii]nf|NaN)$")
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}


def _number(text: str) -> float:
    return float(int(text, 16)) if text.lower().startswith("0x") else float(text)


def _top_level_split(expr: str) -> list[tuple[str, str]]:
    """Tokens at paren/bracket/brace depth 0: ("text", chunk) and ("op", operator) pieces."""
    pieces: list[tuple[str, str]] = []
    depth = 0
    quote: str | None = None
    current = ""
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            current += ch
            if ch == "\\" and i + 1 < len(expr):
                current += expr[i + 1]
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "\"'`":
            quote = ch
            current += ch
        elif ch in "([{":
            depth += 1
            current += ch
        elif ch in ")]}":
            depth -= 1
            current += ch
        elif depth == 0 and expr.startswith(("==", "!=", ">=", "<="), i):
            pieces += [("text", current), ("op", expr[i:i + 2])]
            current = ""
            i += 2
            continue
        elif depth == 0 and ch in "<>":
            pieces += [("text", current), ("op", ch)]
            current = ""
        elif depth == 0 and ch == "#":  # comment to end of line
            while i < len(expr) and expr[i] != "\n":
                i += 1
            continue
        else:
            current += ch
        i += 1
    pieces.append(("text", current))
    return pieces


_SET_OPS = re.compile(r"\b(and|or|unless)\b(\s+(?:on|ignoring)\s*\([^)]*\))?", re.IGNORECASE)


def _strip_parens(expr: str) -> str:
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        depth = 0
        for i, ch in enumerate(expr):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(expr) - 1:
                return expr
        expr = expr[1:-1].strip()
    return expr


def _split_set_ops(expr: str) -> list[str]:
    """Split on and/or/unless at depth 0 (outside strings)."""
    arms: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            match = _SET_OPS.match(expr, i)
            if match and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_")):
                arms.append(expr[start:i])
                i = start = match.end()
                continue
        i += 1
    arms.append(expr[start:])
    return [a for a in (arm.strip() for arm in arms) if a]


def threshold_comparisons(expr: str) -> list[Comparison]:
    """Numeric comparisons an alert expression fires on, normalised to ``<expr> op number``.

    Handles ``x > 0.005``, ``0.15 < x``, ``x > bool 5``, parenthesised arms and ``and``/``or``/
    ``unless`` combinations. Comparisons against another vector (not a literal number) are not
    thresholds and are left out; so are numbers hidden in arithmetic (``x * 100 > 0.5`` reports
    0.5, the number the expression actually compares with).
    """
    found: list[Comparison] = []
    for arm in _split_set_ops(_strip_parens(expr)):
        arm = _strip_parens(arm)
        pieces = _top_level_split(arm)
        if len(pieces) == 1:
            inner = _strip_parens(arm)
            if inner != arm.strip():
                found += threshold_comparisons(inner)
            continue
        for index in range(1, len(pieces) - 1, 2):
            op = pieces[index][1]
            left = pieces[index - 1][1].strip()
            right = pieces[index + 1][1].strip()
            if right.lower().startswith("bool "):
                right = right[5:].strip()
            right_num = _strip_parens(right)
            left_num = _strip_parens(left)
            if _NUMBER.match(right_num):
                found.append(Comparison(op, _number(right_num), left))
            elif _NUMBER.match(left_num):
                found.append(Comparison(_FLIP[op], _number(left_num), right))
    return found


# -- a service's own exposition ---------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """One metric family as the Prometheus text parser sees it."""

    name: str
    type: str
    label_names: tuple[str, ...]
    label_sets: tuple[tuple[str, ...], ...]
    samples: int
    help: str = ""


@dataclass
class Exposition:
    """What a ``/metrics`` endpoint served: HTTP facts plus the parsed families."""

    url: str
    status: int
    content_type: str
    families: dict[str, Family] = field(default_factory=dict)
    parse_error: str | None = None
    bytes: int = 0


_EXTRA_LABELS = {"histogram": {"le"}, "gaugehistogram": {"le"}, "summary": {"quantile"}}


def parse_exposition(text: str) -> dict[str, Family]:
    """Families of a Prometheus text exposition (``prometheus_client``'s parser; raises ValueError)."""
    require("prometheus_client", "prometheus-client")
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Family] = {}
    for family in text_string_to_metric_families(text):
        extra = _EXTRA_LABELS.get(family.type, set())
        sets = sorted({tuple(sorted(k for k in s.labels if k not in extra))
                       for s in family.samples})
        names = tuple(sorted({name for label_set in sets for name in label_set}))
        families[family.name] = Family(family.name, family.type, names, tuple(sets),
                                       len(family.samples), family.documentation)
    return families


def fetch_exposition(url: str, *, timeout_s: float = 5.0,
                     headers: Mapping[str, str] | None = None) -> Exposition:
    """GET ``url`` and parse it; unreachable → ProbeUnavailable, unparsable → ``parse_error``."""
    requests_mod = require("requests", "requests")
    display = safe_url(url)
    try:
        response = requests_mod.get(url, timeout=timeout_s, headers=dict(headers or {}))
    except requests_mod.RequestException as exc:
        raise ProbeUnavailable(f"metrics endpoint {display} is unreachable: {exc}") from None
    exposition = Exposition(display, response.status_code,
                            response.headers.get("Content-Type", ""), bytes=len(response.content))
    if response.status_code != 200:
        return exposition
    try:
        exposition.families = parse_exposition(response.text)
    except (ValueError, IndexError, KeyError) as exc:
        exposition.parse_error = f"{type(exc).__name__}: {exc}"
    return exposition


def sample_name(family: str, metric_type: str) -> str:
    """The series name Prometheus stores for a family (the one to query)."""
    if metric_type == "counter":
        return family + "_total"
    if metric_type in ("histogram", "summary", "gaugehistogram"):
        return family + "_count"
    if metric_type == "info":
        return family + "_info"
    return family


# -- promtool ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToolRun:
    argv: tuple[str, ...]
    returncode: int
    output: str


def promtool_check_rules(files: Sequence[str], *, promtool: str = "promtool",
                         timeout_s: float = 30.0) -> ToolRun:
    """``promtool check rules FILE...``; promtool missing or hanging → ProbeUnavailable."""
    binary = shutil.which(promtool)
    if binary is None:
        raise ProbeUnavailable(
            f"{promtool} is not installed: apt-get install prometheus (it ships promtool)")
    argv = (binary, "check", "rules", *files)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProbeUnavailable(f"promtool check rules did not finish in {timeout_s:.0f} s") from None
    except OSError as exc:
        raise ProbeUnavailable(f"promtool could not be run: {exc}") from None
    return ToolRun(argv, done.returncode, (done.stdout + done.stderr).strip())


def same_endpoint(url_a: str, url_b: str) -> bool:
    """Whether two URLs name the same scheme://host:port (paths and credentials ignored)."""
    a, b = urlsplit(url_a), urlsplit(url_b)
    default = {"http": 80, "https": 443}
    return (a.scheme, a.hostname, a.port or default.get(a.scheme)) == \
        (b.scheme, b.hostname, b.port or default.get(b.scheme))
