"""A cluster read from a directory: ``kubectl get -o yaml|json`` output or plain manifests.

Every ``*.yaml``, ``*.yml`` and ``*.json`` file under the directory (recursively, sorted) is
read; a document may be one object, a ``kind: List`` / ``*List`` with ``items``, or several
YAML documents. Objects are filed by ``kind`` (see :data:`..RESOURCES`); unknown kinds are kept
too, so nothing in a snapshot is silently dropped from a listing of its own kind.
"""
from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

from .. import ProbeUnavailable
from . import KINDS, Obj, SourceKind, name_of, namespace_of, resource

_SUFFIXES = {".yaml", ".yml", ".json"}
_Objs = list[Obj]  # ``list`` is shadowed by the method inside the class


class SnapshotCluster:
    """A :class:`~.ClusterSource` over a snapshot directory (``source == "snapshot"``)."""

    source: SourceKind = "snapshot"
    kubectl_flags = ""  # the command that wrote the snapshot is not known here

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.description = f"snapshot {self.directory}"
        self._by_kind: dict[str, list[Obj]] | None = None

    def _load(self) -> dict[str, list[Obj]]:
        if self._by_kind is not None:
            return self._by_kind
        if not self.directory.is_dir():
            raise ProbeUnavailable(f"cluster snapshot directory {self.directory} does not exist")
        import yaml

        by_kind: dict[str, list[Obj]] = {}
        files = sorted(p for p in self.directory.rglob("*")
                       if p.is_file() and p.suffix.lower() in _SUFFIXES)
        for path in files:
            try:
                text = path.read_text(encoding="utf-8")
                docs: list[Any] = (
                    [json.loads(text)] if path.suffix.lower() == ".json"
                    else list(yaml.safe_load_all(text))
                )
            except (OSError, ValueError, yaml.YAMLError) as exc:
                raise ProbeUnavailable(
                    f"cluster snapshot file {path} cannot be read: {_first_line(exc)}") from None
            for doc in docs:
                for obj in _objects(doc):
                    by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
        self._by_kind = by_kind
        return by_kind

    def list(self, plural: str, namespace: str | None = None) -> list[Obj]:
        res = resource(plural)
        objs = self._load().get(res.kind, [])
        if res.namespaced and namespace is not None:
            objs = [o for o in objs if (namespace_of(o) or "default") == namespace]
        return [o for o in objs if _api_group(o) == res.group]

    def get(self, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        """The object; for a namespaced resource without ``namespace``, the match in the first
        namespace by name (as the live source does)."""
        found = [obj for obj in self.list(plural, namespace) if name_of(obj) == name]
        return min(found, key=lambda o: namespace_of(o) or "") if found else None

    def objects(self) -> _Objs:
        """Every object of the snapshot, in file order (known kinds or not)."""
        return [obj for objs in self._load().values() for obj in objs]

    def kinds(self) -> builtins.list[str]:
        """The kinds present in the snapshot (known or not)."""
        return sorted(self._load())


def _objects(doc: Any) -> list[Obj]:
    if not isinstance(doc, dict):
        return []
    kind = str(doc.get("kind", ""))
    if "items" in doc and (kind == "List" or kind.endswith("List")):
        found: list[Obj] = []
        item_kind = kind[:-4] if kind.endswith("List") and kind != "List" else None
        for item in doc.get("items") or []:
            if isinstance(item, dict):
                if item_kind and "kind" not in item and item_kind in KINDS:
                    item = {"apiVersion": KINDS[item_kind].api_version, "kind": item_kind, **item}
                found.append(item)
        return found
    return [doc] if kind else []


def _api_group(obj: Obj) -> str:
    api_version = str(obj.get("apiVersion", ""))
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
