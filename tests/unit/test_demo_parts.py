"""The demo's stack parts: start order, settings merge, optional vs required, --without."""
from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_release.demo import __main__ as demo
from pytest_release.demo.parts import STACK_PARTS, DemoContext, Overrides, StackPart
from pytest_release.demo.processes import StackError

started: list[str] = []
stopped: list[str] = []


@contextlib.contextmanager
def first_part(ctx: DemoContext) -> Iterator[Overrides]:
    started.append("first")
    ctx.env["FIRST_TOKEN"] = "s3cret"
    try:
        yield {"api": {"url": "http://127.0.0.1:1", "token": "${FIRST_TOKEN}"}}
    finally:
        stopped.append("first")


@contextlib.contextmanager
def second_part(ctx: DemoContext) -> Iterator[Overrides]:
    started.append("second")
    # A later part sees what earlier parts contributed.
    try:
        yield {"api": {"metrics_url": ctx.settings["api"]["url"] + "/metrics"}}
    finally:
        stopped.append("second")


def broken_part(ctx: DemoContext) -> contextlib.AbstractContextManager[Overrides]:
    raise StackError("broken-binary is not installed: apt-get install broken")


HERE = __name__


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    started.clear()
    stopped.clear()
    yield


def _run(monkeypatch, tmp_path: Path, parts: tuple[StackPart, ...], without=()) -> DemoContext:
    monkeypatch.setattr(demo, "STACK_PARTS", parts)
    ctx = DemoContext(argparse.Namespace(without=list(without)), tmp_path)
    with contextlib.ExitStack() as stack:
        demo._start_parts(ctx, stack)
        assert stopped == []  # running while the suite would run
    return ctx


def test_parts_start_in_order_merge_their_settings_and_stop_in_reverse(monkeypatch, tmp_path):
    ctx = _run(monkeypatch, tmp_path, (StackPart("first", f"{HERE}:first_part", required=True),
                                       StackPart("second", f"{HERE}:second_part")))
    assert started == ["first", "second"] and stopped == ["second", "first"]
    assert ctx.settings == {"api": {"url": "http://127.0.0.1:1", "token": "${FIRST_TOKEN}",
                                    "metrics_url": "http://127.0.0.1:1/metrics"}}
    assert ctx.env == {"FIRST_TOKEN": "s3cret"}  # secrets ride in the env, not the settings


def test_an_optional_part_that_cannot_start_is_reported_and_left_out(monkeypatch, tmp_path,
                                                                     capsys):
    ctx = _run(monkeypatch, tmp_path, (StackPart("first", f"{HERE}:first_part"),
                                       StackPart("broken", f"{HERE}:broken_part"),
                                       StackPart("second", f"{HERE}:second_part")))
    assert started == ["first", "second"]
    assert "broken" not in ctx.settings
    assert "demo: broken not started (broken-binary is not installed" in capsys.readouterr().out


def test_a_required_part_that_cannot_start_stops_the_demo(monkeypatch, tmp_path):
    with pytest.raises(StackError, match="broken-binary"):
        _run(monkeypatch, tmp_path, (StackPart("first", f"{HERE}:first_part"),
                                     StackPart("broken", f"{HERE}:broken_part", required=True)))
    assert stopped == ["first"]  # what had started is stopped


def test_without_leaves_a_part_out(monkeypatch, tmp_path, capsys):
    _run(monkeypatch, tmp_path, (StackPart("first", f"{HERE}:first_part"),
                                 StackPart("second", f"{HERE}:second_part")), without=["second"])
    assert started == ["first"]
    assert "demo: second left out (--without second)" in capsys.readouterr().out


def test_every_registered_part_resolves_and_the_cli_knows_the_optional_ones():
    for part in STACK_PARTS:
        assert callable(part.load()), part
    args = demo._parser().parse_args(["--without", "observability", "--no-observability"])
    assert args.without == ["observability", "observability"]
    required = [p.name for p in STACK_PARTS if p.required]
    with pytest.raises(SystemExit):
        demo._parser().parse_args(["--without", required[0]])
