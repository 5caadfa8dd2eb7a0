"""A small OCI registry client (distribution API v2 over HTTP) and cosign's key-based layout.

Facts only: :class:`Registry` resolves a tag to the digest the registry serves, fetches
manifests and blobs (each digest re-computed from the bytes, never trusted from a header), and
:func:`verify_cosign` walks cosign's documented key-based signature layout:

    image digest → tag ``sha256-<hex>.sig`` → manifest → layers of media type
    ``application/vnd.dev.cosign.simplesigning.v1+json`` → blob (the payload) → annotation
    ``dev.cosignproject.cosign/signature`` (base64 ECDSA P-256 / SHA-256 over the blob bytes)
    → payload ``critical.image.docker-manifest-digest`` == image digest.

Every request runs under a total deadline; an unreachable or slow registry raises
:class:`ProbeUnavailable`. Nothing here asserts: the gate decides what a fact means.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import ProbeUnavailable, _http

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_TYPE = "cosign container image signature"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_MANIFEST_BYTES = 4 << 20
MAX_BLOB_BYTES = 64 << 20


@dataclass(frozen=True)
class ImageRef:
    """``host[:port]/repo[:tag][@sha256:...]`` split into its parts."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """``registry/repository`` (no tag, no digest)."""
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_ref(text: str) -> ImageRef:
    """Parse an image reference; raises ``ValueError`` with what is wrong."""
    ref = text.strip()
    if not ref:
        raise ValueError("empty image reference")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"{text!r}: the digest must be sha256:<64 hex digits>")
    first, sep, rest = ref.partition("/")
    if not sep or not ("." in first or ":" in first or first == "localhost"):
        raise ValueError(f"{text!r}: name the registry host, e.g. registry.example.com/team/app:tag")
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
    if not rest or not re.match(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$", rest):
        raise ValueError(f"{text!r}: {rest!r} is not a repository name")
    if tag is not None and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", tag):
        raise ValueError(f"{text!r}: {tag!r} is not a tag")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(first, rest, tag, digest)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def signature_tag(digest: str) -> str:
    """cosign's tag for the signatures of ``digest``: ``sha256-<hex>.sig``."""
    return digest.replace(":", "-") + ".sig"


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    raw: bytes
    data: dict[str, Any]

    @property
    def layers(self) -> list[dict[str, Any]]:
        return [layer for layer in self.data.get("layers") or [] if isinstance(layer, dict)]


class Registry:
    """The registry API of one host; ``base_url`` like ``http://127.0.0.1:5000``.

    Authentication follows the distribution spec: on a ``401`` with a ``Basic`` challenge the
    request is repeated with ``username``/``password``; with a ``Bearer`` challenge a token is
    fetched from its realm (anonymously, or with the credentials) and the request repeated.
    """

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, verify_tls: bool = True,
                 username: str | None = None, password: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.verify_tls = verify_tls
        self._credentials = (username, password or "") if username else None
        self._authorization: str | None = None

    def _request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                 data: bytes | None = None, max_bytes: int = MAX_MANIFEST_BYTES,
                 ok: Sequence[int] = (200,)) -> tuple[int, Mapping[str, str], bytes]:
        """One request under a total deadline, authenticated on a 401 challenge."""
        try:
            return self._send(method, path, headers, data, max_bytes, ok)
        except RegistryStatus as exc:
            if exc.status != 401 or not exc.challenge:
                raise
            authorization = self._answer(exc.challenge)
            if authorization is None or authorization == self._authorization:
                raise
            self._authorization = authorization
        return self._send(method, path, headers, data, max_bytes, ok)

    def _answer(self, challenge: str) -> str | None:
        """The ``Authorization`` header that answers a ``WWW-Authenticate`` challenge."""
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self._credentials is None:
                return None
            raw = f"{self._credentials[0]}:{self._credentials[1]}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        if scheme.lower() != "bearer":
            return None
        params = dict(re.findall(r'(\w+)="([^"]*)"', params_text))
        realm = params.pop("realm", "")
        if not realm.startswith(("http://", "https://")):
            return None
        basic = None
        if self._credentials is not None:
            raw = f"{self._credentials[0]}:{self._credentials[1]}".encode()
            basic = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        try:
            response, body = _http.get_json(
                realm, timeout_s=self.timeout_s, what="registry token service",
                display_url=realm.split("?", 1)[0], headers=basic, params=params,
                setting="security.timeout_s")
        except ProbeUnavailable as exc:
            raise ProbeUnavailable(f"registry {self.base_url}: the token service did not "
                                   f"answer ({exc})") from None
        if response.status_code != 200:
            body = {}
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise ProbeUnavailable(f"registry {self.base_url}: the token service {realm} "
                                   f"refused ({response.status_code})")
        return f"Bearer {token}"

    def _send(self, method: str, path: str, headers: Mapping[str, str] | None,
              data: bytes | None, max_bytes: int, ok: Sequence[int]
              ) -> tuple[int, Mapping[str, str], bytes]:
        """One request under a total deadline (connect + headers + body): :func:`._http.send`."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        sent = dict(headers or {})
        if self._authorization:
            sent["Authorization"] = self._authorization
        response = _http.send(method, url, timeout_s=self.timeout_s, what="registry",
                              display_url=self.base_url, headers=sent, data=data,
                              allow_redirects=True, max_bytes=max_bytes, verify=self.verify_tls,
                              setting="security.timeout_s")
        body = response.content
        if response.status_code not in ok:
            raise RegistryStatus(response.status_code, method, path, bytes(body[:300]),
                                 response.headers.get("WWW-Authenticate", ""))
        return response.status_code, response.headers, bytes(body)

    def ping(self) -> None:
        """``GET /v2/``; raises :class:`ProbeUnavailable` unless the registry answers 200/401."""
        try:
            self._send("GET", "/v2/", None, None, MAX_MANIFEST_BYTES, (200, 401))
        except RegistryStatus as exc:
            raise ProbeUnavailable(f"registry {self.base_url} answered {exc.status} on /v2/") from None

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest of a tag or digest, or ``None`` when the registry has none (404)."""
        try:
            _status, headers, raw = self._request(
                "GET", f"/v2/{repository}/manifests/{reference}",
                headers={"Accept": ", ".join(MANIFEST_TYPES)})
        except RegistryStatus as exc:
            if exc.status == 404:
                return None
            raise ProbeUnavailable(str(exc)) from None
        digest = sha256_digest(raw)
        if reference.startswith("sha256:") and reference != digest:
            raise ProbeUnavailable(f"registry {self.base_url} served {repository}@{reference} "
                                   f"with content of digest {digest}")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProbeUnavailable(f"{repository}:{reference}: the manifest is not JSON") from None
        if not isinstance(data, dict):
            raise ProbeUnavailable(f"{repository}:{reference}: the manifest is not a JSON object")
        media_type = str(data.get("mediaType") or headers.get("Content-Type", ""))
        return Manifest(digest, media_type, raw, data)

    def resolve(self, ref: ImageRef) -> str | None:
        """The digest the registry serves for ``ref`` (its own digest when pinned), or None."""
        manifest = self.manifest(ref.repository, ref.digest or str(ref.tag))
        return None if manifest is None else manifest.digest

    def blob(self, repository: str, digest: str, *, max_bytes: int = MAX_BLOB_BYTES) -> bytes | None:
        """A blob's bytes, checked against ``digest``; None when the registry has none."""
        try:
            _status, _headers, data = self._request(
                "GET", f"/v2/{repository}/blobs/{digest}", max_bytes=max_bytes)
        except RegistryStatus as exc:
            if exc.status == 404:
                return None
            raise ProbeUnavailable(str(exc)) from None
        return data

    # -- writing (used by the demo and the tests to push real images) -----------------------
    def push_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        _s, headers, _b = self._request("POST", f"/v2/{repository}/blobs/uploads/", ok=(202,))
        location = headers.get("Location", "")
        if location.startswith("/"):
            location = self.base_url + location
        joiner = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{joiner}digest={digest}", data=data,
                      headers={"Content-Type": "application/octet-stream"}, ok=(201,))
        return digest

    def push_manifest(self, repository: str, reference: str, manifest: Mapping[str, Any]) -> str:
        raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        media_type = str(manifest.get("mediaType", MANIFEST_TYPES[0]))
        self._request("PUT", f"/v2/{repository}/manifests/{reference}", data=raw,
                      headers={"Content-Type": media_type}, ok=(201,))
        return sha256_digest(raw)


class RegistryStatus(ProbeUnavailable):
    """The registry answered with an unexpected HTTP status."""

    def __init__(self, status: int, method: str, path: str, body: bytes,
                 challenge: str = "") -> None:
        self.status = status
        self.challenge = challenge
        text = body.decode("utf-8", "replace").strip().replace("\n", " ")
        super().__init__(f"registry answered {status} to {method} {path}: {text[:200]}")


# -- cosign ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignatureFact:
    """One simplesigning layer of the ``.sig`` manifest, checked against every key."""

    layer_digest: str
    payload_digest_ok: bool          # the blob's bytes hash to the layer's digest
    verified_key: str | None         # the key file whose signature check passed, if any
    signed_digest: str | None        # critical.image.docker-manifest-digest
    identity: str | None             # critical.identity.docker-reference
    payload_type: str | None         # critical.type
    problem: str | None = None       # why this layer does not count (bad base64, not JSON ...)


@dataclass(frozen=True)
class CosignVerification:
    """Facts of cosign's key-based signature of one image digest."""

    image: str                       # the reference asked about
    digest: str | None               # the digest the registry serves for it
    signature_tag: str | None
    signature_manifest_found: bool
    signatures: tuple[SignatureFact, ...] = ()
    keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def verified(self) -> tuple[SignatureFact, ...]:
        """Signatures that verify with a configured key AND sign this very digest."""
        return tuple(s for s in self.signatures
                     if s.payload_digest_ok and s.verified_key and s.signed_digest == self.digest
                     and s.payload_type == COSIGN_TYPE)

    @property
    def signed_digests(self) -> tuple[str, ...]:
        return tuple(sorted({s.signed_digest for s in self.signatures
                             if s.verified_key and s.signed_digest}))


def load_public_key(pem: bytes, name: str) -> Any:
    """A PEM public key (cosign.pub); raises ``ValueError`` naming the file if it is not one."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} is not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{name} is a {type(key).__name__}, not an ECDSA public key")
    return key


def _signature_ok(key: Any, signature: bytes, payload: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_cosign(registry: Registry, ref: ImageRef, keys: Mapping[str, bytes]) -> CosignVerification:
    """Walk cosign's key-based layout for ``ref`` and check each signature with ``keys``.

    ``keys`` maps a display name (the key file) to its PEM bytes. Raises ``ValueError`` for a key
    that is not a PEM ECDSA public key and :class:`ProbeUnavailable` when the registry cannot be
    read; everything else (unsigned, wrong key, tampered, other digest) is a fact in the result.
    """
    loaded = {name: load_public_key(pem, name) for name, pem in keys.items()}
    digest = registry.resolve(ref)
    if digest is None:
        return CosignVerification(str(ref), None, None, False, keys=tuple(loaded),
                                  notes=(f"the registry has no manifest for {ref}",))
    tag = signature_tag(digest)
    sig_manifest = registry.manifest(ref.repository, tag)
    if sig_manifest is None:
        return CosignVerification(str(ref), digest, tag, False, keys=tuple(loaded),
                                  notes=(f"no signature: {ref.name}:{tag} does not exist",))
    facts: list[SignatureFact] = []
    for layer in sig_manifest.layers:
        if layer.get("mediaType") != SIMPLESIGNING:
            continue
        facts.append(_check_layer(registry, ref, layer, loaded))
    notes = () if facts else (f"{ref.name}:{tag} has no {SIMPLESIGNING} layer",)
    return CosignVerification(str(ref), digest, tag, True, tuple(facts), tuple(loaded), notes)


def _check_layer(registry: Registry, ref: ImageRef, layer: Mapping[str, Any],
                 keys: Mapping[str, Any]) -> SignatureFact:
    layer_digest = str(layer.get("digest", ""))
    annotations = layer.get("annotations") or {}
    if not _DIGEST.match(layer_digest):
        return SignatureFact(layer_digest, False, None, None, None, None, "malformed layer digest")
    payload = registry.blob(ref.repository, layer_digest, max_bytes=1 << 20)
    if payload is None:
        return SignatureFact(layer_digest, False, None, None, None, None, "payload blob missing")
    digest_ok = sha256_digest(payload) == layer_digest
    try:
        signature = base64.b64decode(str(annotations.get(SIGNATURE_ANNOTATION, "")), validate=True)
    except ValueError:
        signature = b""
    verified_key = next((name for name, key in keys.items()
                         if signature and _signature_ok(key, signature, payload)), None)
    problem = None
    if not signature:
        problem = f"no {SIGNATURE_ANNOTATION} annotation"
    elif verified_key is None:
        problem = "the signature does not verify with any configured key"
    signed = identity = payload_type = None
    try:
        body = json.loads(payload)
        critical = body.get("critical") or {}
        signed = (critical.get("image") or {}).get("docker-manifest-digest")
        identity = (critical.get("identity") or {}).get("docker-reference")
        payload_type = critical.get("type")
    except (ValueError, AttributeError):
        problem = problem or "the payload is not cosign simplesigning JSON"
    if not digest_ok:
        problem = "the payload's bytes do not match the layer digest"
    return SignatureFact(layer_digest, digest_ok, verified_key,
                         str(signed) if signed else None, str(identity) if identity else None,
                         str(payload_type) if payload_type else None, problem)


def simplesigning_payload(ref: ImageRef, digest: str) -> bytes:
    """The payload ``cosign sign`` writes for ``digest`` (used by the demo to sign its image)."""
    body = {"critical": {"identity": {"docker-reference": ref.name},
                         "image": {"docker-manifest-digest": digest},
                         "type": COSIGN_TYPE},
            "optional": None}
    return json.dumps(body, separators=(",", ":")).encode()


def parse_cosign_verify_output(text: str) -> list[dict[str, Any]]:
    """The payloads ``cosign verify --output json`` printed (a JSON array, or one per line)."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except ValueError:
        items = []
        for line in text.splitlines():
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
    return [i for i in items if isinstance(i, dict)]


def cosign_cli_facts(payloads: Sequence[Mapping[str, Any]], key: str) -> list[SignatureFact]:
    """:class:`SignatureFact` rows for payloads that ``cosign verify --key KEY`` accepted."""
    facts = []
    for payload in payloads:
        critical = payload.get("critical") or {}
        facts.append(SignatureFact(
            "(cosign verify)", True, key,
            (critical.get("image") or {}).get("docker-manifest-digest"),
            (critical.get("identity") or {}).get("docker-reference"), critical.get("type")))
    return facts


def verify_release_signature(image: str, public_keys: Mapping[str, bytes], *,
                             registry_url: str | None = None, insecure: bool = False,
                             timeout_s: float = 10.0) -> CosignVerification:
    """The Security gate's cosign facts for ``image`` (native key-based verification).

    For other gates (GitOps chain of custody): ``result.digest`` is the digest the registry
    serves for the image and ``result.verified`` the signatures that verify with a key AND sign
    that very digest — ``result.verified[0].signed_digest`` is "the digest found signed".
    """
    ref = parse_image_ref(image)
    base = registry_url or f"{'http' if insecure else 'https'}://{ref.registry}"
    return verify_cosign(Registry(base, timeout_s=timeout_s), ref, public_keys)
