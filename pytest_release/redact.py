"""The one place secrets are known and masked.

A :class:`Redactor` holds the secrets the settings found (``${ENV}`` values, fields marked
secret, URL passwords and credential query values) and masks them, in every form they can take
in a report (plain, URL-encoded, form-encoded), in text and in JSON-like data. The collector
redacts the SignOff once with it; the runner redacts pytest's own reports with it.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit, urlunsplit

MASK = "***"

#: Shorter interpolated values ("0", "80") are not masked: masking them would garble every
#: number in the reports while protecting nothing a guess would not find.
MIN_SECRET_LENGTH = 4

#: Query parameters that carry credentials (redis-py accepts ``?password=``).
SECRET_QUERY_KEYS = frozenset({"password", "pass", "passwd", "pwd", "token", "access_token",
                               "refresh_token", "id_token", "private_token", "api_key", "apikey",
                               "api-key", "key", "secret", "client_secret", "auth", "sig",
                               "signature", "x-amz-signature", "x-amz-credential",
                               "x-amz-security-token", "x-goog-signature", "session_token"})

#: A secret at least this long also has its fragments masked: any run of FRAGMENT or more of
#: its characters (what ``saferepr``'s ``head...tail`` truncation or a wrapped line leaves).
FRAGMENT = 8
FRAGMENT_MIN_SECRET = 12

#: Shorter secrets are masked only as a whole word (never inside "REJECTED" or a JSON key).
WORD_ONLY_BELOW = 8

#: Control characters (C0 but tab, DEL, C1) and bidi overrides/isolates never reach a view.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e"
                      "\u2066-\u2069]")


class Secret(str):
    """A secret setting's value: a ``str`` (requests, headers and probes use it as is) whose
    ``repr`` -- what pytest's assertion messages, ``saferepr`` and ``-l`` locals show -- never
    holds it. :meth:`reveal` gives the plain ``str`` where it is sent."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)


def neutralise(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character shown visibly as ``\\xNN`` / ``\\uNNNN`` (a
    target's ESC, CR or newline can never move the cursor or forge a line)."""
    def show(match: re.Match[str]) -> str:
        ch = match.group(0)
        if keep_newlines and ch == "\n":
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return _CONTROL.sub(show, text)


def secret_forms(secret: str) -> set[str]:
    """The forms a secret takes in reports: plain, URL/form-encoded, repr/JSON-escaped, base64."""
    import base64
    import json

    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret, safe=""),
             repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             secret.encode("unicode_escape").decode("ascii")}
    raw = secret.encode("utf-8")
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        forms.add(encoded)
        forms.add(encoded.rstrip("="))
    return {f for f in forms if f}


def _mask_fragments(text: str, grams: frozenset[str]) -> str:
    """Mask every run of ``text`` covered by FRAGMENT-long windows taken from a secret."""
    covered = [False] * len(text)
    for i in range(len(text) - FRAGMENT + 1):
        if text[i:i + FRAGMENT] in grams:
            covered[i:i + FRAGMENT] = [True] * FRAGMENT
    if not any(covered):
        return text
    out: list[str] = []
    for ch, hidden in zip(text, covered, strict=True):
        if not hidden:
            out.append(ch)
        elif not out or out[-1] != MASK:
            out.append(MASK)
    return "".join(out)


def map_strings(data: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` applied to every string (keys too) of a JSON-like structure."""
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {map_strings(k, fn): map_strings(v, fn) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [map_strings(v, fn) for v in data]
    return data


_QUERY_CREDENTIAL = re.compile(
    r"(?P<lead>[?&;](?:" + "|".join(re.escape(k) for k in sorted(SECRET_QUERY_KEYS, key=len,
                                                                   reverse=True))
    + r")=)(?P<value>[^&;#\s\"'<>]+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(?P<lead>\b[a-z][a-z0-9+.-]*://[^/\s:@\"'<>]*:)(?P<value>[^@/\s\"'<>]+)@",
                           re.IGNORECASE)


def mask_credentials(text: str) -> str:
    """Credentials a URL carries, whoever's URL it is: a ``user:password@`` password and the
    values of credential query parameters (``token``, ``sig``, ``X-Amz-Signature``, ...)."""
    if "=" in text:
        text = _QUERY_CREDENTIAL.sub(lambda m: m.group("lead") + MASK, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: m.group("lead") + MASK + "@", text)
    return text


def _word(form: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])")


@functools.lru_cache(maxsize=32)
def _compiled(secrets: frozenset[str]) -> tuple[tuple[str | re.Pattern[str], ...], frozenset[str]]:
    """The forms to mask (longest first; short ones as whole-word patterns) and the fragments."""
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    ordered: list[str | re.Pattern[str]] = [
        form if len(form) >= WORD_ONLY_BELOW else _word(form)
        for form in sorted(forms, key=len, reverse=True)]
    grams = frozenset(form[i:i + FRAGMENT] for form in forms if len(form) >= FRAGMENT_MIN_SECRET
                      for i in range(len(form) - FRAGMENT + 1))
    return tuple(ordered), grams


def redact(text: str, secrets: Collection[str]) -> str:
    """``text`` with every secret (and its encoded forms, and fragments of long ones) masked.

    Secrets shorter than WORD_ONLY_BELOW are masked only as whole words, so a password
    ``JECT`` never turns ``REJECTED`` into ``RE***ED``.
    """
    forms, grams = _compiled(frozenset(secrets))
    for form in forms:
        text = text.replace(form, MASK) if isinstance(form, str) else form.sub(MASK, text)
    if grams:
        text = _mask_fragments(text, grams)
    return mask_credentials(text)


def redact_data(data: Any, secrets: Collection[str]) -> Any:
    """Mask secrets in every string before serialising, so that JSON escaping can never hide a
    secret from the mask, nor a mask break the JSON."""
    return _map_values(data, lambda text: redact(text, secrets))


def _map_values(data: Any, fn: Callable[[str], str]) -> Any:
    """``fn`` applied to every string value (never a key) of a JSON-like structure."""
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {k: _map_values(v, fn) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_map_values(v, fn) for v in data]
    return data


class Redactor:
    """Masks a fixed set of secrets; ``bool(redactor)`` is False when there is nothing to mask."""

    __slots__ = ("secrets",)

    def __init__(self, secrets: Collection[str] = ()) -> None:
        self.secrets = frozenset(secrets)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)

    def data(self, data: Any) -> Any:
        """:meth:`__call__` applied to every string of a JSON-like structure."""
        return redact_data(data, self.secrets)


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
