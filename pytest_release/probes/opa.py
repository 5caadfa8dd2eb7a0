"""OPA's REST API: ask ``POST /v1/data/<path>`` for decisions. Facts only.

OPA answers ``{"result": ...}``; an *undefined* decision answers 200 with no ``result`` key.
:class:`Decision` keeps that distinction (``defined``) so the gate can treat undefined as deny
and never as a pass. An unreachable or slow OPA raises :class:`ProbeUnavailable`.

The decision cases of the settings (``allow|deny NAME: {JSON input}``) are parsed here too
(:func:`parse_case`), so that the config loader can reject a malformed case before any check.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import ProbeUnavailable, _http

_CASE = re.compile(r"^\s*(allow|deny)\s+([A-Za-z0-9_.:/-]+)\s*:\s*(\{.*\})\s*$", re.S)


@dataclass(frozen=True)
class OpaCase:
    name: str
    expect: str          # "allow" | "deny"
    input: dict[str, Any]


def parse_case(text: str) -> OpaCase:
    """``allow admin-delete: {"user": ...}`` → :class:`OpaCase`; raises ``ValueError``."""
    match = _CASE.match(text)
    if not match:
        raise ValueError(f"{text[:60]!r} is not 'allow|deny NAME: {{JSON input}}'")
    expect, name, body = match.groups()
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"case {name}: the input is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"case {name}: the input must be a JSON object")
    return OpaCase(name, expect, data)


@dataclass(frozen=True)
class Decision:
    defined: bool
    result: Any = None

    @property
    def allowed(self) -> bool:
        """Only a literal ``true`` (or ``{"allow": true}``) allows; undefined is a deny."""
        if not self.defined:
            return False
        if isinstance(self.result, dict):
            return self.result.get("allow") is True
        return self.result is True

    @property
    def shown(self) -> str:
        if not self.defined:
            return "undefined (deny)"
        return json.dumps(self.result, sort_keys=True)[:200]


class OpaClient:
    """OPA's data API at ``base_url`` (``http://127.0.0.1:8181``)."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """One POST under a total deadline (connect + headers + body): :func:`._http.send`."""
        response = _http.send(
            "POST", self.base_url + path, timeout_s=self.timeout_s, what="OPA",
            display_url=self.base_url, data=json.dumps(body),
            headers={"Content-Type": "application/json", **self._headers}, max_bytes=8 << 20,
            setting="security.timeout_s")
        return response.status_code, response.content

    def decide(self, path: str, input_: dict[str, Any]) -> Decision:
        """The decision at ``data.<path>`` for ``input_``."""
        api_path = "/v1/data/" + path.strip("/")
        status, raw = self._post(api_path, {"input": input_})
        if status != 200:
            text = raw.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
            raise ProbeUnavailable(f"OPA {self.base_url}{api_path} answered {status}: {text}")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ProbeUnavailable(f"OPA {self.base_url}{api_path} did not answer JSON") from None
        if not isinstance(data, dict):
            raise ProbeUnavailable(f"OPA {self.base_url}{api_path} answered a non-object")
        if "result" not in data:
            return Decision(False)
        return Decision(True, data["result"])

    def curl(self, path: str, input_: dict[str, Any]) -> str:
        """The reproduce command for one decision."""
        import shlex

        body = json.dumps({"input": input_}, separators=(",", ":"))
        auth = " -H \"Authorization: Bearer $OPA_TOKEN\"" if self._headers else ""
        return (f"curl -s -X POST {shlex.quote(self.base_url + '/v1/data/' + path.strip('/'))} "
                f"-H 'Content-Type: application/json'{auth} -d {shlex.quote(body)}")
