"""The HTTP layer under both clients: Steel's retry rules written once, as plans that a sync or an async driver runs.

A *plan* is a generator that yields what to do next, ``Send`` a request or ``Sleep``,
and is sent what came of it: the ``httpx.Response``, or a ``SteelConnectionError``
thrown in. The rules live in plans (which statuses and errors are retried, backoff
from 0.5 s to 8 s with jitter, ``Retry-After`` or ``retry-after-ms`` honoured up to a
minute, ``x-should-retry`` overriding the status) and the timeouts (see ``Rules``); the
drivers only do I/O. httpx's transport errors become ``SteelConnectionError`` /
``SteelTimeoutError``, and error statuses the ``SteelAPIError`` for their status, here
and nowhere else.

Over 400 lines because that one place includes explaining a connection that could not open
(``connection_trouble``: certificate, proxy, refusal), which the relay's upstream uses too.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import ssl
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

from . import network
from .errors import (
    SteelAPIError,
    SteelAuthenticationError,
    SteelConnectionError,
    SteelHungError,
    SteelTimeoutError,
    SteelUnreachableError,
    error_class_for_status,
)
from .redaction import display_url
from .streams import INTO, send_into, send_into_async
from .wire import SHOULD_RETRY_HEADER

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0
_USERINFO = re.compile(r"//[^/\s@'\"]*@")  # credentials in a URL: never shown

HEALTH_PATH = "/v1/health"
# Seconds the health check after a timed-out call may take: whatever the read timeout, as a live backend's health
# answers in milliseconds, and one on a loaded machine must not be taken for a hung one.
HUNG_PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Send:
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    seconds: float


Plan = Generator["Send | Sleep", Any, T]


class RequestGate(Protocol):
    """What a client asks before every request it sends, and tells of every answer (pytest-steel's rate limit)."""

    def before(self) -> object:
        """Wait until a request may go; a token for ``after``."""

    def after(self, token: object, response: httpx.Response | None) -> None:
        """The request is over: its answer, or None when none came."""


@dataclass
class Rules:
    """Steel's retry rules and timeouts for one client, and how it words an error status.

    The timeouts are one design: each attempt may take ``connect_timeout`` to connect
    and ``read_timeout`` to answer; a whole call (attempts, back-off, the look-ups of
    an ambiguous create) ends by ``call_timeout``, which defaults to three read
    timeouts, so that a create slower than one read timeout is still retried, and
    the last attempt only gets the time that is left.
    """

    base_url: str
    max_retries: int
    call_timeout: float  # seconds a whole call may take, retries and back-off included
    redact: Callable[[str], str]
    auth_advice: Callable[[], str]  # what a 401 means: no key configured, or which setting's key was refused
    read_timeout: float = 30.0
    connect_timeout: float = 5.0
    gate: RequestGate | None = None  # waits before each request and hears each answer (the run's rate limit)

    def attempts(self, call_timeout: float | None = None) -> Iterator[Attempt]:
        deadline = time.monotonic() + (call_timeout if call_timeout is not None else self.call_timeout)
        for number in range(self.max_retries + 1):
            yield Attempt(number, last=number == self.max_retries, deadline=deadline, rules=self)
            if time.monotonic() >= deadline:
                return

    def call(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        call_timeout: float | None = None,
        rate_limit_wait: float | None = None,
        **kwargs: Any,
    ) -> Plan[httpx.Response]:
        """One API call, retried as Steel's SDKs do; an error status raises its ``SteelAPIError``.

        ``rate_limit_wait``: seconds for which a 429 (the plan's rate or its concurrent sessions) is
        waited out and asked again, beyond the usual retries (a release, while its session would meter).
        """
        waited_for_plan = PlanWait(rate_limit_wait)
        attempts = self.attempts(call_timeout)
        attempt: Attempt | None = next(attempts)
        while attempt is not None:
            last = attempt.last or not retry
            try:
                response = yield attempt.send(method, path, **kwargs)
            except SteelConnectionError as exc:
                if isinstance(exc, SteelTimeoutError) and path != HEALTH_PATH:
                    yield from self.probe(exc)  # a hung backend: no more waiting
                delay = None if last else attempt.delay()
                if delay is None:
                    raise
                yield Sleep(delay)
                attempt = next(attempts, None)
                if attempt is None:
                    raise
                continue
            if response.status_code < 400:
                return response
            if (plan_delay := waited_for_plan.delay(response)) is not None:
                yield Sleep(plan_delay)  # the plan's limit: asked again, without spending a retry
                attempt = attempt.renewed()
                continue
            delay = None if last or not should_retry(response) else attempt.delay(retry_after(response))
            if delay is None:
                raise self.status_error(response, method, path)
            yield Sleep(delay)
            attempt = next(attempts, None)
            if attempt is None:
                raise self.status_error(response, method, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def probe(self, timed_out: SteelTimeoutError) -> Plan[None]:
        """After a call passed its timeout, one quick health check decides whether waiting on is worth it.

        Any answer, even an error status, shows a live backend that was only slow: the call
        goes on as before. No answer raises ``SteelHungError``, so that the run stops asking
        it at once instead of spending every retry of every create on it.
        """
        wait = HUNG_PROBE_TIMEOUT
        try:
            yield Send("GET", HEALTH_PATH, {"timeout": httpx.Timeout(wait, connect=min(self.connect_timeout, wait))})
        except SteelConnectionError:
            raise SteelHungError(
                f"{timed_out} Its health check ({HEALTH_PATH}) did not answer within {wait:g} s either, "
                "so the server is taken as hung."
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


@dataclass
class Attempt:
    number: int
    last: bool
    deadline: float
    rules: Rules

    def send(self, method: str, path: str, **kwargs: Any) -> Send:
        """The request, with no more time to answer than the call has left."""
        left = max(self.deadline - time.monotonic(), 0.5)
        read = min(self.rules.read_timeout, left)
        kwargs["timeout"] = httpx.Timeout(read, connect=min(self.rules.connect_timeout, read))
        return Send(method, path, kwargs)

    def renewed(self) -> Attempt:
        """The same attempt after a wait for the plan: a fresh deadline of one answer, the retries left as they were."""
        return Attempt(self.number, self.last, time.monotonic() + self.rules.read_timeout, self.rules)

    def delay(self, server_delay: float | None = None) -> float | None:
        """How long to back off before the next attempt; None when the call's time cannot cover it."""
        delay = server_delay
        if delay is None:
            delay = min(INITIAL_RETRY_DELAY * 2**self.number, MAX_RETRY_DELAY) * random.uniform(0.75, 1.0)
        return None if time.monotonic() + delay > self.deadline else delay


class PlanWait:
    """How long a call may go on waiting out 429s: the plan's rate, or its concurrent sessions all taken."""

    def __init__(self, seconds: float | None) -> None:
        self.deadline = time.monotonic() + seconds if seconds else None
        self.count = 0

    def delay(self, response: httpx.Response) -> float | None:
        """The wait before asking again, or None when this is no 429 or the time for them is spent."""
        if self.deadline is None or response.status_code != 429:
            return None
        self.count += 1
        delay = retry_after(response) or min(INITIAL_RETRY_DELAY * 2 ** min(self.count, 4), MAX_RETRY_DELAY)
        left = self.deadline - time.monotonic()
        return min(delay, left) if left > 0 else None


def transport_options(base_url: str) -> dict[str, Any]:
    """httpx transport keywords for ``base_url`` by the one network policy (``network``): its trust, its proxy.

    The client is made with ``trust_env`` off and this transport, so that httpx reads nothing
    of the environment on its own: REST goes exactly where the relay's WebSocket goes.
    """
    proxy = network.proxy_for(base_url)
    secure = proxy is not None and proxy.url.lower().startswith("https:")  # TLS to the proxy itself: the same trust
    return {
        "verify": network.tls_for(base_url),
        "trust_env": False,
        "proxy": httpx.Proxy(proxy.url, ssl_context=network.ssl_context() if secure else None) if proxy else None,
    }


def preload() -> None:
    """Import what a client's first request needs, in a thread that can afford it (``Backend.warm_up``).

    httpx imports httpcore only when its first transport is made; with httpx itself that
    is 60-170 ms of the first test's set-up when done there.
    """
    import httpcore  # noqa: F401, PLC0415


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


def transport_error(exc: httpx.TransportError, rules: Rules, step: Send) -> SteelConnectionError:
    """The one mapping of httpx's transport failures: no connection at all, no answer in time, or a lost one."""
    where = display_url(rules.base_url)
    reason = rules.redact(str(exc)) or type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError)):  # no connection was made
        if (trouble := connection_trouble(exc, rules.base_url, proxy_failed=True, redact=rules.redact)) is not None:
            return SteelUnreachableError(f"could not reach the Steel API at {where}: {trouble}")
        return SteelUnreachableError(
            f"could not reach the Steel API at {where} ({reason}); is the server running, and is the base URL right?"
        )
    if isinstance(exc, httpx.TimeoutException):
        timeout = step.kwargs.get("timeout")
        waited = f" after {timeout.read:.2g} s" if isinstance(timeout, httpx.Timeout) and timeout.read else ""
        return SteelTimeoutError(
            f"the Steel API at {where} did not answer {step.method} {step.path} in time "
            f"({type(exc).__name__}{waited}); is the server overloaded or stuck?"
        )
    return SteelConnectionError(
        f"the connection to the Steel API at {where} failed during {step.method} {step.path} ({reason})"
    )


def connection_trouble(
    exc: BaseException, url: str, *, proxy_failed: bool, redact: Callable[[str], str] = str
) -> str | None:
    """What the network policy explains of a connection to ``url`` that could not be made; None: nothing it knows.

    A certificate this machine does not trust, a TLS handshake that failed, or (``proxy_failed``:
    the client could not connect, or the proxy would not tunnel) the proxy in use. For httpx here,
    and for any client whose errors chain the ``ssl`` error (aiohttp's do). Only for a connection
    that failed to open: a TLS error on an open one is a dropped connection, not an unreachable server.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            said = cause.verify_message or cause.reason or "certificate verify failed"
            fix = (
                "put the host the certificate names in the URL"
                if "mismatch" in said.lower()  # "Hostname mismatch", "IP address mismatch"
                else f"to trust a private CA, point {network.CA_FILE_ENV} at a PEM bundle that holds it"
            )
            trusts = network.trusted()
            return f"its TLS certificate is not trusted ({said.rstrip('.')}); this machine trusts {trusts}; {fix}"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason or cause}); does the URL's https server speak TLS there?"
        cause = cause.__cause__ or cause.__context__
    try:
        proxy = network.proxy_for(url) if proxy_failed else None
    except SteelConnectionError:
        return None
    if proxy is None:
        return None
    reason = _USERINFO.sub("//", redact(str(exc))) or type(exc).__name__  # aiohttp's errors show the proxy's URL
    return (
        f"the proxy {proxy.display()} named in {proxy.source} could not be reached or would not open a tunnel "
        f"({reason}); is {proxy.source} right (NO_PROXY lists the hosts reached directly)?"
    )


class _Steps:
    """A plan's steps, one at a time; what each ``Send`` brought back goes in before the next is taken."""

    def __init__(self, plan: Plan[Any], rules: Rules) -> None:
        self._plan, self._rules = plan, rules
        self._answer: httpx.Response | None = None
        self._failure: SteelConnectionError | None = None
        self.value: Any = None

    def __iter__(self) -> _Steps:
        return self

    def __next__(self) -> Send | Sleep:
        answer, failure, self._answer, self._failure = self._answer, self._failure, None, None
        try:
            return self._plan.throw(failure) if failure is not None else self._plan.send(answer)
        except StopIteration as done:
            self.value = done.value
            raise StopIteration from None

    def answered(self, response: httpx.Response) -> None:
        self._answer = response

    def failed(self, exc: httpx.TransportError, step: Send) -> None:
        self._failure = transport_error(exc, self._rules, step)

    def before_sending(self) -> object:
        """The run's gate, if any: wait until the request may go; its token."""
        return self._rules.gate.before() if self._rules.gate is not None else None

    def after_sending(self, token: object, response: httpx.Response | None) -> None:
        if self._rules.gate is not None:
            self._rules.gate.after(token, response)


def drive(plan: Plan[T], http: httpx.Client, rules: Rules) -> T:
    """Run a plan with a blocking httpx client."""
    steps = _Steps(plan, rules)
    for step in steps:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            continue
        token, response = steps.before_sending(), None
        try:
            if INTO in step.kwargs:  # a file's body, streamed into the file the plan names
                response = send_into(http, step.method, step.path, step.kwargs)
            else:
                response = http.request(step.method, step.path, **step.kwargs)
            steps.answered(response)
        except httpx.TransportError as exc:
            steps.failed(exc, step)
        finally:
            steps.after_sending(token, response)
    return steps.value


async def drive_async(plan: Plan[T], http: httpx.AsyncClient, rules: Rules) -> T:
    """Run a plan with an async httpx client: the same rules, awaited."""
    steps = _Steps(plan, rules)
    for step in steps:
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            continue
        token, response = await asyncio.to_thread(steps.before_sending), None
        try:
            if INTO in step.kwargs:
                response = await send_into_async(http, step.method, step.path, step.kwargs)
            else:
                response = await http.request(step.method, step.path, **step.kwargs)
            steps.answered(response)
        except httpx.TransportError as exc:
            steps.failed(exc, step)
        finally:
            steps.after_sending(token, response)
    return steps.value
