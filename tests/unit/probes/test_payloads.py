"""probes/payloads.py: every generated body breaks the schema, deterministically, in every way."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from feedback_service.schema import (
    FIELDS,
    MalformedJSONError,
    ValidationError,
    parse_json,
    validate_feedback,
)

from pytest_release.probes.http_api import VALID_FEEDBACK
from pytest_release.probes.payloads import CATEGORIES, FEEDBACK_SCHEMA, bad_payloads


def test_the_schema_table_matches_the_demo_service() -> None:
    assert list(FEEDBACK_SCHEMA.fields) == list(FIELDS)
    for name, rule in FEEDBACK_SCHEMA.fields.items():
        spec = FIELDS[name]
        if rule.kind == "string":
            assert (rule.min_length, rule.max_length) == (spec.min_length, spec.max_length)
        elif rule.kind == "enum":
            assert rule.choices == spec.choices
    validate_feedback(dict(FEEDBACK_SCHEMA.valid))  # the valid example is valid


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_generated_body_is_rejected_by_a_real_validator(seed: int) -> None:
    payloads = bad_payloads(2000, seed=seed)
    outcomes: Counter[str] = Counter()
    for payload in payloads:
        with pytest.raises((MalformedJSONError, ValidationError)) as caught:
            validate_feedback(parse_json(payload.body.encode()))
        outcomes[caught.type.__name__] += 1
    # Both layers are exercised: the JSON parser (deep nesting) and the schema.
    assert outcomes["ValidationError"] > 1000 and outcomes["MalformedJSONError"] > 10


def test_same_seed_same_bodies_other_seed_other_bodies() -> None:
    assert bad_payloads(60, seed=0) == bad_payloads(60, seed=0)
    assert bad_payloads(60, seed=0) != bad_payloads(60, seed=1)
    assert bad_payloads(30, seed=0) == bad_payloads(60, seed=0)[:30]  # a prefix, not a reshuffle


def test_any_count_from_the_number_of_categories_covers_each_one() -> None:
    assert {p.category for p in bad_payloads(len(CATEGORIES))} == set(CATEGORIES)
    assert bad_payloads(0) == []
    counts = Counter(p.category for p in bad_payloads(60))
    assert min(counts.values()) >= 60 // len(CATEGORIES)


def test_the_categories_break_what_they_say() -> None:
    by_category: dict[str, list[object]] = {}
    for payload in bad_payloads(900, seed=3):
        by_category.setdefault(payload.category, []).append(
            json.loads(payload.body) if payload.category != "nesting" else payload.body)
    fields = set(VALID_FEEDBACK)
    for doc in by_category["missing"]:
        assert isinstance(doc, dict) and set(doc) < fields and "note" in doc
    for doc in by_category["extra"]:
        assert isinstance(doc, dict) and set(doc) > fields and len(set(doc) - fields) == 1
    for doc in by_category["not_object"]:
        assert not isinstance(doc, dict) or doc == {}
    for doc in by_category["oversized"]:
        assert isinstance(doc, dict)
        assert len(doc["metric"]) > 128 or len(doc["note"]) > 1000
    # Boundaries: exactly one over the maximum and exactly under the minimum both appear.
    lengths = {len(d["metric"]) for d in by_category["oversized"]} | \
        {len(d["note"]) for d in by_category["oversized"]}
    assert {129, 1001} <= lengths
    assert {len(d["metric"]) for d in by_category["too_short"]} == {0}
    assert any(len(p.body) > 2000 for p in bad_payloads(900, seed=3) if p.category == "nesting")
    # Wrong types hit both kinds of field.
    wrong = by_category["wrong_type"]
    assert any(not isinstance(d.get("anomaly"), bool) for d in wrong)
    assert any(not isinstance(d.get("metric"), str) for d in wrong)
    # Unicode: unpaired surrogates arrive escaped, as legal JSON that is not Unicode text.
    assert all("\\ud" in p.body for p in bad_payloads(90) if p.category == "bad_unicode")


def test_each_payload_says_what_it_breaks() -> None:
    for payload in bad_payloads(len(CATEGORIES) * 3):
        assert payload.description and len(payload.description) < 100
