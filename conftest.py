"""Root conftest: rootdir wiring only.

It anchors pytest's rootdir here so `release.toml` at the repository root is the default
`--release-config`, and lets the bundled demo target import from `examples/`.
"""
from __future__ import annotations

import sys
from pathlib import Path

_EXAMPLES = str(Path(__file__).parent / "examples")
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)
