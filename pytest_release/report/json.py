"""The JSON sign-off (schema 2, a superset of schema 1): the source of truth the views render."""
from __future__ import annotations

import json

from ..verdict import SignOff


def render(signoff: SignOff) -> str:
    """The (already redacted) sign-off as indented JSON.

    issue 13 (additive): every check that was not measured carries ``setting``, the setting its
    reason names as the fix (``observability.prometheus_url``), or null when it names none.
    """
    from .terminal import fix_setting, reason_text, unmeasured

    data = signoff.to_dict()
    for gate, result in zip(data["gates"], signoff.gates):
        for entry, check in zip(gate["checks"], result.checks):
            if unmeasured(check):
                entry["setting"] = fix_setting(reason_text(check))
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
