"""The feedback document: JSON parsing, validation and its JSON Schema.

The field table below is the single source of truth for both the validator
and the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

SOURCES = ("api", "ui", "cli", "alertmanager", "synthetic")
TYPES = ("bug", "false_positive", "false_negative", "improvement", "other")
SEVERITIES = ("low", "medium", "high", "critical")


class MalformedJSONError(ValueError):
    """The body is not a single well-formed UTF-8 JSON document."""


@dataclasses.dataclass(frozen=True)
class FieldProblem:
    """One field-level validation failure."""

    field: str
    problem: str


class ValidationError(ValueError):
    """The document is JSON but does not match the feedback schema."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.problem}" for p in problems))
        self.problems = problems


def _is_unicode_text(value: str) -> bool:
    """False for strings holding lone surrogates (legal in JSON escapes, not in UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class _StringField:
    min_length: int
    max_length: int
    description: str

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if not self.min_length <= len(value) <= self.max_length:
            return f"length must be between {self.min_length} and {self.max_length} characters"
        if not _is_unicode_text(value):
            return "must be valid Unicode text (no unpaired surrogates)"
        return None

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "string",
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "description": self.description,
        }


@dataclasses.dataclass(frozen=True)
class _EnumField:
    choices: tuple[str, ...]
    description: str

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str) or value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        return None

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices), "description": self.description}


@dataclasses.dataclass(frozen=True)
class _BooleanField:
    description: str

    def problem(self, value: object) -> str | None:
        return None if isinstance(value, bool) else "must be a JSON boolean (true or false)"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean", "description": self.description}


_Field = _StringField | _EnumField | _BooleanField

FIELDS: Mapping[str, _Field] = {
    "metric": _StringField(1, 128, "Name of the metric the anomaly detector watched."),
    "anomaly": _BooleanField("Whether the detector flagged an anomaly."),
    "verdict": _BooleanField("Whether the operator agrees with the detector."),
    "source": _EnumField(SOURCES, "Where the feedback was given."),
    "type": _EnumField(TYPES, "Kind of feedback."),
    "severity": _EnumField(SEVERITIES, "Operator-assessed impact."),
    "note": _StringField(0, 1000, "Free-text comment."),
}
OPTIONAL_FIELDS = frozenset({"note"})
REQUIRED_FIELDS = tuple(name for name in FIELDS if name not in OPTIONAL_FIELDS)


@dataclasses.dataclass(frozen=True)
class Feedback:
    """A validated feedback document."""

    metric: str
    anomaly: bool
    verdict: bool
    source: str
    type: str
    severity: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (cheaper than ``dataclasses.asdict``)."""
        return {name: getattr(self, name) for name in FIELDS}


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise ValueError(f"duplicate key {key!r}")
        document[key] = value
    return document


def parse_json(body: bytes) -> object:
    """Parse a request body as strict JSON (UTF-8, no NaN/Infinity, no duplicate keys).

    Raises:
        MalformedJSONError: with a short, input-free explanation.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedJSONError(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_object)
    except json.JSONDecodeError as exc:
        raise MalformedJSONError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedJSONError("nesting is too deep") from None
    except ValueError as exc:  # NaN/Infinity, duplicate keys, oversized integers
        raise MalformedJSONError(str(exc)) from None


def validate_feedback(document: object) -> Feedback:
    """Check ``document`` against the schema, reporting every bad field at once.

    Raises:
        ValidationError: listing each missing, unknown or invalid field.
    """
    if not isinstance(document, dict):
        raise ValidationError([FieldProblem("$", "must be a JSON object")])
    problems: list[FieldProblem] = []
    for name, spec in FIELDS.items():
        if name not in document:
            if name not in OPTIONAL_FIELDS:
                problems.append(FieldProblem(name, "is required"))
            continue
        problem = spec.problem(document[name])
        if problem is not None:
            problems.append(FieldProblem(name, problem))
    problems.extend(
        FieldProblem(name, "is not an allowed field") for name in sorted(document) if name not in FIELDS
    )
    if problems:
        raise ValidationError(problems)
    return Feedback(**document)


def feedback_json_schema() -> dict[str, Any]:
    """The request body schema as an OpenAPI 3.0 Schema Object."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(REQUIRED_FIELDS),
        "properties": {name: spec.json_schema() for name, spec in FIELDS.items()},
    }
