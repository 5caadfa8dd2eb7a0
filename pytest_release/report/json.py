"""The JSON sign-off (schema 2, a superset of schema 1): the source of truth the views render."""
from __future__ import annotations

import json
from collections.abc import Callable

from ..settings import map_strings
from ..verdict import SignOff


def render(signoff: SignOff, redact: Callable[[str], str]) -> str:
    """The sign-off as indented JSON with every known secret masked (value by value)."""
    return json.dumps(map_strings(signoff.to_dict(), redact), indent=2,
                      ensure_ascii=False) + "\n"
