"""pytest-release: a release checklist as executable, evidence-backed pytest gates."""
from __future__ import annotations

__version__ = "0.1.0"
