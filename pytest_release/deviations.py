"""Deviations: settings in force that are looser than the checklist's numbers (issue 12).

The checklist's numbers are the settings' defaults (``opt(default, ...)``): the table below only
says, for each threshold setting, which direction is *looser* and which checklist items it
weakens. The number itself is read from the default, never copied. A stricter setting is no
deviation. Pure: no pytest import.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .settings import SECTIONS, Settings, duration_seconds

#: Directions: which way of moving away from the checklist's number is looser.
GREATER = "greater"  # a longer TTL bound, a higher latency limit or error rate
SMALLER = "smaller"  # a shorter or lighter load, a lower success rate, fewer samples
DIFFERENT = "different"  # any other value (a policy name, the checklist's sampling rate)
MISSING = "missing"  # a list of required entries: dropping or changing one is looser
ORDERED = "ordered"  # a choice on a strict → loose scale (appendfsync always < everysec < no)

#: "checklist": the number is printed in the checklist; "suite": the suite's own default for how
#: hard it measures (sample sizes, think time) — weakening it is a deviation all the same.
CHECKLIST = "checklist"
SUITE = "suite"


@dataclass(frozen=True)
class Threshold:
    """One threshold setting: its key, which way is looser, its unit and the items it weakens."""

    setting: str
    looser: str
    unit: str
    items: tuple[str, ...]
    basis: str = CHECKLIST
    scale: tuple[str, ...] = ()  # ORDERED only: strictest first


def _t(setting: str, looser: str, unit: str, *items: str, basis: str = CHECKLIST,
       scale: tuple[str, ...] = ()) -> Threshold:
    return Threshold(setting, looser, unit, items, basis, scale)


#: Every threshold setting of the catalogue. Rows of tables another branch adds (Gate 4, Gate 6,
#: the canary and post-deployment stages) are skipped while that table has no such field.
THRESHOLDS: tuple[Threshold, ...] = (
    # Gate 1
    _t("redis.ttl_max_seconds", GREATER, "s", "redis.ttl", "api.stored_ttl"),
    _t("redis.maxmemory_policy", DIFFERENT, "", "redis.maxmemory"),
    _t("redis.appendfsync", ORDERED, "", "redis.aof", basis=SUITE,
       scale=("always", "everysec", "no")),
    _t("redis.p95_ms", GREATER, "ms", "redis.p95"),
    _t("redis.latency_samples", SMALLER, "round trips", "redis.p95", basis=SUITE),
    _t("redis.sample_size", SMALLER, "keys", "redis.ttl", basis=SUITE),
    _t("redis.recovery_s", GREATER, "s", "redis.retry", basis=SUITE),
    # Gate 2
    _t("api.rate_limit_max", GREATER, "requests", "api.rate_limit", basis=SUITE),
    _t("api.sweep_examples", SMALLER, "inputs", "api.error_codes", basis=SUITE),
    # Gate 3
    _t("load.max_error_rate", GREATER, "rate", "load.error_rate"),
    _t("load.p95_ms", GREATER, "ms", "load.p95"),
    _t("load.min_success_rate", SMALLER, "rate", "load.success_rate"),
    _t("load.duration", SMALLER, "duration", "load.profile"),
    _t("load.vus", SMALLER, "VUs", "load.profile"),
    _t("load.think_time_ms", GREATER, "ms", "load.profile", basis=SUITE),
    # Gate 4 (security branch)
    _t("security.max_critical", GREATER, "findings", "security.trivy"),
    _t("security.max_high", GREATER, "findings", "security.trivy", basis=SUITE),
    _t("security.trivy_max_age", GREATER, "duration", "security.trivy", basis=SUITE),
    # Gate 5
    _t("observability.scrape_max_age_intervals", GREATER, "intervals",
       "observability.scraping", basis=SUITE),
    _t("observability.metric_families", MISSING, "", "observability.metrics",
       "api.metrics_labels", basis=SUITE),
    _t("observability.otel_sampling_percentage", DIFFERENT, "%", "observability.otel"),
    _t("observability.otel_error_traces_percentage", SMALLER, "%", "observability.otel"),
    _t("observability.alert_rules", MISSING, "", "observability.alerts", basis=SUITE),
    _t("observability.blocking_severities", MISSING, "", "observability.alerts", basis=SUITE),
    _t("observability.jwks_min_rsa_bits", SMALLER, "bits", "observability.jwks", basis=SUITE),
    # Gate 6 / Deployment Plan (gitops branch: [canary])
    _t("canary.phase1_pause", SMALLER, "duration", "gitops.canary"),
    _t("canary.phase2_pause", SMALLER, "duration", "gitops.canary"),
    _t("canary.phase1_max_failures", GREATER, "failures", "gitops.canary"),
    _t("canary.phase2_max_failures", GREATER, "failures", "gitops.canary"),
    _t("canary.analysis_interval", GREATER, "duration", "gitops.canary"),
    _t("canary.max_error_rate", GREATER, "rate", "gitops.canary"),
    _t("canary.p95_ms", GREATER, "ms", "gitops.canary"),
    _t("canary.redis_min_connected", SMALLER, "", "gitops.canary"),
    # Canary stage (stages branch: [analysis])
    _t("analysis.max_error_rate", GREATER, "rate", "canary.analysis_error_rate",
       "canary.trigger_error_rate"),
    _t("analysis.max_p95_ms", GREATER, "ms", "canary.analysis_latency", "canary.trigger_latency"),
    _t("analysis.min_redis", SMALLER, "", "canary.analysis_redis"),
    _t("analysis.template_interval", GREATER, "duration", "canary.analysis_error_rate",
       "canary.analysis_latency", "canary.analysis_redis"),
    _t("analysis.count", SMALLER, "samples", "canary.analysis_error_rate",
       "canary.analysis_latency", "canary.analysis_redis", basis=SUITE),
    _t("analysis.max_failures_phase1", GREATER, "failures", "canary.analysis_error_rate",
       "canary.analysis_latency", "canary.analysis_redis"),
    _t("analysis.max_failures_phase2", GREATER, "failures", "canary.analysis_error_rate",
       "canary.analysis_latency", "canary.analysis_redis"),
    _t("analysis.error_rate_for", GREATER, "duration", "canary.trigger_error_rate"),
    _t("analysis.latency_for", GREATER, "duration", "canary.trigger_latency"),
    _t("analysis.consecutive_failures", GREATER, "failures", "canary.trigger_consecutive"),
    _t("analysis.redis_max_failures", GREATER, "failures", "canary.trigger_redis"),
    _t("analysis.redis_window", SMALLER, "duration", "canary.trigger_redis"),
    # Post-deployment stage (stages branch: [postdeploy])
    _t("postdeploy.window", SMALLER, "duration", "postdeploy.burn_rate", "postdeploy.slo",
       "postdeploy.alerts", "postdeploy.drift"),
    _t("postdeploy.slo_target", SMALLER, "rate", "postdeploy.burn_rate"),
    _t("postdeploy.max_burn", GREATER, "rate", "postdeploy.burn_rate"),
    _t("postdeploy.p95_slo_ms", GREATER, "ms", "postdeploy.slo"),
    _t("postdeploy.min_requests", SMALLER, "requests", "postdeploy.burn_rate", basis=SUITE),
    _t("postdeploy.min_coverage", SMALLER, "rate", "postdeploy.burn_rate", "postdeploy.slo",
       basis=SUITE),
    _t("postdeploy.blocking_severities", MISSING, "", "postdeploy.alerts", basis=SUITE),
)

THRESHOLDS_BY_SETTING: dict[str, Threshold] = {t.setting: t for t in THRESHOLDS}


@dataclass(frozen=True)
class Deviation:
    """A setting in force that is looser than the checklist's number."""

    setting: str
    checklist_value: Any
    value_in_force: Any
    where_set: str
    items: tuple[str, ...]
    unit: str = ""
    basis: str = CHECKLIST

    @property
    def item(self) -> str:
        """The first (main) checklist item it weakens."""
        return self.items[0]

    def describe(self) -> str:
        """``redis.ttl_max_seconds = 99999999 s (checklist: 604800 s), set in release.toml:…``"""
        return (f"{self.setting} = {show(self.value_in_force, self.unit)} "
                f"(checklist: {show(self.checklist_value, self.unit)}), set by {self.where_set}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "checklist_value": _plain(self.checklist_value),
            "value_in_force": _plain(self.value_in_force),
            "unit": self.unit or None,
            "where_set": self.where_set,
            "items": list(self.items),
            "basis": self.basis,
        }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def show(value: Any, unit: str) -> str:
    """A setting value as people read it: ``99999999 s``, ``0.5%``, ``5s``, ``[a, b]``."""
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if unit == "rate" and isinstance(value, (int, float)):
        return f"{value * 100:g}%"
    if isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    if unit in ("", "duration"):
        return text
    if unit == "%":
        return f"{text}%"
    return f"{text} {unit}"


def _default(setting: str) -> tuple[bool, Any]:
    section, _, key = setting.partition(".")
    cls = SECTIONS.get(section)
    if cls is None:
        return False, None
    for f in dataclasses.fields(cls):
        if f.name == key:
            if f.default is not dataclasses.MISSING:
                return True, f.default
            return True, f.default_factory()  # type: ignore[operator]
    return False, None


def resolvable(threshold: Threshold) -> bool:
    """Whether this branch's settings define the row's setting."""
    return _default(threshold.setting)[0]


def checklist_value(setting: str) -> Any:
    """The checklist's number for a threshold setting: its declared default."""
    found, value = _default(setting)
    if not found:
        raise KeyError(f"no setting {setting!r}")
    return value


def _looser(t: Threshold, checklist: Any, in_force: Any) -> bool:
    if in_force == checklist:
        return False
    if t.looser == DIFFERENT:
        return True
    if t.looser == MISSING:
        return any(entry not in (in_force or ()) for entry in (checklist or ()))
    if t.looser == ORDERED:
        rank: Callable[[Any], int] = lambda v: t.scale.index(v) if v in t.scale else len(t.scale)
        return rank(in_force) > rank(checklist)
    if in_force is None or checklist is None:
        return in_force is None  # an unset bound is looser than any bound
    a, b = (duration_seconds(in_force), duration_seconds(checklist)) if t.unit == "duration" \
        else (float(in_force), float(checklist))
    return a > b if t.looser == GREATER else a < b


def deviations(settings: Settings) -> list[Deviation]:
    """Every threshold in force that is looser than the checklist's number, in catalogue order."""
    provenance = getattr(settings, "provenance", {}) or {}
    found = []
    for t in THRESHOLDS:
        known, default = _default(t.setting)
        if not known:
            continue
        section, _, key = t.setting.partition(".")
        in_force = getattr(getattr(settings, section), key)
        if _looser(t, default, in_force):
            found.append(Deviation(t.setting, default, in_force,
                                   provenance.get(t.setting, "settings"), t.items, t.unit,
                                   t.basis))
    return found


def by_item(found: list[Deviation]) -> dict[str, list[Deviation]]:
    """Deviations keyed by every ``gate.item`` they weaken."""
    out: dict[str, list[Deviation]] = {}
    for d in found:
        for item in d.items:
            out.setdefault(item, []).append(d)
    return out
