"""The JSON sign-off (schema 2, a superset of schema 1): the source of truth the views render."""
from __future__ import annotations

import json
import re
import secrets
from typing import Any

from ..verdict import SignOff


def render(signoff: SignOff) -> str:
    """The (already redacted) sign-off as JSON: indented down to the gates, one line per item
    and per check (diff-friendly, and the C encoder: ~5x faster than ``indent=2`` throughout).

    issue 13 (additive): every check that was not measured carries ``setting``, the setting its
    reason names as the fix (``observability.prometheus_url``), or null when it names none.
    """
    from .terminal import fix_setting, reason_text, unmeasured

    data = signoff.to_dict()
    rows: list[Any] = []
    token = secrets.token_hex(8)  # no value of the outline can spell a slot
    pattern = re.compile(r'"\\u0000' + token + r'(\d+)\\u0000"')

    def slot(value: Any) -> str:
        rows.append(value)
        return f"\0{token}{len(rows) - 1}\0"

    for gate, result in zip(data["gates"], signoff.gates):
        for entry, check in zip(gate["checks"], result.checks):
            if unmeasured(check):
                entry["setting"] = fix_setting(reason_text(check))
        gate["checks"] = [slot(c) for c in gate["checks"]]
        gate["items"] = [slot(i) for i in gate["items"]]
    outline = json.dumps(data, indent=2, ensure_ascii=False)
    return pattern.sub(lambda m: json.dumps(rows[int(m[1])], ensure_ascii=False), outline) + "\n"
