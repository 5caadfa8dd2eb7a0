"""A small Trivy vulnerability DB, built locally, so the real ``trivy image`` finds real CVEs.

No DB can be downloaded on these machines. Trivy reads ``<cache>/db/trivy.db`` (a BoltDB file,
trivy-db schema 2) and ``<cache>/db/metadata.json``; with ``--skip-db-update`` it uses them as is.
The file is written with PyPI ``boltdb``; that library leaves bbolt's meta-page checksum (FNV-64a
over the meta fields) at zero, which bbolt rejects, so it is filled in afterwards.

Advisories are language-package advisories (GitHub Security Advisory pip), which trivy matches
against the ``*.dist-info/METADATA`` packages of an image.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

PIP_SOURCE = "pip::GitHub Security Advisory pip"
_SEVERITY_NUMBER = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


@dataclass(frozen=True)
class Advisory:
    vulnerability_id: str
    package: str                 # normalised PyPI name (lower case), as trivy looks it up
    vulnerable: str              # version constraint, e.g. "<5.4"
    patched: str
    severity: str
    title: str


#: The demo's planted advisory: PyYAML < 5.4 (CVE-2020-14343, rated CRITICAL by GHSA).
DEMO_ADVISORIES: tuple[Advisory, ...] = (
    Advisory("CVE-2020-14343", "pyyaml", "<5.4", "5.4", "CRITICAL",
             "PyYAML: arbitrary code execution in full_load / FullLoader"),
    Advisory("CVE-2023-28858", "redis", "<4.5.3", "4.5.3", "HIGH",
             "redis-py: async command cancellation can leak a response to another connection"),
)


def _fnv64a(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value ^= byte
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _fix_meta_checksums(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    page_header = 16
    page_size = struct.unpack_from("<I", raw, page_header + 8)[0]
    for page in range(2):
        offset = page * page_size + page_header
        struct.pack_into("<Q", raw, offset + 56, _fnv64a(bytes(raw[offset:offset + 56])))
    path.write_bytes(bytes(raw))


def build_trivy_db(cache_dir: Path, advisories: Sequence[Advisory] = DEMO_ADVISORIES) -> Path:
    """Write ``cache_dir/db/trivy.db`` and ``metadata.json``; returns ``cache_dir``."""
    from boltdb import BoltDB

    db_dir = cache_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    path = db_dir / "trivy.db"
    path.unlink(missing_ok=True)
    db = BoltDB(str(path))
    try:
        with db.update() as tx:
            source = tx.create_bucket(PIP_SOURCE.encode())
            details = tx.create_bucket(b"vulnerability")
            packages: dict[str, object] = {}
            for adv in advisories:
                bucket = packages.get(adv.package)
                if bucket is None:
                    bucket = packages[adv.package] = source.create_bucket(adv.package.encode())
                bucket.put(adv.vulnerability_id.encode(), json.dumps(  # type: ignore[attr-defined]
                    {"VulnerableVersions": [adv.vulnerable], "PatchedVersions": [adv.patched]}
                ).encode())
                details.put(adv.vulnerability_id.encode(), json.dumps({
                    "Title": adv.title, "Severity": adv.severity,
                    "VendorSeverity": {"ghsa": _SEVERITY_NUMBER[adv.severity]},
                }).encode())
            tx.create_bucket(b"data-source").put(PIP_SOURCE.encode(), json.dumps({
                "ID": "ghsa", "Name": "GitHub Security Advisory pip",
                "URL": "https://github.com/advisories?query=type%3Areviewed+ecosystem%3Apip",
            }).encode())
    finally:
        db.close()
        db.close = lambda: None  # its __del__ would close the file a second time
    _fix_meta_checksums(path)
    now = datetime.now(UTC)
    (db_dir / "metadata.json").write_text(json.dumps({
        "Version": 2, "NextUpdate": (now + timedelta(days=3650)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "UpdatedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "DownloadedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }))
    return cache_dir
