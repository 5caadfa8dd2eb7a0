"""Gate 4 (Security) fixtures: the release image in its registry, trivy, cosign keys, OPA.

The cluster objects (Kyverno, RBAC) come from the shared ``cluster`` fixture. The settings'
small languages (``security.opa_cases``, ``security.rbac_allowed_exceptions``, the
``.trivyignore`` file, ``release.image``) are checked once at configure time, so a malformed
value is one ``UsageError`` naming the key, before any check runs.
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .evidence import not_measured

if TYPE_CHECKING:
    from .probes.oci import CosignVerification, ImageRef, Registry
    from .probes.opa import OpaCase, OpaClient
    from .probes.tools import ToolOutput
    from .probes.trivy import IgnoreEntry
    from .settings import SecuritySettings, Settings


def _where(settings: Settings, key: str) -> str:
    return f"{settings.source or '--release-set'}: {key}"


def security_problems(settings: Settings) -> list[str]:
    """Every malformed Gate 4 value, as ``file: key: what (fix)``."""
    from .probes.oci import parse_image_ref
    from .probes.opa import parse_case
    from .probes.rbac import parse_exception
    from .probes.trivy import IgnoreFileError, parse_ignore_file

    sec = settings.security
    problems = []
    if settings.release.image:
        try:
            parse_image_ref(settings.release.image)
        except ValueError as exc:
            problems.append(f"{_where(settings, 'release.image')}: {exc}")
    names: set[str] = set()
    for index, text in enumerate(sec.opa_cases):
        try:
            case = parse_case(text)
        except ValueError as exc:
            problems.append(f"{_where(settings, f'security.opa_cases[{index}]')}: {exc} "
                            "(write e.g. 'deny anonymous: {\"method\": \"GET\"}')")
            continue
        if case.name in names:
            problems.append(f"{_where(settings, f'security.opa_cases[{index}]')}: duplicate "
                            f"case name {case.name!r}")
        names.add(case.name)
    for index, text in enumerate(sec.rbac_allowed_exceptions or ()):
        try:
            parse_exception(text, sec.namespace)
        except ValueError as exc:
            problems.append(f"{_where(settings, f'security.rbac_allowed_exceptions[{index}]')}: {exc}")
    if sec.trivyignore:
        try:
            parse_ignore_file(Path(sec.trivyignore))
        except IgnoreFileError as exc:
            problems.append(f"{_where(settings, 'security.trivyignore')}: {exc}")
    for index, key in enumerate(sec.cosign_public_keys or ()):
        if not Path(key).expanduser().is_file():
            problems.append(f"{_where(settings, f'security.cosign_public_keys[{index}]')}: {key} "
                            "does not exist (give the path of the PEM public key, cosign.pub)")
    return problems


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    from .plugin import settings_key

    settings = config.stash.get(settings_key, None)
    if settings is None:
        return
    problems = security_problems(settings)
    if problems:
        count = len(problems)
        raise pytest.UsageError(
            f"pytest-release: {count} configuration problem{'s' if count > 1 else ''}:\n  "
            + "\n  ".join(settings.redact(p) for p in problems))


# -- the image -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def release_image(release_settings: Settings) -> ImageRef:
    """``release.image`` parsed (registry, repository, tag, digest); not measured when unset."""
    from .probes.oci import parse_image_ref

    if not release_settings.release.image:
        not_measured("release.image is not configured (set image = \"registry/repo:tag\" in "
                     "[release])")
    return parse_image_ref(release_settings.release.image)


def registry_base_url(sec: SecuritySettings, ref: ImageRef) -> str:
    if sec.registry_url:
        return sec.registry_url
    return f"{'http' if sec.registry_insecure else 'https'}://{ref.registry}"


@pytest.fixture(scope="session")
def release_registry(release_settings: Settings, release_image: ImageRef) -> Registry:
    """A registry client for the release image's registry (``security.registry_url``)."""
    from .probes.oci import Registry

    sec = release_settings.security
    return Registry(registry_base_url(sec, release_image), timeout_s=sec.timeout_s)


@pytest.fixture(scope="session")
def cosign_public_keys(release_settings: Settings) -> dict[str, bytes]:
    """The configured public keys (file → PEM bytes); not measured when none is configured."""
    keys = release_settings.security.cosign_public_keys
    if not keys:
        not_measured("security.cosign_public_keys is not configured: no key to verify the "
                     "signature with (set it to the release's cosign.pub)")
    return {str(k): Path(k).expanduser().read_bytes() for k in keys}


@pytest.fixture(scope="session")
def cosign_verification(release_settings: Settings, release_image: ImageRef,
                        release_registry: Registry, cosign_public_keys: dict[str, bytes]
                        ) -> CosignVerification:
    """The release image's cosign signature facts, verified by digest with the configured keys.

    ``cosign verify --key`` when ``security.cosign`` is installed, otherwise cosign's key-based
    layout verified natively (:func:`probes.oci.verify_cosign`). ``.digest`` is the digest the
    registry serves; ``.verified`` the signatures valid for it (GitOps reuses this fixture).
    """
    from .probes.oci import (
        CosignVerification,
        cosign_cli_facts,
        load_public_key,
        parse_cosign_verify_output,
        signature_tag,
        verify_cosign,
    )
    from .probes.tools import find_tool, run_tool

    sec = release_settings.security
    binary = find_tool(sec.cosign, hint="https://docs.sigstore.dev/cosign/system_config/installation/")
    if binary is None:
        return verify_cosign(release_registry, release_image, cosign_public_keys)
    for name, pem in cosign_public_keys.items():
        load_public_key(pem, name)
    digest = release_registry.resolve(release_image)
    if digest is None:
        return CosignVerification(str(release_image), None, None, False,
                                  keys=tuple(cosign_public_keys),
                                  notes=(f"the registry has no manifest for {release_image}",))
    facts = []
    notes = []
    for key in cosign_public_keys:
        argv = [binary, "verify", "--key", key, "--output", "json"]
        if sec.registry_insecure:
            argv.append("--allow-insecure-registry")
        out = run_tool([*argv, release_image.with_digest(digest)], timeout_s=sec.trivy_timeout_s,
                       tool="cosign")
        if out.returncode == 0:
            facts += cosign_cli_facts(parse_cosign_verify_output(out.text), key)
        else:
            last = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
            notes.append(f"cosign verify --key {key}: {last[:200]}")
    return CosignVerification(str(release_image), digest, signature_tag(digest), bool(facts),
                              tuple(facts), tuple(cosign_public_keys), tuple(notes))


# -- trivy ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def trivy_output(release_settings: Settings, release_image: ImageRef) -> ToolOutput:
    """``trivy image`` of the release image (run when installed), or ``security.trivy_report``."""
    from .probes.tools import run_or_read
    from .probes.trivy import INSTALL_HINT, image_argv

    sec = release_settings.security
    argv = image_argv(sec.trivy, str(release_image), cache_dir=sec.trivy_cache_dir,
                      insecure=sec.registry_insecure)
    return run_or_read("trivy", argv, report=sec.trivy_report, timeout_s=sec.trivy_timeout_s,
                       hint=INSTALL_HINT, prefer="report" if sec.trivy_prefer == "report" else "run")


@pytest.fixture(scope="session")
def trivy_ignores(release_settings: Settings) -> list[IgnoreEntry]:
    """The entries of ``security.trivyignore`` (empty when none is configured)."""
    from .probes.trivy import parse_ignore_file

    path = release_settings.security.trivyignore
    return parse_ignore_file(Path(path)) if path else []


@pytest.fixture(scope="session")
def trivy_config_output(release_settings: Settings) -> ToolOutput | None:
    """``trivy config`` on ``security.manifests_dir`` when both exist (the RBAC second opinion)."""
    from .probes.tools import find_tool, run_tool
    from .probes.trivy import INSTALL_HINT, config_argv

    sec = release_settings.security
    if not sec.manifests_dir:
        return None
    binary = find_tool(sec.trivy, hint=INSTALL_HINT)
    if binary is None:
        return None
    argv = config_argv(binary, sec.manifests_dir, cache_dir=sec.trivy_cache_dir)
    return run_tool(argv, timeout_s=sec.trivy_timeout_s, tool="trivy",
                    display=" ".join(["trivy", *argv[1:]]))


# -- OPA -----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def opa_client(release_settings: Settings) -> OpaClient:
    """OPA's REST API at ``security.opa_url``; not measured when unset."""
    from .probes.opa import OpaClient

    sec = release_settings.security
    if not sec.opa_url:
        not_measured("security.opa_url is not configured (set it to the OPA server, e.g. "
                     "http://opa:8181)")
    return OpaClient(sec.opa_url, timeout_s=sec.timeout_s)


@pytest.fixture(scope="session")
def opa_cases(release_settings: Settings) -> list[OpaCase]:
    """``security.opa_cases`` parsed (validated at configure time)."""
    from .probes.opa import parse_case

    return [parse_case(text) for text in release_settings.security.opa_cases]


@pytest.fixture
def security_now() -> datetime:
    """The clock the report-age and ignore-expiry comparisons use (UTC)."""
    return datetime.now(UTC)
