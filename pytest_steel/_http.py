"""The retrying HTTP layer under the client: sending, retries and backoff, and the one place that maps errors.

httpx's transport errors become ``SteelConnectionError`` / ``SteelTimeoutError`` and
error statuses the ``SteelAPIError`` subclass for their status, here and nowhere else.
Retries follow Steel's SDKs: connection errors, 408, 409, 429 and 5xx, exponential
backoff from 0.5 s to 8 s with jitter, ``Retry-After`` (or ``retry-after-ms``)
honoured up to a minute, ``x-should-retry`` overriding the status; all within a
budget of waiting per call.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ._errors import (
    SteelAPIError,
    SteelAuthenticationError,
    SteelConnectionError,
    SteelTimeoutError,
    error_class_for_status,
)
from ._redaction import display_url
from ._wire import SHOULD_RETRY_HEADER

RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0


@dataclass
class RetryingHTTP:
    """An httpx client with Steel's retry rules, speaking in ``SteelError`` only."""

    http: httpx.Client
    base_url: str
    max_retries: int
    retry_budget: float  # seconds of waiting between attempts, per call
    redact: Callable[[str], str]
    auth_advice: Callable[[], str]  # what a 401 means: no key configured, or which setting's key was refused

    def attempts(self) -> Iterator[Attempt]:
        deadline = time.monotonic() + self.retry_budget
        for number in range(self.max_retries + 1):
            yield Attempt(number, last=number == self.max_retries, deadline=deadline)

    def call(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        """One API call, retried as Steel's SDKs do; an error status raises its ``SteelAPIError``."""
        for attempt in self.attempts():
            last = attempt.last or not retry
            try:
                response = self.send(method, path, **kwargs)
            except SteelConnectionError:
                if last or not attempt.wait():
                    raise
                continue
            if response.status_code < 400:
                return response
            if last or not should_retry(response) or not attempt.wait(retry_after(response)):
                raise self.status_error(response, method, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, no retry: any status comes back; a transport failure raises ``SteelConnectionError``."""
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise SteelTimeoutError(
                f"the Steel API at {display_url(self.base_url)} did not answer {method} {path} in time "
                f"({type(exc).__name__}); is the server overloaded or stuck?"
            ) from None
        except httpx.TransportError as exc:
            reason = self.redact(str(exc)) or type(exc).__name__
            raise SteelConnectionError(
                f"could not reach the Steel API at {display_url(self.base_url)} ({reason}); is the server running, "
                "and is the base URL right?"
            ) from None

    def status_error(self, response: httpx.Response, method: str, path: str) -> SteelAPIError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        said = body.get("message") if isinstance(body, dict) else body
        said = self.redact(str(said)) if said else ""
        where = f"{method} {path} on {display_url(self.base_url)}"
        status = response.status_code
        error_class = error_class_for_status(status)
        if error_class is SteelAuthenticationError:
            message = f"{where} was refused ({status}): {self.auth_advice()}"
        else:
            message = f"{where} failed ({status})"
        if said:
            message += f". The server said: {said}"
        if isinstance(body, dict) and body.get("field"):
            message += f" (field {body['field']!r})"
        return error_class(message, status_code=status, method=method, path=path, body=body)


def should_retry(response: httpx.Response) -> bool:
    override = response.headers.get(SHOULD_RETRY_HEADER)
    if override in ("true", "false"):
        return override == "true"
    return response.status_code in RETRYABLE_STATUSES


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or date), if sane."""
    delay: float | None = None
    if (value := response.headers.get("retry-after-ms")) is not None:
        try:
            delay = float(value) / 1000
        except ValueError:
            delay = None
    elif (value := response.headers.get("retry-after")) is not None:
        try:
            delay = float(value)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):  # neither seconds nor an HTTP date: use our own backoff
                when = None
            delay = when.timestamp() - time.time() if when else None
    return delay if delay is not None and 0 < delay <= MAX_RETRY_AFTER else None


@dataclass
class Attempt:
    number: int
    last: bool
    deadline: float

    def wait(self, server_delay: float | None = None) -> bool:
        """Back off before the next attempt; False when the retry budget cannot cover the wait."""
        delay = server_delay
        if delay is None:
            delay = min(INITIAL_RETRY_DELAY * 2**self.number, MAX_RETRY_DELAY) * random.uniform(0.75, 1.0)
        if time.monotonic() + delay > self.deadline:
            return False
        time.sleep(delay)
        return True
