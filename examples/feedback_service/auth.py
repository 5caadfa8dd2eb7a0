"""Signing key management, JWKS publication, token minting and verification."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import jwt.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHM = "RS256"
KEY_SIZE = 2048
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("exp", "iat", "sub")
REALM = "aiops"
VERIFIED_TOKEN_CACHE_SIZE = 1024

Timestamp = float | datetime


def _b64url_uint(value: int) -> str:
    """Encode a non-negative integer as unpadded base64url of its big-endian bytes."""
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """An RSA key pair plus its RFC 7638 key id."""

    private_key: rsa.RSAPrivateKey
    kid: str

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The public half used for verification."""
        return self.private_key.public_key()

    @classmethod
    def from_private_key(cls, private_key: rsa.RSAPrivateKey) -> SigningKey:
        """Wrap ``private_key`` and derive its RFC 7638 thumbprint."""
        numbers = private_key.public_key().public_numbers()
        # RFC 7638: required members only, lexicographic order, no whitespace.
        canonical = json.dumps(
            {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
            separators=(",", ":"),
            sort_keys=True,
        )
        digest = hashlib.sha256(canonical.encode("ascii")).digest()
        kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return cls(private_key=private_key, kid=kid)

    @classmethod
    def load_or_create(cls, path: Path | str) -> SigningKey:
        """Load the PEM key at ``path``; generate and persist one (mode 0600) if absent.

        Loaded keys are memoised per file version: parsing and validating an
        RSA key costs tens of milliseconds, which matters to callers that mint
        many tokens.
        """
        path = Path(path).resolve()
        if not path.exists():
            _write_new_key(path)
        stat = path.stat()
        return _load_key(path, stat.st_mtime_ns, stat.st_size)

    def jwk(self, *, include_private: bool = False) -> dict[str, str]:
        """Return the key as a JWK; private members only if ``include_private``."""
        public = self.public_key.public_numbers()
        jwk = {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
            "n": _b64url_uint(public.n),
            "e": _b64url_uint(public.e),
        }
        if include_private:
            private = self.private_key.private_numbers()
            jwk.update(
                d=_b64url_uint(private.d),
                p=_b64url_uint(private.p),
                q=_b64url_uint(private.q),
                dp=_b64url_uint(private.dmp1),
                dq=_b64url_uint(private.dmq1),
                qi=_b64url_uint(private.iqmp),
            )
        return jwk


def _write_new_key(path: Path) -> None:
    """Generate a key and publish it at ``path`` without ever exposing a partial file.

    The PEM is written to a private temporary file and hard-linked into place,
    so concurrent starters never overwrite each other: the race's loser simply
    loads the winner's key.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates files with mode 0600
            handle.write(pem)
        os.link(tmp_name, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp_name)


@functools.lru_cache(maxsize=16)
def _load_key(path: Path, mtime_ns: int, size: int) -> SigningKey:
    """Parse and check the key at ``path``; ``mtime_ns`` and ``size`` only key the cache."""
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey) or loaded.key_size < KEY_SIZE:
        raise ValueError(f"{path} does not hold an RSA private key of at least {KEY_SIZE} bits")
    return SigningKey.from_private_key(loaded)


def _epoch(value: Timestamp) -> int:
    return int(value.timestamp() if isinstance(value, datetime) else value)


def mint_token(
    key_file: Path | str,
    *,
    sub: str,
    issuer: str,
    audience: str,
    lifetime: float = 3600,
    not_before: Timestamp | None = None,
    issued_at: Timestamp | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Mint an RS256 token signed with the key in ``key_file`` (created if missing).

    ``exp`` is ``issued_at + lifetime``; ``issued_at`` defaults to now. Pass a
    past ``issued_at`` or a negative ``lifetime`` for an expired token and a
    future ``not_before`` for a not-yet-valid one. ``extra_claims`` are merged
    last and may override any standard claim.
    """
    key = SigningKey.load_or_create(key_file)
    iat = _epoch(issued_at) if issued_at is not None else int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "iat": iat,
        "exp": int(iat + lifetime),
        "jti": uuid.uuid4().hex,
    }
    if not_before is not None:
        claims["nbf"] = _epoch(not_before)
    claims.update(extra_claims or {})
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


class AuthenticationError(Exception):
    """The request carries no usable credentials.

    ``error`` is the RFC 6750 error code (``None`` when no token was sent at all)
    and ``description`` a fixed, token-free explanation.
    """

    def __init__(self, description: str, *, error: str | None = "invalid_token") -> None:
        super().__init__(description)
        self.description = description
        self.error = error

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header value for this failure."""
        if self.error is None:
            return f'Bearer realm="{REALM}"'
        return f'Bearer realm="{REALM}", error="{self.error}", error_description="{self.description}"'


# Most specific first: several of these subclass each other.
_TOKEN_ERRORS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not yet valid"),
    (jwt.InvalidIssuerError, "the token issuer is not accepted"),
    (jwt.InvalidAudienceError, "the token audience is not accepted"),
    (jwt.InvalidAlgorithmError, "the token signing algorithm is not accepted"),
    (jwt.InvalidSignatureError, "the token signature is invalid"),
    (jwt.exceptions.InvalidSubjectError, "the token subject is invalid"),
    (jwt.InvalidIssuedAtError, "the token issued-at time is invalid"),
    (jwt.DecodeError, "the token is malformed"),
)


def _describe(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token lacks the required {exc.claim} claim"
    for error_type, description in _TOKEN_ERRORS:
        if isinstance(exc, error_type):
            return description
    return "the token is invalid"


@dataclasses.dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    subject: str


class TokenVerifier:
    """Verifies ``Authorization: Bearer`` headers against one RS256 public key.

    Tokens that pass full verification are remembered (bounded LRU, keyed by
    the whole token, signature included) until they expire, so a client that
    reuses its token pays for RSA verification once rather than per request.
    """

    def __init__(
        self,
        public_key: rsa.RSAPublicKey,
        *,
        issuer: str,
        audience: str,
        accept_unsigned: bool = False,
    ) -> None:
        """Create a verifier.

        Args:
            public_key: key that must have signed every token.
            issuer: required ``iss``.
            audience: required ``aud``.
            accept_unsigned: fault switch; trust ``alg: none`` tokens blindly.
        """
        self._public_key = public_key
        self._issuer = issuer
        self._audience = audience
        self._accept_unsigned = accept_unsigned
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Principal:
        """Return the caller named by a valid bearer token.

        Raises:
            AuthenticationError: for a missing, malformed or invalid token.
        """
        if authorization is None:
            raise AuthenticationError("a bearer token is required", error=None)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
        principal = self._recall(token)
        if principal is not None:
            return principal
        try:
            if self._accept_unsigned and _is_unsigned(token):
                claims = jwt.decode(
                    token, options={"verify_signature": False, "require": list(REQUIRED_CLAIMS)}
                )
                return Principal(subject=str(claims["sub"]))
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError(_describe(exc)) from None
        principal = Principal(subject=str(claims["sub"]))
        self._remember(token, principal, float(claims["exp"]))
        return principal

    def _recall(self, token: str) -> Principal | None:
        """The principal of an already verified token, unless it has expired since."""
        with self._lock:
            entry = self._verified.get(token)
            if entry is None:
                return None
            principal, expires_at = entry
            if time.time() > expires_at + LEEWAY_SECONDS:
                del self._verified[token]
                return None
            self._verified.move_to_end(token)
            return principal

    def _remember(self, token: str, principal: Principal, expires_at: float) -> None:
        with self._lock:
            self._verified[token] = (principal, expires_at)
            if len(self._verified) > VERIFIED_TOKEN_CACHE_SIZE:
                self._verified.popitem(last=False)


def _is_unsigned(token: str) -> bool:
    return str(jwt.get_unverified_header(token).get("alg", "")).lower() == "none"
