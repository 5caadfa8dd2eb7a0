"""examples/ci/: the GitHub Actions and GitLab snippets parse, and their commands, run locally
as the CI would run them (bash, in an empty job directory holding a release.toml), write the
sign-off, the JUnit report and the step summary where the artifacts step looks for them."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CI = REPO / "examples" / "ci"
INSTALL = "python -m pip install 'pytest-release[k6]'"


def _github() -> tuple[dict[str, Any], list[str], list[str]]:
    data = yaml.safe_load((CI / "github-actions.yml").read_text())
    assert data[True] == {"push": {"tags": ["v*"]}, "workflow_dispatch": {}}  # YAML 1.1: on → True
    job = data["jobs"]["release-gate"]
    commands = [step["run"] for step in job["steps"] if "run" in step]
    uploads = [step["with"]["path"] for step in job["steps"]
               if str(step.get("uses", "")).startswith("actions/upload-artifact")]
    junit = [step["with"]["report_paths"] for step in job["steps"]
             if str(step.get("uses", "")).startswith("mikepenz/action-junit-report")]
    assert all(step.get("if") == "always()" for step in job["steps"]
               if "uses" in step and "upload" in step["uses"] or "junit" in step.get("uses", ""))
    return job["env"], commands, [*uploads, *junit]


def _gitlab() -> tuple[dict[str, Any], list[str], list[str]]:
    job = yaml.safe_load((CI / "gitlab-ci.yml").read_text())["release-gate"]
    assert job["artifacts"]["when"] == "always"
    return (job["variables"], list(job["script"]),
            [*job["artifacts"]["paths"], job["artifacts"]["reports"]["junit"]])


def _run(commands: list[str], declared: dict[str, Any], tmp_path: Path, server: Any,
         extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert commands[0] == INSTALL  # the package under test is this venv's: not reinstalled
    job = tmp_path / "job"
    job.mkdir()
    (job / "release.toml").write_text('[redis]\nurl = "${REDIS_URL}"\n'
                                      f'config_file = "{server.conf_path}"\nhost = "local://"\n')
    values = {"RELEASE_VERSION": "v5.7.1", "REDIS_URL": server.url,
              "RELEASE_PYTEST_ARGS": "-m gate_redis"}
    assert {"RELEASE_VERSION", "RELEASE_PYTEST_ARGS"} <= set(declared)
    env = {**os.environ, **values, **extra_env,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTEST_ADDOPTS", None)
    script = "set -e\n" + "\n".join(commands[1:])
    return subprocess.run(["bash", "-c", script], cwd=job, env=env, text=True,
                          capture_output=True, timeout=240)


def _assert_artifacts(result: subprocess.CompletedProcess[str], job: Path,
                      artifacts: list[str]) -> None:
    out = result.stdout + result.stderr
    # only Gate 1 ran: the verdict is INCOMPLETE and the job must fail, with its reason
    assert result.returncode == 11, out  # EXIT_INCOMPLETE (README "Exit status")
    assert "exit status 11: a selected gate was not measured or not run (verdict INCOMPLETE)" in out
    for path in artifacts:
        assert (job / path).exists(), (path, out)
    for name in ("signoff.json", "checklist.md", "report.html", "junit.xml"):
        assert (job / "release-report" / name).stat().st_size > 0, name
    suite = ET.parse(job / "release-report" / "junit.xml").getroot()
    cases = suite.findall(".//testcase")
    assert cases and all("test_gate_redis" in c.get("classname", "") for c in cases)


def test_github_actions_snippet_runs_locally(redis_server, tmp_path):
    server = redis_server(appendonly="yes")
    server.client().set("feedback:1", "{}", ex=60)
    env, commands, artifacts = _github()
    assert artifacts == ["release-report/", "release-report/junit.xml"]
    summary = tmp_path / "step_summary.md"
    result = _run(commands, env, tmp_path, server, {"GITHUB_STEP_SUMMARY": str(summary)})
    _assert_artifacts(result, tmp_path / "job", artifacts)
    text = summary.read_text()
    assert "pytest-release v5.7.1: INCOMPLETE" in text and "| Gate / stage |" in text


def test_gitlab_snippet_runs_locally(redis_server, tmp_path):
    server = redis_server(appendonly="yes")
    server.client().set("feedback:1", "{}", ex=60)
    variables, commands, artifacts = _gitlab()
    assert variables["RELEASE_VERSION"] == "$CI_COMMIT_TAG"
    result = _run(commands, variables, tmp_path, server, {})
    _assert_artifacts(result, tmp_path / "job", artifacts)
    assert not (tmp_path / "job" / "step_summary.md").exists()
