"""One HTTP helper for every probe: a TOTAL wall-clock deadline per call, one error mapping.

``requests``' own ``timeout`` bounds the connect and each socket read, so a server that trickles
its headers or body a byte at a time could hold a check for ever. Here every call has one
deadline: the request runs in a daemon thread (connect, headers) and streams its body while
checking a monotonic clock; the caller waits at most ``timeout_s`` and then gets
:class:`ProbeUnavailable`, whatever the server does. Every failure is reported the same way:
``<what> <display url> is unreachable: <reason>`` (never the exception text, which can carry
credentials from the URL).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import ProbeUnavailable, require
from .deadline import call_deadline

if TYPE_CHECKING:
    import requests

#: Largest body a probe reads (a metrics exposition or a dashboard is far smaller).
MAX_BYTES = 32 << 20
_CHUNK = 64 << 10


class _Outcome:
    __slots__ = ("response", "streaming", "error", "done")

    def __init__(self) -> None:
        self.response: requests.Response | None = None
        self.streaming: requests.Response | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def send(
    method: str,
    url: str,
    *,
    timeout_s: float,
    what: str,
    display_url: str | None = None,
    session: requests.Session | None = None,
    headers: Mapping[str, str] | None = None,
    params: Any = None,
    data: bytes | str | None = None,
    allow_redirects: bool = False,
    max_bytes: int = MAX_BYTES,
    setting: str | None = None,
    verify: bool = True,
) -> requests.Response:
    """``method url`` with its body read, all within ``timeout_s`` seconds of wall clock.

    The deadline is cut short by the running check's budget (:mod:`.deadline`); ``setting``
    names the setting that sets ``timeout_s``, for the reason when it runs out. Any status code
    is returned (a 500 is a fact); only "no answer" raises :class:`ProbeUnavailable`: refused,
    reset, DNS, TLS, the deadline, a body over ``max_bytes``.
    """
    requests_mod = require("requests", "requests")
    shown = display_url or url
    limit = call_deadline(timeout_s, setting)
    deadline = limit.at
    per_read = max(0.01, min(timeout_s, limit.remaining()))
    outcome = _Outcome()
    client = session if session is not None else requests_mod

    def work() -> None:
        try:
            response = client.request(
                method, url, headers=dict(headers or {}), params=params, data=data,
                timeout=(per_read, per_read), allow_redirects=allow_redirects, stream=True,
                verify=verify)
            outcome.streaming = response
            try:
                chunks, size = [], 0
                for chunk in response.iter_content(_CHUNK):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > max_bytes:
                        raise _TooLarge(size)
                    if time.monotonic() > deadline:
                        raise _Late()
                response._content = b"".join(chunks)
            finally:
                response.close()
            outcome.response = response
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.error = exc
        finally:
            outcome.done.set()

    thread = threading.Thread(target=work, name=f"http {method} {shown}", daemon=True)
    thread.start()
    if not outcome.done.wait(max(0.0, deadline - time.monotonic())) or isinstance(
            outcome.error, _Late):
        _abandon(outcome)
        raise ProbeUnavailable(f"{what} {shown} is unreachable: {method} did not complete "
                               f"{limit.describe()}")
    if outcome.error is not None:
        if isinstance(outcome.error, _TooLarge):
            raise ProbeUnavailable(f"{what} {shown} answered more than {max_bytes} bytes")
        raise ProbeUnavailable(f"{what} {shown} is unreachable: {method} failed: "
                               f"{_reason(outcome.error)}") from None
    assert outcome.response is not None
    return outcome.response


def get_json(url: str, *, timeout_s: float, what: str, display_url: str | None = None,
             session: requests.Session | None = None, headers: Mapping[str, str] | None = None,
             params: Any = None, setting: str | None = None) -> tuple[requests.Response, Any]:
    """GET ``url``: (response, parsed JSON body or None when the body is not JSON)."""
    response = send("GET", url, timeout_s=timeout_s, what=what, display_url=display_url,
                    session=session, headers={"Accept": "application/json", **(headers or {})},
                    params=params, setting=setting)
    try:
        return response, response.json()
    except ValueError:
        return response, None


def _abandon(outcome: _Outcome) -> None:
    """Past the deadline: shut the socket of a body still streaming, so the worker thread ends
    now rather than when the server stops dripping. (A call still waiting for its headers has
    no response to reach; its daemon thread ends at the server's next byte or close.)"""
    response = outcome.streaming
    if response is None:
        return
    import socket

    raw = response.raw
    # Kept on the connection (keep-alive), or handed to http.client's response (Connection:
    # close): its buffered reader over a SocketIO.
    sock = getattr(getattr(raw, "_connection", None), "sock", None) or getattr(
        getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _TooLarge(Exception):
    pass


class _Late(Exception):
    pass


def _reason(exc: BaseException) -> str:
    """The kind of failure, without the exception's text (it can repeat the URL's secrets)."""
    name = type(exc).__name__
    cause = exc
    seen = 0
    while cause.__context__ is not None and seen < 8:  # the socket error inside urllib3's
        cause = cause.__context__
        seen += 1
    inner = type(cause).__name__
    return name if inner == name else f"{name} ({inner})"
