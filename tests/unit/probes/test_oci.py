"""Image references, and cosign's key-based layout verified against a real registry."""
from __future__ import annotations

import pytest

from pytest_release.demo.registry import generate_key, push_demo_image, sign_image, start_registry
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.oci import (
    ImageRef,
    Registry,
    parse_image_ref,
    signature_tag,
    verify_cosign,
    verify_release_signature,
)

DIGEST = "sha256:" + "0f" * 32


@pytest.mark.parametrize("text, expected", [
    ("ghcr.io/your-org/app:v5.7.1", ImageRef("ghcr.io", "your-org/app", "v5.7.1", None)),
    (f"127.0.0.1:5000/a/b@{DIGEST}", ImageRef("127.0.0.1:5000", "a/b", None, DIGEST)),
    (f"localhost/a:v1@{DIGEST}", ImageRef("localhost", "a", "v1", DIGEST)),
    ("registry.example.com/app", ImageRef("registry.example.com", "app", "latest", None)),
])
def test_parse_image_ref(text, expected):
    assert parse_image_ref(text) == expected


@pytest.mark.parametrize("text, message", [
    ("app:v1", "name the registry host"),
    ("ghcr.io/app@sha256:12", "sha256:<64 hex digits>"),
    ("ghcr.io/App:v1", "is not a repository name"),
])
def test_bad_image_ref(text, message):
    with pytest.raises(ValueError, match=message):
        parse_image_ref(text)


def test_signature_tag():
    assert signature_tag(DIGEST) == "sha256-" + "0f" * 32 + ".sig"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    server = start_registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


def test_native_verification_by_digest(registry, tmp_path):
    client = registry.client()
    digest = push_demo_image(client, "t/app", "v1")
    ref = ImageRef(registry.host, "t/app", "v1", None)
    private, public = generate_key(tmp_path, "k")
    _other_private, other_public = generate_key(tmp_path, "other")
    keys = {"k.pub": public.read_bytes()}
    unsigned = verify_cosign(client, ref, keys)
    assert unsigned.digest == digest and not unsigned.signature_manifest_found
    assert unsigned.verified == ()
    sign_image(client, ref, digest, private)
    facts = verify_release_signature(str(ref), keys, insecure=True)
    assert [s.signed_digest for s in facts.verified] == [digest]
    assert facts.verified[0].identity == f"{registry.host}/t/app"
    assert verify_cosign(client, ref, {"other.pub": other_public.read_bytes()}).verified == ()
    # pinned by digest: the same facts; a digest the registry does not have: none
    pinned = ImageRef(registry.host, "t/app", None, digest)
    assert verify_cosign(client, pinned, keys).verified[0].signed_digest == digest
    missing = verify_cosign(client, ImageRef(registry.host, "t/app", None, DIGEST), keys)
    assert missing.digest is None and "no manifest" in missing.notes[0]


def test_not_a_public_key_is_a_value_error(registry, tmp_path):
    with pytest.raises(ValueError, match="bad.pub is not a PEM public key"):
        verify_cosign(registry.client(), ImageRef(registry.host, "t/app", "v1", None),
                      {"bad.pub": b"hello"})


def test_unreachable_registry_is_unavailable():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Registry(f"http://127.0.0.1:{port}", timeout_s=1)
    with pytest.raises(ProbeUnavailable, match="unreachable"):
        client.resolve(ImageRef(f"127.0.0.1:{port}", "a", "v1", None))


def test_basic_auth_registry(tmp_path):
    """docker-registry with its own htpasswd auth: anonymous → not measured, with creds → facts."""
    server = start_registry(tmp_path / "reg", htpasswd=("release", "s3cret-pass"))
    try:
        writer = Registry(server.url, timeout_s=5, username="release", password="s3cret-pass")
        digest = push_demo_image(writer, "t/app", "v1")
        ref = ImageRef(server.host, "t/app", "v1", None)
        with pytest.raises(ProbeUnavailable, match="answered 401"):
            Registry(server.url, timeout_s=5).resolve(ref)
        with pytest.raises(ProbeUnavailable, match="answered 401") as info:
            Registry(server.url, timeout_s=5, username="release", password="wrong").resolve(ref)
        assert "s3cret" not in str(info.value)
        assert writer.resolve(ref) == digest
    finally:
        server.stop()


def test_cosign_cli_output_parsing():
    """`cosign verify --key k --output json` prints a JSON array of simplesigning payloads (the
    documented shape; no cosign binary exists here to produce it)."""
    from pytest_release.probes.oci import COSIGN_TYPE, cosign_cli_facts, parse_cosign_verify_output

    text = ('[{"critical":{"identity":{"docker-reference":"ghcr.io/o/app"},"image":'
            f'{{"docker-manifest-digest":"{DIGEST}"}},"type":"{COSIGN_TYPE}"}},"optional":null}}]')
    facts = cosign_cli_facts(parse_cosign_verify_output(text), "cosign.pub")
    assert [(f.verified_key, f.signed_digest, f.identity) for f in facts] == [
        ("cosign.pub", DIGEST, "ghcr.io/o/app")]
    assert parse_cosign_verify_output("") == []
    lines = text[1:-1] + "\nVerification for ghcr.io/o/app -- The following checks were performed"
    assert len(parse_cosign_verify_output(lines)) == 1
