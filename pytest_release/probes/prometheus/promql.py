"""PromQL and Prometheus text helpers (pure): durations, timestamps, string literals, and the
numbers an alert expression compares with (``threshold_comparisons``)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

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
