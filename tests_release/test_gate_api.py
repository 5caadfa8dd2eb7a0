"""Gate 2: API Validation — schema, JWT, rate limit, 4xx codes, metric labels, stored TTL."""
from __future__ import annotations

import base64
import json
import shlex
import time
import uuid

import pytest

from pytest_release.probes.http_api import VALID_FEEDBACK, error_body

pytestmark = pytest.mark.gate_api

SUCCESS = (200, 201, 202)
#: Labels no other check or the load test uses, so the counter delta is exactly ours.
PROBE_LABELS = {"source": "cli", "type": "improvement", "severity": "critical"}


def _without(field: str) -> dict:
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(header))),
            json.loads(base64.urlsafe_b64decode(pad(payload))), signature)


@pytest.mark.release_item("schema")
def test_schema_validation_rejects_bad_payloads(feedback_api, api_token, release_settings,
                                                evidence):
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
        server_errors = sum(1 for s in statuses if s >= 500)
        accepted = sum(1 for s in statuses if s in SUCCESS)
        evidence.record("generated bad inputs sent", len(statuses))
        evidence.check("5xx answers to generated bad input", server_errors, "==", 0, soft=True)
        evidence.check("generated bad inputs accepted", accepted, "==", 0, soft=True)


def _bad_input_sweep(feedback_api, examples: int) -> list[int]:
    """Hypothesis-generated invalid payloads (one field broken or one field added)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    not_str = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.booleans(),
                        st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
    not_bool = st.one_of(st.none(), st.integers(), st.text(max_size=10),
                         st.lists(st.booleans(), max_size=2))
    enums = {"source": {"api", "ui", "cli", "alertmanager", "synthetic"},
             "type": {"bug", "false_positive", "false_negative", "improvement", "other"},
             "severity": {"low", "medium", "high", "critical"}}

    def replace(field: str, value: object) -> dict:
        return {**VALID_FEEDBACK, field: value}

    broken = st.one_of(
        # a string field given a non-string
        st.sampled_from(["metric", "note", *enums]).flatmap(
            lambda f: not_str.map(lambda v: replace(f, v))),
        # a boolean field given a non-boolean
        st.sampled_from(["anomaly", "verdict"]).flatmap(
            lambda f: not_bool.map(lambda v: replace(f, v))),
        # an enum field given a string outside the enumeration
        st.sampled_from(sorted(enums)).flatmap(
            lambda f: st.text(max_size=30).filter(lambda v: v not in enums[f]).map(
                lambda v: replace(f, v))),
        # a required field left out
        st.sampled_from(sorted(set(VALID_FEEDBACK) - {"note"})).map(_without),
        # an unknown field added
        st.text(min_size=1, max_size=8).filter(lambda k: k not in VALID_FEEDBACK).map(
            lambda k: {**VALID_FEEDBACK, k: 1}),
        # not an object at all
        st.one_of(st.lists(st.integers(), max_size=3), st.text(max_size=10), st.integers()),
    )
    statuses: list[int] = []

    @settings(max_examples=examples, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(broken)
    def sweep(payload):
        response = feedback_api.request("POST", feedback_api.feedback_path,
                                        data=json.dumps(payload),
                                        headers={"Content-Type": "application/json"})
        statuses.append(response.status_code)

    sweep()
    return statuses


@pytest.mark.release_item("jwt")
def test_jwt_authentication_rejects_bad_tokens(feedback_api, api_token, release_settings,
                                               evidence):
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    header, claims, signature = _segments(api_token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tampered_claims = {**claims, "sub": claims.get("sub", "x") + "-admin"}
    cases: dict[str, str | None] = {
        "no token": None,
        "garbage token": "not.a.jwt",
        "alg none": f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}."
                    f"{_b64(json.dumps(claims).encode())}.",
        "signed by another key": jwt.encode(claims, stranger, algorithm="RS256",
                                            headers={"kid": header.get("kid")}),
        "tampered payload": f"{api_token.split('.')[0]}."
                            f"{_b64(json.dumps(tampered_claims).encode())}.{signature}",
    }
    key_file = release_settings.api.signing_key_file
    if key_file:
        # Validly signed but invalid claims need a key the service trusts.
        with open(key_file, "rb") as handle:
            key = handle.read()
        now = int(time.time())
        base = {**claims, "iat": now - 60}
        signed = lambda c: jwt.encode(c, key, algorithm="RS256",  # noqa: E731
                                      headers={"kid": header.get("kid")})
        cases["expired"] = signed({**base, "iat": now - 7200, "exp": now - 3600})
        cases["not yet valid"] = signed({**base, "nbf": now + 3600, "exp": now + 7200})
        cases["wrong issuer"] = signed({**base, "iss": "https://attacker.invalid",
                                        "exp": now + 600})
        cases["wrong audience"] = signed({**base, "aud": "someone-else", "exp": now + 600})
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
def test_rate_limit_answers_429_past_the_budget(feedback_api, release_settings, evidence):
    cfg = release_settings.api
    if not cfg.rate_limit_token:
        evidence.not_measured(
            "api.rate_limit_token is not set: the check spends a caller's whole budget, so it "
            "needs a caller of its own (spending api.token's would give the other checks 429s)"
        )
    session = feedback_api.new_session()
    limit_header = None
    first_429 = None
    response = None
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
    assert response is not None
    retry_after = response.headers.get("Retry-After", "")
    evidence.check("Retry-After seconds", int(retry_after) if retry_after.isdigit() else retry_after,
                   ">", 0, unit="s")


@pytest.mark.release_item("error_codes")
def test_client_errors_get_proper_4xx_codes(feedback_api, api_token, evidence):
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
def test_feedback_counter_is_labelled_correctly(feedback_api, api_token, release_settings,
                                                evidence):
    cfg = release_settings.api
    metrics_url = release_settings.service_metrics_url or f"{feedback_api.base_url}/metrics/aiops"
    name = cfg.feedback_metric

    def value(samples):
        return sum(v for labels, v in samples
                   if all(labels.get(k) == want for k, want in PROBE_LABELS.items()))

    before = feedback_api.metric_samples(metrics_url, name)
    marker = f"release-check-{uuid.uuid4().hex}"
    posts = 3
    payload = {**VALID_FEEDBACK, **PROBE_LABELS, "note": marker, "metric": marker[:40]}
    statuses = [feedback_api.post_feedback(payload).status_code for _ in range(posts)]
    evidence.check("probe posts accepted", sum(s in SUCCESS for s in statuses), "==", posts)
    exposition = feedback_api.get_text(metrics_url)
    after = feedback_api.metric_samples(metrics_url, name)
    evidence.reproduce(f"curl -sS {metrics_url} | grep '^{name}'")
    evidence.check(f"{name} series present", len(after), ">=", 1, soft=True)
    label_sets = sorted({tuple(sorted(labels)) for labels, _ in after})
    evidence.check(f"{name} label names", label_sets, "==", [tuple(sorted(cfg.feedback_labels))],
                   soft=True)
    evidence.check(f"{name}{{{','.join(f'{k}={v!r}' for k, v in PROBE_LABELS.items())}}} increase",
                   value(after) - value(before), "==", posts, soft=True)
    # Free text must never become a label value: the unique note may not appear anywhere.
    evidence.check("free text (note) exposed in metrics", marker in exposition, "==", False,
                   soft=True)


@pytest.mark.release_item("stored_ttl")
def test_stored_record_expires_within_bound(feedback_api, api_token, redis_probe,
                                            release_settings, evidence):
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
