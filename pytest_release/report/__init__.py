"""Views of one SignOff: JSON (source of truth), pytest-html section, Markdown, terminal."""
from __future__ import annotations

from typing import Any

from ..verdict import CheckRecord, Measurement

STATUS_ICON = {"passed": "✅", "failed": "❌", "incomplete": "⚠️", "not_run": "⏭️"}
VERDICT_ICON = {"APPROVED": "✅", "REJECTED": "❌", "INCOMPLETE": "⚠️"}
ITEM_LABEL = {
    "passed": "passed",
    "failed": "FAILED",
    "not_measured": "NOT MEASURED",
    "not_run": "NOT RUN",
    # contract (issue 12): a looser threshold, an accepted exception, a person's statement
    "deviation": "DEVIATION",
    "waived": "WAIVED",
    "attested": "ATTESTED",
}


def fmt_value(value: Any, unit: str | None = None) -> str:
    """A measured value as people read it: 0.004 → "0.004", 12.345678 ms → "12.35 ms"."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    elif isinstance(value, (list, tuple)):
        shown = ", ".join(str(v) for v in value[:5])
        text = f"[{shown}{', …' if len(value) > 5 else ''}]"
    elif value is None:
        text = "—"
    else:
        text = str(value)
    return f"{text} {unit}" if unit and value is not None else text


def fmt_measurement(m: Measurement) -> str:
    """``p95 = 3.2 ms (< 120 ms)`` or ``save = 3600 1`` for context values."""
    text = f"{m.name} = {fmt_value(m.value, m.unit)}"
    if m.op is not None:
        text += f" ({m.op} {fmt_value(m.threshold, m.unit)})"
    return text


def source_text(check: CheckRecord) -> str:
    """``snapshot (/path/to/dir)``: where the check's facts came from ("" when it named none)."""
    if not check.source:
        return ""
    return f"{check.source} ({check.source_detail})" if check.source_detail else check.source
