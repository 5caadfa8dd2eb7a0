"""The demo stack as a list of parts: the one place a new demo component plugs in.

A *part* is a function ``start(ctx) -> context manager`` whose ``__enter__`` starts its real
processes on loopback and yields the settings it contributes (``{"table": {"key": value}}``,
merged into the demo's ``release.toml``), and whose ``__exit__`` stops them. Secrets never go
into the settings: a part puts them into ``ctx.env`` and refers to them as ``${NAME}``.

Adding a part (an OCI registry, a policy engine, the cluster stand-in, a git repository) is one
module under ``pytest_release/demo/`` and one line in :data:`STACK_PARTS`::

    @contextlib.contextmanager
    def registry_part(ctx: DemoContext) -> Iterator[Overrides]:
        registry = start_registry(ctx.dir("registry"))
        try:
            yield {"security": {"registry_url": registry.url}}
        finally:
            registry.stop()

Parts start in the order listed and see what earlier parts contributed (``ctx.settings``, e.g.
``ctx.settings["api"]["url"]``). A *required* part that cannot start (``StackError``) stops the
demo; any other is reported and left out, so its checks end *not measured*, never passed.
``python -m pytest_release.demo --without NAME`` leaves a part out on purpose.
"""
from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What a part contributes: settings tables (``{"api": {"url": ...}}``).
Overrides = Mapping[str, Mapping[str, Any]]
PartStart = Callable[["DemoContext"], AbstractContextManager[Overrides]]


@dataclass
class DemoContext:
    """What a part gets: the demo's options, a work directory, the settings and env so far."""

    args: argparse.Namespace
    workdir: Path
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Environment of the suite run: tokens and passwords go here, referenced as ``${NAME}``.
    env: dict[str, str] = field(default_factory=dict)

    def dir(self, name: str) -> Path:
        """A fresh directory for one component (inside the demo's temporary directory)."""
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def merge(self, overrides: Overrides) -> None:
        for table, values in overrides.items():
            self.settings.setdefault(table, {}).update(values)


@dataclass(frozen=True)
class StackPart:
    name: str
    #: ``"module:function"``, imported only when the part starts (no cost for the others).
    target: str
    required: bool = False
    help: str = ""

    def load(self) -> PartStart:
        module, _, function = self.target.partition(":")
        start: PartStart = getattr(importlib.import_module(module), function)
        return start


#: The demo stack in start order. One line per part; keep ``required`` for what every gate needs.
STACK_PARTS: tuple[StackPart, ...] = (
    StackPart("redis", "pytest_release.demo.target:redis_part", required=True,
              help="redis-server with the checklist's persistence settings (Gate 1)"),
    StackPart("service", "pytest_release.demo.target:service_part", required=True,
              help="the feedback service on that Redis, with tokens (Gates 1-3)"),
    StackPart("observability", "pytest_release.demo.observability:demo_part",
              help="Prometheus + Alertmanager scraping the service (Gate 5)"),
)
