"""Bad request bodies for a JSON API: a deterministic, seeded generator (no Hypothesis).

Each :class:`BadPayload` breaks one rule of a flat JSON object schema (a table of string, enum
and boolean fields with length bounds) so that a correct service must answer 4xx. Categories
cycle in a fixed order, so any ``count >= len(CATEGORIES)`` covers every kind of breakage, and a
seeded :class:`random.Random` varies the field and the bad value inside each category. The same
``(schema, count, seed)`` always yields the same bodies: a failing sweep is reproducible.

The generator used to be a Hypothesis strategy, but Hypothesis ships a pytest plugin that every
pytest run in the environment then imports (~0.7 s of start-up), for one sweep that needs no
shrinking. This module imports the stdlib only.
"""
from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .http_api import VALID_FEEDBACK

#: Strings that are never an enum value, a field name or a boolean: case variants and lookalikes
#: are added per field.
_ODD_TEXT = ("", " ", "null", "true", "0", "\u00e9\u00e8", "\u4e2d\u6587", "\U0001f600",
             "\u200b", "a\x00b", "\\u0000", "<script>", "' OR 1=1 --", "%s%n", "\n")


@dataclass(frozen=True)
class FieldRule:
    """One field of the object schema: ``kind`` is ``string``, ``enum`` or ``boolean``."""

    kind: str
    min_length: int = 0
    max_length: int = 0
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectSchema:
    """A flat JSON object: its fields, which are optional, and a valid example."""

    fields: Mapping[str, FieldRule]
    optional: frozenset[str]
    valid: Mapping[str, Any]

    @property
    def required(self) -> list[str]:
        return [name for name in self.fields if name not in self.optional]

    def of_kind(self, kind: str) -> list[str]:
        return [name for name, rule in self.fields.items() if rule.kind == kind]


#: The feedback document of the service under release (checklist Gate 2's schema item).
FEEDBACK_SCHEMA = ObjectSchema(
    fields={
        "metric": FieldRule("string", 1, 128),
        "anomaly": FieldRule("boolean"),
        "verdict": FieldRule("boolean"),
        "source": FieldRule("enum", choices=("api", "ui", "cli", "alertmanager", "synthetic")),
        "type": FieldRule("enum", choices=("bug", "false_positive", "false_negative",
                                           "improvement", "other")),
        "severity": FieldRule("enum", choices=("low", "medium", "high", "critical")),
        "note": FieldRule("string", 0, 1000),
    },
    optional=frozenset({"note"}),
    valid=VALID_FEEDBACK,
)


class BadPayload(NamedTuple):
    """One request body that a correct service rejects with a 4xx."""

    category: str
    description: str
    body: str


def _dumps(value: object) -> str:
    return json.dumps(value)


def _not_string(rng: random.Random) -> object:
    return rng.choice([None, 0, -1, 2**63, 3.5, -0.0, 1e308, True, False, [], ["x"], {},
                       {"a": 1}, [1, [2, [3]]]])


def _not_boolean(rng: random.Random) -> object:
    return rng.choice([None, 0, 1, -1, 0.0, 1.0, "true", "false", "", "yes", [], [True], {},
                       {"value": True}])


def _random_text(rng: random.Random, size: int, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


_ALPHABET = string.ascii_letters + string.digits + "_-. \u00e9\u00df\u4e2d\u0416\U0001f600"


class _Generator:
    def __init__(self, schema: ObjectSchema, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng

    def _with(self, field: str, value: object) -> dict[str, Any]:
        return {**self.schema.valid, field: value}

    # -- one method per category; each returns (description, JSON value or raw body) -------
    def wrong_type(self) -> tuple[str, object]:
        fields = list(self.schema.fields)
        field = self.rng.choice(fields)
        rule = self.schema.fields[field]
        value = _not_boolean(self.rng) if rule.kind == "boolean" else _not_string(self.rng)
        return f"{field} = {_dumps(value)[:40]} (wrong type)", self._with(field, value)

    def bad_enum(self) -> tuple[str, object]:
        field = self.rng.choice(self.schema.of_kind("enum"))
        choices = self.schema.fields[field].choices
        choice = self.rng.choice(choices)
        candidates = [choice.upper(), f" {choice}", f"{choice} ", choice + choice[-1],
                      choice.replace("o", "\u043e") if "o" in choice else choice + "\u0301",
                      *_ODD_TEXT, _random_text(self.rng, self.rng.randint(1, 30), _ALPHABET)]
        value = self.rng.choice([c for c in candidates if c not in choices])
        return f"{field} = {_dumps(value)[:40]} (not in the enumeration)", self._with(field, value)

    def missing(self) -> tuple[str, object]:
        required = self.schema.required
        gone = set(self.rng.sample(required, self.rng.choice([1, 1, 1, 2, len(required)])))
        body = {k: v for k, v in self.schema.valid.items() if k not in gone}
        return f"without {', '.join(sorted(gone))} (required)", body

    def extra(self) -> tuple[str, object]:
        candidates = ["debug", "id", "admin", "__proto__", "constructor", "", " ", "Metric",
                      "metric ", "\u00e9tat", "\U0001f600",
                      _random_text(self.rng, self.rng.randint(1, 8), _ALPHABET)]
        key = self.rng.choice([k for k in candidates if k not in self.schema.fields])
        value: object = self.rng.choice([1, True, None, "x", [], {}])
        return f"unknown field {key!r}", {**self.schema.valid, key: value}

    def oversized(self) -> tuple[str, object]:
        field = self.rng.choice(self.schema.of_kind("string"))
        rule = self.schema.fields[field]
        over = self.rng.choice([1, 1, 2, rule.max_length + 1])
        size = rule.max_length + over
        # A code point outside the BMP counts as one character but four UTF-8 bytes.
        char = self.rng.choice(["x", "\u00e9", "\U0001f600"])
        return f"{field} of {size} characters (max {rule.max_length})", self._with(field, char * size)

    def too_short(self) -> tuple[str, object]:
        fields = [f for f in self.schema.of_kind("string") if self.schema.fields[f].min_length > 0]
        if not fields:
            return self.oversized()
        field = self.rng.choice(fields)
        rule = self.schema.fields[field]
        return (f"{field} of {rule.min_length - 1} characters (min {rule.min_length})",
                self._with(field, "x" * (rule.min_length - 1)))

    def bad_unicode(self) -> tuple[str, object]:
        field = self.rng.choice(self.schema.of_kind("string"))
        lone = self.rng.choice(["\ud800", "\udfff", "\udc00x", "x\ud83d"])
        # json.dumps escapes it as \\udXXX: legal JSON text, but not Unicode text.
        return f"{field} with an unpaired surrogate", self._with(field, f"ok{lone}")

    def nesting(self) -> tuple[str, object]:
        depth = self.rng.choice([2, 10, 100, 2000])
        if self.rng.random() < 0.5:
            return f"array nested {depth} deep (not an object)", _Raw("[" * depth + "]" * depth)
        field = self.rng.choice(list(self.schema.fields))
        inner = "{" * (depth - 1) + '"a": 1' + "}" * (depth - 1)
        return f"{field} = object nested {depth} deep", _Raw(self._replace_field(field, inner))

    def _replace_field(self, field: str, raw_value: str) -> str:
        parts = [f"{_dumps(k)}: {_dumps(v)}" for k, v in self.schema.valid.items() if k != field]
        parts.append(f"{_dumps(field)}: {raw_value}")
        return "{" + ", ".join(parts) + "}"

    def not_object(self) -> tuple[str, object]:
        value: object = self.rng.choice([[], [dict(self.schema.valid)], "feedback", 0, 1.5, True, None,
                                 [1, 2, 3], "", {}])
        return f"top level {_dumps(value)[:40]} (not the object)", value


class _Raw(str):
    """A body sent as-is (not JSON-encoded again)."""


#: Kinds of breakage, in the order they cycle: any ``count >= 9`` covers every one.
CATEGORIES: tuple[str, ...] = ("wrong_type", "missing", "extra", "bad_enum", "oversized",
                               "bad_unicode", "not_object", "too_short", "nesting")


def bad_payloads(count: int, *, seed: int = 0,
                 schema: ObjectSchema = FEEDBACK_SCHEMA) -> list[BadPayload]:
    """``count`` bodies that each break ``schema`` in one way, deterministically for ``seed``."""
    rng = random.Random(seed)
    generator = _Generator(schema, rng)
    makers: dict[str, Callable[[], tuple[str, object]]] = {
        name: getattr(generator, name) for name in CATEGORIES}
    payloads: list[BadPayload] = []
    for i in range(count):
        category = CATEGORIES[i % len(CATEGORIES)]
        description, value = makers[category]()
        body = str(value) if isinstance(value, _Raw) else _dumps(value)
        payloads.append(BadPayload(category, description, body))
    return payloads
