"""The chain of custody from the release tag to the digest that is running. Pure: no I/O.

tag → commit == Argo revision → pod template image (by digest) == running pods'
``status.containerStatuses[].imageID`` == the digest the Security gate found signed.

:func:`build_chain` turns the facts gathered by the other probes into one :class:`Chain` whose
:meth:`Chain.text` is the record every view shows, each broken link spelled out
(``running sha256:aa… ≠ signed sha256:bb…``). The gate decides which item a link fails.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def digest_in(text: str | None) -> str | None:
    """The ``sha256:<64 hex>`` an image reference or a containerStatus imageID pins, if any
    (``docker-pullable://reg/app@sha256:…``, ``reg/app@sha256:…``, ``sha256:…``)."""
    if not text:
        return None
    at = text.rsplit("@", 1)
    found = _DIGEST.fullmatch(at[-1]) if len(at) == 2 else _DIGEST.fullmatch(text)
    return found.group(0) if found else None


def image_repository(image: str) -> str:
    """``reg:5000/team/app:v1@sha256:…`` → ``reg:5000/team/app`` (no tag, no digest, no scheme)."""
    name = image.split("://", 1)[-1].split("@", 1)[0]
    head, _, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}/{last}" if head else last


def image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def short(value: str | None, width: int = 12) -> str:
    """``sha256:0123456789ab…`` / a 12-digit commit; ``?`` when unknown."""
    if not value:
        return "?"
    if value.startswith("sha256:"):
        hexpart = value[7:]
        return f"sha256:{hexpart[:width]}…" if len(hexpart) > width else value
    return value[:width]


@dataclass(frozen=True)
class RunningContainer:
    """One container of one running pod, with the digest its runtime reports."""

    pod: str
    container: str
    image: str
    image_id: str | None
    digest: str | None
    ready: bool


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def running_containers(pods: Iterable[Obj], selector: Mapping[str, str],
                       container: str | None = None) -> tuple[RunningContainer, ...]:
    """The containers (named ``container``, or all) of the Running pods that ``selector``
    matches; pods being deleted are left out, as they no longer serve."""
    found = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if not matches(meta.get("labels") or {}, selector) or meta.get("deletionTimestamp"):
            continue
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            continue
        statuses = {str(s.get("name")): s for s in status.get("containerStatuses") or []
                    if isinstance(s, dict)}
        for spec in (pod.get("spec") or {}).get("containers") or []:
            name = str(spec.get("name", ""))
            if container is not None and name != container:
                continue
            st = statuses.get(name) or {}
            image_id = st.get("imageID") or None
            found.append(RunningContainer(str(meta.get("name", "")), name,
                                          str(st.get("image") or spec.get("image", "")),
                                          image_id, digest_in(image_id), bool(st.get("ready"))))
    return tuple(found)


@dataclass(frozen=True)
class Link:
    """Two neighbouring facts of the chain and whether they agree (None: not known)."""

    left: str
    right: str
    ok: bool | None
    item: str          # the checklist item this link belongs to
    relation: str = "=="   # "==" (must be equal) or "→" (derived from)


@dataclass(frozen=True)
class Chain:
    nodes: tuple[str, ...]
    links: tuple[Link, ...]

    @property
    def intact(self) -> bool:
        return all(link.ok for link in self.links)

    def broken(self, item: str | None = None) -> tuple[Link, ...]:
        return tuple(k for k in self.links if k.ok is False and (item is None or k.item == item))

    def text(self) -> str:
        """``tag v5.7.1 → commit 98ee13c… == Argo revision 98ee13c… → …`` with ``≠`` where a
        link is broken and ``?`` where it could not be told."""
        parts = [self.nodes[0]]
        for link, node in zip(self.links, self.nodes[1:]):
            sep = "?" if link.ok is None else (link.relation if link.ok else "≠")
            parts.append(f" {sep} {node}")
        return "".join(parts)


def build_chain(*, tag: str, tag_commit: str | None, release_commit: str | None,
                argo_revision: str | None, template_image: str | None,
                template_digest: str | None, running_digests: Iterable[str | None],
                signed_digest: str | None, signed_label: str = "signed") -> Chain:
    """The chain from facts (None where a fact could not be read)."""
    running = sorted({d or "no digest" for d in running_digests})
    running_text = ", ".join(short(d) if d != "no digest" else d for d in running) or "no pods"
    count = len(running)
    commit_ok: bool | None = None
    if tag_commit is not None and release_commit:
        commit_ok = tag_commit.startswith(release_commit.lower())
    commit_node = f"commit {short(tag_commit)}"
    if commit_ok is False:
        commit_node += f" (release.commit {short(release_commit)})"
    if template_digest:
        template_node = f"template image {short(template_digest)}"
    else:
        template_node = f"template image {template_image or '?'}" + (" (no digest)" if template_image
                                                                     else "")
    nodes = (
        f"tag {tag}",
        commit_node,
        f"Argo revision {short(argo_revision)}",
        template_node,
        f"running {running_text}",
        f"{signed_label} {short(signed_digest)}",
    )

    def same(a: str | None, b: str | None) -> bool | None:
        return None if a is None or b is None else a == b

    links = (
        Link(nodes[0], nodes[1], commit_ok, "tag", "→"),
        Link(nodes[1], nodes[2], same(tag_commit, argo_revision), "synced"),
        Link(nodes[2], nodes[3], None if template_digest is None and template_image is None
             else template_digest is not None, "synced", "→"),
        Link(nodes[3], nodes[4], None if template_digest is None or count == 0
             else running == [template_digest], "synced"),
        Link(nodes[4], nodes[5], None if signed_digest is None or count == 0
             else running == [signed_digest], "synced"),
    )
    return Chain(nodes, links)
