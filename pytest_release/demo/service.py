"""The demo target: the bundled feedback service (the installed ``feedback_service``)."""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .processes import Process, StackError, spawn


@dataclass
class FeedbackService:
    process: Process
    url: str
    key_file: Path
    issuer: str
    audience: str
    faults: tuple[str, ...] = ()
    argv: list[str] = field(default_factory=list)

    def token(self, sub: str = "release-checks", lifetime: int = 3600, **kwargs: object) -> str:
        from feedback_service import mint_token

        return str(mint_token(self.key_file, sub=sub, issuer=self.issuer, audience=self.audience,
                              lifetime=lifetime, **kwargs))

    def stop(self) -> None:
        self.process.stop()


def start_service(workdir: Path, *, redis_url: str, faults: Sequence[str] = (),
                  rate_limit: int = 600, rate_window: int = 60,
                  exempt: Sequence[str] = ("loadtest",),
                  issuer: str = "https://feedback.demo.local",
                  audience: str = "aiops-feedback", key_file: Path | None = None,
                  timeout: float = 20.0) -> FeedbackService:
    """The bundled feedback service (the installed ``feedback_service``) on a free loopback port."""
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = key_file or workdir / "signing-key.pem"
    argv = [sys.executable, "-m", "feedback_service", "serve", "--host", "127.0.0.1",
            "--port", "0", "--redis-url", redis_url, "--key-file", str(key_file),
            "--issuer", issuer, "--audience", audience, "--rate-limit", str(rate_limit),
            "--rate-window", str(rate_window)]
    for sub in exempt:
        argv += ["--rate-limit-exempt", sub]
    for fault in faults:
        argv += ["--fault", fault]
    env = {"PYTHONUNBUFFERED": "1"}
    process = spawn("feedback-service", argv, workdir, env=env, stdout_pipe=True)
    assert process.popen.stdout is not None
    deadline = time.monotonic() + timeout
    url = None
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(process.popen.stdout, selectors.EVENT_READ)
    buffer = b""
    while url is None and time.monotonic() < deadline:
        if not selector.select(timeout=0.2):
            if process.popen.poll() is not None:
                break
            continue
        chunk = os.read(process.popen.stdout.fileno(), 4096)
        if not chunk:
            break
        buffer += chunk
        for line in buffer.decode(errors="replace").splitlines():
            if line.startswith("READY "):
                url = line.split(" ", 1)[1].strip()
    selector.close()
    if url is None:
        process.stop()
        raise StackError(f"feedback service did not become ready; log: {process.log_path}\n"
                         f"{process.tail()}")
    # Keep draining stdout into the log so the service never blocks on a full pipe.
    _drain(process)
    return FeedbackService(process, url, key_file, issuer, audience, tuple(faults), argv)


def _drain(process: Process) -> None:
    import threading

    def pump() -> None:
        stream = process.popen.stdout
        assert stream is not None
        with open(process.log_path, "ab") as log:
            for line in iter(stream.readline, b""):
                log.write(line)
                log.flush()

    threading.Thread(target=pump, name=f"drain-{process.name}", daemon=True).start()
