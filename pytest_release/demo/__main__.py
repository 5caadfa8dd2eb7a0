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

from ..bundled import checkout_root, suite_path
from .parts import STACK_PARTS, DemoContext
from .processes import StackError

DEFAULT_VERSION = "v5.7.1"
ARTIFACTS = ("report.html", "signoff.json", "checklist.md")
#: The suite's pytest configuration (the checkout's [tool.pytest.ini_options], minus testpaths).
PYTEST_INI = "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nxfail_strict = true\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_release.demo",
        description="Run the full release suite against the bundled demo target.",
        epilog="stack parts: " + "; ".join(f"{p.name}: {p.help}" for p in STACK_PARTS),
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
    optional = [p.name for p in STACK_PARTS if not p.required]
    parser.add_argument("--without", action="append", default=[], choices=optional,
                        metavar="PART", help="leave a stack part out (its checks are then not "
                                             f"measured); one of: {', '.join(optional)}")
    parser.add_argument("--no-observability", action="append_const", const="observability",
                        dest="without", help="same as --without observability")
    parser.add_argument("--suite", type=Path, default=None,
                        help="release suite to run (default: the bundled one, "
                             "pytest_release.bundled.suite_path())")
    parser.add_argument("--commit", default=None,
                        help="[release] commit to record (default: the checkout's HEAD, if any)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: extra arguments for pytest (e.g. -- -m gate_api)")
    return parser


def _git_commit() -> str | None:
    """HEAD of the pytest-release checkout the demo runs from; None from an installed wheel."""
    root = checkout_root()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
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


def _start_parts(ctx: DemoContext, stack: contextlib.ExitStack) -> None:
    """Start every stack part in order; each one's settings go into ``ctx.settings``."""
    for part in STACK_PARTS:
        if part.name in ctx.args.without:
            print(f"demo: {part.name} left out (--without {part.name}); its checks will be "
                  "not measured")
            continue
        try:
            ctx.merge(stack.enter_context(part.load()(ctx)))
        except StackError as exc:
            if part.required:
                raise
            print(f"demo: {part.name} not started ({exc}); its checks will be not measured")


def _run(args: argparse.Namespace, out: Path, workdir: Path, stack: contextlib.ExitStack) -> int:
    ctx = DemoContext(args, workdir)
    _start_parts(ctx, stack)
    tokens = ctx.env

    config = workdir / "release.toml"
    ctx.settings.setdefault("release", {})["commit"] = args.commit or _git_commit()
    _write_config(config, ctx.settings)
    (workdir / "pytest.ini").write_text(PYTEST_INI)
    suite = (args.suite or suite_path()).resolve()
    pytest_args = [a for a in args.pytest_args if a != "--"]
    command = [
        sys.executable, "-m", "pytest", str(suite),
        # The demo's own rootdir and ini: whatever directory it is started from (a checkout,
        # a project with its own pytest.ini, an empty directory) plays no part in the run.
        "--rootdir", str(workdir), "-c", str(workdir / "pytest.ini"),
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
    process = subprocess.Popen(command, cwd=workdir, env=env, start_new_session=True)
    stack.callback(_stop_group, process)
    try:
        returncode = process.wait(timeout=limit)
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
        urls = [f"{table}.{key} {value}" for table, values in ctx.settings.items()
                for key, value in values.items()
                if key.endswith("url") and "@" not in str(value)]
        print("demo: stack kept running — " + ", ".join(urls)
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


if __name__ == "__main__":
    sys.exit(main())
