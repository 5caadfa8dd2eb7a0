"""Thin fixtures for Gate 6 (GitOps): the release tag in git, the Argo CD Application, the
Rollout with its AnalysisTemplates, and the chain of custody down to the running digest.

Each fixture hands a check facts from a real source (git, the cluster source, the
``argocd app get -o json`` file, the OCI registry) or ends the check as *not measured* saying
which setting is missing or what could not be reached.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .evidence import not_measured

if TYPE_CHECKING:
    from .probes.argocd import ApplicationFacts
    from .probes.cluster import ClusterSource
    from .probes.custody import Chain, RunningContainer
    from .probes.git import GitRepo, TagFacts
    from .probes.rollouts import RolloutFacts, TemplateRef
    from .settings import Settings

Obj = dict[str, Any]


def _hint(key: str) -> str:
    return f"set gitops.{key} in [gitops] or --release-set gitops.{key}=..."


def release_tag_name(settings: Settings) -> str:
    """``gitops.tag``, else the release version."""
    tag = settings.gitops.tag or settings.release.version
    if not tag:
        not_measured(f"no release tag: pass --release or {_hint('tag')}")
    return tag


@pytest.fixture(scope="session")
def gitops_repo(release_settings: Settings) -> GitRepo:
    """The git repository of ``gitops.repo`` (a local path, or a remote URL read with ls-remote)."""
    from .probes.git import GitRepo, is_remote
    from .settings import safe_url

    cfg = release_settings.gitops
    if not cfg.repo:
        not_measured(f"gitops.repo is not configured: the release tag needs a real repository "
                     f"({_hint('repo')})")
    location = cfg.repo
    if not is_remote(location):
        path = Path(location).expanduser()
        if not path.is_absolute():
            base = Path(release_settings.source).parent if release_settings.source else Path.cwd()
            path = base / path
        location = str(path)
    display = safe_url(location) if "://" in location else location
    return GitRepo(location, git=cfg.git, timeout_s=cfg.timeout_s, display=display)


@pytest.fixture(scope="session")
def release_tag(gitops_repo: GitRepo, release_settings: Settings) -> TagFacts:
    """The release tag's facts (exists, annotated, commit, signature armour) read with git."""
    try:
        return gitops_repo.tag(release_tag_name(release_settings))
    except ValueError as exc:
        not_measured(f"gitops.tag: {exc}")


@pytest.fixture(scope="session")
def release_commit(release_tag: TagFacts) -> str:
    """The full commit SHA the release tag points at: what Argo CD must have synced."""
    if not release_tag.exists or not release_tag.commit:
        not_measured(f"tag {release_tag.name} does not exist in {release_tag.repo}: no release "
                     "commit to compare with (the Git tag item fails on it)")
    return release_tag.commit


@dataclass(frozen=True)
class ArgoApplication:
    """The Application as read, and where from (``report`` file or the cluster source)."""

    facts: ApplicationFacts
    obj: Obj
    source: str          # report | live | snapshot
    detail: str
    reproduce: str


@pytest.fixture(scope="session")
def argocd_application(release_settings: Settings, request: pytest.FixtureRequest) -> ArgoApplication:
    """``gitops.application`` from the ``argocd app get -o json`` file when ``gitops.argocd_app_json``
    is set, otherwise from the cluster source (``[cluster]``)."""
    from .probes.argocd import application_facts, parse_app_json, read_application
    from .probes.cluster import kubectl_get

    cfg = release_settings.gitops
    reproduce = f"argocd app get {cfg.application} -o json"
    if cfg.argocd_app_json:
        from .probes.tools import read_report

        output = read_report(cfg.argocd_app_json, tool="argocd", command=reproduce)
        obj = parse_app_json(output)
        return ArgoApplication(application_facts(obj), obj, "report",
                               f"report {cfg.argocd_app_json}", reproduce)
    cluster: ClusterSource = request.getfixturevalue("cluster")
    obj = read_application(cluster, cfg.application, cfg.namespace)
    return ArgoApplication(application_facts(obj), obj, cluster.source, cluster.description,
                           f"{reproduce}  # or: "
                           + kubectl_get("applications", cfg.application, cfg.namespace,
                                         output="json"))


@dataclass(frozen=True)
class ReleaseRollout:
    """The release's Rollout with the AnalysisTemplates it references (None: not found)."""

    facts: RolloutFacts
    obj: Obj
    namespace: str
    templates: dict[TemplateRef, Obj | None]
    source: str
    detail: str
    reproduce: str


def _rollout_name(settings: Settings, app: ArgoApplication | None) -> tuple[str, str]:
    cfg = settings.gitops
    namespace = cfg.rollout_namespace
    if cfg.rollout:
        name = cfg.rollout
    else:
        managed = app.facts.managed("Rollout") if app else ()
        if len(managed) > 1:
            not_measured(f"the Application manages {len(managed)} Rollouts "
                         f"({', '.join(r.ref for r in managed)}): {_hint('rollout')}")
        name = managed[0].name if managed else cfg.application
        namespace = namespace or (managed[0].namespace if managed else None)
    if app is not None:
        namespace = namespace or app.facts.destination_namespace
    return name, namespace or settings.cluster.namespace


@pytest.fixture(scope="session")
def release_rollout(release_settings: Settings, request: pytest.FixtureRequest) -> ReleaseRollout:
    """The release's Argo Rollout (``gitops.rollout``, else the one the Application manages) and
    the AnalysisTemplates / ClusterAnalysisTemplates it references, from the cluster source."""
    from .probes import ProbeUnavailable
    from .probes.cluster import kubectl_get
    from .probes.rollouts import rollout_facts

    cluster: ClusterSource = request.getfixturevalue("cluster")
    app: ArgoApplication | None
    try:
        app = request.getfixturevalue("argocd_application")
    except ProbeUnavailable:
        app = None
    except pytest.skip.Exception:
        app = None
    name, namespace = _rollout_name(release_settings, app)
    obj = cluster.get("rollouts", name, namespace)
    if obj is None:
        raise ProbeUnavailable(f"Rollout {namespace}/{name} not found in {cluster.description}")
    facts = rollout_facts(obj)
    templates: dict[TemplateRef, Obj | None] = {}
    for ref in facts.template_refs:
        if ref.cluster_scope:
            templates[ref] = cluster.get("clusteranalysistemplates", ref.name)
        else:
            templates[ref] = cluster.get("analysistemplates", ref.name, namespace)
    return ReleaseRollout(facts, obj, namespace, templates, cluster.source, cluster.description,
                          kubectl_get("rollouts", name, namespace)
                          + " && " + kubectl_get("analysistemplates", None, namespace))


@dataclass(frozen=True)
class SignedDigest:
    """The digest the release image is signed with, and how that was established."""

    digest: str | None
    how: str               # what was verified, or why it is taken from settings


@pytest.fixture(scope="session")
def signed_release_digest(release_settings: Settings, request: pytest.FixtureRequest) -> SignedDigest:
    """The digest the Security gate finds signed: its ``cosign_verification`` of ``release.image``
    with ``security.cosign_public_keys``. Without keys, the digest ``release.image`` pins,
    labelled as not verified here (the Security gate's own check is then not measured)."""
    from .probes.custody import digest_in

    image = release_settings.release.image
    if not image:
        not_measured("release.image is not set: no release image to follow (set it in [release], "
                     "pinned by digest or as a tag the registry resolves)")
    keys = release_settings.security.cosign_public_keys
    if keys:
        verification = request.getfixturevalue("cosign_verification")
        verified = sorted({s.signed_digest for s in verification.verified if s.signed_digest})
        shown = ", ".join(map(str, keys))
        if not verified:
            notes = "; ".join(verification.notes) or "no signature verifies"
            return SignedDigest(None, f"no signature of {image} verifies with {shown} ({notes})")
        return SignedDigest(verified[0], f"cosign signature of {image} "
                                         f"({short_digest(verification.digest)}) verified with {shown}")
    pinned = digest_in(image)
    if pinned is None:
        not_measured("no signed digest: set security.cosign_public_keys (verified as in Gate 4) "
                     "or pin release.image by digest (name@sha256:...)")
    return SignedDigest(pinned, "release.image's digest (signature not verified here: "
                                "security.cosign_public_keys is not set)")


def short_digest(digest: str | None) -> str:
    from .probes.custody import short

    return short(digest)


def _registry(settings: Settings, image: str) -> Any:
    from .fixtures_security import registry_base_url
    from .probes.oci import Registry, parse_image_ref

    ref = parse_image_ref(image)
    sec = settings.security
    return ref, Registry(registry_base_url(sec, ref), timeout_s=sec.timeout_s)


@dataclass(frozen=True)
class Custody:
    """The chain of custody and the facts behind it."""

    chain: Chain
    container: str | None
    template_image: str | None
    template_digest: str | None
    resolved_in_registry: bool
    running: tuple[RunningContainer, ...]
    signed: SignedDigest
    reproduce: str


@pytest.fixture(scope="session")
def release_custody(release_settings: Settings, release_tag: TagFacts,
                    argocd_application: ArgoApplication, release_rollout: ReleaseRollout,
                    signed_release_digest: SignedDigest,
                    request: pytest.FixtureRequest) -> Custody:
    """tag → commit == Argo revision → template image digest == running pods' imageID digests
    == the signed digest, as one :class:`~.probes.custody.Chain`."""
    from .probes import ProbeUnavailable
    from .probes.cluster import kubectl_get
    from .probes.custody import build_chain, digest_in, image_repository, running_containers

    cluster: ClusterSource = request.getfixturevalue("cluster")
    rollout = release_rollout.facts
    image = release_settings.release.image or ""
    containers = rollout.containers
    if rollout.workload_ref is not None:
        kind, name = rollout.workload_ref
        deployment = cluster.get("deployments", name, release_rollout.namespace) \
            if kind == "Deployment" else None
        spec = ((deployment or {}).get("spec") or {}).get("template", {}).get("spec", {})
        from .probes.rollouts import Container

        containers = tuple(Container(str(c.get("name", "")), str(c.get("image", "")))
                           for c in spec.get("containers") or [])
    wanted = image_repository(image)
    chosen = [c for c in containers if image_repository(c.image) == wanted] or \
        ([containers[0]] if len(containers) == 1 else [])
    container = chosen[0] if chosen else None
    template_digest = digest_in(container.image) if container else None
    resolved = False
    if container is not None and template_digest is None:
        try:
            ref, registry = _registry(release_settings, container.image)
        except ValueError as exc:
            raise ProbeUnavailable(f"pod template image {container.image}: {exc}") from None
        template_digest = registry.resolve(ref)
        resolved = template_digest is not None
    pods = cluster.list("pods", release_rollout.namespace)
    running = running_containers(pods, rollout.selector, container.name if container else None)
    app = argocd_application.facts
    revision = app.revisions[0] if app.revisions else None
    chain = build_chain(
        tag=release_tag.name, tag_commit=release_tag.commit,
        release_commit=release_settings.release.commit, argo_revision=revision,
        template_image=container.image if container else None, template_digest=template_digest,
        running_digests=[r.digest for r in running], signed_digest=signed_release_digest.digest,
    )
    selector = ",".join(f"{k}={v}" for k, v in rollout.selector.items())
    reproduce = (kubectl_get("pods", None, release_rollout.namespace,
                             output="jsonpath='{range .items[*]}{.metadata.name} "
                                    "{.status.containerStatuses[*].imageID}{\"\\n\"}{end}'")
                 + (f" -l {selector}" if selector else ""))
    return Custody(chain, container.name if container else None,
                   container.image if container else None, template_digest, resolved, running,
                   signed_release_digest, reproduce)
