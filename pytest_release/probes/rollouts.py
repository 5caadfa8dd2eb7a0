"""Argo Rollouts facts: a Rollout's canary plan and the AnalysisTemplates that can roll it back.

Pure functions over the API objects (plain dicts, as every cluster source returns them); no I/O,
nothing asserts. The gate reads the *definition* (Gate 6); the canary stage reuses the same
facts to judge live AnalysisRuns.

* :func:`parse_duration` — Argo durations by value: ``"5m"``, ``"300"``, ``"300s"``, ``300``,
  ``"1h30m"`` all become seconds.
* :func:`rollout_facts` → :class:`RolloutFacts`: strategy, :class:`Step` list, background
  analysis, the plan as :class:`Phase` objects (one per ``setWeight``; an implicit final 100 %
  when the steps end below it), pod template images, selector, status.
* :func:`template_facts` → :class:`TemplateFacts`: each :class:`Metric` with interval, count,
  ``failureLimit`` (default 0), ``consecutiveErrorLimit`` (default 4), ``{{args.x}}`` resolved,
  and its pass :class:`Bound` read from ``successCondition`` / ``failureCondition``.
* :func:`parse_condition`, :func:`query_scale`, :func:`query_time_unit`, :func:`quantile_of`:
  the small readers behind those, usable alone.

Argo's rule, from its analysis controller: a metric fails when its failed measurements
*exceed* ``failureLimit`` (counted in total over the run, not consecutively), and errors when
consecutive errors exceed ``consecutiveErrorLimit``; a failed or errored AnalysisRun aborts the
Rollout, which sends all traffic back to the stable ReplicaSet. Metrics listed in ``dryRun``
never fail a run.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

DEFAULT_FAILURE_LIMIT = 0
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# What the expression compares: Prometheus results are vectors (result[0]); web results are
# scalars (result, asFloat(result)); inside all()/any() the element is ``#``.
_SUBJECT = r"(?:asFloat\(\s*result(?:\[\d+\])?\s*\)|result\[\d+\](?:\.\w+)?|result|#)"
_CMP_RIGHT = re.compile(rf"(?P<subject>{_SUBJECT})\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<num>{_NUMBER})")
_CMP_LEFT = re.compile(rf"(?P<num>{_NUMBER})\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<subject>{_SUBJECT})")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def parse_duration(value: Any) -> float:
    """An Argo duration in seconds: a bare number is seconds, otherwise Go syntax (``5m30s``).

    Raises ``ValueError`` for anything else (``"5 minutes"``, ``""``, a negative number).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return float(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or _GO_DURATION.sub("", text) != "":
        raise ValueError(f"{value!r} is not a duration (use 30s, 5m, 1h30m or seconds)")
    return sum(float(n) * _UNITS[u] for n, u in _GO_DURATION.findall(text))


def format_seconds(seconds: float | None) -> str:
    """300.0 → ``"5m"``, 90.0 → ``"1m30s"``, None → ``"indefinite"``."""
    if seconds is None:
        return "indefinite"
    if seconds == 0:
        return "0s"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


# -- conditions and queries ------------------------------------------------------------------
@dataclass(frozen=True)
class Bound:
    """``value OP threshold``: what a measured result must satisfy (``< 0.005``)."""

    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"

    @property
    def upper(self) -> bool:
        return self.op in ("<", "<=")

    @property
    def lower(self) -> bool:
        return self.op in (">", ">=")

    def scaled(self, factor: float) -> Bound:
        """The same bound in another unit (``factor`` > 0): ``< 0.5`` (%) ×0.01 → ``< 0.005``."""
        return Bound(self.op, self.threshold * factor)

    def at_least_as_strict_as(self, required: Bound) -> bool:
        """True when every value this bound passes, ``required`` passes too.

        ``< 0.004`` and ``< 0.005`` are at least as strict as ``< 0.005``; ``<= 0.005`` is not
        (it passes 0.005). ``>= 1`` is at least as strict as ``> 0``. Opposite directions never.
        """
        if required.upper and self.upper:
            if self.threshold < required.threshold:
                return True
            return self.threshold == required.threshold and (self.op == "<" or required.op == "<=")
        if required.lower and self.lower:
            if self.threshold > required.threshold:
                return True
            return self.threshold == required.threshold and (self.op == ">" or required.op == ">=")
        return self == required


@dataclass(frozen=True)
class Comparison:
    """One comparison of the measured result with a number inside a condition expression."""

    subject: str   # result[0], result, #, asFloat(result)
    op: str
    threshold: float

    @property
    def bound(self) -> Bound:
        return Bound(self.op, self.threshold)


def parse_condition(expr: str | None) -> tuple[Comparison, ...]:
    """The comparisons of the result with a number in an Argo (expr-lang) condition.

    ``result[0] < 0.005`` → (result[0] < 0.005,); ``0.15 > result[0]`` is turned round;
    ``len(result) > 0`` is a guard, not a comparison of the value, and is not returned.
    """
    if not expr:
        return ()
    found: list[tuple[int, Comparison]] = []
    taken: list[tuple[int, int]] = []
    for match in _CMP_RIGHT.finditer(expr):
        if _inside_len(expr, match.start()):
            continue
        found.append((match.start(), Comparison(_subject(match.group("subject")), match.group("op"),
                                                float(match.group("num")))))
        taken.append(match.span())
    for match in _CMP_LEFT.finditer(expr):
        if any(a <= match.start() < b or a < match.end() <= b for a, b in taken):
            continue
        found.append((match.start(), Comparison(_subject(match.group("subject")),
                                                _FLIP[match.group("op")], float(match.group("num")))))
    return tuple(c for _, c in sorted(found, key=lambda pair: pair[0]))


def _subject(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _inside_len(expr: str, position: int) -> bool:
    return bool(re.search(r"len\(\s*$", expr[:position]))


def condition_guards(expr: str | None) -> tuple[str, ...]:
    """Parts of a condition that pass a measurement without comparing it (``isNaN(result[0]) ||``,
    ``len(result) == 0 ||``): worth showing, since they pass when there is no data."""
    if not expr:
        return ()
    guards = []
    for pattern in (r"isNaN\([^)]*\)\s*\|\|", r"len\(\s*result\s*\)\s*==\s*0\s*\|\|",
                    r"isInf\([^)]*\)\s*\|\|"):
        guards += [m.group(0).rstrip("|").strip() for m in re.finditer(pattern, expr)]
    return tuple(guards)


def pass_bound(success_condition: str | None, failure_condition: str | None,
               direction: str | None = None) -> Bound | None:
    """The bound a result must meet to pass, read from the success condition, or from the
    failure condition turned round (fails when ``>= 0.005`` → passes when ``< 0.005``).

    ``direction`` (``"upper"``/``"lower"``) picks among several comparisons
    (``result[0] > 0 && result[0] < 0.005``). None when nothing numeric is compared.
    """
    candidates = [c.bound for c in parse_condition(success_condition)]
    if not candidates:
        candidates = [Bound(_NEGATE[c.op], c.threshold) for c in parse_condition(failure_condition)]
    candidates = [b for b in candidates if b.op not in ("==", "!=")] or candidates
    if direction == "upper":
        candidates = [b for b in candidates if b.upper]
    elif direction == "lower":
        candidates = [b for b in candidates if b.lower]
    return candidates[0] if candidates else None


def _depth0_positions(text: str) -> list[int]:
    depth, positions = 0, []
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0:
            positions.append(i)
    return positions


def query_scale(query: str | None) -> float:
    """The constant a PromQL query multiplies (or divides) its whole result by: ``(...) * 100`` →
    100, ``1000 * histogram_quantile(...)`` → 1000, ``(...) / 1000`` → 0.001, otherwise 1."""
    if not query:
        return 1.0
    text = query.strip()
    outer = set(_depth0_positions(text))
    scale = 1.0
    trailing = re.search(rf"([*/])\s*({_NUMBER})\s*$", text)
    if trailing and trailing.start(1) in outer:
        number = float(trailing.group(2))
        scale *= number if trailing.group(1) == "*" else (1.0 / number if number else 1.0)
    leading = re.match(rf"^\s*({_NUMBER})\s*\*", text)
    if leading and text.index("*") in outer:
        scale *= float(leading.group(1))
    return scale


def query_time_unit(query: str | None) -> str | None:
    """``"s"`` for a query over a ``*_seconds`` metric, ``"ms"`` for ``*_milliseconds``/``*_ms``."""
    if not query:
        return None
    if re.search(r"_seconds(?:_bucket|_sum|_count)?\b", query):
        return "s"
    if re.search(r"_(?:milliseconds|ms)(?:_bucket|_sum|_count)?\b", query):
        return "ms"
    return None


def quantile_of(query: str | None) -> float | None:
    """The φ of ``histogram_quantile(φ, ...)`` in the query (0.95 for a P95), or None."""
    if not query:
        return None
    match = re.search(rf"histogram_quantile\s*\(\s*({_NUMBER})\s*,", query)
    return float(match.group(1)) if match else None


# -- AnalysisTemplates ------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """One metric of an AnalysisTemplate, ``{{args.x}}`` resolved where the values are known."""

    name: str
    provider: str                      # prometheus | web | job | datadog ... ("" if none)
    interval_s: float | None           # None when not set (one measurement, or count-less)
    interval_text: str | None
    count: int | None
    failure_limit: int                 # Argo default 0
    consecutive_error_limit: int       # Argo default 4
    inconclusive_limit: int
    success_condition: str | None
    failure_condition: str | None
    query: str | None
    address: str | None
    dry_run: bool = False
    unresolved: tuple[str, ...] = ()   # fields still holding {{args.x}} or unreadable values

    @property
    def failures_to_fail(self) -> int | None:
        """The failed measurement that fails the metric (``failureLimit + 1``); None = never
        (a negative limit)."""
        return None if self.failure_limit < 0 else self.failure_limit + 1

    @property
    def errors_to_error(self) -> int:
        """The consecutive errored measurement that errors the metric."""
        return self.consecutive_error_limit + 1

    def bound(self, direction: str | None = None) -> Bound | None:
        """The pass bound in the query's own units (see :func:`pass_bound`)."""
        return pass_bound(self.success_condition, self.failure_condition, direction)

    @property
    def guards(self) -> tuple[str, ...]:
        return condition_guards(self.success_condition)


def ratio_bound(metric: Metric) -> Bound | None:
    """An upper bound on a ratio query in ratio units (a ``* 100`` percentage is divided out)."""
    found = metric.bound("upper")
    return found.scaled(1.0 / query_scale(metric.query)) if found else None


def latency_bound_ms(metric: Metric) -> Bound | None:
    """An upper bound on a latency query in milliseconds (seconds metrics ×1000, query scale
    divided out). None when the unit cannot be told from the query."""
    found = metric.bound("upper")
    if found is None:
        return None
    base = found.scaled(1.0 / query_scale(metric.query))
    unit = query_time_unit(metric.query)
    if unit == "s":
        return base.scaled(1000.0)
    if unit == "ms":
        return base
    return None


@dataclass(frozen=True)
class TemplateFacts:
    """An AnalysisTemplate (or ClusterAnalysisTemplate) as the Rollout would run it."""

    name: str
    namespace: str | None
    cluster_scope: bool
    metrics: tuple[Metric, ...]
    args: dict[str, str | None] = field(default_factory=dict)

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)


def resolve_args(text: str, args: Mapping[str, str | None]) -> tuple[str, tuple[str, ...]]:
    """Substitute ``{{args.NAME}}``; returns the text and the names left unresolved."""
    missing: list[str] = []

    def sub(match: re.Match[str]) -> str:
        value = args.get(match.group(1))
        if value is None:
            missing.append(match.group(1))
            return match.group(0)
        return value

    return _ARG.sub(sub, text), tuple(missing)


def _int_field(metric: Obj, key: str, default: int, args: Mapping[str, str | None],
               unresolved: list[str]) -> int:
    raw = metric.get(key)
    if raw is None:
        return default
    if isinstance(raw, bool):
        unresolved.append(key)
        return default
    if isinstance(raw, int):
        return raw
    text, missing = resolve_args(str(raw), args)
    try:
        return int(text.strip())
    except ValueError:
        unresolved.append(f"{key} ({raw})" if not missing else f"{key} ({', '.join(missing)})")
        return default


def template_facts(obj: Obj, args: Mapping[str, str | None] | None = None,
                   dry_run: tuple[str, ...] = ()) -> TemplateFacts:
    """Facts of an AnalysisTemplate object; ``args`` are the values the Rollout passes (they win
    over the template's defaults), ``dry_run`` the metric names the Rollout runs in dry-run."""
    spec = obj.get("spec") or {}
    defaults: dict[str, str | None] = {}
    for arg in spec.get("args") or []:
        if isinstance(arg, dict) and arg.get("name"):
            value = arg.get("value")
            defaults[str(arg["name"])] = None if value is None else str(value)
    merged = {**defaults, **{k: v for k, v in (args or {}).items() if v is not None}}
    template_dry = {str(d.get("metricName")) for d in spec.get("dryRun") or [] if isinstance(d, dict)}
    metrics = []
    for raw in spec.get("metrics") or []:
        if not isinstance(raw, dict):
            continue
        unresolved: list[str] = []
        name = str(raw.get("name", ""))
        provider_obj = raw.get("provider") or {}
        provider = next(iter(provider_obj), "") if isinstance(provider_obj, dict) else ""
        details = provider_obj.get(provider) if isinstance(provider_obj, dict) else None
        details = details if isinstance(details, dict) else {}
        query = details.get("query")
        address = details.get("address")
        if isinstance(query, str):
            query, missing = resolve_args(query, merged)
            unresolved += [f"query ({m})" for m in missing]
        interval_text = raw.get("interval")
        interval_s = None
        if interval_text is not None:
            text, missing = resolve_args(str(interval_text), merged)
            interval_text = text
            try:
                interval_s = parse_duration(text)
            except ValueError:
                unresolved.append(f"interval ({raw.get('interval')})")
        count = None
        if raw.get("count") is not None:
            count = _int_field(raw, "count", 0, merged, unresolved)
        success = raw.get("successCondition")
        failure = raw.get("failureCondition")
        if isinstance(success, str):
            success, _ = resolve_args(success, merged)
        if isinstance(failure, str):
            failure, _ = resolve_args(failure, merged)
        metrics.append(Metric(
            name=name, provider=str(provider), interval_s=interval_s,
            interval_text=None if interval_text is None else str(interval_text), count=count,
            failure_limit=_int_field(raw, "failureLimit", DEFAULT_FAILURE_LIMIT, merged, unresolved),
            consecutive_error_limit=_int_field(raw, "consecutiveErrorLimit",
                                               DEFAULT_CONSECUTIVE_ERROR_LIMIT, merged, unresolved),
            inconclusive_limit=_int_field(raw, "inconclusiveLimit", 0, merged, unresolved),
            success_condition=success if isinstance(success, str) else None,
            failure_condition=failure if isinstance(failure, str) else None,
            query=query if isinstance(query, str) else None,
            address=str(address) if address is not None else None,
            dry_run=_dry(name, template_dry) or _dry(name, set(dry_run)),
            unresolved=tuple(unresolved),
        ))
    meta = obj.get("metadata") or {}
    return TemplateFacts(
        name=str(meta.get("name", "")), namespace=meta.get("namespace"),
        cluster_scope=obj.get("kind") == "ClusterAnalysisTemplate", metrics=tuple(metrics),
        args=defaults,
    )


def _dry(name: str, patterns: set[str]) -> bool:
    """Argo's dryRun metricName accepts ``*`` and regular expressions."""
    for pattern in patterns:
        if pattern in ("*", name):
            return True
        try:
            if re.fullmatch(pattern, name):
                return True
        except re.error:
            continue
    return False


# -- Rollouts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemplateRef:
    name: str
    cluster_scope: bool = False


@dataclass(frozen=True)
class Analysis:
    """Analysis wired into a Rollout: ``background`` (``strategy.canary.analysis``) or an
    ``analysis`` step (``where`` = ``steps[3]``)."""

    where: str
    templates: tuple[TemplateRef, ...]
    args: dict[str, str | None]
    dry_run: tuple[str, ...] = ()
    starting_step: int | None = None   # background only (Argo default 0)
    step_index: int | None = None      # step analysis only

    @property
    def background(self) -> bool:
        return self.where == "background"


@dataclass(frozen=True)
class Step:
    """One entry of ``strategy.canary.steps``."""

    index: int
    kind: str                 # setWeight | pause | analysis | experiment | setCanaryScale ...
    weight: int | None = None
    pause_s: float | None = None
    pause_text: str | None = None  # as written; None for an indefinite pause
    analysis: Analysis | None = None
    problem: str | None = None     # an unreadable value

    @property
    def label(self) -> str:
        if self.kind == "setWeight":
            return f"steps[{self.index}] (setWeight: {self.weight})"
        if self.kind == "pause":
            shown = self.pause_text if self.pause_text is not None else "{} (indefinite)"
            return f"steps[{self.index}] (pause: {shown})"
        return f"steps[{self.index}] ({self.kind})"


@dataclass(frozen=True)
class Phase:
    """The time a canary spends at one weight: its ``setWeight`` step and the steps after it up
    to the next ``setWeight``. ``implicit`` is the promotion to 100 % after the last step."""

    number: int
    weight: int
    weight_step: int | None
    steps: tuple[Step, ...]
    implicit: bool = False
    analyses: tuple[Analysis, ...] = ()

    @property
    def pauses(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.kind == "pause")

    @property
    def indefinite(self) -> bool:
        return any(s.pause_s is None for s in self.pauses)

    @property
    def pause_s(self) -> float | None:
        """Total pause at this weight (None when a pause is indefinite or there is none)."""
        if not self.pauses or self.indefinite:
            return None
        return sum(s.pause_s or 0.0 for s in self.pauses)

    @property
    def label(self) -> str:
        if self.implicit:
            return "after the last step (implicit setWeight: 100)"
        return f"steps[{self.weight_step}] (setWeight: {self.weight})"


@dataclass(frozen=True)
class Container:
    name: str
    image: str


@dataclass(frozen=True)
class RolloutFacts:
    name: str
    namespace: str | None
    strategy: str                        # canary | blueGreen | "" (none)
    steps: tuple[Step, ...]
    background: Analysis | None
    phases: tuple[Phase, ...]
    containers: tuple[Container, ...]
    workload_ref: tuple[str, str] | None  # (kind, name) of spec.workloadRef
    selector: dict[str, str]
    phase: str | None                    # status.phase (Healthy, Progressing, Paused, Degraded)
    message: str | None
    current_pod_hash: str | None
    stable_rs: str | None
    aborted: bool

    @property
    def analyses(self) -> tuple[Analysis, ...]:
        step_analyses = tuple(s.analysis for s in self.steps if s.analysis is not None)
        return ((self.background,) if self.background else ()) + step_analyses

    @property
    def template_refs(self) -> tuple[TemplateRef, ...]:
        seen: dict[TemplateRef, None] = {}
        for analysis in self.analyses:
            for ref in analysis.templates:
                seen.setdefault(ref, None)
        return tuple(seen)


def _analysis(raw: Any, where: str, step_index: int | None = None) -> Analysis:
    raw = raw if isinstance(raw, dict) else {}
    templates = []
    for t in raw.get("templates") or []:
        if isinstance(t, dict) and t.get("templateName"):
            templates.append(TemplateRef(str(t["templateName"]), bool(t.get("clusterScope"))))
    args: dict[str, str | None] = {}
    for arg in raw.get("args") or []:
        if isinstance(arg, dict) and arg.get("name"):
            value = arg.get("value")
            args[str(arg["name"])] = None if value is None else str(value)
    dry_run = tuple(str(d.get("metricName")) for d in raw.get("dryRun") or [] if isinstance(d, dict))
    starting = raw.get("startingStep")
    try:
        starting_step = int(starting) if where == "background" and starting is not None else None
    except (TypeError, ValueError):
        starting_step = None
    if where == "background" and starting_step is None:
        starting_step = 0  # Argo's default: from the first step
    return Analysis(where, tuple(templates), args, dry_run, starting_step, step_index)


def parse_steps(raw_steps: Any) -> tuple[Step, ...]:
    steps = []
    for index, raw in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        if not isinstance(raw, dict) or not raw:
            steps.append(Step(index, "unknown", problem=f"steps[{index}] is not a step"))
            continue
        kind = next(iter(raw))
        value = raw[kind]
        if kind == "setWeight":
            try:
                steps.append(Step(index, kind, weight=int(value)))
            except (TypeError, ValueError):
                steps.append(Step(index, kind, problem=f"setWeight {value!r} is not a number"))
        elif kind == "pause":
            duration = (value or {}).get("duration") if isinstance(value, dict) else None
            if duration is None:
                steps.append(Step(index, kind))
                continue
            try:
                steps.append(Step(index, kind, pause_s=parse_duration(duration),
                                  pause_text=str(duration)))
            except ValueError as exc:
                steps.append(Step(index, kind, pause_text=str(duration), problem=str(exc)))
        elif kind == "analysis":
            steps.append(Step(index, kind, analysis=_analysis(value, f"steps[{index}]", index)))
        else:
            steps.append(Step(index, kind))
    return tuple(steps)


def plan_phases(steps: tuple[Step, ...], background: Analysis | None = None) -> tuple[Phase, ...]:
    """The canary's phases: one per ``setWeight``, each with the steps up to the next one; an
    implicit final 100 % phase when the last weight is below 100 (Argo promotes fully after the
    last step). Analyses running in a phase: its analysis steps, and the background analysis
    from ``startingStep`` on. Steps before the first ``setWeight`` belong to the first phase."""
    starts = [s.index for s in steps if s.kind == "setWeight" and s.weight is not None]
    phases: list[Phase] = []
    for number, start in enumerate(starts, 1):
        end = starts[number] if number < len(starts) else len(steps)
        begin = 0 if number == 1 else start
        span = tuple(s for s in steps if begin <= s.index < end and s.index != start)
        analyses = [s.analysis for s in span if s.analysis is not None]
        if background is not None and (background.starting_step or 0) < end:
            analyses.insert(0, background)
        weight = next(s.weight for s in steps if s.index == start)
        phases.append(Phase(number, int(weight or 0), start, span, analyses=tuple(analyses)))
    last = phases[-1].weight if phases else 0
    if last < 100:
        analyses_final: tuple[Analysis, ...] = ()
        phases.append(Phase(len(phases) + 1, 100, None, (), implicit=True,
                            analyses=analyses_final))
    return tuple(phases)


def rollout_facts(obj: Obj) -> RolloutFacts:
    """Facts of a Rollout object (``argoproj.io/v1alpha1``)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    strategy_obj = spec.get("strategy") or {}
    strategy = next((k for k in ("canary", "blueGreen") if k in strategy_obj), "")
    canary = strategy_obj.get("canary") or {} if strategy == "canary" else {}
    steps = parse_steps(canary.get("steps"))
    background = _analysis(canary["analysis"], "background") if canary.get("analysis") else None
    containers = tuple(
        Container(str(c.get("name", "")), str(c.get("image", "")))
        for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        if isinstance(c, dict))
    ref = spec.get("workloadRef")
    workload_ref = (str(ref.get("kind", "")), str(ref.get("name", ""))) if isinstance(ref, dict) else None
    selector = dict((spec.get("selector") or {}).get("matchLabels") or {})
    return RolloutFacts(
        name=str(meta.get("name", "")), namespace=meta.get("namespace"), strategy=strategy,
        steps=steps, background=background,
        phases=plan_phases(steps, background) if strategy == "canary" else (),
        containers=containers, workload_ref=workload_ref,
        selector={str(k): str(v) for k, v in selector.items()},
        phase=status.get("phase"), message=status.get("message"),
        current_pod_hash=status.get("currentPodHash"), stable_rs=status.get("stableRS"),
        aborted=bool(status.get("abort")),
    )


@dataclass(frozen=True)
class AnalysedTemplate:
    """One template as one analysis of the Rollout runs it (its args and dryRun applied);
    ``facts`` is None when the referenced template does not exist."""

    analysis: Analysis
    ref: TemplateRef
    facts: TemplateFacts | None

    @property
    def live_metrics(self) -> tuple[Metric, ...]:
        """The metrics that can fail the run (not in dryRun)."""
        return tuple(m for m in self.facts.metrics if not m.dry_run) if self.facts else ()


def analysed_templates(analyses: Iterable[Analysis],
                       templates: Mapping[TemplateRef, Obj | None]) -> tuple[AnalysedTemplate, ...]:
    """Every (analysis, template) pair of ``analyses`` (a :class:`Phase`'s, or
    :attr:`RolloutFacts.analyses`), the template objects looked up in ``templates`` (as read from
    the cluster: AnalysisTemplate in the Rollout's namespace, ClusterAnalysisTemplate if
    ``clusterScope``)."""
    found = []
    for analysis in analyses:
        for ref in analysis.templates:
            obj = templates.get(ref)
            facts = template_facts(obj, analysis.args, analysis.dry_run) if obj is not None else None
            found.append(AnalysedTemplate(analysis, ref, facts))
    return tuple(found)
