"""probes/jwt_cases.py: each token is refused by a real verifier for the reason its name says."""
from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pytest_release.probes.jwt_cases import (
    bad_claim_tokens,
    forged_tokens,
    read_signing_key,
    segments,
)

ISSUER, AUDIENCE = "https://issuer.test", "feedback"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def valid(key: rsa.RSAPrivateKey) -> str:
    now = int(time.time())
    claims = {"sub": "ci", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def _verify(token: str, key: rsa.RSAPrivateKey) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, key.public_key(), algorithms=["RS256"],
                                            issuer=ISSUER, audience=AUDIENCE)
    return decoded


def test_segments_reads_header_and_claims(valid: str) -> None:
    header, claims, signature = segments(valid)
    assert header == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    assert claims["sub"] == "ci" and signature == valid.rsplit(".", 1)[1]


def test_forged_tokens_all_fail_verification(valid: str, key: rsa.RSAPrivateKey) -> None:
    assert _verify(valid, key)["sub"] == "ci"
    cases = forged_tokens(valid)
    assert set(cases) == {"no token", "garbage token", "alg none", "signed by another key",
                          "tampered payload"}
    assert cases["no token"] is None
    for name, token in cases.items():
        if token is None:
            continue
        with pytest.raises(jwt.InvalidTokenError):
            _verify(token, key)
        if name != "garbage token":
            assert segments(token)[1]["sub"].startswith("ci"), name  # same claims, bar tampering
    assert segments(cases["alg none"] or "")[0]["alg"] == "none"
    assert (cases["alg none"] or "").endswith(".")
    assert segments(cases["signed by another key"] or "")[0]["kid"] == "k1"
    assert segments(cases["tampered payload"] or "")[1]["sub"] == "ci-admin"
    assert segments(cases["tampered payload"] or "")[2] == segments(valid)[2]


def test_bad_claims_are_validly_signed_and_refused_for_their_claim(
        valid: str, key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    cases = bad_claim_tokens(valid, read_signing_key(pem))
    expected = {"expired": jwt.ExpiredSignatureError,
                "not yet valid": jwt.ImmatureSignatureError,
                "wrong issuer": jwt.InvalidIssuerError,
                "wrong audience": jwt.InvalidAudienceError}
    assert set(cases) == set(expected)
    for name, error in expected.items():
        with pytest.raises(error):
            _verify(cases[name], key)
        # The signature itself is good: only the claim is wrong.
        jwt.decode(cases[name], key.public_key(), algorithms=["RS256"],
                   options={"verify_exp": False, "verify_nbf": False, "verify_iss": False,
                            "verify_aud": False})


def test_a_missing_key_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_signing_key(tmp_path / "absent.pem")
