"""Keeping the API key out of sight: a string type whose repr hides it, and text scrubbing.

Free of third-party imports, so the plugin can load it at start-up for nothing.
"""

from __future__ import annotations

import urllib.parse


class Redacted(str):
    """A string that holds a secret (an API key, a CDP URL carrying one) and never shows it in a repr.

    pytest's ``--showlocals`` and assertion rewriting print locals with ``repr``;
    this keeps a key that sits in a local variable out of the report.
    """

    def __repr__(self) -> str:
        return "'***'"


def redact(text: str, secret: str | None) -> str:
    """``text`` with ``secret``, plain or URL-encoded, replaced by ``***``."""
    if not secret:
        return text
    secret = str(secret)
    for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}:
        text = text.replace(form, "***")
    return text


def shows_secret(value: object, secret: str | None) -> bool:
    """Whether ``value`` is a secret-bearing string, or a string that contains ``secret``."""
    return isinstance(value, Redacted) or bool(secret) and isinstance(value, str) and redact(value, secret) != value


def display_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.username is None and parsed.password is None:
        return url
    netloc = parsed.hostname or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    return urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, "", ""))
