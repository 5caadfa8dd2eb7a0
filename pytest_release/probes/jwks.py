"""Facts about a JSON Web Key Set endpoint and whether a token verifies against it (PyJWT).

Private members (RFC 7518 §6.3.2 ``d p q dp dq qi oth``, §6.4 ``k``) are reported by name only;
their values never leave this module.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..redact import safe_url
from . import _http, require

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                         "ES256", "ES384", "ES512", "EdDSA")
#: The key type each algorithm family signs with (RFC 7518 §3.1, RFC 8037).
_ALG_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def kty_for_alg(alg: str) -> str | None:
    """The ``kty`` a key declaring ``alg`` must have (``RS256`` → ``RSA``); None if unknown."""
    return _ALG_KTY.get(alg[:2])


@dataclass(frozen=True)
class KeyFacts:
    """One JWK, public facts only."""

    index: int
    kid: str | None
    kty: str | None
    alg: str | None
    use: str | None
    size_bits: int | None
    crv: str | None
    private_members: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"key {self.kid!r}" if self.kid else f"key #{self.index}"


@dataclass
class JwksDocument:
    url: str
    status: int
    content_type: str
    cache_control: str | None
    error: str | None = None
    keys: list[KeyFacts] = field(default_factory=list)
    raw_keys: list[dict[str, Any]] = field(default_factory=list)


def _b64_int_bits(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "big").bit_length()


def key_facts(jwk: Mapping[str, Any], index: int) -> KeyFacts:
    kty = jwk.get("kty")
    return KeyFacts(
        index=index,
        kid=str(jwk["kid"]) if jwk.get("kid") not in (None, "") else None,
        kty=str(kty) if kty else None,
        alg=str(jwk["alg"]) if jwk.get("alg") else None,
        use=str(jwk["use"]) if jwk.get("use") else None,
        size_bits=_b64_int_bits(jwk.get("n")) if kty == "RSA" else None,
        crv=str(jwk["crv"]) if jwk.get("crv") else None,
        private_members=tuple(m for m in PRIVATE_MEMBERS if m in jwk),
    )


def parse_jwks(body: str, document: JwksDocument) -> JwksDocument:
    try:
        data = json.loads(body)
    except ValueError as exc:
        document.error = f"not JSON: {exc}"
        return document
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        document.error = 'not a JWK Set: expected {"keys": [...]}'
        return document
    for index, jwk in enumerate(data["keys"]):
        if not isinstance(jwk, dict):
            document.error = f"keys[{index}] is not an object"
            continue
        document.raw_keys.append(jwk)
        document.keys.append(key_facts(jwk, index))
    return document


def fetch_jwks(url: str, *, timeout_s: float = 5.0) -> JwksDocument:
    """GET the key set; unreachable → ProbeUnavailable; a bad document → ``error``."""
    response = _http.send("GET", url, timeout_s=timeout_s, what="JWKS endpoint",
                          setting="observability.timeout_s",
                          display_url=safe_url(url), headers={"Accept": "application/json"})
    document = JwksDocument(safe_url(url), response.status_code,
                            response.headers.get("Content-Type", ""),
                            response.headers.get("Cache-Control"))
    if response.status_code != 200:
        document.error = f"HTTP {response.status_code}"
        return document
    return parse_jwks(response.text, document)


@dataclass(frozen=True)
class TokenVerification:
    kid: str | None
    alg: str | None
    verified_with: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.verified_with is not None


def verify_token(token: str, keys: Sequence[Mapping[str, Any]], *, audience: str | None = None,
                 issuer: str | None = None) -> TokenVerification:
    """Verify ``token``'s signature (and exp/nbf, plus aud/iss when given) against ``keys``.

    Only the public members of each key are used, so a key set that leaks its private part
    still answers the question "does the service's token verify?" honestly.
    """
    jwt = require("jwt", "PyJWT[crypto]")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        return TokenVerification(None, None, None, f"not a JWT: {exc}")
    kid, alg = header.get("kid"), header.get("alg")
    if alg not in ASYMMETRIC_ALGORITHMS:
        return TokenVerification(kid, alg, None,
                                 f"token alg {alg!r} is not an asymmetric signature algorithm")
    candidates = [k for k in keys if kid is None or k.get("kid") == kid]
    if not candidates:
        return TokenVerification(kid, alg, None, f"no key with kid {kid!r} in the set")
    errors = []
    for jwk in candidates:
        public = {k: v for k, v in jwk.items() if k not in PRIVATE_MEMBERS}
        try:
            key = jwt.PyJWK(public, algorithm=public.get("alg") or alg)
            jwt.decode(token, key=key.key, algorithms=[alg], audience=audience, issuer=issuer,
                       options={"verify_aud": audience is not None})
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            errors.append(f"{jwk.get('kid')!r}: {type(exc).__name__}: {exc}")
            continue
        return TokenVerification(kid, alg, str(jwk.get("kid")), None)
    return TokenVerification(kid, alg, None, "; ".join(errors))
