"""Release settings: TOML file + ``--release`` / ``--release-set`` → one frozen, validated object.

- :mod:`.schema`: the tables (the config contract) and :class:`Settings` with its derived values
- :mod:`.kinds`: value kinds as a converter table (str, url, duration, rate, families, ...)
- :mod:`.loader`: TOML, ``--release-set``, ``${ENV}`` interpolation, every problem at once

Stdlib + pytest only (imported at plugin load).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..redact import MASK, MIN_SECRET_LENGTH, map_strings, redact, redact_data, safe_url, url_secrets
from .kinds import KINDS, AlertSpec, FamilySpec, KindError, duration_seconds
from .loader import SettingsError, load_settings, parse_override
from .schema import (
    SECTIONS,
    AnalysisSettings,
    ApiSettings,
    BaselineSettings,
    CanarySettings,
    ClusterSettings,
    GitopsSettings,
    LoadSettings,
    ObservabilitySettings,
    PostdeploySettings,
    RedisSettings,
    ReleaseSettings,
    SecuritySettings,
    Settings,
    checklist_values,
    defaults,
    opt,
)

__all__ = [
    "KINDS", "MASK", "MIN_SECRET_LENGTH", "SECTIONS", "AlertSpec", "AnalysisSettings",
    "ApiSettings", "BaselineSettings", "CanarySettings", "ClusterSettings", "FamilySpec",
    "PostdeploySettings",
    "GitopsSettings", "KindError", "LoadSettings", "ObservabilitySettings", "RedisSettings",
    "ReleaseSettings", "SecuritySettings", "Settings", "SettingsError", "checklist_values",
    "defaults", "duration_seconds", "field_docs", "load_settings", "map_strings", "opt",
    "parse_override", "redact", "redact_data", "reference_markdown", "safe_url", "url_secrets",
]


def field_docs() -> list[tuple[str, str, Any, str]]:
    """(key, kind, default, doc) for every setting, for the README and ``--help``."""
    rows = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            else:
                default = f.default_factory()  # type: ignore[operator]
            rows.append((f"{name}.{f.name}", f.metadata["kind"], default, f.metadata["doc"]))
    return rows


def reference_markdown() -> str:
    """The settings reference table the README carries (kept equal by a test)."""
    lines = ["| key | kind | default | meaning |", "|---|---|---|---|"]
    for key, kind, default, doc in field_docs():
        if default is None:
            shown = "unset"
        elif isinstance(default, tuple):
            shown = f"`{', '.join(default)}`"
        else:
            shown = f"`{default}`"
        meaning = doc.replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | {shown} | {meaning} |")
    return "\n".join(lines)
