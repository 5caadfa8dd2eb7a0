"""Processes of the demo stack: spawn one with its own directory and log, wait for it, stop it.

Every process gets a free loopback port, a directory of its own and a log file; ``stop()``
terminates it (then kills it after a grace period).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class StackError(RuntimeError):
    """A component could not be started; the message says which and how to fix it."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], *, timeout: float, what: str,
              process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise StackError(f"{what}: process exited with {process.popen.returncode}; "
                             f"log: {process.log_path}\n{process.tail()}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise StackError(f"{what}: not ready after {timeout:.0f} s; log: "
                     f"{process.log_path if process else '-'}")


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def executable(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} is not installed: {hint}")
    return path


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] | None = None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None


def spawn(name: str, argv: Sequence[str], workdir: Path, *, env: Mapping[str, str] | None = None,
          stdout_pipe: bool = False) -> Process:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = open(log_path, "ab")
    full_env = dict(os.environ)
    full_env.update(env or {})
    popen = subprocess.Popen(
        list(argv), cwd=workdir, env=full_env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout_pipe else log, stderr=log,
        start_new_session=True,
    )
    return Process(name, popen, log_path, log)
