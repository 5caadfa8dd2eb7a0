"""Command line: ``python -m feedback_service {serve,mint-token} ...``.

Every option can also be set through an environment variable
``FEEDBACK_<OPTION>`` (e.g. ``FEEDBACK_PORT``); repeatable options take a
comma-separated list (``FEEDBACK_FAULTS=no_ttl,slow``,
``FEEDBACK_RATE_LIMIT_EXEMPT=loadtest``). Command-line values win.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

import redis

from .app import create_server
from .auth import mint_token
from .config import DEFAULT_AUDIENCE, DEFAULT_ISSUER, ServiceConfig
from .faults import FAULT_NAMES, parse_faults

log = logging.getLogger("feedback_service")

SHUTDOWN_GRACE_SECONDS = 5.0
SHUTDOWN_POLL_SECONDS = 0.1
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
ENV_PREFIX = "FEEDBACK_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in (_env(name) or "").split(",") if item.strip()]


def _add_env_option(
    parser: argparse.ArgumentParser, flag: str, *, default: str | None = None, **kwargs: object
) -> None:
    """Add ``flag`` whose default comes from ``FEEDBACK_<FLAG>``; required if neither is set."""
    env_name = flag.lstrip("-").replace("-", "_").upper()
    value = _env(env_name, default)
    help_text = f"{kwargs.pop('help')} [env {ENV_PREFIX}{env_name}]"
    if default is not None:
        help_text += f" (default: {default})"
    parser.add_argument(flag, default=value, required=value is None, help=help_text, **kwargs)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    """The CLI definition."""
    parser = argparse.ArgumentParser(
        prog="feedback_service", description="AIOps feedback service (demo release target)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    _add_env_option(serve, "--host", default="127.0.0.1", help="bind address")
    _add_env_option(serve, "--port", default="8080", type=int, help="bind port, 0 = any free port")
    _add_env_option(serve, "--redis-url", help="redis://[:password@]host:port/db (never logged)")
    _add_env_option(serve, "--key-file", help="PEM RSA signing key; generated (0600) if missing")
    _add_env_option(serve, "--issuer", default=DEFAULT_ISSUER, help="accepted token issuer")
    _add_env_option(serve, "--audience", default=DEFAULT_AUDIENCE, help="accepted token audience")
    _add_env_option(serve, "--rate-limit", default="600", type=int, help="requests per window per caller")
    _add_env_option(serve, "--rate-window", default="60", type=int, help="rate-limit window in seconds")
    serve.add_argument(
        "--rate-limit-exempt",
        action="append",
        metavar="SUB",
        help=f"token subject never rate limited; repeatable [env {ENV_PREFIX}RATE_LIMIT_EXEMPT]",
    )
    _add_env_option(serve, "--ttl-seconds", default="604800", type=int, help="expiry of stored feedback")
    _add_env_option(serve, "--max-body-bytes", default="16384", type=int, help="largest accepted body")
    serve.add_argument(
        "--fault",
        action="append",
        metavar="NAME",
        help=f"switch on a deliberate violation; repeatable [env {ENV_PREFIX}FAULTS]; "
        f"one of: {', '.join(FAULT_NAMES)}",
    )
    _add_env_option(
        serve,
        "--log-level",
        default="INFO",
        type=str.upper,
        help=f"stderr log level, one of {', '.join(LOG_LEVELS)}; DEBUG adds access logs",
    )

    mint = commands.add_parser("mint-token", help="print a signed bearer token")
    _add_env_option(mint, "--key-file", help="PEM RSA signing key; generated (0600) if missing")
    _add_env_option(mint, "--issuer", default=DEFAULT_ISSUER, help="iss claim")
    _add_env_option(mint, "--audience", default=DEFAULT_AUDIENCE, help="aud claim")
    mint.add_argument("--sub", default="release-checks", help="sub claim (default: release-checks)")
    mint.add_argument("--lifetime", type=float, default=3600, help="seconds until exp (default: 3600)")
    mint.add_argument("--scope", help="optional scope claim")
    return parser


def _serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.log_level not in LOG_LEVELS:
        parser.error(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    try:
        config = ServiceConfig(
            redis_url=args.redis_url,
            key_file=args.key_file,
            host=args.host,
            port=args.port,
            issuer=args.issuer,
            audience=args.audience,
            rate_limit=args.rate_limit,
            rate_window=args.rate_window,
            rate_limit_exempt=frozenset(args.rate_limit_exempt or _env_list("RATE_LIMIT_EXEMPT")),
            ttl_seconds=args.ttl_seconds,
            max_body_bytes=args.max_body_bytes,
            faults=parse_faults(args.fault or _env_list("FAULTS")),
        )
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = create_server(config)
    except (OSError, ValueError, TypeError, redis.RedisError) as exc:
        log.error("cannot start: %s", exc)
        return 1

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
        name="http-accept",
        daemon=True,
    ).start()
    if config.faults:
        log.warning("FAULT SWITCHES ACTIVE: %s", ", ".join(sorted(f.value for f in config.faults)))
    if not server.app.gateway.ping():
        log.warning("redis is not reachable yet; /readyz answers 503 until it is")
    log.info("listening on %s", server.url)
    print(f"READY {server.url}", flush=True)

    stop.wait()
    server.shutdown()
    if not server.drain(SHUTDOWN_GRACE_SECONDS):
        log.warning("requests still in flight after %.0f s; closing anyway", SHUTDOWN_GRACE_SECONDS)
    server.server_close()
    log.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args, parser)
    extra = {"scope": args.scope} if args.scope else None
    print(
        mint_token(
            args.key_file,
            sub=args.sub,
            issuer=args.issuer,
            audience=args.audience,
            lifetime=args.lifetime,
            extra_claims=extra,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
