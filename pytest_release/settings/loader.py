"""Read, interpolate, type-check and freeze the settings (TOML + ``--release-set`` + ``--release``).

Every problem is collected and reported at once as ``file:key: what is wrong (how to fix)``.
Values that came from ``${ENV_VAR}`` interpolation, fields marked secret and URL passwords are
remembered as secrets (:class:`~pytest_release.redact.Redactor` masks them).
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..redact import MIN_SECRET_LENGTH, Secret, redact
from .kinds import KINDS, Context, KindError, duration_seconds
from .schema import SECTIONS, Settings

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SettingsError(Exception):
    """All configuration problems found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def parse_override(text: str) -> tuple[str, Any]:
    """``redis.p95_ms=100`` → ("redis.p95_ms", 100); values are TOML literals or bare strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--release-set {text!r}: expected KEY=VALUE, e.g. load.p95_ms=100")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


class _Builder:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.secrets: set[str] = set()

    def interpolate(self, value: Any, where: str, env: Mapping[str, str],
                    identity: bool = False) -> Any:
        """``${ENV}`` substituted; the values become secrets unless ``identity`` (the
        ``[release]`` table: version, commit, image are what the sign-off is about)."""
        if isinstance(value, str) and _ENV_REF.search(value):
            def sub(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    self.problems.append(
                        f"{where}: environment variable {name} is not set "
                        f"(export {name}=... or change the value)"
                    )
                    return ""
                if len(env[name]) >= MIN_SECRET_LENGTH and not identity:
                    self.secrets.add(env[name])
                return env[name]

            return _ENV_REF.sub(sub, value)
        if isinstance(value, list):
            return [self.interpolate(v, where, env, identity) for v in value]
        return value

    def convert(self, value: Any, f: dataclasses.Field[Any], where: str, base: Path) -> Any:
        meta = f.metadata
        if value is None and f.default is None:
            return None
        ctx = Context(base)
        try:
            value = KINDS[meta["kind"]](value, ctx)
            _check_limits(value, meta, f.name)
        except KindError as exc:
            if meta["secret"]:  # never echo a secret of the wrong type
                self.problems.append(f"{where}: {str(exc).split(',')[0]} (value not shown: "
                                     "it is a secret)")
            else:
                self.problems.append(f"{where}: {exc}")
            return dataclasses.MISSING
        self.secrets.update(ctx.secrets)
        if meta["secret"] and isinstance(value, str) and value:
            self.secrets.add(value)
            value = Secret(value)
        if meta["kind"] == "path" and f.name.endswith("_key_file") and value:
            self.secrets.update(key_file_secrets(value))
        return value


def key_file_secrets(path: str) -> set[str]:
    """A key file's contents and each PEM body line are secrets (a traceback or ``-l`` may
    show any of them, whole or truncated)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    found = {text.strip()} if text.strip() else set()
    found.update(line.strip() for line in text.splitlines()
                 if len(line.strip()) >= 16 and not line.startswith("-----"))
    return found


#: Limits every number and duration obeys unless its setting declares its own: no setting of the
#: catalogue is negative, a deadline of an hour is already generous, and a count of ten million
#: (samples, keys, requests) is the most a release run can mean. Beyond them a value is a typo
#: (``1e9``), never a threshold, and is refused at load with its ``file:key``.
MAX_DEADLINE_S = 3600.0
MAX_DURATION_S = 90 * 24 * 3600.0
MAX_COUNT = 10_000_000
MAX_NUMBER = 1e9


def _default_max(kind: str, name: str) -> float:
    if kind == "duration":
        return MAX_DURATION_S
    if name.endswith("_s"):  # timeout_s, recovery_s, deadline_s: seconds a call may take
        return MAX_DEADLINE_S
    return MAX_COUNT if kind == "int" else MAX_NUMBER


def _check_limits(value: Any, meta: Mapping[str, Any], name: str = "") -> None:
    kind = meta["kind"]
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
        if isinstance(value, float) and not math.isfinite(value):
            raise KindError(f"{value} is not a finite number: give a number (inf and nan mean "
                            "nothing as a threshold)")
    elif kind == "duration" and isinstance(value, str):
        number = duration_seconds(value)
    if number is not None:
        low = meta["min"] if meta["min"] is not None else 0
        high = meta["max"] if meta["max"] is not None else _default_max(kind, name)
        shown = value if kind != "duration" else f"{value} ({number:g} s)"
        if number < low:
            raise KindError(f"{shown} is below the minimum {low}")
        if number > high:
            raise KindError(f"{shown} is above the maximum {high:,g}"
                            + (" s" if kind == "duration" or name.endswith("_s") else "")
                            + ": an absurd value is a typo, not a threshold")
    if meta["choices"] and value not in meta["choices"]:
        raise KindError(f"{value!r} is not one of {', '.join(meta['choices'])}")


def load_settings(
    *,
    path: Path | None,
    path_is_explicit: bool,
    overrides: list[str],
    version: str | None,
    rootdir: Path,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Read, interpolate, type-check and freeze the settings. Raises SettingsError."""
    env = os.environ if env is None else env
    builder = _Builder()
    raw: dict[str, dict[str, tuple[Any, str, Path]]] = {name: {} for name in SECTIONS}
    source = None
    if path is not None:
        if not path.is_file():
            if path_is_explicit:
                raise SettingsError(
                    [f"{path}: --release-config file not found (check the path, or omit the option)"]
                )
        else:
            source = str(path)
            _read_file(path, raw, builder)
    for text in overrides:
        try:
            dotted, value = parse_override(text)
        except ValueError as exc:
            builder.problems.append(str(exc))
            continue
        section, _, key = dotted.partition(".")
        where = f"--release-set {dotted}"
        if section not in SECTIONS or not key:
            builder.problems.append(
                f"{where}: unknown key (use TABLE.KEY with TABLE one of {', '.join(SECTIONS)})"
            )
            continue
        raw[section][key] = (value, where, rootdir)
    if version is not None:
        raw["release"]["version"] = (version, "--release", rootdir)

    sections: dict[str, Any] = {}
    provenance: dict[str, str] = {}  # contract (issue 12)
    for name, cls in SECTIONS.items():
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, (value, where, base) in raw[name].items():
            if key not in fields:
                hint = _closest(key, list(fields))
                builder.problems.append(f"{where}: unknown key{hint}")
                continue
            value = builder.interpolate(value, where, env, identity=name == "release")
            converted = builder.convert(value, fields[key], where, base)
            if converted is not dataclasses.MISSING:
                values[key] = converted
                provenance[f"{name}.{key}"] = _where_set(where, rootdir)  # contract (issue 12)
        for key, f in fields.items():
            # Relative default paths (the bundled k6 script) are relative to the rootdir.
            if key not in values and f.metadata["kind"] == "path" and isinstance(f.default, str):
                values[key] = str(rootdir / f.default)
        sections[name] = cls(**values)
    if builder.problems:
        raise SettingsError([redact(p, builder.secrets) for p in builder.problems])
    base_dir = str(Path(source).parent) if source else str(rootdir)
    return Settings(**sections, source=source, secrets=frozenset(builder.secrets),
                    base_dir=base_dir, provenance=provenance)


def _where_set(where: str, rootdir: Path) -> str:
    """``/root/release.toml: redis.ttl`` -> ``release.toml:redis.ttl``; options stay as they are."""
    path, sep, key = where.partition(": ")
    if not sep:
        return where.split(" ")[0]  # "--release-set redis.ttl" -> "--release-set"
    try:
        shown = str(Path(path).resolve().relative_to(rootdir.resolve()))
    except ValueError:
        shown = path
    return f"{shown}:{key}"


def _read_file(path: Path, raw: dict[str, dict[str, tuple[Any, str, Path]]],
               builder: _Builder) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError([f"{path}: not valid TOML: {exc}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError([f"{path}: cannot be read: {exc}"]) from None
    for section, table in data.items():
        if section not in SECTIONS:
            builder.problems.append(
                f"{path}: [{section}]: unknown table{_closest(section, list(SECTIONS))}"
            )
            continue
        if not isinstance(table, dict):
            builder.problems.append(f"{path}: {section}: expected a table [{section}]")
            continue
        for key, value in table.items():
            raw[section][key] = (value, f"{path}: {section}.{key}", path.parent)


def _closest(key: str, known: list[str]) -> str:
    import difflib

    match = difflib.get_close_matches(key, known, n=1)
    if match:
        return f" (did you mean {match[0]!r}?)"
    return f" (known: {', '.join(known)})" if known else " (this table takes no keys yet)"
