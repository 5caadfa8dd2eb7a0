"""Waivers and attestations (``--release-waivers`` / ``--release-attestations``, issue 12).

One TOML file may hold both ``[[waiver]]`` and ``[[attestation]]`` tables; the second option
exists for teams that keep attestations apart. Loading validates everything at once and raises
:class:`WaiverFileError` listing every ``file: waiver[N].key: problem``.

Dates: ``expires`` is inclusive (the waiver holds through that day, UTC). A waiver whose expiry
has passed *by the time of the run* is not an error: it waives nothing and the sign-off lists it
as ``expired``, so the release manager sees it. What *is* an error is a waiver that was already
expired when it was granted (``expires`` before its ``created`` date) or one granted in the
future (``created`` after today): such a file was written wrong. Pure: no pytest import.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WAIVER_REQUIRED = ("reason", "approver", "ticket", "expires")
WAIVER_SCOPES = ("item", "check", "setting")
WAIVER_KEYS = frozenset({*WAIVER_REQUIRED, *WAIVER_SCOPES, "measurement", "created"})
ATTESTATION_REQUIRED = ("item", "statement", "by", "when", "ticket")
ATTESTATION_KEYS = frozenset(ATTESTATION_REQUIRED)

ACTIVE, EXPIRED, UNUSED = "active", "expired", "unused"


class WaiverFileError(Exception):
    """All problems of the waiver/attestation files, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Waiver:
    """An accepted exception: waives failures (or a deviation) of its scope until ``expires``."""

    reason: str
    approver: str
    ticket: str
    expires: dt.date
    item: str | None = None
    check: str | None = None
    setting: str | None = None
    measurement: str | None = None
    created: dt.date | None = None
    where: str = ""

    @property
    def scope(self) -> str:
        """``item security.trivy`` / ``check …::test_x / measurement p95`` / ``setting …``."""
        parts = []
        if self.item:
            parts.append(f"item {self.item}")
        if self.check:
            parts.append(f"check {self.check}")
        if self.setting:
            parts.append(f"setting {self.setting}")
        if self.measurement:
            parts.append(f"measurement {self.measurement}")
        return " / ".join(parts)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    def covers_check(self, item_id: str | None, nodeid: str) -> bool:
        """The whole check (any failure of it): an item-scoped or check-scoped waiver."""
        if self.measurement or self.setting:
            return False
        if self.check:
            return nodeid_matches(self.check, nodeid)
        return self.item is not None and self.item == item_id

    def covers_measurement(self, item_id: str | None, nodeid: str, name: str) -> bool:
        if self.setting:
            return False
        if self.measurement is not None and self.measurement != name:
            return False
        if self.check:
            return nodeid_matches(self.check, nodeid)
        return self.item is not None and self.item == item_id

    def covers_deviation(self, setting: str, items: Collection[str]) -> bool:
        if self.setting:
            return self.setting == setting
        return self.item is not None and self.check is None and self.measurement is None \
            and self.item in items

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope, "item": self.item, "check": self.check, "setting": self.setting,
            "measurement": self.measurement, "reason": self.reason, "approver": self.approver,
            "ticket": self.ticket, "expires": self.expires.isoformat(),
            "created": self.created.isoformat() if self.created else None, "where": self.where,
        }


@dataclass(frozen=True)
class Attestation:
    """A person's signed statement for an item no machine can measure here."""

    item: str
    statement: str
    by: str
    when: str
    ticket: str
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "statement": self.statement, "by": self.by,
                "when": self.when, "ticket": self.ticket, "where": self.where}


@dataclass(frozen=True)
class Exceptions:
    """Everything read from the waiver/attestation files."""

    waivers: tuple[Waiver, ...] = ()
    attestations: tuple[Attestation, ...] = ()
    files: tuple[str, ...] = field(default=())


def nodeid_matches(pattern: str, nodeid: str) -> bool:
    """Exact, or a suffix starting at a path boundary (``test_gate_redis.py::test_x`` matches
    ``tests_release/test_gate_redis.py::test_x``), so a waiver survives a different rootdir."""
    return nodeid == pattern or nodeid.endswith("/" + pattern)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _text(entry: dict[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    value = entry.get(key)
    if value is None:
        problems.append(f"{where}.{key}: missing (every entry needs {key} = \"...\")")
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}.{key}: expected a non-empty string, got {value!r}")
        return None
    return value.strip()


def _waiver(entry: Any, where: str, problems: list[str], known_items: Collection[str],
            known_settings: Collection[str], today: dt.date) -> Waiver | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a table ([[waiver]])")
        return None
    before = len(problems)
    for key in sorted(set(entry) - WAIVER_KEYS):
        problems.append(f"{where}.{key}: unknown key (known: {', '.join(sorted(WAIVER_KEYS))})")
    texts = {k: _text(entry, k, where, problems) for k in ("reason", "approver", "ticket")}
    expires = created = None
    if "expires" not in entry:
        problems.append(f"{where}.expires: missing (every waiver needs an expiry date, "
                        "expires = 2026-12-31)")
    else:
        expires = _date(entry["expires"])
        if expires is None:
            problems.append(f"{where}.expires: {entry['expires']!r} is not a date "
                            "(write expires = 2026-12-31)")
    if "created" in entry:
        created = _date(entry["created"])
        if created is None:
            problems.append(f"{where}.created: {entry['created']!r} is not a date "
                            "(write created = 2026-06-01)")
        elif created > today:
            problems.append(f"{where}.created: {created} is in the future (today is {today})")
        elif expires is not None and expires < created:
            problems.append(f"{where}.expires: {expires} is before the waiver was created "
                            f"({created}): it was in the past at creation")
    scopes = [k for k in WAIVER_SCOPES if k in entry]
    if not scopes:
        problems.append(f"{where}: no scope (give item = \"GATE.ITEM\", check = \"NODEID\" or "
                        "setting = \"TABLE.KEY\")")
    values: dict[str, str | None] = {}
    for key in (*WAIVER_SCOPES, "measurement"):
        if key in entry:
            values[key] = _text(entry, key, where, problems)
    if "item" in scopes and "check" in scopes:
        problems.append(f"{where}: give item or check, not both")
    if "setting" in scopes and len(scopes) > 1:
        problems.append(f"{where}.setting: a setting waiver waives a deviation only: "
                        "drop item/check")
    if "measurement" in entry and not ({"item", "check"} & set(scopes)):
        problems.append(f"{where}.measurement: needs item = ... or check = ...")
    item = values.get("item")
    if item and item not in known_items:
        problems.append(f"{where}.item: unknown item {item!r}{_closest(item, known_items)}")
    setting = values.get("setting")
    if setting and setting not in known_settings:
        problems.append(f"{where}.setting: {setting!r} is not a threshold setting"
                        f"{_closest(setting, known_settings)}")
    check = values.get("check")
    if check and "::" not in check:
        problems.append(f"{where}.check: {check!r} is not a node id "
                        "(e.g. test_gate_redis.py::test_ttl_is_bounded)")
    if len(problems) > before or expires is None:
        return None
    return Waiver(reason=texts["reason"] or "", approver=texts["approver"] or "",
                  ticket=texts["ticket"] or "", expires=expires, item=item, check=check,
                  setting=setting, measurement=values.get("measurement"), created=created,
                  where=where)


def _attestation(entry: Any, where: str, problems: list[str], known_items: Collection[str],
                 today: dt.date) -> Attestation | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a table ([[attestation]])")
        return None
    before = len(problems)
    for key in sorted(set(entry) - ATTESTATION_KEYS):
        problems.append(f"{where}.{key}: unknown key "
                        f"(known: {', '.join(sorted(ATTESTATION_KEYS))})")
    texts = {k: _text(entry, k, where, problems) for k in ("item", "statement", "by", "ticket")}
    when = entry.get("when")
    when_date = _date(when)
    if when is None:
        problems.append(f"{where}.when: missing (when = 2026-06-01)")
    elif when_date is None:
        problems.append(f"{where}.when: {when!r} is not a date (when = 2026-06-01)")
    elif when_date > today:
        problems.append(f"{where}.when: {when_date} is in the future (today is {today})")
    item = texts["item"]
    if item and item not in known_items:
        problems.append(f"{where}.item: unknown item {item!r}{_closest(item, known_items)}")
    if len(problems) > before:
        return None
    when_text = when.isoformat() if isinstance(when, (dt.date, dt.datetime)) else str(when)
    return Attestation(item=item or "", statement=texts["statement"] or "",
                       by=texts["by"] or "", when=when_text, ticket=texts["ticket"] or "",
                       where=where)


def _closest(value: str, known: Collection[str]) -> str:
    import difflib

    match = difflib.get_close_matches(value, list(known), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def load(paths: Iterable[Path], *, known_items: Collection[str],
         known_settings: Collection[str], today: dt.date) -> Exceptions:
    """Read and validate the files; raises WaiverFileError with every problem found."""
    problems: list[str] = []
    waivers: list[Waiver] = []
    attestations: list[Attestation] = []
    files = []
    for path in paths:
        shown = str(path)
        files.append(shown)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"{shown}: file not found (check the path)")
            continue
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{shown}: not valid TOML: {exc}")
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{shown}: cannot be read: {exc}")
            continue
        for key in sorted(set(data) - {"waiver", "attestation"}):
            problems.append(f"{shown}: {key}: unknown table (use [[waiver]] or [[attestation]])")
        for name, kind in (("waiver", "waiver"), ("attestation", "attestation")):
            entries = data.get(name, [])
            if not isinstance(entries, list):
                problems.append(f"{shown}: {name}: expected an array of tables [[{name}]]")
                continue
            for n, entry in enumerate(entries, 1):
                where = f"{shown}: {kind}[{n}]"
                if kind == "waiver":
                    w = _waiver(entry, where, problems, known_items, known_settings, today)
                    if w is not None:
                        waivers.append(w)
                else:
                    a = _attestation(entry, where, problems, known_items, today)
                    if a is not None:
                        attestations.append(a)
    if problems:
        raise WaiverFileError(problems)
    return Exceptions(tuple(waivers), tuple(attestations), tuple(files))
