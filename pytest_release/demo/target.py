"""The demo target as stack parts: redis-server and the feedback service on it."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .parts import DemoContext, Overrides
from .redis_server import start_redis
from .service import start_service

#: Subjects of the demo's tokens: the suite's own, the rate-limit probe's, k6's (never limited).
TOKEN_SUBJECTS = {"API_TOKEN": "release-checks", "RATE_LIMIT_TOKEN": "rate-limit-check",
                  "LOAD_TOKEN": "loadtest"}


@contextlib.contextmanager
def redis_part(ctx: DemoContext) -> Iterator[Overrides]:
    """redis-server with AOF on and noeviction (the checklist's Gate 1 settings)."""
    redis = start_redis(ctx.dir("redis"))
    try:
        yield {"redis": {"url": redis.url, "config_file": str(redis.conf_path),
                         "host": "local://"}}
    finally:
        redis.stop()


@contextlib.contextmanager
def service_part(ctx: DemoContext) -> Iterator[Overrides]:
    """The feedback service on the demo Redis, its tokens, and one record written through it."""
    print(f"demo: starting redis-server and the feedback service in {ctx.workdir}")
    service = start_service(ctx.dir("service"), redis_url=ctx.settings["redis"]["url"],
                            faults=ctx.args.fault, rate_limit=300)
    try:
        for name, subject in TOKEN_SUBJECTS.items():
            ctx.env[name] = service.token(sub=subject)
        # One record written through the real API, so Gate 1's TTL audit has the service's keys.
        import requests

        seed = requests.post(
            f"{service.url}/api/v1/aiops/feedback", timeout=5,
            headers={"Authorization": f"Bearer {ctx.env['API_TOKEN']}"},
            json={"metric": "demo", "anomaly": True, "verdict": False, "source": "api",
                  "type": "bug", "severity": "low", "note": "demo seed"},
        )
        print(f"demo: service {service.url} (faults: {', '.join(ctx.args.fault) or 'none'}), "
              f"seed POST → {seed.status_code}")
        yield {
            "api": {"url": service.url, "token": "${API_TOKEN}",
                    "rate_limit_token": "${RATE_LIMIT_TOKEN}",
                    "signing_key_file": str(service.key_file),
                    # Values no other check (nor k6) posts, so under -n the counter delta
                    # the metrics-label check measures is exactly its own posts.
                    "probe_label_values": ["source=cli", "type=improvement",
                                           "severity=critical"]},
            "load": {"duration": ctx.args.load_duration, "token": "${LOAD_TOKEN}"},
        }
    finally:
        service.stop()
