"""The evidence API: how a check records what it measured.

Evidence rides on ``item.user_properties`` (serialised with every report, so it survives
pytest-xdist and appears as JUnit XML ``<property>`` elements). Each entry's value is a JSON
string so that any process boundary and any JUnit consumer sees the same thing.
"""
from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .verdict import SOURCE_KINDS, Attachment, Measurement

if TYPE_CHECKING:
    from .settings import Settings

MEASUREMENT = "release.measurement"
REPRODUCE = "release.reproduce"
ATTACHMENT = "release.attachment"
CHECK = "release.check"
SOURCE = "release.source"
NOT_MEASURED_PREFIX = "not measured: "

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda value, allowed: value in allowed,
    "not in": lambda value, forbidden: value not in forbidden,
}


def not_measured(reason: str) -> NoReturn:
    """Stop the current check and record it as *not measured* with ``reason``."""
    __tracebackhide__ = True
    pytest.skip(NOT_MEASURED_PREFIX + reason)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _fmt(value: Any, unit: str | None) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


class Evidence:
    """Records measured values for one check; ``check`` compares and fails with the numbers."""

    def __init__(self, item: pytest.Item, settings: Settings, title: str) -> None:
        self._item = item
        self._settings = settings
        self.title = title
        self.soft_failures: list[str] = []

    def _measure(self, measurement: Measurement) -> None:
        self._add(MEASUREMENT, measurement.to_dict())

    def _add(self, key: str, payload: Any) -> None:
        text = json.dumps(self._settings.redact_data(_jsonable(payload)), sort_keys=True)
        self._item.user_properties.append((key, text))

    def reproduce(self, command: str) -> None:
        """The shell command a human runs to see the same fact (latest call wins)."""
        self._add(REPRODUCE, command)

    def set_source(self, kind: str, detail: str) -> None:
        """Where this check's facts came from: ``live`` | ``snapshot`` (cluster), ``run`` |
        ``report`` (tools), with a human-readable detail (``snapshot /path``, the report file).

        It becomes the check's ``source`` in the sign-off and is shown in every view.
        """
        if kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {kind!r}; use one of {', '.join(SOURCE_KINDS)}")
        self._add(SOURCE, {"kind": kind, "detail": detail})

    def record(self, name: str, value: Any, unit: str | None = None, *,
               subject: str | None = None) -> None:
        """Context that is shown but not compared (for example the RDB ``save`` setting)."""
        self._measure(Measurement(name, _jsonable(value), unit, subject=subject))

    def attach(self, name: str, media_type: str, content: str) -> None:
        """Attach a self-contained picture (``image/svg+xml``) or text to the check."""
        self._add(ATTACHMENT, Attachment(name, media_type, content).to_dict())

    def check(
        self,
        name: str,
        value: Any,
        op: str,
        threshold: Any,
        *,
        unit: str | None = None,
        reproduce: str | None = None,
        soft: bool = False,
        subject: str | None = None,
    ) -> bool:
        """Record ``value op threshold``; fail the check now (or at its end if ``soft``) if false.

        The failure message names the checklist item, the expected and the measured value:
        ``Maxmemory policy: noeviction: expected maxmemory-policy == noeviction, measured allkeys-lru``.
        """
        __tracebackhide__ = True
        if op not in _OPS:
            raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(_OPS)}")
        try:
            ok = bool(_OPS[op](value, threshold))
        except TypeError:
            ok = False
        if reproduce is not None:
            self.reproduce(reproduce)
        self._measure(Measurement(name, _jsonable(value), unit, op, _jsonable(threshold), ok,
                                  subject))
        if not ok:
            message = self._settings.redact(
                f"{self.title}: expected {name} {op} {_fmt(threshold, unit)}, "
                f"measured {_fmt(value, unit)}"
            )
            if soft:
                self.soft_failures.append(message)
            else:
                raise AssertionError(message)
        return ok

    # -- goss-style helpers: soft by default (every violation of a check is reported at once) --
    def require(self, name: str, value: Any, op: str, threshold: Any, **kwargs: Any) -> bool:
        """A precondition: :meth:`check` that stops the check at once when it does not hold."""
        __tracebackhide__ = True
        kwargs["soft"] = False
        return self.check(name, value, op, threshold, **kwargs)

    def present(self, name: str, value: Any, *, soft: bool = True, **kwargs: Any) -> bool:
        """``value`` exists (not None, not empty): measured as ``present`` or ``missing``."""
        __tracebackhide__ = True
        found = "missing" if value is None or value == "" or value == () or value == [] \
            else "present"
        return self.check(name, found, "==", "present", soft=soft, **kwargs)

    def empty(self, name: str, values: Any, *, soft: bool = True, **kwargs: Any) -> bool:
        """``values`` (a collection of violations: keys, alerts, findings) is empty."""
        __tracebackhide__ = True
        return self.check(name, sorted(values) if isinstance(values, (set, frozenset))
                          else list(values), "==", [], soft=soft, **kwargs)

    def no_error(self, name: str, error: str | None, *, soft: bool = True,
                 **kwargs: Any) -> bool:
        """``error`` (a probe's error text, None or "" when fine) is absent: measured as ``none``."""
        __tracebackhide__ = True
        return self.check(name, error or "none", "==", "none", soft=soft, **kwargs)

    def not_measured(self, reason: str) -> NoReturn:
        """Stop here: the item could not be measured (reported as such, never as a pass)."""
        __tracebackhide__ = True
        not_measured(self._settings.redact(reason))
