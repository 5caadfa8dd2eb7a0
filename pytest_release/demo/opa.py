"""An OPA-REST-compatible loopback server over a real Rego engine (PyPI ``regopy``).

No ``opa`` binary or server package exists for these machines. This serves OPA's data API —
``POST /v1/data/<path>`` with ``{"input": ...}`` → ``{"result": ...}``, and ``{}`` (no ``result``)
for an undefined decision; ``GET /health`` → ``{}`` — evaluating the ``.rego`` files of a
directory (``examples/opa/`` by default) with Microsoft's rego-cpp through ``regopy``.

regopy 1.5.2 quirk: the query ``data.pkg.rule`` drops a rule's ``default`` value (answers
undefined), while ``result := data.pkg.rule`` binds it as OPA does; the server uses the latter.

    python -m pytest_release.demo.opa [--policy-dir DIR] [--port N]
"""
from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..bundled import examples_path

_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")


class RegoPolicies:
    """The Rego modules of a directory, evaluated per request (a fresh interpreter each time)."""

    def __init__(self, modules: dict[str, str]) -> None:
        if not modules:
            raise ValueError("no .rego modules to serve")
        self.modules = modules

    @classmethod
    def from_dir(cls, directory: Path) -> RegoPolicies:
        return cls({p.name: p.read_text(encoding="utf-8")
                    for p in sorted(directory.glob("*.rego"))})

    def evaluate(self, path: str, input_: Any) -> tuple[bool, Any]:
        """(defined, value) of ``data.<path>``; raises ``RuntimeError`` on a policy error."""
        import regopy

        interpreter = regopy.Interpreter()
        for name, source in self.modules.items():
            interpreter.add_module(name, source)
        if input_ is not None:
            interpreter.set_input(input_)
        output = interpreter.query(f"result := data.{path.replace('/', '.')}")
        if not output.ok():
            raise RuntimeError(str(output).strip()[:500])
        results = output.results
        if not results or "result" not in results[0].bindings:
            return False, None
        return True, results[0].bindings["result"]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _send(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.path.split("?", 1)[0] == "/health":
            self._send(200, {})
            return
        self._data(None)

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"code": "invalid_parameter", "message": "body is not JSON"})
            return
        self._data(body.get("input") if isinstance(body, dict) else None)

    def _data(self, input_: Any) -> None:
        path = self.path.split("?", 1)[0]
        if not path.startswith("/v1/data/"):
            self._send(404, {"code": "resource_not_found", "message": f"{path} not found"})
            return
        rule = path[len("/v1/data/"):].strip("/")
        if not _PATH.match(rule):
            self._send(400, {"code": "invalid_parameter", "message": "bad data path"})
            return
        try:
            defined, value = self.server.policies.evaluate(rule, input_)
        except RuntimeError as exc:
            self._send(500, {"code": "internal_error", "message": str(exc)})
            return
        self._send(200, {"result": value} if defined else {})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    policies: RegoPolicies


class OpaServer:
    """The server on ``127.0.0.1:<free port>`` in a thread; a context manager."""

    def __init__(self, policies: RegoPolicies | Path | None = None, *, port: int = 0) -> None:
        if policies is None:
            policies = examples_path("opa")
        if isinstance(policies, Path):
            policies = RegoPolicies.from_dir(policies)
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.policies = policies
        self._thread = threading.Thread(target=self._server.serve_forever, name="opa-regopy",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OpaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pytest_release.demo.opa")
    parser.add_argument("--policy-dir", type=Path, default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = OpaServer(args.policy_dir, port=args.port).start()
    print(f"READY {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
