"""Trivy report and ignore-file parsing (pure), plus trivy config on real manifests."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from pytest_release.bundled import examples_path
from pytest_release.probes import ProbeUnavailable
from pytest_release.probes.tools import find_tool, run_tool
from pytest_release.probes.trivy import (
    IgnoreFileError,
    config_argv,
    parse_config_report,
    parse_ignore_file,
    parse_report,
)

DIGEST = "sha256:" + "ab" * 32
REPORT = {
    "SchemaVersion": 2, "CreatedAt": "2026-12-01T10:00:00.123456789Z",
    "ArtifactName": "registry.example.com/team/app:v1", "ArtifactType": "container_image",
    "Metadata": {"RepoDigests": [f"registry.example.com/team/app@{DIGEST}"],
                 "RepoTags": ["registry.example.com/team/app:v1"]},
    "Results": [
        {"Target": "Python", "Vulnerabilities": [
            {"VulnerabilityID": "CVE-1", "PkgName": "pyyaml", "InstalledVersion": "5.3",
             "FixedVersion": "5.4", "Severity": "CRITICAL"},
            {"VulnerabilityID": "CVE-2", "PkgName": "redis", "InstalledVersion": "4.5.0",
             "Severity": "HIGH"}]},
        {"Target": "Dockerfile", "Misconfigurations": [
            {"ID": "DS-0002", "Title": "Image user should not be root", "Severity": "CRITICAL",
             "Status": "FAIL"},
            {"ID": "DS-0001", "Title": "latest tag", "Severity": "CRITICAL", "Status": "PASS"}]},
    ],
}


def test_counts_vulnerabilities_and_failed_misconfigurations():
    report = parse_report(json.dumps(REPORT), where="r.json")
    assert report.count("CRITICAL") == 2 and report.count("HIGH") == 1
    assert report.digests() == (DIGEST,)
    assert report.created_at is not None and report.created_at.year == 2026
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == ["misconfiguration", "vulnerability", "vulnerability"]
    assert report.findings[1].describe() == "CVE-2 HIGH redis 4.5.0, no fix in Python"


def test_not_trivy_json_is_unavailable():
    with pytest.raises(ProbeUnavailable, match="r.json is not trivy JSON"):
        parse_report("<html>", where="r.json")
    with pytest.raises(ProbeUnavailable, match="not a trivy JSON report"):
        parse_report('{"foo": 1}', where="r.json")


def test_empty_results_are_visible():
    report = parse_report(json.dumps({**REPORT, "Results": []}), where="r.json")
    assert report.results == 0 and report.findings == ()


@pytest.mark.parametrize("today, critical, ignored, expired", [
    (date(2026, 12, 30), 0, 2, 0),   # before exp: CVE-1 ignored (DS-0002 has no expiry)
    (date(2026, 12, 31), 1, 1, 1),   # on the exp date trivy counts it again
    (date(2027, 1, 2), 1, 1, 1),
])
def test_trivyignore_expiry(tmp_path, today, critical, ignored, expired):
    path = tmp_path / ".trivyignore"
    path.write_text("# comment\nCVE-1 exp:2026-12-31\nDS-0002\n")
    report = parse_report(json.dumps(REPORT), where="r").apply_ignores(parse_ignore_file(path), today)
    assert report.count("CRITICAL") == critical
    assert len(report.ignored()) == ignored
    assert len(report.expired_ignores()) == expired


def test_trivyignore_yaml_with_paths(tmp_path):
    path = tmp_path / ".trivyignore.yaml"
    path.write_text("vulnerabilities:\n  - id: CVE-1\n    paths: [Python]\n    expired_at: 2030-01-01\n"
                    "    statement: not reachable\nmisconfigurations:\n  - id: DS-0002\n"
                    "    paths: [other/Dockerfile]\n")
    entries = parse_ignore_file(path)
    report = parse_report(json.dumps(REPORT), where="r").apply_ignores(entries, date(2026, 1, 1))
    assert [f.id for f in report.ignored()] == ["CVE-1"]
    assert "not reachable" in (report.ignored()[0].ignore or "")
    assert report.count("CRITICAL") == 1  # DS-0002 ignored only for another path


@pytest.mark.parametrize("text, message", [
    ("CVE-1 exp:2026-13-01\n", ".trivyignore:1: '2026-13-01' is not a date"),
    ("CVE-1 until:2026\n", ".trivyignore:1: unexpected 'until:2026'"),
])
def test_malformed_trivyignore(tmp_path, text, message):
    path = tmp_path / ".trivyignore"
    path.write_text(text)
    with pytest.raises(IgnoreFileError, match=message):
        parse_ignore_file(path)


def test_trivy_config_finds_a_wildcard_cluster_role(tmp_path: Path):
    """The real trivy on manifests: a wildcard ClusterRole is CRITICAL; the examples are not."""
    trivy = find_tool("trivy", hint="")
    assert trivy, "trivy is not installed: pip install 'pytest-release[security]'"
    (tmp_path / "role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: all\n"
        "rules:\n  - apiGroups: ['*']\n    resources: ['*']\n    verbs: ['*']\n")
    out = run_tool(config_argv(trivy, str(tmp_path), cache_dir=str(tmp_path / "cache")),
                   timeout_s=120)
    report = parse_config_report(out.text, where="trivy config")
    assert any(f.severity == "CRITICAL" and f.target == "role.yaml" for f in report.findings)
    out = run_tool(config_argv(trivy, str(examples_path("manifests")),
                               cache_dir=str(tmp_path / "cache")), timeout_s=120)
    serious = [f for f in parse_config_report(out.text, where="x").findings
               if f.severity in ("CRITICAL", "HIGH")]
    assert serious == []
