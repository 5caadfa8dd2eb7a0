"""The one place secrets are known and masked.

A :class:`Redactor` holds the secrets the settings found (``${ENV}`` values, fields marked
secret, URL passwords and credential query values) and masks them, in every form they can take
in a report (plain, URL-encoded, form-encoded), in text and in JSON-like data. The collector
redacts the SignOff once with it; the runner redacts pytest's own reports with it.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"

#: Shorter interpolated values ("0", "80") are not masked: masking them would garble every
#: number in the reports while protecting nothing a guess would not find.
MIN_SECRET_LENGTH = 4

#: Query parameters that carry credentials (redis-py accepts ``?password=``).
SECRET_QUERY_KEYS = frozenset({"password", "pass", "passwd", "token", "access_token", "api_key",
                               "apikey", "secret", "auth"})


def map_strings(data: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` applied to every string (keys too) of a JSON-like structure."""
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {map_strings(k, fn): map_strings(v, fn) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [map_strings(v, fn) for v in data]
    return data


def redact(text: str, secrets: Collection[str]) -> str:
    """``text`` with every secret (and its URL-encoded forms) replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if not secret:
            continue
        # quote_plus: the form a secret takes in a query string or a form-encoded body
        for form in {secret, quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")}:
            text = text.replace(form, MASK)
    return text


def redact_data(data: Any, secrets: Collection[str]) -> Any:
    """Mask secrets in every string before serialising, so that JSON escaping can never hide a
    secret from the mask, nor a mask break the JSON."""
    return map_strings(data, lambda text: redact(text, secrets))


class Redactor:
    """Masks a fixed set of secrets; ``bool(redactor)`` is False when there is nothing to mask."""

    __slots__ = ("secrets",)

    def __init__(self, secrets: Collection[str] = ()) -> None:
        self.secrets = frozenset(secrets)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets) if self.secrets else text

    def data(self, data: Any) -> Any:
        """:meth:`__call__` applied to every string of a JSON-like structure."""
        return redact_data(data, self.secrets) if self.secrets else data


def url_secrets(url: str) -> set[str]:
    """The credentials inside a URL: its password and secret-looking query values."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return set()
    found = {password, unquote(password)} if password else set()
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if key.lower() in SECRET_QUERY_KEYS and len(value) >= MIN_SECRET_LENGTH:
            found.add(value)
    return found


def safe_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for display and reproduce commands)."""
    parts = urlsplit(url)
    if parts.query:
        query = "&".join(
            f"{k}={MASK}" if k.lower() in SECRET_QUERY_KEYS else f"{k}={v}"
            for k, v in parse_qsl(parts.query, keep_blank_values=True))
        parts = parts._replace(query=query)
        url = urlunsplit(parts)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets, or the URL no longer parses
        host = f"[{host}]"
    netloc = f"{user}:{MASK}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))
