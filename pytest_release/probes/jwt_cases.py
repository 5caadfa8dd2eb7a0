"""Bearer tokens a service must refuse: forged, re-signed, tampered, or validly signed with bad
claims. Built from one valid token of the service; PyJWT and cryptography are imported on use.

The cases only build strings; sending them and judging the answers is the gate test's job.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from . import require


def b64url(data: bytes) -> str:
    """base64url without padding, as JWS segments are written (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return decoded


class TokenMaterialError(ValueError):
    """Token or key material a setting supplied cannot be used; the message names the setting
    and how to fix it, never the material itself."""


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, claims, signature) of a compact JWS, without verifying anything.

    Raises ``TokenMaterialError`` when the token is not header.payload.signature with JSON
    object segments (an opaque API key, a truncated or mangled token).
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenMaterialError(
            f"api.token is not a JWT ({len(parts)} dot-separated segments, a compact JWS has 3): "
            "the JWT check builds its forged tokens from a valid one; set api.token to a token "
            "the service issues")
    try:
        header, claims = _b64url_json(parts[0]), _b64url_json(parts[1])
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenMaterialError(
            f"api.token is not a JWT (a segment is not base64url JSON: {type(exc).__name__}): "
            "set api.token to a token the service issues") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenMaterialError("api.token is not a JWT (header or claims are not JSON "
                                 "objects): set api.token to a token the service issues")
    return header, claims, parts[2]


def forged_tokens(valid_token: str) -> dict[str, str | None]:
    """Tokens any service must refuse, whatever key it trusts (``None``: no token at all).

    ``alg none`` carries the valid claims unsigned; ``signed by another key`` the same claims
    signed by a fresh RSA key under the valid token's ``kid``; ``tampered payload`` keeps the
    valid signature over changed claims.
    """
    jwt = require("jwt", "PyJWT[crypto]")
    rsa = require("cryptography.hazmat.primitives.asymmetric.rsa", "cryptography")
    header, claims, signature = segments(valid_token)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tampered = {**claims, "sub": claims.get("sub", "x") + "-admin"}
    unsigned_header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "no token": None,
        "garbage token": "not.a.jwt",
        "alg none": f"{unsigned_header}.{b64url(json.dumps(claims).encode())}.",
        "signed by another key": str(jwt.encode(claims, stranger, algorithm="RS256",
                                                headers={"kid": header.get("kid")})),
        "tampered payload": f"{valid_token.split('.')[0]}."
                            f"{b64url(json.dumps(tampered).encode())}.{signature}",
    }


def read_signing_key(path: str | Path) -> bytes:
    """The PEM private key the service trusts (``api.signing_key_file``)."""
    return Path(path).read_bytes()


def bad_claim_tokens(valid_token: str, signing_key: bytes, *,
                     now: int | None = None) -> dict[str, str]:
    """Validly signed tokens (the service's own key) whose claims must still be refused:
    expired, not yet valid, wrong issuer, wrong audience."""
    jwt = require("jwt", "PyJWT[crypto]")
    header, claims, _ = segments(valid_token)
    now = int(time.time()) if now is None else now
    base = {**claims, "iat": now - 60}

    def signed(extra: dict[str, Any]) -> str:
        try:
            return str(jwt.encode({**base, **extra}, signing_key, algorithm="RS256",
                                  headers={"kid": header.get("kid")}))
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise TokenMaterialError(
                f"api.signing_key_file is not an RSA private key PyJWT can sign with "
                f"({type(exc).__name__}): point it at the PEM key the service trusts") from None

    return {
        "expired": signed({"iat": now - 7200, "exp": now - 3600}),
        "not yet valid": signed({"nbf": now + 3600, "exp": now + 7200}),
        "wrong issuer": signed({"iss": "https://attacker.invalid", "exp": now + 600}),
        "wrong audience": signed({"aud": "someone-else", "exp": now + 600}),
    }
