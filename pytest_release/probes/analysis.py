"""Argo Rollouts analysis, evaluated the way the controller does it (pure, no cluster needed).

* :func:`metrics_from_templates` reads ``AnalysisTemplate`` objects (plain API dicts from any
  cluster source) into :class:`AnalysisMetric` facts: query, interval, count, conditions,
  ``failureLimit`` (counts failures in TOTAL, default 0) and ``consecutiveErrorLimit`` (default 4).
  This is a minimal reader of its own: the GitOps branch's ``probes/rollouts.py`` was not
  available when it was written; fold the two together at merge.
* :func:`evaluate` judges one measurement by the template's own ``successCondition`` /
  ``failureCondition``, written in Argo's expression language (expr-lang): ``result[0] < 0.005``,
  ``len(result) > 0 && result[0] >= 1``, ``isNaN(result[0])``... A safe subset is supported;
  anything else is a :class:`ConditionError` (a configuration problem, never a pass).

Argo's Prometheus provider hands ``result`` to the condition as the list of a vector's sample
values (a scalar as one value). An empty result makes ``result[0]`` an error: here a failed
sample (fail closed).
"""
from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .prometheus import prom_duration_seconds, threshold_comparisons


class ConditionError(ValueError):
    """A success/failure condition this evaluator cannot read."""


@dataclass(frozen=True)
class AnalysisMetric:
    """One metric of an AnalysisTemplate (Prometheus provider)."""

    template: str
    name: str
    query: str
    interval_s: float | None
    count: int | None
    success_condition: str | None
    failure_condition: str | None
    failure_limit: int
    consecutive_error_limit: int
    address: str | None = None
    source: str = "settings"
    #: the template's own ``spec.args`` defaults (a run's args override them)
    args: Mapping[str, str] | None = None

    def query_for(self, args: Mapping[str, str]) -> str:
        """The query with ``{{args.NAME}}`` filled from ``args`` over the template's defaults.

        An argument with no value anywhere raises KeyError (the run cannot build the query)."""
        return substitute_args(self.query, {**(self.args or {}), **args})

    @property
    def thresholds(self) -> list[tuple[str, float]]:
        """(op, number) the success condition compares ``result`` with."""
        return [(c.op, c.threshold) for c in threshold_comparisons(
            _to_python(self.success_condition or ""))] if self.success_condition else []


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        return int(str(value))
    except ValueError:
        return default


def metrics_from_templates(templates: Iterable[Mapping[str, Any]],
                           source: str = "cluster") -> list[AnalysisMetric]:
    """Every Prometheus metric of the given AnalysisTemplate / ClusterAnalysisTemplate objects."""
    found: list[AnalysisMetric] = []
    for template in templates:
        name = str((template.get("metadata") or {}).get("name", "?"))
        spec = template.get("spec") or {}
        args = {str(a.get("name")): str(a.get("value")) for a in spec.get("args") or []
                if isinstance(a, Mapping) and a.get("value") is not None}
        for metric in spec.get("metrics") or []:
            prom = ((metric.get("provider") or {}).get("prometheus")) or {}
            if "query" not in prom:
                continue
            interval = metric.get("interval")
            found.append(AnalysisMetric(
                template=name,
                name=str(metric.get("name", name)),
                query=str(prom["query"]).strip(),
                interval_s=prom_duration_seconds(str(interval)) if interval else None,
                count=_int(metric.get("count"), 0) or None,
                success_condition=metric.get("successCondition"),
                failure_condition=metric.get("failureCondition"),
                failure_limit=_int(metric.get("failureLimit"), 0),
                consecutive_error_limit=_int(metric.get("consecutiveErrorLimit"), 4),
                address=prom.get("address"),
                source=source,
                args=args,
            ))
    return found


_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def substitute_args(query: str, args: Mapping[str, Any], *, keep_unknown: bool = False) -> str:
    """Replace ``{{args.NAME}}``; an argument without a value raises KeyError unless kept."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value = args.get(name)
        if value is None:
            if keep_unknown:
                return match.group(0)
            raise KeyError(name)
        return str(value)

    return _ARG.sub(sub, query)


def unresolved_args(query: str) -> list[str]:
    return _ARG.findall(query)


# -- conditions -------------------------------------------------------------------------------------
def _to_python(condition: str) -> str:
    text = condition.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    return text


def _len(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _is_inf(value: Any) -> bool:
    return isinstance(value, float) and math.isinf(value)


_FUNCS: dict[str, Callable[..., Any]] = {"len": _len, "isNaN": _is_nan, "isInf": _is_inf,
                                         "float": float, "int": int, "abs": abs}
_CMP: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
}


class _Missing(Exception):
    """``result[N]`` of a result with fewer values (Argo: an evaluation error)."""


def _eval(node: ast.AST, result: Any) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body, result)
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, result) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, result)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, result)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, result)
        for op, comparator in zip(node.ops, node.comparators):
            right = _eval(comparator, result)
            if type(op) not in _CMP:
                raise ConditionError(f"operator {type(op).__name__} is not supported")
            if isinstance(left, list) or isinstance(right, list):
                raise ConditionError("compare result[N], not the whole result list")
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "result":
            return result
        if node.id in ("true", "false"):
            return node.id == "true"
        raise ConditionError(f"unknown name {node.id!r}")
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
            and node.value.id == "result":
        index = _eval(node.slice, result)
        values = result if isinstance(result, list) else [result]
        if not isinstance(index, int) or not -len(values) <= index < len(values):
            raise _Missing(f"result[{index}] of {len(values)} values")
        return values[index]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _FUNCS and not node.keywords:
        return _FUNCS[node.func.id](*(_eval(a, result) for a in node.args))
    raise ConditionError(f"unsupported expression {ast.dump(node)[:80]}")


def parse_condition(condition: str) -> ast.Expression:
    """Parse once (raises ConditionError) so a bad template is reported before any sample."""
    try:
        tree = ast.parse(_to_python(condition).strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"cannot parse condition {condition!r}: {exc.msg}") from None
    try:
        _eval(tree, [0.0])
    except _Missing:
        pass
    except (TypeError, ZeroDivisionError):
        pass
    return tree


@dataclass(frozen=True)
class Judgement:
    """One analysis measurement: ``Successful`` | ``Failed`` | ``Inconclusive`` | ``Error``."""

    phase: str
    reason: str

    @property
    def failed(self) -> bool:
        """Fail closed: anything but Successful counts against the failure limit here."""
        return self.phase != "Successful"


def evaluate(values: Sequence[float], success: str | None, failure: str | None) -> Judgement:
    """Judge one measurement as Argo does: failure condition first, then success condition;
    neither given → Successful; both false → Inconclusive; no data → Error (a failed sample)."""
    if not values:
        return Judgement("Error", "no data (empty query result)")
    result: Any = list(values)
    try:
        if failure and _eval(parse_condition(failure), result):
            return Judgement("Failed", f"failureCondition {failure!r} is true")
        if success:
            if _eval(parse_condition(success), result):
                return Judgement("Successful", f"successCondition {success!r} is true")
            if failure:
                return Judgement("Inconclusive", "neither condition is true")
            return Judgement("Failed", f"successCondition {success!r} is false")
    except _Missing as exc:
        return Judgement("Error", f"no data ({exc})")
    except TypeError as exc:
        return Judgement("Error", f"cannot evaluate: {exc}")
    return Judgement("Successful", "no condition given")


def failures_abort_after(metric: AnalysisMetric) -> int:
    """How many failed measurements abort the analysis (Argo: more than ``failureLimit``)."""
    return metric.failure_limit + 1
