"""Gate 2: API Validation — schema, JWT, rate limit, 4xx codes, metric labels, stored TTL."""
from __future__ import annotations

import json
import shlex
import time
import uuid
from typing import Any

import pytest

from pytest_release.evidence import Evidence
from pytest_release.probes.http_api import VALID_FEEDBACK, FeedbackApi, error_body
from pytest_release.probes.jwt_cases import (
    TokenMaterialError,
    bad_claim_tokens,
    forged_tokens,
    read_signing_key,
)
from pytest_release.probes.payloads import bad_payloads
from pytest_release.probes.redis import RedisProbe
from pytest_release.settings import Settings

pytestmark = pytest.mark.gate_api

SUCCESS = (200, 201, 202)
#: The generated sweep is seeded: the same bodies on every run, so a failure reproduces.
SWEEP_SEED = 0


def _without(field: str) -> dict[str, Any]:
    return {k: v for k, v in VALID_FEEDBACK.items() if k != field}


#: Invalid payloads that a schema must reject with a 4xx naming the field.
INVALID_PAYLOADS = {
    "missing field": (_without("severity"), "severity"),
    "wrong type": ({**VALID_FEEDBACK, "anomaly": "yes"}, "anomaly"),
    "bad enum": ({**VALID_FEEDBACK, "severity": "catastrophic"}, "severity"),
    "oversize note": ({**VALID_FEEDBACK, "note": "x" * 5000}, "note"),
    "extra field": ({**VALID_FEEDBACK, "debug": True}, "debug"),
    "number as boolean": ({**VALID_FEEDBACK, "verdict": 0}, "verdict"),
}


@pytest.mark.release_item("schema")
def test_schema_validation_rejects_bad_payloads(feedback_api: FeedbackApi, api_token: str,
                                                release_settings: Settings,
                                                evidence: Evidence) -> None:
    valid = feedback_api.post_feedback()
    evidence.check("valid payload status", valid.status_code, "in", SUCCESS,
                   reproduce=feedback_api.curl_post())
    for case, (payload, field) in INVALID_PAYLOADS.items():
        response = feedback_api.post_feedback(payload)
        evidence.check(f"{case} status", response.status_code, "in", (400, 422), soft=True)
        named = field in json.dumps(error_body(response))
        evidence.check(f"{case} error names {field!r}", named, "==", True, soft=True)
    malformed = feedback_api.request("POST", feedback_api.feedback_path, data="{\"metric\": ",
                                     headers={"Content-Type": "application/json"})
    evidence.check("malformed JSON status", malformed.status_code, "==", 400, soft=True)

    examples = release_settings.api.sweep_examples
    if examples:
        statuses = _bad_input_sweep(feedback_api, examples)
        server_errors = [case for case, status in statuses if status >= 500]
        accepted = [case for case, status in statuses if status in SUCCESS]
        evidence.record("generated bad inputs sent", len(statuses))
        evidence.check("5xx answers to generated bad input", len(server_errors), "==", 0,
                       soft=True)
        evidence.check("generated bad inputs accepted", len(accepted), "==", 0, soft=True)
        for what, cases in (("answered 5xx", server_errors), ("accepted", accepted)):
            if cases:
                evidence.record(f"first generated input {what} (seed {SWEEP_SEED})", cases[0])


def _bad_input_sweep(feedback_api: FeedbackApi, examples: int) -> list[tuple[str, int]]:
    """(description, status) of each generated invalid body, posted as application/json."""
    return [(payload.description,
             feedback_api.request("POST", feedback_api.feedback_path, data=payload.body,
                                  headers={"Content-Type": "application/json"}).status_code)
            for payload in bad_payloads(examples, seed=SWEEP_SEED)]


@pytest.mark.release_item("jwt")
def test_jwt_authentication_rejects_bad_tokens(feedback_api: FeedbackApi, api_token: str,
                                               release_settings: Settings,
                                               evidence: Evidence) -> None:
    key_file = release_settings.api.signing_key_file
    try:
        cases = forged_tokens(api_token)
        if key_file:
            # Validly signed but invalid claims need a key the service trusts.
            cases.update(bad_claim_tokens(api_token, read_signing_key(key_file)))
    except TokenMaterialError as exc:
        evidence.not_measured(str(exc))
    except OSError as exc:
        evidence.not_measured(f"api.signing_key_file cannot be read ({exc.strerror}): "
                              "point it at the PEM key the service trusts")
    else:
        evidence.record("expired / not-yet-valid / issuer / audience cases",
                        "not sent: set api.signing_key_file to a key the service trusts")
    for case, token in cases.items():
        response = feedback_api.post_feedback(token=token if token else False)
        evidence.check(f"{case} status", response.status_code, "==", 401, soft=True)
        evidence.check(f"{case} WWW-Authenticate", "WWW-Authenticate" in response.headers, "==",
                       True, soft=True)
    valid = feedback_api.post_feedback()
    evidence.check("valid token status", valid.status_code, "in", SUCCESS,
                   reproduce=feedback_api.curl("POST", feedback_api.feedback_path, auth=False,
                                               body=json.dumps(VALID_FEEDBACK)))


@pytest.mark.release_item("rate_limit")
def test_rate_limit_answers_429_past_the_budget(feedback_api: FeedbackApi,
                                                release_settings: Settings,
                                                evidence: Evidence) -> None:
    cfg = release_settings.api
    if not cfg.rate_limit_token:
        evidence.not_measured(
            "api.rate_limit_token is not set: the check spends a caller's whole budget, so it "
            "needs a caller of its own (spending api.token's would give the other checks 429s)"
        )
    session = feedback_api.new_session()
    limit_header = None
    first_429 = None
    response: Any = None
    try:
        for n in range(1, cfg.rate_limit_max + 2):
            response = feedback_api.post_feedback(token=cfg.rate_limit_token, session=session)
            if limit_header is None:
                limit_header = response.headers.get("RateLimit-Limit")
            if response.status_code == 429:
                first_429 = n
                break
            if response.status_code not in SUCCESS:
                evidence.check(f"status of request {n}", response.status_code, "in", SUCCESS)
    finally:
        session.close()
    evidence.record("RateLimit-Limit header", limit_header)
    evidence.check("first 429 at request", first_429 or f"none in {cfg.rate_limit_max + 1}",
                   "<=", cfg.rate_limit_max + 1,
                   reproduce=f"for i in $(seq {cfg.rate_limit_max + 1}); do "
                             + feedback_api.curl_post().replace("-i ", "-o /dev/null -w "
                                                                 "'%{http_code}\\n' ")
                             + "; done | sort | uniq -c")
    retry_after = response.headers.get("Retry-After", "") if response is not None else ""
    evidence.check("Retry-After seconds", int(retry_after) if retry_after.isdigit() else retry_after,
                   ">", 0, unit="s", soft=True)
    if first_429 and release_settings.api.token:
        _wait_out_a_shared_limit(feedback_api, int(retry_after) if retry_after.isdigit() else 0,
                                 evidence)


#: The longest the rate-limit check waits for the checks' own caller to be served again.
RETRY_AFTER_WAIT_MAX_S = 60


def _wait_out_a_shared_limit(feedback_api: FeedbackApi, retry_after: int,
                             evidence: Evidence) -> None:
    """A limit keyed by client address (not by token) also stops api.token's caller: then wait
    out the measured Retry-After (at most RETRY_AFTER_WAIT_MAX_S) so the checks after this one
    do not fail with 429s that this check caused."""
    probe = feedback_api.post_feedback()
    shared = probe.status_code == 429
    evidence.record("api.token's caller limited too (limit shared, e.g. by address)", shared)
    if not shared:
        return
    # Retry-After is whole seconds, rounded: wait again (within the bound) while still 429.
    started = time.monotonic()
    limit = started + RETRY_AFTER_WAIT_MAX_S
    while probe.status_code == 429 and time.monotonic() < limit:
        header = probe.headers.get("Retry-After", "")
        wait = max(int(header) if header.isdigit() else retry_after, 1)
        time.sleep(min(wait, max(limit - time.monotonic(), 0.0)))
        probe = feedback_api.post_feedback()
    evidence.record("waited out Retry-After", round(time.monotonic() - started, 1), unit="s")
    evidence.record("api.token's caller after the wait", probe.status_code)


@pytest.mark.release_item("error_codes")
def test_client_errors_get_proper_4xx_codes(feedback_api: FeedbackApi, api_token: str,
                                            evidence: Evidence) -> None:
    path = feedback_api.feedback_path
    body = json.dumps(VALID_FEEDBACK)
    cases = {
        "malformed JSON → 400": (400, "POST", path, "{not json", "application/json"),
        "wrong content type → 415": (415, "POST", path, body, "text/plain"),
        "body over the limit → 413": (413, "POST", path,
                                      json.dumps({**VALID_FEEDBACK, "note": "x" * (1 << 20)}),
                                      "application/json"),
        "unknown route → 404": (404, "GET", path.rstrip("/") + "-does-not-exist", None, None),
        "wrong method → 405": (405, "GET", path, None, None),
    }
    for case, (expected, method, target, data, content_type) in cases.items():
        headers = {"Content-Type": content_type} if content_type else {}
        response = feedback_api.request(method, target, data=data, headers=headers)
        evidence.check(case, response.status_code, "==", expected, soft=True)
        evidence.check(f"{case.split(' →')[0]} is not 5xx", response.status_code, "<", 500,
                       soft=True)
    evidence.reproduce(feedback_api.curl("POST", path, body="{not json"))


@pytest.mark.release_item("metrics_labels")
def test_feedback_counter_is_labelled_correctly(feedback_api: FeedbackApi, api_token: str,
                                                release_settings: Settings,
                                                evidence: Evidence) -> None:
    cfg = release_settings.api
    metrics_url = release_settings.service_metrics_url or f"{feedback_api.base_url}/metrics/aiops"
    name = cfg.feedback_metric
    # The values come from settings (api.probe_label_values), never from one service's own
    # enumeration: a correct API that does not accept a hard-coded value is no failure.
    probe_labels = cfg.probe_labels
    evidence.record("probe label values (api.probe_label_values)", probe_labels)

    def value(samples: list[tuple[dict[str, str], float]]) -> float:
        return sum(v for labels, v in samples
                   if all(labels.get(k) == want for k, want in probe_labels.items()))

    before = feedback_api.metric_samples(metrics_url, name)
    marker = f"release-check-{uuid.uuid4().hex}"
    posts = 3
    payload = {**VALID_FEEDBACK, **probe_labels, "note": marker, "metric": marker[:40]}
    statuses = [feedback_api.post_feedback(payload).status_code for _ in range(posts)]
    if all(400 <= s < 500 and s not in (401, 403, 429) for s in statuses):
        # The API refused the probe's label values: they are the setting to fix, not a defect.
        evidence.not_measured(
            f"the service refused the probe posts ({statuses[0]}) with api.probe_label_values "
            f"{probe_labels}: set it to label values the API accepts")
    evidence.check("probe posts accepted", sum(s in SUCCESS for s in statuses), "==", posts)
    exposition = feedback_api.get_text(metrics_url)
    after = feedback_api.metric_samples(metrics_url, name)
    evidence.reproduce(f"curl -sS {metrics_url} | grep '^{name}'")
    evidence.check(f"{name} series present", len(after), ">=", 1, soft=True)
    label_sets = sorted({tuple(sorted(labels)) for labels, _ in after})
    evidence.check(f"{name} label names", label_sets, "==", [tuple(sorted(cfg.feedback_labels))],
                   soft=True)
    evidence.check(f"{name}{{{','.join(f'{k}={v!r}' for k, v in probe_labels.items())}}} increase",
                   value(after) - value(before), "==", posts, soft=True)
    # Free text must never become a label value: the unique note may not appear anywhere.
    evidence.check("free text (note) exposed in metrics", marker in exposition, "==", False,
                   soft=True)


@pytest.mark.release_item("stored_ttl")
def test_stored_record_expires_within_bound(feedback_api: FeedbackApi, api_token: str,
                                            redis_probe: RedisProbe, release_settings: Settings,
                                            evidence: Evidence) -> None:
    response = feedback_api.post_feedback()
    evidence.check("POST status", response.status_code, "in", SUCCESS)
    record_id = error_body(response).get("id") if isinstance(error_body(response), dict) else None
    if not record_id:
        evidence.not_measured("the service's 201 response carries no id to look the record up")
    key = f"{release_settings.api.key_prefix}{record_id}"
    ttl = redis_probe.ttl(key)
    evidence.reproduce(f"redis-cli -u {redis_probe.display_url} TTL {shlex.quote(key)}")
    evidence.check(f"record {key} exists", ttl, "!=", -2)
    evidence.check("record has an expiry", ttl, "!=", -1, soft=True)
    evidence.check("record TTL", ttl, "<=", release_settings.redis.ttl_max_seconds, unit="s",
                   soft=True)
