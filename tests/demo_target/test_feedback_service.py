"""The feedback service against a real redis-server: contract, failure paths and fault switches."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from feedback_service import FAULT_NAMES, mint_token
from feedback_service.auth import SigningKey
from feedback_service.config import DEFAULT_AUDIENCE as AUDIENCE
from feedback_service.config import DEFAULT_ISSUER as ISSUER
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import (
        FeedbackServiceProcess,
        LaunchService,
        RedisServer,
        RunCli,
        ServicePool,
        SpawnRedis,
    )

FEEDBACK = "/api/v1/aiops/feedback"
EXEMPT_SUBJECT = "loadtest"  # exempt in every service the fixtures start
SEVEN_DAYS = 7 * 24 * 3600
THIRTY_DAYS = 30 * 24 * 3600
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}
VALID = {
    "metric": "node_cpu_seconds_total",
    "anomaly": True,
    "verdict": False,
    "source": "alertmanager",
    "type": "false_positive",
    "severity": "high",
    "note": "deploy window, expected spike",
}


def valid(**overrides: Any) -> dict[str, Any]:
    return {**VALID, **overrides}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """``(labels, value)`` of every sample called ``name`` in a Prometheus exposition."""
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def sample_value(text: str, name: str, **labels: str) -> float:
    return sum(value for got, value in samples(text, name) if labels.items() <= got.items())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(claims: dict[str, Any], alg: str = "none") -> str:
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


def standard_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"test-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def sign(key_file: Path, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, SigningKey.load_or_create(key_file).private_key, algorithm="RS256")


@pytest.fixture(scope="module")
def other_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("other-key") / "other.pem"
    SigningKey.load_or_create(path)
    return path


# -- happy path ----------------------------------------------------------------------------


def test_valid_post_is_stored_with_seven_day_ttl(
    healthy_service: FeedbackServiceProcess, redis_server: RedisServer
) -> None:
    result = healthy_service.request("POST", FEEDBACK, json_body=valid(), token=healthy_service.token())

    assert result.status == 201, result.body
    body = result.json()
    assert body["status"] == "stored"
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    assert result.headers["Location"] == f"{FEEDBACK}/{body['id']}"
    assert result.headers["Content-Type"] == "application/json"
    key = f"feedback:{body['id']}"
    client = redis_server.client()
    assert SEVEN_DAYS - 5 <= client.ttl(key) <= SEVEN_DAYS
    payload = client.get(key)
    assert isinstance(payload, str)
    stored = json.loads(payload)
    assert {name: stored[name] for name in VALID} == VALID
    assert stored["submitted_by"].startswith("test-")


def test_stored_feedback_is_readable_at_its_location(
    healthy_service: FeedbackServiceProcess,
) -> None:
    token = healthy_service.token()
    created = healthy_service.request("POST", FEEDBACK, json_body=valid(note=""), token=token)
    fetched = healthy_service.request("GET", created.headers["Location"], token=token)

    assert fetched.status == 200
    assert fetched.json()["id"] == created.json()["id"]
    assert fetched.json()["note"] == ""
    missing = healthy_service.request("GET", f"{FEEDBACK}/{uuid.uuid4().hex}", token=token)
    assert missing.status == 404


def test_charset_parameter_is_accepted(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request(
        "POST",
        FEEDBACK,
        body=json.dumps(valid()).encode(),
        token=healthy_service.token(),
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert result.status == 201


def test_health_readiness_and_openapi(healthy_service: FeedbackServiceProcess) -> None:
    assert healthy_service.request("GET", "/healthz").json() == {"status": "ok"}
    assert healthy_service.request("GET", "/readyz").status == 200
    spec = healthy_service.request("GET", "/openapi.json").json()
    schema = spec["components"]["schemas"]["FeedbackRequest"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(VALID) - {"note"}
    assert schema["properties"]["severity"]["enum"] == ["low", "medium", "high", "critical"]
    assert schema["properties"]["metric"]["maxLength"] == 128
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


# -- client errors ---------------------------------------------------------------------------


def test_unknown_route_is_404(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request("GET", "/api/v1/aiops/feedbacks")
    assert result.status == 404
    assert result.json()["error"] == "not_found"


def test_route_templates_are_not_paths(healthy_service: FeedbackServiceProcess) -> None:
    token = healthy_service.token()
    assert healthy_service.request("GET", FEEDBACK + "/{id}", token=token).status == 404
    assert healthy_service.request("GET", FEEDBACK + "/NOT-A-HEX-ID", token=token).status == 404


def test_head_mirrors_get_without_body(healthy_service: FeedbackServiceProcess) -> None:
    get = healthy_service.request("GET", "/openapi.json")
    head = healthy_service.request("HEAD", "/openapi.json")
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == str(len(get.body))


def test_protocol_errors_are_json(healthy_service: FeedbackServiceProcess) -> None:
    answer = healthy_service.raw(b"BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 ")
    assert json.loads(body)["error"] == "not_implemented"


def test_wrong_method_is_405_with_allow(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request("DELETE", FEEDBACK, token=healthy_service.token())
    assert result.status == 405
    assert result.headers["Allow"] == "POST"


def test_wrong_content_type_is_415(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request(
        "POST",
        FEEDBACK,
        body=json.dumps(valid()).encode(),
        token=healthy_service.token(),
        headers={"Content-Type": "text/plain"},
    )
    assert result.status == 415
    assert result.json()["error"] == "unsupported_media_type"


def test_oversized_body_is_413(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request(
        "POST", FEEDBACK, json_body=valid(note="x" * 20_000), token=healthy_service.token()
    )
    assert result.status == 413
    assert result.json()["error"] == "payload_too_large"


def test_truncated_body_is_400_and_connection_closed(healthy_service: FeedbackServiceProcess) -> None:
    request = (
        f"POST {FEEDBACK} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {healthy_service.token()}\r\n"
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"metric"'
    )
    with socket.create_connection((healthy_service.host, healthy_service.port), timeout=5) as sock:
        sock.sendall(request.encode())
        sock.shutdown(socket.SHUT_WR)
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"Connection: close" in answer


def test_missing_content_length_is_411(healthy_service: FeedbackServiceProcess) -> None:
    request = (
        f"POST {FEEDBACK} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {healthy_service.token()}\r\n"
        "Content-Type: application/json\r\nConnection: close\r\n\r\n"
    )
    answer = healthy_service.raw(request.encode())
    assert answer.startswith(b"HTTP/1.1 411 "), answer


@pytest.mark.parametrize(
    "body",
    [b'{"metric": "cpu",', b"not json", b"", b'{"a": NaN}', b'{"a": 1, "a": 2}', b"\xff\xfe"],
    ids=["truncated", "garbage", "empty", "nan", "duplicate-key", "bad-utf8"],
)
def test_malformed_json_is_400(healthy_service: FeedbackServiceProcess, body: bytes) -> None:
    result = healthy_service.request(
        "POST",
        FEEDBACK,
        body=body,
        token=healthy_service.token(),
        headers={"Content-Type": "application/json"},
    )
    assert result.status == 400
    assert result.json()["error"] == "malformed_json"
    assert result.json()["detail"]


@pytest.mark.parametrize(
    ("document", "expected_fields"),
    [
        (valid(severity="urgent"), {"severity"}),
        (valid(anomaly=1, verdict="true"), {"anomaly", "verdict"}),
        (valid(metric="", note="n" * 1001), {"metric", "note"}),
        (valid(metric="m" * 129), {"metric"}),
        (valid(metric="\ud800", note="\udfff"), {"metric", "note"}),
        (valid(owner="me"), {"owner"}),
        ({"note": "only a note"}, {"metric", "anomaly", "verdict", "source", "type", "severity"}),
        ([valid()], {"$"}),
        ("a string", {"$"}),
    ],
    ids=[
        "enum",
        "booleans",
        "lengths",
        "too-long",
        "lone-surrogates",
        "unknown-field",
        "missing",
        "array",
        "string",
    ],
)
def test_schema_errors_are_422_with_every_field(
    healthy_service: FeedbackServiceProcess, document: Any, expected_fields: set[str]
) -> None:
    result = healthy_service.request("POST", FEEDBACK, json_body=document, token=healthy_service.token())
    assert result.status == 422
    body = result.json()
    assert body["error"] == "validation_failed"
    assert {item["field"] for item in body["fields"]} == expected_fields
    assert all(item["problem"] for item in body["fields"])


def _fuzzed_bodies(count: int, seed: int = 20240601) -> list[bytes]:
    """Deterministic junk around the valid document: byte flips, cuts, odd values and nesting."""
    rng = random.Random(seed)
    base = json.dumps(VALID).encode()
    odd_values: list[Any] = [
        None,
        0,
        1,
        -1,
        1e308,
        "",
        "x" * 2000,
        "\ud800",
        [],
        {},
        [1, [2]],
        {"a": {}},
        True,
    ]
    bodies = [b"[" * 5000, b'{"a":' * 3000, b"1" * 5000, b"1e999999", b'"\\ud800"', b"\x00" * 10]
    while len(bodies) < count:
        kind = rng.randrange(4)
        if kind == 0:
            mutated = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            bodies.append(bytes(mutated))
        elif kind == 1:
            bodies.append(base[: rng.randrange(len(base))])
        elif kind == 2:
            field = rng.choice([*VALID, "extra", ""])
            bodies.append(json.dumps({**VALID, field: rng.choice(odd_values)}).encode())
        else:
            bodies.append(json.dumps(rng.choice(odd_values)).encode())
    return bodies


def test_no_bad_input_ever_causes_a_5xx(healthy_service: FeedbackServiceProcess) -> None:
    token = healthy_service.token(sub=EXEMPT_SUBJECT)
    connection = healthy_service.connection()
    statuses: dict[int, int] = {}
    try:
        for body in _fuzzed_bodies(300):
            result = healthy_service.request(
                "POST",
                FEEDBACK,
                body=body,
                token=token,
                headers={"Content-Type": "application/json"},
                connection=connection,
            )
            statuses[result.status] = statuses.get(result.status, 0) + 1
            assert result.status in {201, 400, 422}, (body[:200], result.status, result.body)
    finally:
        connection.close()
    assert {400, 422} <= set(statuses)


def test_enum_problem_names_the_allowed_values(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request(
        "POST", FEEDBACK, json_body=valid(severity="urgent"), token=healthy_service.token()
    )
    assert result.json()["fields"] == [
        {"field": "severity", "problem": "must be one of low, medium, high, critical"}
    ]


def test_rejected_body_is_drained_and_connection_reused(
    healthy_service: FeedbackServiceProcess,
) -> None:
    connection = healthy_service.connection()
    try:
        first = healthy_service.request("POST", FEEDBACK, json_body=valid(), connection=connection)
        second = healthy_service.request(
            "POST", FEEDBACK, json_body=valid(), token=healthy_service.token(), connection=connection
        )
    finally:
        connection.close()
    assert (first.status, second.status) == (401, 201)


# -- authentication --------------------------------------------------------------------------


def _foreign(other_key: Path) -> str:
    return mint_token(other_key, sub="intruder", issuer=ISSUER, audience=AUDIENCE)


def _tampered(service: FeedbackServiceProcess) -> str:
    header, _, signature = service.token().split(".")
    forged_payload = b64url(json.dumps(standard_claims(sub="admin")).encode())
    return f"{header}.{forged_payload}.{signature}"


def _hs256_with_public_key(service: FeedbackServiceProcess) -> str:
    """Algorithm confusion: HMAC-signed with the RSA public key as the secret."""
    public_pem = SigningKey.load_or_create(service.key_file).public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(standard_claims()).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _without(claim: str) -> Callable[[FeedbackServiceProcess, Path], str]:
    return lambda service, _: sign(
        service.key_file, {k: v for k, v in standard_claims().items() if k != claim}
    )


INVALID_TOKENS: dict[str, Callable[[FeedbackServiceProcess, Path], str]] = {
    "expired": lambda s, _: s.token(issued_at=time.time() - 7200, lifetime=3600),
    "not-yet-valid": lambda s, _: s.token(not_before=time.time() + 3600),
    "issued-in-future": lambda s, _: s.token(issued_at=time.time() + 3600),
    "wrong-issuer": lambda s, _: s.token(issuer="https://evil.example"),
    "wrong-audience": lambda s, _: s.token(audience="someone-else"),
    "foreign-key": lambda _, other_key: _foreign(other_key),
    "tampered-payload": lambda s, _: _tampered(s),
    "alg-none": lambda _, __: unsigned_token(standard_claims()),
    "hs256-with-public-key": lambda s, _: _hs256_with_public_key(s),
    "missing-sub": _without("sub"),
    "missing-exp": _without("exp"),
    "missing-iat": _without("iat"),
    "garbage": lambda _, __: "not-a-jwt",
}


@pytest.mark.parametrize("case", INVALID_TOKENS)
def test_invalid_tokens_are_401_with_challenge(
    healthy_service: FeedbackServiceProcess, other_key_file: Path, case: str
) -> None:
    token = INVALID_TOKENS[case](healthy_service, other_key_file)
    result = healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token)

    assert result.status == 401
    challenge = result.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="aiops", error="invalid_token", error_description="')
    assert result.json()["error"] == "unauthorized"
    assert token not in result.body.decode()
    assert token.split(".")[0] not in result.body.decode() + challenge


@pytest.mark.parametrize("authorization", [None, "Basic dXNlcjpwYXNz", "Bearer"])
def test_missing_or_non_bearer_credentials_are_401(
    healthy_service: FeedbackServiceProcess, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    result = healthy_service.request("POST", FEEDBACK, json_body=valid(), headers=headers)
    assert result.status == 401
    if authorization is None:
        assert result.headers["WWW-Authenticate"] == 'Bearer realm="aiops"'
    else:
        assert 'error="invalid_token"' in result.headers["WWW-Authenticate"]


def test_auth_is_checked_before_content_type(healthy_service: FeedbackServiceProcess) -> None:
    result = healthy_service.request("POST", FEEDBACK, body=b"x", headers={"Content-Type": "text/plain"})
    assert result.status == 401


# -- rate limiting ---------------------------------------------------------------------------


def test_rate_limit_returns_429_after_budget(healthy_service: FeedbackServiceProcess) -> None:
    token = healthy_service.token()
    statuses, remaining = [], []
    for _ in range(5):
        result = healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token)
        statuses.append(result.status)
        remaining.append(int(result.headers["RateLimit-Remaining"]))
        assert result.headers["RateLimit-Limit"] == "5"
        assert 0 < int(result.headers["RateLimit-Reset"]) <= 60
    limited = healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token)

    assert statuses == [201] * 5
    assert remaining == [4, 3, 2, 1, 0]
    assert limited.status == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"] == "rate_limited"
    assert limited.headers["RateLimit-Remaining"] == "0"


def test_rate_limit_is_checked_before_content_type(healthy_service: FeedbackServiceProcess) -> None:
    token = healthy_service.token()
    for _ in range(5):
        healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token)
    result = healthy_service.request(
        "POST", FEEDBACK, body=b"x", token=token, headers={"Content-Type": "text/plain"}
    )
    assert result.status == 429


def test_exempt_subject_is_not_limited(healthy_service: FeedbackServiceProcess) -> None:
    token = healthy_service.token(sub=EXEMPT_SUBJECT)
    results = [healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token) for _ in range(8)]
    assert [r.status for r in results] == [201] * 8
    assert all("RateLimit-Limit" not in r.headers for r in results)


# -- metrics and JWKS ------------------------------------------------------------------------


def test_metrics_exposition_parses_and_counts_with_bounded_labels(
    healthy_service: FeedbackServiceProcess,
) -> None:
    labels = {"source": "cli", "type": "improvement", "severity": "critical"}
    before = sample_value(healthy_service.metrics_text(), "aiops_feedback_total", **labels)
    healthy_service.request("POST", FEEDBACK, json_body=valid(**labels), token=healthy_service.token())
    healthy_service.request("GET", "/no/such/path/123")
    response = healthy_service.request("GET", "/metrics/aiops")
    text = response.body.decode()

    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert sample_value(text, "aiops_feedback_total", **labels) == before + 1
    assert all(set(got) == {"source", "type", "severity"} for got, _ in samples(text, "aiops_feedback_total"))
    routes = {got["route"] for got, _ in samples(text, "aiops_http_requests_total")}
    assert "/api/v1/aiops/feedback" in routes and "other" in routes
    assert not any(route.startswith("/no/") for route in routes)
    buckets = {got["le"] for got, _ in samples(text, "aiops_http_request_duration_seconds_bucket")}
    assert {"0.1", "0.12", "0.15"} <= buckets
    assert sample_value(text, "aiops_http_errors_total", route="other", status_class="4xx") >= 1
    assert sample_value(text, "aiops_redis_connected") == 1


def test_jwks_publishes_only_public_members(healthy_service: FeedbackServiceProcess) -> None:
    (key,) = healthy_service.request("GET", "/.well-known/jwks.json").json()["keys"]

    assert not PRIVATE_JWK_MEMBERS & set(key)
    assert {key["kty"], key["alg"], key["use"]} == {"RSA", "RS256", "sig"}
    thumbprint_input = json.dumps({"e": key["e"], "kty": "RSA", "n": key["n"]}, separators=(",", ":"))
    assert key["kid"] == b64url(hashlib.sha256(thumbprint_input.encode()).digest())
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(
        healthy_service.token(sub="jwks"), public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["sub"] == "jwks"


# -- Redis resilience ------------------------------------------------------------------------


def kill_service_connections(redis_server: RedisServer) -> int:
    """Kill every Redis connection named feedback-service (by id; 7.0 cannot filter by name)."""
    client = redis_server.client()
    ids = [entry["id"] for entry in client.client_list() if entry.get("name") == "feedback-service"]
    for client_id in ids:
        client.client_kill_filter(_id=client_id)
    return len(ids)


def test_request_succeeds_after_redis_connections_are_killed(
    healthy_service: FeedbackServiceProcess, redis_server: RedisServer
) -> None:
    token = healthy_service.token(sub=EXEMPT_SUBJECT)
    assert healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token).status == 201
    assert kill_service_connections(redis_server) >= 1

    assert healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token).status == 201
    assert (
        healthy_service.request("POST", FEEDBACK, json_body=valid(), token=healthy_service.token()).status
        == 201
    )


def test_redis_outage_is_503_and_counted(launch_service: LaunchService, spawn_redis: SpawnRedis) -> None:
    doomed = spawn_redis()
    service = launch_service(redis_url=doomed.url)
    token = service.token()
    assert service.request("POST", FEEDBACK, json_body=valid(), token=token).status == 201
    doomed.stop()

    result = service.request("POST", FEEDBACK, json_body=valid(), token=token)
    text = service.metrics_text()

    assert result.status == 503
    assert result.json() == {"error": "storage_unavailable"}
    assert service.request("GET", "/readyz").status == 503
    assert sample_value(text, "aiops_redis_errors_total") >= 1
    assert sample_value(text, "aiops_redis_connected") == 0


# -- CLI --------------------------------------------------------------------------------------


def test_unknown_fault_exits_2(run_cli: RunCli, redis_server: RedisServer, signing_key_file: Path) -> None:
    completed = run_cli(
        "serve",
        "--redis-url",
        redis_server.url,
        "--key-file",
        str(signing_key_file),
        "--port",
        "0",
        "--fault",
        "no_such_fault",
    )
    assert completed.returncode == 2
    assert "unknown fault 'no_such_fault'" in completed.stderr


def test_mint_token_cli_prints_a_verifiable_token(
    run_cli: RunCli, healthy_service: FeedbackServiceProcess, signing_key_file: Path
) -> None:
    completed = run_cli(
        "mint-token", "--key-file", str(signing_key_file), "--sub", "cli-user", "--scope", "feedback:write"
    )
    assert completed.returncode == 0, completed.stderr
    token = completed.stdout.strip()
    assert healthy_service.request("POST", FEEDBACK, json_body=valid(), token=token).status == 201
    assert jwt.decode(token, options={"verify_signature": False})["scope"] == "feedback:write"


def test_generated_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh.pem"
    SigningKey.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600


# -- fault switches: each one must break exactly the behaviour its check looks at -----------


@pytest.fixture(scope="module")
def faulty(service_pool: ServicePool) -> ServicePool:
    """``faulty[name]``: a service with just that fault switched on (started on first use)."""
    for fault in FAULT_NAMES:
        service_pool.define(fault, faults=[fault])
    return service_pool


def test_every_fault_has_a_test() -> None:
    assert {f"test_fault_{fault}" for fault in FAULT_NAMES} <= set(globals())


def test_fault_no_ttl(faulty: ServicePool, redis_server: RedisServer) -> None:
    service = faulty["no_ttl"]
    result = service.request("POST", FEEDBACK, json_body=valid(), token=service.token())
    assert result.status == 201
    assert redis_server.client().ttl(f"feedback:{result.json()['id']}") == -1


def test_fault_long_ttl(faulty: ServicePool, redis_server: RedisServer) -> None:
    service = faulty["long_ttl"]
    result = service.request("POST", FEEDBACK, json_body=valid(), token=service.token())
    assert THIRTY_DAYS - 5 <= redis_server.client().ttl(f"feedback:{result.json()['id']}") <= THIRTY_DAYS


def test_fault_no_rate_limit(faulty: ServicePool) -> None:
    service = faulty["no_rate_limit"]
    token = service.token()
    statuses = [service.request("POST", FEEDBACK, json_body=valid(), token=token).status for _ in range(7)]
    assert statuses == [201] * 7


def test_fault_error_500_on_bad_input(faulty: ServicePool) -> None:
    service = faulty["error_500_on_bad_input"]
    token = service.token(sub=EXEMPT_SUBJECT)
    malformed = service.request(
        "POST", FEEDBACK, body=b"{", token=token, headers={"Content-Type": "application/json"}
    )
    invalid = service.request("POST", FEEDBACK, json_body=valid(severity="urgent"), token=token)

    assert (malformed.status, invalid.status) == (500, 500)
    assert malformed.json() == {"error": "internal_error"}
    assert sample_value(service.metrics_text(), "aiops_http_errors_total", status_class="5xx") == 2


def test_fault_no_auth(faulty: ServicePool) -> None:
    service = faulty["no_auth"]
    assert service.request("POST", FEEDBACK, json_body=valid()).status == 201
    assert service.request("POST", FEEDBACK, json_body=valid(), token="garbage").status == 201


def test_fault_accept_alg_none(faulty: ServicePool, other_key_file: Path) -> None:
    service = faulty["accept_alg_none"]
    unsigned = service.request(
        "POST", FEEDBACK, json_body=valid(), token=unsigned_token(standard_claims(sub="admin"))
    )
    foreign = service.request("POST", FEEDBACK, json_body=valid(), token=_foreign(other_key_file))
    assert (unsigned.status, foreign.status) == (201, 401)


def test_fault_unlabelled_metrics(faulty: ServicePool) -> None:
    service = faulty["unlabelled_metrics"]
    service.request("POST", FEEDBACK, json_body=valid(), token=service.token())
    assert samples(service.metrics_text(), "aiops_feedback_total") == [({}, 1.0)]


def test_fault_wrong_metric_labels(faulty: ServicePool) -> None:
    service = faulty["wrong_metric_labels"]
    service.request(
        "POST", FEEDBACK, json_body=valid(note="customer ACME, ticket 4711"), token=service.token()
    )
    ((labels, value),) = samples(service.metrics_text(), "aiops_feedback_total")
    assert labels["note"] == "customer ACME, ticket 4711" and value == 1


def test_fault_jwks_private(faulty: ServicePool) -> None:
    service = faulty["jwks_private"]
    (key,) = service.request("GET", "/.well-known/jwks.json").json()["keys"]
    assert set(key) >= PRIVATE_JWK_MEMBERS


def test_fault_no_redis_retry(faulty: ServicePool, redis_server: RedisServer) -> None:
    service = faulty["no_redis_retry"]
    token = service.token(sub=EXEMPT_SUBJECT)
    # Other tests may have killed this service's connection already; that costs one 503.
    warm_up = [service.request("POST", FEEDBACK, json_body=valid(), token=token).status for _ in range(2)]
    assert warm_up[-1] == 201
    assert kill_service_connections(redis_server) >= 1

    after_kill = service.request("POST", FEEDBACK, json_body=valid(), token=token)
    assert after_kill.status == 503
    assert after_kill.json() == {"error": "storage_unavailable"}
    assert service.request("POST", FEEDBACK, json_body=valid(), token=token).status == 201


def test_fault_slow(faulty: ServicePool) -> None:
    service = faulty["slow"]
    token = service.token(sub=EXEMPT_SUBJECT)
    started = time.perf_counter()
    result = service.request("POST", FEEDBACK, json_body=valid(), token=token)
    assert result.status == 201
    assert time.perf_counter() - started >= 0.2


def test_fault_lenient_schema(faulty: ServicePool) -> None:
    service = faulty["lenient_schema"]
    result = service.request(
        "POST", FEEDBACK, json_body={"anomaly": "yes", "severity": 7, "x": 1}, token=service.token()
    )
    assert result.status == 201


def test_fault_wrong_status_codes(faulty: ServicePool) -> None:
    service = faulty["wrong_status_codes"]
    token = service.token(sub=EXEMPT_SUBJECT)
    wrong_type = service.request(
        "POST", FEEDBACK, body=b"{}", token=token, headers={"Content-Type": "text/plain"}
    )
    too_big = service.request("POST", FEEDBACK, json_body=valid(note="x" * 20_000), token=token)
    unknown = service.request("GET", "/definitely/not/here")
    wrong_method = service.request("GET", FEEDBACK, token=token)

    assert (wrong_type.status, too_big.status, wrong_method.status) == (400, 400, 404)
    assert unknown.status == 200 and unknown.headers["Content-Type"].startswith("text/html")


def test_fault_metrics_renamed(faulty: ServicePool) -> None:
    service = faulty["metrics_renamed"]
    service.request("POST", FEEDBACK, json_body=valid(), token=service.token())
    text = service.metrics_text()
    assert samples(text, "aiops_feedback_total") == []
    assert sum(value for _, value in samples(text, "aiops_feedbacks_total")) == 1


def test_faults_can_be_set_through_the_environment(launch_service: LaunchService) -> None:
    service = launch_service(env={"FEEDBACK_FAULTS": "no_auth,jwks_private"})
    assert service.request("POST", FEEDBACK, json_body=valid()).status == 201
    (key,) = service.request("GET", "/.well-known/jwks.json").json()["keys"]
    assert set(key) >= PRIVATE_JWK_MEMBERS
