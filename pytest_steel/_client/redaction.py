"""Keeping the API key out of sight: a string type whose repr hides it, and text scrubbing.

Free of third-party imports, so the plugin can load it at start-up for nothing.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import Any


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


def scrub_report(report: Any, secret: str | None) -> None:
    """Last line of defence: no secret in a test report (terminal, JUnit XML, HTML all read it from there)."""
    if not secret:
        return
    if report.longrepr is not None and shows_secret(text := str(report.longrepr), secret):
        report.longrepr = redact(text, secret)
    report.sections = [(title, redact(content, secret)) for title, content in report.sections]


def hidden_comparison(left: object, op: str, right: object, secret: str | None) -> list[str] | None:
    """An assertion diff that does not print a secret-bearing string whole, or None when neither side has one."""
    if not (shows_secret(left, secret) or shows_secret(right, secret)):
        return None
    return [
        f"{redact(repr(left), secret)} {op} {redact(repr(right), secret)}",
        "(values that hold the Steel API key are not shown)",
    ]


class RedactingFilter(logging.Filter):
    """A log handler's filter (pytest's log file and live log): each record written with the key replaced.

    The captured log of a test reaches its report, which ``scrub_report`` scrubs; these
    handlers write straight to a file or the terminal, so the record itself is changed.
    """

    def __init__(self, secret: Callable[[], str | None]) -> None:
        super().__init__()
        self._secret = secret  # asked at each record: the embedded server's key exists only once the run starts

    def filter(self, record: logging.LogRecord) -> bool:
        secret = self._secret()
        if not secret:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - arguments that do not fit: the handler reports that, as it would
            return True
        if redact(message, secret) != message:
            record.msg, record.args = redact(message, secret), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secret)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secret)
        return True
