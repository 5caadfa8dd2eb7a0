"""One-command demo: start the bundled stack, run the whole release suite, write the sign-off.

    python -m pytest_release.demo                      # report.html, signoff.json, checklist.md
    python -m pytest_release.demo --fault no_ttl       # watch a gate fail on a real violation
    python -m pytest_release.demo --keep-running       # explore the stack afterwards (Ctrl-C stops)

Everything it starts (redis-server, the feedback service, Prometheus, Alertmanager when
installed) listens on free loopback ports in a temporary directory and is stopped at the end,
also on Ctrl-C or failure.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .stack import REPO_ROOT, StackError, start_redis, start_service

DEFAULT_VERSION = "v5.7.1"
ARTIFACTS = ("report.html", "signoff.json", "checklist.md")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_release.demo",
        description="Run the full release suite against the bundled demo target.",
    )
    parser.add_argument("--release", default=DEFAULT_VERSION, help="version to sign off")
    parser.add_argument("--out", default="release-artifacts", type=Path,
                        help="directory for report.html, signoff.json, checklist.md")
    parser.add_argument("--fault", action="append", default=[],
                        help="switch a fault on in the service (repeatable), e.g. no_ttl, slow")
    parser.add_argument("--load-duration", default="30s", help="k6 duration (checklist: 30s)")
    parser.add_argument("--workers", default="2",
                        help="pytest-xdist workers ('0' for a serial run, 'auto' for all cores)")
    parser.add_argument("--keep-running", action="store_true",
                        help="keep the stack up after the run until Ctrl-C")
    parser.add_argument("--no-observability", action="store_true",
                        help="do not start Prometheus/Alertmanager (Gate 5 then not measured)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: extra arguments for pytest (e.g. -- -m gate_api)")
    return parser


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _toml(value: Any) -> str:
    return json.dumps(value)  # TOML basic strings, numbers and arrays share JSON's syntax here


def _write_config(path: Path, tables: dict[str, dict[str, Any]]) -> None:
    lines = ["# Written by python -m pytest_release.demo for the bundled demo stack."]
    for table, values in tables.items():
        lines.append(f"\n[{table}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items() if value is not None]
    path.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="pytest-release-demo-"))
    stack = contextlib.ExitStack()
    try:
        with _terminate_on_sigterm(), stack:
            return _run(args, out, workdir, stack)
    except StackError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("demo: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, out: Path, workdir: Path, stack: contextlib.ExitStack) -> int:
    print(f"demo: starting redis-server and the feedback service in {workdir}")
    redis = start_redis(workdir / "redis")
    stack.callback(redis.stop)
    service = start_service(workdir / "service", redis_url=redis.url, faults=args.fault,
                            rate_limit=300)
    stack.callback(service.stop)
    tokens = {
        "API_TOKEN": service.token(sub="release-checks"),
        "RATE_LIMIT_TOKEN": service.token(sub="rate-limit-check"),
        "LOAD_TOKEN": service.token(sub="loadtest"),
    }
    # One record written through the real API, so Gate 1's TTL audit has the service's keys.
    import requests

    seed = requests.post(
        f"{service.url}/api/v1/aiops/feedback", timeout=5,
        headers={"Authorization": f"Bearer {tokens['API_TOKEN']}"},
        json={"metric": "demo", "anomaly": True, "verdict": False, "source": "api",
              "type": "bug", "severity": "low", "note": "demo seed"},
    )
    print(f"demo: service {service.url} (faults: {', '.join(args.fault) or 'none'}), "
          f"seed POST → {seed.status_code}")

    observability: dict[str, Any] = {}
    if not args.no_observability:
        observability = _start_observability(workdir, service.url, stack)

    config = workdir / "release.toml"
    tables: dict[str, dict[str, Any]] = {
        "release": {"commit": _git_commit(), "image": "examples/feedback_service (demo)"},
        "redis": {"url": redis.url, "config_file": str(redis.conf_path), "host": "local://"},
        "api": {"url": service.url, "token": "${API_TOKEN}",
                "rate_limit_token": "${RATE_LIMIT_TOKEN}",
                "signing_key_file": str(service.key_file)},
        "load": {"duration": args.load_duration, "token": "${LOAD_TOKEN}"},
        "observability": observability,
    }
    # --- Gate 4 (security helper): registry + signed image, trivy DB, OPA, cluster objects ---
    from .security import start_demo_security

    for table, values in start_demo_security(workdir / "security", stack).items():
        tables.setdefault(table, {}).update(values)
    # --- end Gate 4 ---
    _write_config(config, tables)
    pytest_args = [a for a in args.pytest_args if a != "--"]
    command = [
        sys.executable, "-m", "pytest", str(REPO_ROOT / "tests_release"),
        "--rootdir", str(REPO_ROOT), "-p", "no:cacheprovider",
        "--release", args.release, "--release-config", str(config),
        "--release-signoff", str(out / "signoff.json"),
        "--release-checklist", str(out / "checklist.md"),
        "--html", str(out / "report.html"), "--self-contained-html",
    ]
    if args.workers not in ("0", ""):
        command += ["-n", args.workers]
    command += pytest_args
    print("demo: running the release suite:\n  " + " ".join(command[2:]))
    env = dict(os.environ, **tokens)
    for name in ARTIFACTS:
        (out / name).unlink(missing_ok=True)
    started = time.monotonic()
    from ..settings import duration_seconds

    # Generous: the suite's own calls all have timeouts; this only stops a wedged run.
    limit = duration_seconds(args.load_duration) + 900
    # Its own session, so that on Ctrl-C, SIGTERM or a timeout the xdist workers and k6 stop too.
    suite = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)
    stack.callback(_stop_group, suite)
    try:
        returncode = suite.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        raise StackError(f"the release suite did not finish within {limit:.0f} s") from None
    elapsed = time.monotonic() - started
    verdict = "unknown (no sign-off written)"
    signoff_path = out / "signoff.json"
    if signoff_path.exists():
        verdict = json.loads(signoff_path.read_text())["verdict"]
    print(f"\ndemo: suite finished in {elapsed:.1f} s with pytest exit code {returncode}")
    for name in ARTIFACTS:
        print(f"demo: {name:<13} {out / name}")
    print(f"demo: verdict {verdict}")
    if args.keep_running:
        print(f"demo: stack kept running — API {service.url}, Redis {redis.url}"
              + "".join(f", {k} {v}" for k, v in observability.items() if k.endswith("_url"))
              + f"\n      tokens (export them to call the API): {_write_tokens(workdir, tokens)}"
              + "\ndemo: press Ctrl-C to stop")
        while True:
            time.sleep(3600)
    return returncode


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """TERM, then KILL, the suite's whole process group (pytest, xdist workers, k6)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _write_tokens(workdir: Path, tokens: dict[str, str]) -> Path:
    """Tokens go to a 0600 file, never to the terminal or a log."""
    path = workdir / "tokens.env"
    path.touch(mode=0o600)
    path.write_text("".join(f"export {name}={value}\n" for name, value in tokens.items()))
    return path


def _start_observability(workdir: Path, service_url: str,
                         stack: contextlib.ExitStack) -> dict[str, Any]:
    """Prometheus + Alertmanager for Gate 5, when installed and wired (else not measured)."""
    try:
        from . import observability
    except ImportError:
        return {}
    start = getattr(observability, "start_demo_observability", None)
    if start is None:
        return {}
    try:
        settings: dict[str, Any] = start(workdir / "observability", service_url, stack)
    except StackError as exc:
        print(f"demo: observability stack not started ({exc}); Gate 5 will be not measured")
        return {}
    return settings


if __name__ == "__main__":
    sys.exit(main())
