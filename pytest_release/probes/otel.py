"""Facts from an OpenTelemetry Collector configuration file (PyYAML, imported on first use).

A processor only acts when a pipeline lists it, so the facts are always "which processors exist"
*and* "which pipelines run them". Component ids may carry a ``/name`` suffix
(``probabilistic_sampler/traces``); their type is the part before the slash.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ProbeUnavailable, require


def component_type(component_id: str) -> str:
    """``tail_sampling/errors`` → ``tail_sampling``."""
    return component_id.split("/", 1)[0]


@dataclass(frozen=True)
class Pipeline:
    name: str
    receivers: tuple[str, ...]
    processors: tuple[str, ...]
    exporters: tuple[str, ...]

    @property
    def signal(self) -> str:
        """``traces``, ``metrics`` or ``logs`` (the part before ``/``)."""
        return component_type(self.name)


@dataclass
class CollectorConfig:
    """The parts of a Collector config that decide sampling."""

    path: str
    processors: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)

    def processors_of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: cfg for name, cfg in self.processors.items()
                if component_type(name) == kind}

    def pipelines_using(self, processor: str, signal: str | None = "traces") -> list[str]:
        return [p.name for p in self.pipelines.values()
                if processor in p.processors and (signal is None or p.signal == signal)]

    def traces_pipelines(self) -> list[Pipeline]:
        return [p for p in self.pipelines.values() if p.signal == "traces"]


def load_collector_config(path: str | Path) -> CollectorConfig:
    """Parse ``path``. Unreadable → ProbeUnavailable; not a Collector config → ValueError."""
    yaml = require("yaml", "PyYAML")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProbeUnavailable(f"cannot read the OTel Collector config {path}: {exc.strerror}"
                               ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a Collector config (expected a mapping at the top)")
    processors = data.get("processors") or {}
    service = data.get("service") or {}
    pipelines = (service.get("pipelines") or {}) if isinstance(service, dict) else {}
    if not isinstance(processors, dict) or not isinstance(pipelines, dict):
        raise ValueError(f"{path}: processors and service.pipelines must be mappings")
    config = CollectorConfig(str(path))
    for name, cfg in processors.items():
        config.processors[str(name)] = dict(cfg) if isinstance(cfg, dict) else {}
    for name, spec in pipelines.items():
        spec = spec if isinstance(spec, dict) else {}
        config.pipelines[str(name)] = Pipeline(
            str(name),
            tuple(str(x) for x in spec.get("receivers") or []),
            tuple(str(x) for x in spec.get("processors") or []),
            tuple(str(x) for x in spec.get("exporters") or []),
        )
    return config


def _percentage(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def policy_error_keep(policy: Mapping[str, Any]) -> tuple[float, str]:
    """Share (0..100 %) of error traces a tail-sampling policy is *guaranteed* to sample, and why.

    ``status_code`` with ERROR and ``always_sample`` keep all of them; ``probabilistic`` keeps its
    percentage; ``and`` keeps the product of its sub-policies. Conditional policies (latency,
    attributes, rate limiting, ...) keep an unknown share, counted as 0 % guaranteed.
    """
    kind = str(policy.get("type", ""))
    name = str(policy.get("name", kind))
    if kind == "always_sample":
        return 100.0, f"{name}: always_sample"
    if kind == "status_code":
        codes = [str(c).upper() for c in (policy.get("status_code") or {}).get("status_codes") or []]
        return (100.0 if "ERROR" in codes else 0.0), f"{name}: status_code {codes}"
    if kind == "probabilistic":
        pct = _percentage((policy.get("probabilistic") or {}).get("sampling_percentage"))
        return (pct or 0.0), f"{name}: probabilistic {pct}%"
    if kind == "and":
        subs = (policy.get("and") or {}).get("and_sub_policy") or []
        share = 100.0
        reasons = []
        for sub in subs:
            sub_share, reason = policy_error_keep(sub)
            share = share * sub_share / 100.0
            reasons.append(reason)
        return (share if subs else 0.0), f"{name}: and({'; '.join(reasons)})"
    return 0.0, f"{name}: {kind or 'untyped'} (conditional: not a guarantee for error traces)"


@dataclass(frozen=True)
class ErrorTraceKeep:
    """How much of the error traces one traces pipeline keeps."""

    pipeline: str
    percentage: float
    tail_processor: str
    reasons: tuple[str, ...]


def error_trace_keep(config: CollectorConfig) -> list[ErrorTraceKeep]:
    """Per traces pipeline running a tail_sampling processor: the guaranteed share of error traces.

    A trace is sampled when any policy samples it, so the pipeline's share is the best policy's;
    a ``probabilistic_sampler`` in the same pipeline (before or after) multiplies it down.
    """
    results = []
    for pipeline in config.traces_pipelines():
        for proc in pipeline.processors:
            if component_type(proc) != "tail_sampling":
                continue
            policies = config.processors.get(proc, {}).get("policies") or []
            best, reasons = 0.0, []
            for policy in policies:
                share, reason = policy_error_keep(policy if isinstance(policy, dict) else {})
                reasons.append(f"{reason} → {share:g}%")
                best = max(best, share)
            for other in pipeline.processors:
                if component_type(other) == "probabilistic_sampler":
                    pct = _percentage(config.processors.get(other, {}).get("sampling_percentage"))
                    best = best * (pct or 0.0) / 100.0
                    reasons.append(f"{other} in the same pipeline keeps {pct}% of what passes")
            results.append(ErrorTraceKeep(pipeline.name, best, proc, tuple(reasons)))
    return results
