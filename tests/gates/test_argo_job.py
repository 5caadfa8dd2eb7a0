"""examples/argo: the in-cluster canary check, validated offline and its command run locally.

The Job is validated with PyPI ``kubernetes-validate`` (Kubernetes' own OpenAPI schemas), the
AnalysisTemplates with npm ``@kubernetes-models/argo-rollouts`` (installed by ``.ci/setup`` into
``.ci/node``). The Job's container command is then run here exactly as the kubelet would run it
(``$(VAR)`` expanded from the container's env), against a real Prometheus with a healthy and a
regressed canary, and with Prometheus down: it must exit 0 only for the healthy canary.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pytest_release.bundled import examples_path
from pytest_release.demo.history import start_history_prometheus
from pytest_release.demo.observability import PrometheusServer
from pytest_release.demo.stack import free_port

REPO = Path(__file__).resolve().parents[2]
ARGO = examples_path("argo")
NODE_MODULES = REPO / ".ci" / "node" / "node_modules"
VALIDATOR = REPO / "tests" / "support" / "validate_argo.js"


def load(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((ARGO / name).read_text()) if d]


def container(name: str) -> dict:
    [doc] = load(name)
    spec = doc["spec"]
    if doc["kind"] == "AnalysisTemplate":
        spec = doc["spec"]["metrics"][0]["provider"]["job"]["spec"]
    return spec["template"]["spec"]["containers"][0]


def test_job_is_valid_against_the_kubernetes_schema():
    import kubernetes_validate

    [job] = load("job.yaml")
    kubernetes_validate.validate(job, "1.30.0", strict=True)
    broken = json.loads(json.dumps(job))
    broken["spec"]["template"]["spec"]["containers"][0]["command"] = "pytest"  # not a list
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def _validate_templates(docs: list[dict]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node is not installed: run .ci/setup (apt-get install nodejs npm)"
    assert NODE_MODULES.joinpath("@kubernetes-models", "argo-rollouts").is_dir(), (
        "npm @kubernetes-models/argo-rollouts is missing: run .ci/setup")
    return subprocess.run([node, str(VALIDATOR), str(NODE_MODULES)], input=json.dumps(docs),
                          capture_output=True, text=True, timeout=60)


def test_analysis_templates_are_valid_against_the_argo_rollouts_schema():
    docs = load("analysis-templates.yaml") + load("analysis-template-job.yaml")
    done = _validate_templates(docs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") == 4
    broken = json.loads(json.dumps(docs[-1]))
    del broken["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]
    done = _validate_templates([broken])
    assert done.returncode == 1 and "must have required property 'template'" in done.stdout


def test_the_job_provider_runs_the_same_command_as_the_job():
    job, provider = container("job.yaml"), container("analysis-template-job.yaml")
    assert job["command"] == provider["command"] and job["args"] == provider["args"]
    assert "-m stage_canary" in job["args"][0]
    [template] = load("analysis-template-job.yaml")
    metric = template["spec"]["metrics"][0]
    assert (metric["interval"], metric["failureLimit"]) == ("30s", 1)  # the checklist's numbers


# -- the Job's command, run locally ---------------------------------------------------------------
def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes expands ``$(VAR)`` in command/args from the container's env; ``$$`` escapes."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def run_job_command(tmp_path: Path, prometheus_url: str) -> subprocess.CompletedProcess[str]:
    spec = container("job.yaml")
    env = {e["name"]: e["value"] for e in spec["env"]}
    env.update(PROMETHEUS_URL=prometheus_url, SIGNOFF_PATH=str(tmp_path / "signoff.json"))
    argv = [kubelet_expand(a, env) for a in [*spec["command"], *spec["args"]]]
    process_env = {**os.environ, **env,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_ADDOPTS"):
        process_env.pop(name, None)
    # The image's WORKDIR holds tests_release/ and the ini, as a checkout does.
    return subprocess.run(argv, cwd=REPO, env=process_env, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture(scope="module")
def canaries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PrometheusServer]]:
    servers = {name: start_history_prometheus(Path(tmp_path_factory.mktemp(name)), name)
               for name in ("canary_healthy", "canary_regressed")}
    yield servers
    for server in servers.values():
        server.stop()


def test_job_command_succeeds_on_a_healthy_canary(tmp_path, canaries):
    done = run_job_command(tmp_path, canaries["canary_healthy"].url)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "canary analysis: {'analysis_error_rate': 'passed', 'analysis_latency': 'passed', " \
           "'analysis_redis': 'passed'}" in done.stdout


def test_job_command_fails_on_a_regressed_canary(tmp_path, canaries):
    done = run_job_command(tmp_path, canaries["canary_regressed"].url)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "'analysis_error_rate': 'failed'" in done.stdout


def test_job_command_fails_closed_when_prometheus_is_down(tmp_path):
    done = run_job_command(tmp_path, f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1, done.stdout[-3000:]
    assert "'analysis_error_rate': 'not_measured'" in done.stdout
