"""HTTP layer: routing, request checks, endpoint handlers and the threaded server."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import re
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from .auth import AuthenticationError, Principal, SigningKey, TokenVerifier
from .config import ServiceConfig
from .faults import Fault
from .metrics import ServiceMetrics
from .openapi import FEEDBACK_PATH, openapi_document
from .ratelimit import RateLimiter
from .schema import (
    SEVERITIES,
    SOURCES,
    TYPES,
    MalformedJSONError,
    ValidationError,
    parse_json,
    validate_feedback,
)
from .storage import FeedbackRepository, RedisGateway, StorageUnavailable, connect_redis

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"
_JSON_CHARSETS = frozenset({"utf-8", "utf8"})
IDLE_TIMEOUT_SECONDS = 15
LONG_TTL_SECONDS = 30 * 24 * 3600
SLOW_FAULT_DELAY_SECONDS = 0.2
UNKNOWN_ROUTE = "other"
ANONYMOUS = Principal(subject="anonymous")
_FEEDBACK_ITEM = re.compile(re.escape(FEEDBACK_PATH) + r"/([0-9a-f]{32})")
_SPA_FALLBACK_PAGE = (
    b"<!doctype html><html><head><title>AIOps feedback</title></head>"
    b'<body><div id="root"></div><script src="/static/app.js"></script></body></html>'
)


@dataclasses.dataclass(frozen=True)
class Response:
    """A complete HTTP response; the server adds Content-Length, Date and Server."""

    status: int
    body: bytes = b""
    content_type: str = JSON_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()


def json_response(
    status: int, payload: Mapping[str, Any], headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """Serialise ``payload`` compactly into a JSON response."""
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return Response(status, body, headers=tuple(headers))


def error_response(
    status: int, error: str, detail: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """A ``{"error": ..., "detail": ...}`` response."""
    payload = {"error": error} if detail is None else {"error": error, "detail": detail}
    return json_response(status, payload, headers)


class Rejection(Exception):
    """Stops request processing and answers with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class BodyReadError(Exception):
    """The client sent less body than it declared (or stalled past the timeout)."""


class Request:
    """The parts of an HTTP request that endpoint handlers may use."""

    def __init__(self, method: str, path: str, headers: Message, rfile: io.BufferedIOBase) -> None:
        """Wrap a parsed request; the body is read lazily from ``rfile``."""
        self.method = method
        self.path = path
        self.headers = headers
        self.path_params: dict[str, str] = {}
        self.response_headers: list[tuple[str, str]] = []
        self._rfile = rfile
        self._body_read = False
        self._body_broken = False

    def content_length(self) -> int | None:
        """The declared body length, or ``None`` if there is no Content-Length.

        Raises:
            ValueError: for a repeated, non-numeric or negative Content-Length.
        """
        values = self.headers.get_all("Content-Length")
        if not values:
            return None
        value = values[0].strip()
        if len(values) > 1 or not (value.isascii() and value.isdigit()):
            raise ValueError("invalid Content-Length")
        return int(value)

    def read_body(self, length: int) -> bytes:
        """Read exactly ``length`` body bytes.

        Raises:
            BodyReadError: if the client closes or stalls before sending them all.
        """
        try:
            body = self._rfile.read(length)
        except OSError as exc:
            self._body_broken = True
            raise BodyReadError(str(exc)) from exc
        if len(body) != length:
            self._body_broken = True
            raise BodyReadError("request body is shorter than Content-Length")
        self._body_read = True
        return body

    def discard_unread_body(self, limit: int) -> bool:
        """Consume a body no handler read, so the connection can be reused.

        Returns ``False`` when the body cannot be skipped safely (cut short,
        chunked, invalid or over ``limit``) and the connection must be closed.
        """
        if self._body_read:
            return True
        if self._body_broken or "Transfer-Encoding" in self.headers:
            return False
        try:
            length = self.content_length()
        except ValueError:
            return False
        if length is None or length == 0:
            return True
        if length > limit:
            return False
        try:
            self.read_body(length)
        except BodyReadError:
            return False
        return True


Handler = Callable[[Request], Response]


@dataclasses.dataclass(frozen=True)
class Route:
    """A route template and its handlers by method (GET also answers HEAD)."""

    template: str
    handlers: Mapping[str, Handler]

    @property
    def allow(self) -> str:
        """Value for the ``Allow`` header."""
        methods = list(self.handlers)
        if "GET" in self.handlers:
            methods.append("HEAD")
        return ", ".join(methods)

    def handler_for(self, method: str) -> Handler | None:
        """The handler for ``method``, if allowed."""
        return self.handlers.get("GET" if method == "HEAD" else method)


def _is_json_media_type(value: str) -> bool:
    """``application/json``, optionally with a UTF-8 charset parameter."""
    media_type, _, parameters = value.partition(";")
    if media_type.strip().lower() != JSON_CONTENT_TYPE:
        return False
    for parameter in parameters.split(";"):
        name, _, raw = parameter.partition("=")
        if name.strip().lower() == "charset" and raw.strip().strip('"').lower() not in _JSON_CHARSETS:
            return False
    return True


def _bounded_label(value: object, choices: tuple[str, ...]) -> str:
    """A metric label value restricted to ``choices`` (``unknown`` otherwise)."""
    return value if isinstance(value, str) and value in choices else "unknown"


class FeedbackApp:
    """The service's endpoints, independent of the socket server."""

    def __init__(self, config: ServiceConfig) -> None:
        """Load the signing key and wire Redis, auth, rate limiting and metrics."""
        self.config = config
        self.metrics = ServiceMetrics(config.faults)
        self.signing_key = SigningKey.load_or_create(config.key_file)
        self.gateway = RedisGateway(
            connect_redis(config.redis_url, resilient=not config.has(Fault.NO_REDIS_RETRY)),
            self.metrics,
        )
        ttl: int | None = config.ttl_seconds
        if config.has(Fault.NO_TTL):
            ttl = None
        elif config.has(Fault.LONG_TTL):
            ttl = LONG_TTL_SECONDS
        self.repository = FeedbackRepository(self.gateway, ttl)
        self.rate_limiter: RateLimiter | None = None
        if not config.has(Fault.NO_RATE_LIMIT):
            self.rate_limiter = RateLimiter(
                self.gateway,
                limit=config.rate_limit,
                window=config.rate_window,
                exempt=config.rate_limit_exempt,
            )
        self.verifier: TokenVerifier | None = None
        if not config.has(Fault.NO_AUTH):
            self.verifier = TokenVerifier(
                self.signing_key.public_key,
                issuer=config.issuer,
                audience=config.audience,
                accept_unsigned=config.has(Fault.ACCEPT_ALG_NONE),
            )
        # With error_500_on_bad_input nothing is caught and bad input surfaces as a 500.
        self._client_errors: tuple[type[Exception], ...] = (
            () if config.has(Fault.ERROR_500_ON_BAD_INPUT) else (MalformedJSONError, ValidationError)
        )
        jwks = {"keys": [self.signing_key.jwk(include_private=config.has(Fault.JWKS_PRIVATE))]}
        self._jwks = json_response(200, jwks, [("Cache-Control", "public, max-age=300")])
        self._openapi = json_response(200, openapi_document(max_body_bytes=config.max_body_bytes))
        self._item_route = Route(FEEDBACK_PATH + "/{id}", {"GET": self._get_feedback})
        self._static_routes: dict[str, Route] = {
            route.template: route
            for route in (
                Route(FEEDBACK_PATH, {"POST": self._create_feedback}),
                Route("/.well-known/jwks.json", {"GET": lambda _: self._jwks}),
                Route("/openapi.json", {"GET": lambda _: self._openapi}),
                Route("/metrics/aiops", {"GET": self._metrics}),
                Route("/healthz", {"GET": lambda _: json_response(200, {"status": "ok"})}),
                Route("/readyz", {"GET": self._readyz}),
            )
        }

    def close(self) -> None:
        """Release Redis connections."""
        self.gateway.close()

    # -- dispatch -----------------------------------------------------------

    def _match(self, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._static_routes.get(path)
        if route is not None:
            return route, {}
        item = _FEEDBACK_ITEM.fullmatch(path)
        if item is not None:
            return self._item_route, {"id": item.group(1)}
        return None

    def handle(self, request: Request) -> tuple[str, Response]:
        """Answer ``request``; returns the route template (for metrics) and the response.

        Never raises: unexpected errors become a generic 500.
        """
        match = self._match(request.path)
        if match is None:
            return UNKNOWN_ROUTE, self._unknown_route()
        route, request.path_params = match
        handler = route.handler_for(request.method)
        if handler is None:
            return route.template, self._method_not_allowed(route)
        try:
            response = handler(request)
        except Rejection as rejection:
            response = rejection.response
        except StorageUnavailable as exc:
            log.warning("redis unavailable on %s %s: %r", request.method, route.template, exc.__cause__)
            response = error_response(503, "storage_unavailable", headers=[("Retry-After", "1")])
        except Exception:
            log.exception("unhandled error on %s %s", request.method, route.template)
            response = error_response(500, "internal_error")
        if request.response_headers:
            response = dataclasses.replace(
                response, headers=response.headers + tuple(request.response_headers)
            )
        return route.template, response

    def _unknown_route(self) -> Response:
        if self.config.has(Fault.WRONG_STATUS_CODES):
            return Response(200, _SPA_FALLBACK_PAGE, content_type="text/html; charset=utf-8")
        return error_response(404, "not_found", "no such resource")

    def _method_not_allowed(self, route: Route) -> Response:
        if self.config.has(Fault.WRONG_STATUS_CODES):
            return error_response(404, "not_found", "no such resource")
        return error_response(405, "method_not_allowed", f"allowed: {route.allow}", [("Allow", route.allow)])

    def _request_shape_error(self, status: int, error: str, detail: str) -> Rejection:
        """411/413/415 rejections; ``wrong_status_codes`` flattens them into a 400."""
        if self.config.has(Fault.WRONG_STATUS_CODES):
            status, error = 400, "bad_request"
        return Rejection(error_response(status, error, detail))

    # -- shared request stages ------------------------------------------------

    def _admit(self, request: Request) -> Principal:
        """Authenticate the caller and charge the request to their rate limit."""
        principal = ANONYMOUS
        if self.verifier is not None:
            try:
                principal = self.verifier.authenticate(request.headers.get("Authorization"))
            except AuthenticationError as exc:
                raise Rejection(
                    error_response(
                        401, "unauthorized", exc.description, [("WWW-Authenticate", exc.challenge)]
                    )
                ) from None
        if self.rate_limiter is not None:
            decision = self.rate_limiter.hit(principal.subject)
            if decision is not None:
                request.response_headers.extend(decision.headers())
                if not decision.allowed:
                    raise Rejection(
                        json_response(
                            429,
                            {
                                "error": "rate_limited",
                                "detail": f"at most {decision.limit} requests per {decision.window} s",
                                "retry_after": decision.reset_seconds,
                            },
                            [("Retry-After", str(decision.reset_seconds))],
                        )
                    )
        return principal

    def _read_json_body(self, request: Request) -> bytes:
        """Enforce Content-Type and size limits, then read the body."""
        if not _is_json_media_type(request.headers.get("Content-Type", "")):
            raise self._request_shape_error(
                415, "unsupported_media_type", "Content-Type must be application/json"
            )
        if "Transfer-Encoding" in request.headers:
            raise self._request_shape_error(
                411, "length_required", "chunked bodies are not accepted; send Content-Length"
            )
        try:
            length = request.content_length()
        except ValueError:
            raise Rejection(error_response(400, "bad_request", "Content-Length is invalid")) from None
        if length is None:
            raise self._request_shape_error(411, "length_required", "Content-Length is required")
        if length > self.config.max_body_bytes:
            raise self._request_shape_error(
                413, "payload_too_large", f"body exceeds {self.config.max_body_bytes} bytes"
            )
        try:
            return request.read_body(length)
        except BodyReadError as exc:
            raise Rejection(error_response(400, "bad_request", str(exc))) from None

    def _accepted_fields(self, document: object) -> dict[str, Any]:
        """The fields to store, after schema validation (skipped by ``lenient_schema``)."""
        if self.config.has(Fault.LENIENT_SCHEMA) and isinstance(document, dict):
            return document
        return validate_feedback(document).to_dict()

    # -- endpoints ------------------------------------------------------------

    def _create_feedback(self, request: Request) -> Response:
        if self.config.has(Fault.SLOW):
            time.sleep(SLOW_FAULT_DELAY_SECONDS)
        principal = self._admit(request)
        body = self._read_json_body(request)
        try:
            fields = self._accepted_fields(parse_json(body))
        except self._client_errors as exc:
            if isinstance(exc, ValidationError):
                problems = [dataclasses.asdict(problem) for problem in exc.problems]
                raise Rejection(
                    json_response(422, {"error": "validation_failed", "fields": problems})
                ) from None
            raise Rejection(error_response(400, "malformed_json", str(exc))) from None
        feedback_id = uuid.uuid4().hex
        record = {
            **fields,
            "id": feedback_id,
            "submitted_by": principal.subject,
            "received_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        self.repository.save(feedback_id, record)
        self.metrics.record_feedback(
            source=_bounded_label(fields.get("source"), SOURCES),
            type_=_bounded_label(fields.get("type"), TYPES),
            severity=_bounded_label(fields.get("severity"), SEVERITIES),
            note=str(fields.get("note", "")),
        )
        return json_response(
            201,
            {"id": feedback_id, "status": "stored"},
            [("Location", f"{FEEDBACK_PATH}/{feedback_id}")],
        )

    def _get_feedback(self, request: Request) -> Response:
        self._admit(request)
        record = self.repository.get(request.path_params["id"])
        if record is None:
            return error_response(404, "not_found", "unknown or expired feedback id")
        return json_response(200, record)

    def _metrics(self, _: Request) -> Response:
        return Response(200, self.metrics.exposition(), content_type=CONTENT_TYPE_LATEST)

    def _readyz(self, _: Request) -> Response:
        if self.gateway.ping():
            return json_response(200, {"status": "ready", "checks": {"redis": "ok"}})
        return json_response(503, {"status": "unavailable", "checks": {"redis": "down"}})


class _RequestHandler(BaseHTTPRequestHandler):
    """Adapts ``http.server`` connections to :class:`FeedbackApp`."""

    protocol_version = "HTTP/1.1"
    server_version = "feedback-service"
    disable_nagle_algorithm = True
    # Buffer writes so status line, headers and body leave in one send(); flushed per response.
    wbufsize = 64 * 1024
    timeout = IDLE_TIMEOUT_SECONDS
    server: FeedbackServer

    def _dispatch(self) -> None:
        started = time.perf_counter()
        app = self.server.app
        request = Request(self.command, self.path.partition("?")[0], self.headers, self.rfile)
        with self.server.in_flight():
            route, response = app.handle(request)
            reusable = request.discard_unread_body(app.config.max_body_bytes)
            # Recorded before the response leaves, so a client that has its answer also
            # sees it counted.
            app.metrics.observe_request(self.command, route, response.status, time.perf_counter() - started)
            self._write(response, close=not reusable)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _write(self, response: Response, *, close: bool) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except OSError as exc:
            log.debug("client went away: %s", exc)
            self.close_connection = True

    def version_string(self) -> str:
        """``Server`` header value, without the Python version."""
        return self.server_version

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (bad request line, huge headers, unknown method) in JSON."""
        status = HTTPStatus(code)
        error = status.phrase.lower().replace(" ", "_").replace("-", "_")
        self._write(error_response(code, error, message or status.phrase), close=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Route access and protocol logs to ``logging`` at DEBUG (off by default)."""
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s " + format, self.address_string(), *args)


class FeedbackServer(ThreadingHTTPServer):
    """Thread-per-connection HTTP/1.1 server hosting a :class:`FeedbackApp`."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, config: ServiceConfig, app: FeedbackApp) -> None:
        """Bind to ``config.host``/``config.port`` (``0`` = any free port)."""
        self.address_family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        self.app = app
        self._active = 0
        self._idle = threading.Condition()
        super().__init__((config.host, config.port), _RequestHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host name."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    @property
    def url(self) -> str:
        """Base URL with the actually bound port."""
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count a request as in flight for the duration of the block."""
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                if not self._active:
                    self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for in-flight requests; ``True`` if none remain."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log failures that escaped a connection thread instead of printing to stderr.

        Peers resetting or timing out are routine (DEBUG); anything else is a bug.
        """
        level = logging.DEBUG if isinstance(sys.exc_info()[1], OSError) else logging.ERROR
        log.log(level, "connection from %s failed", client_address, exc_info=True)

    def server_close(self) -> None:
        """Close the listening socket and the app's Redis connections."""
        super().server_close()
        self.app.close()


def create_server(config: ServiceConfig) -> FeedbackServer:
    """Build the app and bind its server; call ``serve_forever()`` to start serving."""
    app = FeedbackApp(config)
    try:
        return FeedbackServer(config, app)
    except BaseException:
        app.close()
        raise
