"""AIOps feedback service: a small, production-shaped target for release checks.

Real HTTP (stdlib ``ThreadingHTTPServer``), real Redis, real RS256 JWTs, and
fault switches that turn individual safeguards off on purpose.

Programmatic use::

    from feedback_service import ServiceConfig, create_server, mint_token

    server = create_server(ServiceConfig(redis_url="redis://127.0.0.1:6379/0",
                                         key_file="key.pem", port=0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = mint_token("key.pem", sub="me", issuer=server.app.config.issuer,
                       audience=server.app.config.audience)
    ...
    server.shutdown()
    server.server_close()
"""

from .app import FeedbackServer, create_server
from .auth import mint_token
from .config import ServiceConfig
from .faults import FAULT_NAMES, Fault

__all__ = ["FAULT_NAMES", "Fault", "FeedbackServer", "ServiceConfig", "create_server", "mint_token"]
