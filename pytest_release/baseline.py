"""Comparison with a pinned earlier sign-off (``--release-baseline earlier.json``, issue 12).

For every measurement present in both runs: the delta. A regression beyond a configured
tolerance (``[baseline] tolerances``) is flagged on its item, as a failure or a warning
(``[baseline] on_regression``). Which way is *worse* follows the measurement's own comparison:
``<``/``<=`` (a limit) — higher is worse; ``>``/``>=`` (a floor) — lower is worse; ``== N`` —
moving away from N is worse; a measurement without a comparison gets a delta, never a flag.
Relative and factor rules do not flag a baseline of 0 (no ratio exists): use ``from 0`` for
counts that must stay at zero. Pure: no pytest import.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .verdict import CheckRecord

COMPATIBLE_SCHEMAS = (1, 2)
FAILURE, WARNING = "failure", "warning"
_RULE = re.compile(r"^\s*(?P<scope>[a-z0-9_]+\.[a-z0-9_]+)(?:/(?P<glob>.+?))?\s+"
                   r"(?P<rule>[+]\d+(?:\.\d+)?%|x\d+(?:\.\d+)?|[+]\d+(?:\.\d+)?|from 0)\s*$")


class BaselineError(Exception):
    """The baseline cannot be used (unreadable, not a sign-off, incompatible schema)."""


@dataclass(frozen=True)
class Tolerance:
    """``load.p95 +20%``: how much worse a measurement of an item may get before it is flagged."""

    item: str
    glob: str | None
    kind: str  # relative | factor | absolute | from_zero
    amount: float
    text: str

    def applies(self, item: str, name: str) -> bool:
        return self.item == item and (self.glob is None or fnmatchcase(name, self.glob))

    def exceeded(self, before: float, after: float, higher_worse: bool) -> bool:
        """Whether ``before → after`` got worse by more than this rule allows."""
        worse = after - before if higher_worse else before - after
        if worse <= 0:
            return False
        if self.kind == "from_zero":
            return higher_worse and before == 0
        if self.kind == "absolute":
            return worse > self.amount
        if before == 0:
            return False
        if self.kind == "relative":
            return worse / abs(before) * 100 > self.amount
        # factor: worse by more than N times
        return after > before * self.amount if higher_worse else after < before / self.amount


def parse_tolerances(texts: Sequence[str]) -> tuple[list[Tolerance], list[str]]:
    """The rules and, separately, one problem per malformed entry."""
    rules, problems = [], []
    for text in texts:
        match = _RULE.match(text)
        if not match:
            problems.append(f"{text!r} is not 'GATE.ITEM[/MEASUREMENT] RULE' with RULE +N%, xN, "
                            "+N or 'from 0' (e.g. 'load.p95 +20%')")
            continue
        rule = match.group("rule")
        if rule == "from 0":
            kind, amount = "from_zero", 0.0
        elif rule.endswith("%"):
            kind, amount = "relative", float(rule[1:-1])
        elif rule.startswith("x"):
            kind, amount = "factor", float(rule[1:])
            if amount <= 1:
                problems.append(f"{text!r}: a factor must be above 1 (x2 = twice as bad)")
                continue
        else:
            kind, amount = "absolute", float(rule[1:])
        rules.append(Tolerance(match.group("scope"), match.group("glob"), kind, amount, text))
    return rules, problems


@dataclass(frozen=True)
class BaselineCheck:
    key: str
    item: str | None
    outcome: str
    measurements: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Baseline:
    path: str
    identity: dict[str, Any]
    checks: dict[str, BaselineCheck]


def check_key(nodeid: str) -> str:
    """``tests_release/test_gate_redis.py::test_x`` → ``test_gate_redis.py::test_x``: the same
    check run from another rootdir or an installed wheel compares with itself."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def load_baseline(path: Path) -> Baseline:
    """Read an earlier sign-off; BaselineError says what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: --release-baseline file not found (check the path)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: --release-baseline cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{path}: --release-baseline is not JSON ({exc}): pass a sign-off "
                            "written by --release-signoff") from None
    if not isinstance(data, dict) or "gates" not in data or "schema" not in data:
        raise BaselineError(f"{path}: --release-baseline is not a pytest-release sign-off (no "
                            "schema/gates): pass a file written by --release-signoff")
    schema = data.get("schema")
    if schema not in COMPATIBLE_SCHEMAS:
        raise BaselineError(f"{path}: --release-baseline has sign-off schema {schema!r}; this "
                            f"version compares schemas {', '.join(map(str, COMPATIBLE_SCHEMAS))}")
    release: dict[str, Any] = data["release"] if isinstance(data.get("release"), dict) else {}
    identity = {"release": release.get("version"), "commit": release.get("commit"),
                "generated_at": data.get("generated_at"), "schema": schema,
                "verdict": data.get("verdict")}
    checks: dict[str, BaselineCheck] = {}
    try:
        for gate in data["gates"]:
            for check in gate["checks"]:
                key = check_key(str(check["nodeid"]))
                item = f"{gate['id']}.{check['item_id']}" if check.get("item_id") else None
                measurements = {str(m["name"]): m for m in check.get("measurements", [])}
                checks[key] = BaselineCheck(key, item, str(check.get("outcome")), measurements)
    except (KeyError, TypeError) as exc:
        raise BaselineError(f"{path}: --release-baseline is malformed (gates[].checks[] "
                            f"lack {exc}): pass a file written by --release-signoff") from None
    return Baseline(str(path), identity, checks)


@dataclass(frozen=True)
class Delta:
    item: str | None
    check: str
    name: str
    before: Any
    after: Any
    unit: str | None
    delta: float | None
    rule: str | None = None  # the tolerance exceeded (a regression), if any
    severity: str | None = None

    @property
    def regression(self) -> bool:
        return self.rule is not None

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        change = f"{self.before}{unit} → {self.after}{unit}"
        return f"{self.name}: {change} (beyond {self.rule})" if self.rule else \
            f"{self.name}: {change}"

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "check": self.check, "name": self.name,
                "before": self.before, "after": self.after, "unit": self.unit,
                "delta": self.delta, "regression": self.regression, "rule": self.rule,
                "severity": self.severity}


@dataclass(frozen=True)
class Comparison:
    path: str
    identity: dict[str, Any]
    newly_failing: tuple[str, ...]
    deltas: tuple[Delta, ...]
    on_regression: str

    @property
    def regressions(self) -> tuple[Delta, ...]:
        return tuple(d for d in self.deltas if d.regression)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "identity": dict(self.identity),
                "newly_failing": list(self.newly_failing),
                "regressions": [d.to_dict() for d in self.regressions],
                "deltas": [d.to_dict() for d in self.deltas],
                "on_regression": self.on_regression}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _badness(op: str | None, threshold: Any, before: float,
             after: float) -> tuple[float, float, bool] | None:
    """(before, after, higher_is_worse) on the scale the measurement's comparison implies."""
    if op in ("<", "<="):
        return before, after, True
    if op in (">", ">="):
        return before, after, False
    target = _number(threshold)
    if op == "==" and target is not None:
        return abs(before - target), abs(after - target), True
    return None


def compare(baseline: Baseline, records: Iterable[CheckRecord], tolerances: Sequence[Tolerance],
            on_regression: str = FAILURE) -> Comparison:
    """Deltas of every measurement in both runs; regressions; checks passing before, failing now."""
    newly_failing: list[str] = []
    deltas: list[Delta] = []
    for record in records:
        key = check_key(record.nodeid)
        before_check = baseline.checks.get(key)
        if before_check is None:
            continue
        item = f"{record.gate}.{record.item}" if record.item else None
        if before_check.outcome == "passed" and record.effective_outcome in ("failed", "error"):
            newly_failing.append(record.nodeid)
        for m in record.measurements:
            old = before_check.measurements.get(m.name)
            if old is None:
                continue
            before, after = _number(old.get("value")), _number(m.value)
            if before is None or after is None:
                continue
            rule = None
            scale = _badness(m.op, m.threshold, before, after)
            if scale is not None and item is not None:
                for tol in tolerances:
                    if tol.applies(item, m.name) and tol.exceeded(*scale):
                        rule = tol.text
                        break
            deltas.append(Delta(item, record.nodeid, m.name, old.get("value"), m.value, m.unit,
                                round(after - before, 6), rule,
                                on_regression if rule else None))
    return Comparison(baseline.path, baseline.identity, tuple(newly_failing), tuple(deltas),
                      on_regression)
