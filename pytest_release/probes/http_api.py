"""Facts from the service's HTTP API: status codes, headers, bodies, metrics exposition.

Every request has a timeout. Tokens travel only in the Authorization header; the reproduce
commands this probe writes say ``$API_TOKEN`` instead, so no secret reaches a report.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..redact import safe_url
from . import ProbeUnavailable, _http, require

if TYPE_CHECKING:
    import requests

    from ..settings import ApiSettings

#: The checklist's own validation payload.
VALID_FEEDBACK: dict[str, Any] = {
    "metric": "test", "anomaly": True, "verdict": False, "source": "api", "type": "bug",
    "severity": "low", "note": "test",
}


class FeedbackApi:
    """A keep-alive HTTP client for the feedback service under release."""

    def __init__(self, base_url: str, *, feedback_path: str, token: str | None,
                 timeout_s: float) -> None:
        self._requests = require("requests", "requests")
        self.base_url = base_url.rstrip("/")
        self.feedback_path = feedback_path
        self.token = token
        self.timeout_s = timeout_s
        self.session: requests.Session = self._requests.Session()

    @classmethod
    def from_settings(cls, url: str, api: ApiSettings) -> FeedbackApi:
        """The client for ``url`` with the path, token and timeout of an ``[api]`` table."""
        return cls(url, feedback_path=api.feedback_path, token=api.token, timeout_s=api.timeout_s)

    @property
    def feedback_url(self) -> str:
        return self.base_url + self.feedback_path

    def close(self) -> None:
        self.session.close()

    def request(self, method: str, path_or_url: str, *, token: str | None | bool = True,
                headers: Mapping[str, str] | None = None, data: bytes | str | None = None,
                json_body: Any = None, session: requests.Session | None = None
                ) -> requests.Response:
        """One request; ``token=True`` uses the configured token, ``False``/None sends none."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        all_headers = dict(headers or {})
        bearer = self.token if token is True else (token or None)
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        if json_body is not None:
            data = json.dumps(json_body)
            all_headers.setdefault("Content-Type", "application/json")
        return _http.send(method, url, timeout_s=self.timeout_s, what="service at",
                          setting="api.timeout_s",
                          display_url=safe_url(url), session=session or self.session,
                          headers=all_headers, data=data)

    def post_feedback(self, payload: Mapping[str, Any] | None = None, *,
                      token: str | None | bool = True,
                      session: requests.Session | None = None) -> requests.Response:
        return self.request("POST", self.feedback_path, token=token,
                            json_body=dict(payload or VALID_FEEDBACK), session=session)

    def new_session(self) -> requests.Session:
        session: requests.Session = self._requests.Session()
        return session

    def get_text(self, url: str) -> str:
        response = self.request("GET", url, token=False)
        if response.status_code != 200:
            raise ProbeUnavailable(f"GET {url} answered {response.status_code}")
        return response.text

    def metric_samples(self, url: str, sample_name: str) -> list[tuple[dict[str, str], float]]:
        """Samples named ``sample_name`` in the exposition at ``url`` (parsed, not regexed)."""
        parser = require("prometheus_client.parser", "prometheus-client")
        text = self.get_text(url)
        try:
            families = list(parser.text_string_to_metric_families(text))
        except ValueError as exc:
            raise ProbeUnavailable(f"{url} is not valid Prometheus text: {exc}") from None
        return [(dict(s.labels), float(s.value)) for f in families for s in f.samples
                if s.name == sample_name]

    def curl(self, method: str, path: str, *, body: str | None = None,
             content_type: str | None = "application/json", auth: bool = True) -> str:
        """A copy-pasteable curl for the same request (token as $API_TOKEN)."""
        url = path if "://" in path else self.base_url + path
        parts = ["curl", "-sS", "-i", "-X", method, shlex.quote(url)]
        if auth:
            parts += ["-H", '"Authorization: Bearer $API_TOKEN"']
        if content_type and body is not None:
            parts += ["-H", shlex.quote(f"Content-Type: {content_type}")]
        if body is not None:
            shown = body if len(body) <= 300 else body[:300] + "…"
            parts += ["-d", shlex.quote(shown)]
        return " ".join(parts)

    def curl_post(self, payload: Mapping[str, Any] | None = None) -> str:
        return self.curl("POST", self.feedback_path,
                         body=json.dumps(dict(payload or VALID_FEEDBACK), separators=(",", ":")))


def error_body(response: requests.Response) -> Any:
    """The response's JSON body, or its text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
