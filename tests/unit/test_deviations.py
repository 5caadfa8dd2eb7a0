"""Deviations: a setting looser than the checklist's number is recorded; a stricter one is not."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_release import deviations as dv
from pytest_release.gates import GATES
from pytest_release.settings import SECTIONS, load_settings


def settings(tmp_path: Path, toml: str = "", *overrides: str):  # type: ignore[no-untyped-def]
    (tmp_path / "release.toml").write_text(toml)
    return load_settings(path=tmp_path / "release.toml", path_is_explicit=False,
                         overrides=list(overrides), version="v5.7.1", rootdir=tmp_path)


def test_defaults_are_the_checklist_and_no_deviation(tmp_path: Path) -> None:
    assert dv.deviations(settings(tmp_path)) == []


def test_checklist_values_come_from_the_defaults_not_a_copy() -> None:
    assert dv.checklist_value("redis.ttl_max_seconds") == 604800
    assert dv.checklist_value("load.duration") == "30s"
    assert dv.checklist_value("load.max_error_rate") == 0.005
    with pytest.raises(KeyError):
        dv.checklist_value("redis.nope")


@pytest.mark.parametrize(
    ("toml", "overrides", "expected"),
    [
        # looser → deviation, with where it was set
        ("[redis]\nttl_max_seconds = 9999999\n", (),
         [("redis.ttl_max_seconds", 604800, 9999999, "release.toml:redis.ttl_max_seconds")]),
        ("", ("load.duration=5s",), [("load.duration", "30s", "5s", "--release-set")]),
        ("", ("load.vus=5",), [("load.vus", 25, 5, "--release-set")]),
        ("", ("load.p95_ms=500",), [("load.p95_ms", 120.0, 500.0, "--release-set")]),
        ("", ("load.max_error_rate=0.05",), [("load.max_error_rate", 0.005, 0.05, "--release-set")]),
        ("", ("load.min_success_rate=0.9",),
         [("load.min_success_rate", 0.995, 0.9, "--release-set")]),
        ("", ("redis.maxmemory_policy=allkeys-lru",),
         [("redis.maxmemory_policy", "noeviction", "allkeys-lru", "--release-set")]),
        ("", ("redis.appendfsync=no",), [("redis.appendfsync", "everysec", "no", "--release-set")]),
        ("", ("redis.latency_samples=20",), [("redis.latency_samples", 200, 20, "--release-set")]),
        ("", ('observability.blocking_severities=["page"]',),
         [("observability.blocking_severities", ("critical",), ("page",), "--release-set")]),
        # stricter → no deviation
        ("[redis]\nttl_max_seconds = 86400\np95_ms = 50\n", (), []),
        ("", ("load.duration=2m", "load.vus=50", "load.min_success_rate=0.999",
              "load.max_error_rate=0.001", "redis.appendfsync=always"), []),
        ('[observability]\nblocking_severities = ["critical", "warning"]\n', (), []),
        # the checklist's own number set explicitly → no deviation
        ("[redis]\nttl_max_seconds = 604800\n", ("load.duration=30s",), []),
    ],
)
def test_deviation_table(tmp_path: Path, toml: str, overrides: tuple[str, ...],
                         expected: list[tuple[object, ...]]) -> None:
    found = dv.deviations(settings(tmp_path, toml, *overrides))
    assert [(d.setting, d.checklist_value, d.value_in_force, d.where_set) for d in found] == expected


def test_a_deviation_names_its_items_and_reads_with_units(tmp_path: Path) -> None:
    (found,) = dv.deviations(settings(tmp_path, "[redis]\nttl_max_seconds = 9999999\n"))
    assert found.items == ("redis.ttl", "api.stored_ttl")
    assert found.describe() == ("redis.ttl_max_seconds = 9999999 s (checklist: 604800 s), set "
                                "by release.toml:redis.ttl_max_seconds")
    assert found.to_dict()["where_set"] == "release.toml:redis.ttl_max_seconds"
    assert set(dv.by_item([found])) == {"redis.ttl", "api.stored_ttl"}
    assert dv.show(0.005, "rate") == "0.5%"


def test_every_row_names_real_items_and_a_known_direction() -> None:
    items = {f"{g.id}.{i.id}" for g in GATES for i in g.items}
    for t in dv.THRESHOLDS:
        assert t.looser in (dv.GREATER, dv.SMALLER, dv.DIFFERENT, dv.MISSING, dv.ORDERED)
        section = t.setting.partition(".")[0]
        if dv.resolvable(t):
            gate_ids = {i.partition(".")[0] for i in t.items}
            # items of a gate this branch's catalogue has must exist
            for item in t.items:
                if item.partition(".")[0] in {g.id for g in GATES}:
                    assert item in items, (t.setting, item)
            assert gate_ids
        else:
            # only rows of tables another branch fills may be unresolved: a typo is caught here
            cls = SECTIONS.get(section)
            assert cls is None or not dataclasses.fields(cls), t.setting


def test_every_numeric_threshold_row_has_a_numeric_default() -> None:
    for t in dv.THRESHOLDS:
        if not dv.resolvable(t):
            continue
        value = dv.checklist_value(t.setting)
        if t.looser in (dv.GREATER, dv.SMALLER):
            if t.unit == "duration":
                assert isinstance(value, str), t.setting
            else:
                assert isinstance(value, (int, float)), t.setting
        if t.looser == dv.ORDERED:
            assert value in t.scale
