"""The JSON sign-off (schema 1): the source of truth the other views render."""
from __future__ import annotations

import json
from collections.abc import Callable

from ..verdict import SignOff


def render(signoff: SignOff, redact: Callable[[str], str]) -> str:
    """The sign-off as indented JSON with every known secret masked."""
    return redact(json.dumps(signoff.to_dict(), indent=2, ensure_ascii=False)) + "\n"
