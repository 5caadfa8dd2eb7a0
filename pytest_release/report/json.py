"""The JSON sign-off (schema 2, a superset of schema 1): the source of truth the views render."""
from __future__ import annotations

import json

from ..verdict import SignOff


def render(signoff: SignOff) -> str:
    """The (already redacted) sign-off as indented JSON."""
    return json.dumps(signoff.to_dict(), indent=2, ensure_ascii=False) + "\n"
