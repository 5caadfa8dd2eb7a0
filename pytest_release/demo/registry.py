"""A real OCI registry on loopback with the demo service's image and its cosign signature.

* :func:`start_registry` runs Debian's ``docker-registry`` (the CNCF distribution registry)
  on a free 127.0.0.1 port with a filesystem root in a temp directory.
* :func:`push_demo_image` builds a real OCI image of the feedback service (one gzip layer with
  the service's source under ``/app``, an image config with a non-root user) in Python and
  pushes it with plain registry HTTP; the registry computes and serves its digest.
* :func:`sign_image` stores a cosign key-based signature beside it: tag ``sha256-<hex>.sig``
  holding one ``simplesigning`` layer with the ECDSA P-256 / SHA-256 signature annotation —
  exactly what ``cosign sign --key`` (≤ 2.x) writes.

Used by the tests (``tests/support``) and by the demo stack alike.
"""
from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..probes.oci import (
    SIGNATURE_ANNOTATION,
    SIMPLESIGNING,
    ImageRef,
    Registry,
    sha256_digest,
    signature_tag,
    simplesigning_payload,
)
from .stack import EXAMPLES, Process, StackError, executable, free_port, spawn

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DEMO_REPOSITORY = "your-org/cpt-ajan-backend"


@dataclass
class RegistryServer:
    """A running ``docker-registry``: ``url`` (http://127.0.0.1:PORT), ``host``, ``client()``."""

    process: Process
    port: int
    root: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def client(self, timeout_s: float = 10.0) -> Registry:
        return Registry(self.url, timeout_s=timeout_s)

    def stop(self) -> None:
        self.process.stop()


def start_registry(workdir: Path, *, timeout: float = 15.0) -> RegistryServer:
    """``docker-registry serve`` on a free loopback port; waits until ``/v2/`` answers."""
    binary = executable("docker-registry", "apt-get install docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    last = ""
    for _attempt in range(5):
        port = free_port()
        config = workdir / "registry.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        server = RegistryServer(spawn("docker-registry", [binary, "serve", str(config)], workdir),
                                port, root)
        deadline = time.monotonic() + timeout
        client = Registry(server.url, timeout_s=1.0)
        while time.monotonic() < deadline and server.process.popen.poll() is None:
            try:
                client.ping()
                return server
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        server.stop()
        last = server.process.tail()
        if "address already in use" not in last.lower():
            break
    raise StackError(f"docker-registry did not start in {workdir}: {last}")


def _tar_layer(files: Sequence[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name, _data in files:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        for name in sorted(dirs):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def demo_image_files(extra_packages: Sequence[tuple[str, str]] = ()) -> list[tuple[str, bytes]]:
    """The service source under ``app/`` plus Python package metadata trivy can inventory.

    ``extra_packages`` (name, version) add ``*.dist-info/METADATA`` entries: a way to plant a
    known-vulnerable package in a real image.
    """
    files = [(f"app/feedback_service/{p.name}", p.read_bytes())
             for p in sorted((EXAMPLES / "feedback_service").glob("*.py"))]
    site = "usr/local/lib/python3.11/site-packages"
    for name, version in (("redis", "5.0.8"), *extra_packages):
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        files.append((f"{site}/{name}-{version}.dist-info/METADATA", meta))
    return files


def push_demo_image(registry: Registry, repository: str = DEMO_REPOSITORY, tag: str = "v5.7.1",
                    *, extra_packages: Sequence[tuple[str, str]] = (),
                    label: str = "") -> str:
    """Build the demo image, push it as ``repository:tag``; returns its manifest digest."""
    tar = _tar_layer(demo_image_files(extra_packages))
    layer = gzip.compress(tar, mtime=0)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"User": "10001", "WorkingDir": "/app",
                   "Cmd": ["python", "-m", "feedback_service", "serve"],
                   "Labels": {"org.opencontainers.image.version": tag,
                              **({"demo.variant": label} if label else {})}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        "history": [{"created_by": "pytest-release demo: COPY feedback_service /app"}],
    }
    config_raw = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    config_digest = registry.push_blob(repository, config_raw)
    layer_digest = registry.push_blob(repository, layer)
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_raw)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
    }
    return registry.push_manifest(repository, tag, manifest)


def generate_key(directory: Path, name: str = "cosign") -> tuple[Path, Path]:
    """A fresh ECDSA P-256 key pair as ``<name>.key`` (PKCS#8 PEM, 0600) and ``<name>.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    private = directory / f"{name}.key"
    public = directory / f"{name}.pub"
    private.touch(mode=0o600)
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def sign_image(registry: Registry, ref: ImageRef, digest: str, private_key: Path, *,
               signed_digest: str | None = None, tamper: bool = False) -> str:
    """Store cosign's key-based signature of ``digest`` (tag ``sha256-<hex>.sig``).

    Faults for the tests: ``signed_digest`` signs another digest's payload under this digest's
    tag; ``tamper`` signs the payload, then stores a modified payload in its place.
    Returns the signature manifest's digest.
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    payload = simplesigning_payload(ref, signed_digest or digest)
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    if tamper:
        payload = payload.replace(b'"optional":null', b'"optional":{"tampered":"yes"}')
    payload_digest = registry.push_blob(ref.repository, payload)
    config = {"architecture": "", "os": "", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [payload_digest]}}
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    config_digest = registry.push_blob(ref.repository, config_raw)
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_raw)},
        "layers": [{"mediaType": SIMPLESIGNING, "digest": payload_digest, "size": len(payload),
                    "annotations": {SIGNATURE_ANNOTATION: signature}}],
    }
    return registry.push_manifest(ref.repository, signature_tag(digest), manifest)


@dataclass
class SignedImage:
    """The release image in a running registry: reference, digest, keys."""

    registry: RegistryServer
    ref: ImageRef
    digest: str
    private_key: Path
    public_key: Path

    @property
    def image(self) -> str:
        """``127.0.0.1:PORT/repo:tag`` — what ``release.image`` is set to."""
        return str(self.ref)

    @property
    def pinned(self) -> str:
        return self.ref.with_digest(self.digest)


@contextlib.contextmanager
def signed_demo_image(workdir: Path, *, tag: str = "v5.7.1", sign: bool = True,
                      repository: str = DEMO_REPOSITORY) -> Iterator[SignedImage]:
    """Registry up, demo image pushed, signed with a fresh test key; stopped on exit."""
    server = start_registry(workdir / "registry")
    try:
        client = server.client()
        digest = push_demo_image(client, repository, tag)
        ref = ImageRef(server.host, repository, tag, None)
        private, public = generate_key(workdir / "keys")
        if sign:
            sign_image(client, ref, digest, private)
        yield SignedImage(server, ref, digest, private, public)
    finally:
        server.stop()
