"""A service's own metrics exposition: fetch (one total deadline) and parse (prometheus_client)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ...redact import safe_url
from .. import _http, require


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
    display = safe_url(url)
    response = _http.send("GET", url, timeout_s=timeout_s, what="metrics endpoint",
                          setting="observability.timeout_s",
                          display_url=display, headers=headers)
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
