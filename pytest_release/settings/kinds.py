"""Value kinds: one converter per kind, in a table (not a chain of branches).

A converter takes the raw TOML / ``--release-set`` value and returns the typed value, or raises
:class:`KindError` with what is wrong and how to fix it (the loader prefixes ``file:key``).
The small text formats some settings use (``NAME:TYPE:LABELS`` metric families, ``NAME OP
NUMBER`` alert rules, ``KEY=VALUE`` lists) are kinds too, so a malformed entry is a
configuration error at load, never a failing check.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ..redact import url_secrets

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class KindError(ValueError):
    """A value does not fit its kind (the message says why and how to fix it)."""


def duration_seconds(text: str) -> float:
    """``"30s"`` → 30.0, ``"5m"`` → 300.0, ``"250ms"`` → 0.25."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"malformed duration {text!r}: use a number and ms, s, m or h, e.g. '30s'")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


@dataclass
class Context:
    """What a converter may need: the directory relative paths start from; found secrets."""

    base: Path
    secrets: set[str] = field(default_factory=set)


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


# -- the small text formats ------------------------------------------------------------------
class FamilySpec(NamedTuple):
    """A required metric family: name, type and exact label names (None: not checked)."""

    name: str
    type: str
    labels: tuple[str, ...] | None


class AlertSpec(NamedTuple):
    """A required alert rule, optionally with the number its expression must compare with."""

    name: str
    op: str | None
    threshold: float | None


METRIC_TYPES = ("counter", "gauge", "histogram", "summary", "info", "stateset", "gaugehistogram",
                "unknown")
_ALERT_SPEC = re.compile(
    r"^\s*(?P<name>[A-Za-z_:][\w:]*)\s*(?:(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<num>[-+]?[\d.]+(?:[eE][-+]?\d+)?))?\s*$")


def parse_family(entry: str) -> FamilySpec:
    """``aiops_feedback:counter:source,type`` → FamilySpec (a counter's ``_total`` dropped)."""
    parts = entry.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip() or parts[1].strip() not in METRIC_TYPES:
        raise KindError(
            f"entry {entry!r}: expected NAME:TYPE[:LABEL,LABEL] with TYPE one of "
            f"{', '.join(METRIC_TYPES)} (on the command line pass a TOML array: "
            "--release-set 'observability.metric_families=[\"aiops_feedback:counter:source,"
            "type,severity\"]')")
    name, kind = parts[0].strip(), parts[1].strip()
    if kind == "counter" and name.endswith("_total"):
        name = name[: -len("_total")]
    labels = None
    if len(parts) == 3:
        labels = tuple(sorted(label.strip() for label in parts[2].split(",") if label.strip()))
    return FamilySpec(name, kind, labels)


def parse_alert(entry: str) -> AlertSpec:
    """``FeedbackErrorRateHigh > 0.005`` → AlertSpec; a bare name checks presence only."""
    match = _ALERT_SPEC.match(entry)
    if not match:
        raise KindError(f"entry {entry!r}: expected NAME or NAME OP NUMBER, e.g. "
                        "'FeedbackErrorRateHigh > 0.005'")
    num = match.group("num")
    return AlertSpec(match.group("name"), match.group("op"),
                     float(num) if num is not None else None)


def parse_key_value(entry: str) -> tuple[str, str]:
    """``OTEL_TRACES_SAMPLER=traceidratio`` → (key, value), both stripped."""
    key, sep, value = entry.partition("=")
    if not sep or not key.strip():
        raise KindError(f"entry {entry!r}: expected KEY=VALUE, e.g. 'OTEL_TRACES_SAMPLER_ARG=0.1'")
    return key.strip(), value.strip()


# -- converters --------------------------------------------------------------------------------
def _string(value: Any, ctx: Context) -> str:
    if not isinstance(value, str):
        raise KindError(f"expected a string, got {type_name(value)} {value!r}")
    return value


def _url(value: Any, ctx: Context) -> str:
    text = _string(value, ctx)
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise KindError(f"not a URL ({exc})") from None
    if not parts.scheme or not parts.hostname:
        raise KindError("not a URL: expected scheme://host[:port][/path]")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise KindError("the URL's port is not a number between 0 and 65535") from None
    ctx.secrets.update(url_secrets(text))
    return text


def _hostspec(value: Any, ctx: Context) -> str:
    text = _string(value, ctx)
    if "://" in text:
        ctx.secrets.update(url_secrets(text))
    return text


def _path(value: Any, ctx: Context) -> str:
    text = _string(value, ctx)
    if not text:
        return text
    path = Path(text).expanduser()
    resolved = str(path if path.is_absolute() else (ctx.base / path))
    if not Path(resolved).exists():
        raise KindError(f"{resolved} does not exist (check the path; relative paths are "
                        "relative to the config file)")
    return resolved


def _duration(value: Any, ctx: Context) -> str:
    text = _string(value, ctx)
    try:
        duration_seconds(text)
    except ValueError as exc:
        raise KindError(str(exc)) from None
    return text


def _int(value: Any, ctx: Context) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KindError(f"expected an integer, got {type_name(value)} {value!r}")
    return value


def _float(value: Any, ctx: Context) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise KindError(f"expected a number, got {type_name(value)} {value!r}")
    return float(value)


def _rate(value: Any, ctx: Context) -> float:
    number = _float(value, ctx)
    if not 0.0 <= number <= 1.0:
        raise KindError(f"{number} is not a rate: use a fraction between 0 and 1 (0.5% = 0.005)")
    return number


def _bool(value: Any, ctx: Context) -> bool:
    if not isinstance(value, bool):
        raise KindError(f"expected true or false, got {value!r}")
    return value


def _strlist(value: Any, ctx: Context) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KindError(f"expected a list of strings, got {value!r}")
    if not value:
        raise KindError("must not be empty")
    return tuple(value)


def _entries(parse: Callable[[str], object]) -> Callable[[Any, Context], tuple[str, ...]]:
    """A strlist whose every entry must parse with ``parse`` (the text is kept as written)."""
    def convert(value: Any, ctx: Context) -> tuple[str, ...]:
        entries = _strlist(value, ctx)
        for entry in entries:
            parse(entry)
        return entries
    return convert


Converter = Callable[[Any, Context], Any]

#: kind name → converter. A new kind is one function and one row here.
KINDS: dict[str, Converter] = {
    "str": _string,
    "url": _url,
    "hostspec": _hostspec,
    "path": _path,
    "duration": _duration,
    "int": _int,
    "float": _float,
    "rate": _rate,
    "bool": _bool,
    "strlist": _strlist,
    "families": _entries(parse_family),
    "alerts": _entries(parse_alert),
    "keyvalues": _entries(parse_key_value),
}
