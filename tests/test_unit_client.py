"""The client's wire rules over ``httpx.MockTransport``: retries, Retry-After, idempotent create, error mapping.

The same rules run against real servers and a real fault proxy in ``test_client.py``;
here each answer is scripted exactly, so every branch is reached in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Iterator

import httpx
import pytest

import pytest_steel._client.http as http_layer
from pytest_steel import (
    AsyncSteelClient,
    SteelAuthenticationError,
    SteelBadRequestError,
    SteelClient,
    SteelConflictError,
    SteelConnectionError,
    SteelNotFoundError,
    SteelRateLimitError,
    SteelServerError,
)
from pytest_steel._client import network

KEY = "sk-unit-test-key-123"
Answer = httpx.Response | Exception


def live(session_id: str) -> dict:
    return {"id": session_id, "status": "live", "timeout": 300000, "websocketUrl": f"ws://h/?sessionId={session_id}"}


class Script:
    """A transport that answers each request with the next scripted answer, and records the requests."""

    def __init__(self, *answers: Answer | Callable[[httpx.Request], Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if callable(answer) and not isinstance(answer, Exception):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def seen(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def body(self, index: int) -> dict:
        return json.loads(self.requests[index].content)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The client's backoff waits, recorded instead of slept (by either driver)."""
    recorded: list[float] = []

    async def no_wait(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(http_layer.time, "sleep", recorded.append)
    monkeypatch.setattr(http_layer.asyncio, "sleep", no_wait)
    return recorded


class Blocking:
    """An AsyncSteelClient called from sync test code: each call runs to completion on the test's own loop."""

    def __init__(self, client: AsyncSteelClient, loop: asyncio.AbstractEventLoop) -> None:
        self._client, self._loop = client, loop

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._client, name)
        if asyncio.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._loop.run_until_complete(attr(*args, **kwargs))
        return attr


Make = Callable[..., "SteelClient | Blocking"]


@pytest.fixture(params=["sync", "async"])
def client(request: pytest.FixtureRequest, waits: list[float]) -> Iterator[Make]:
    """Both clients, over the same scripted transport: the wire rules are one implementation."""
    loop = asyncio.new_event_loop()

    def make(script: Script, **kwargs: object) -> SteelClient | Blocking:
        transport = httpx.MockTransport(script)
        if request.param == "sync":
            return SteelClient("http://steel.test", KEY, transport=transport, **kwargs)
        return Blocking(AsyncSteelClient("http://steel.test", KEY, transport=transport, **kwargs), loop)

    yield make
    loop.close()


def echo_live(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=live(json.loads(request.content)["sessionId"]))


def test_requests_are_retried_on_5xx_and_429_then_succeed(client: Make, waits: list[float]) -> None:
    script = Script(httpx.Response(503), httpx.Response(429), httpx.Response(200, json=live("s")))
    assert client(script).retrieve("s").id == "s"
    assert script.seen() == ["GET /v1/sessions/s"] * 3
    assert len(waits) == 2 and 0.375 <= waits[0] <= 0.5 and 0.75 <= waits[1] <= 1.0  # exponential, jittered


def test_retry_after_sets_the_wait_and_x_should_retry_overrides_the_status(client: Make, waits: list[float]) -> None:
    script = Script(httpx.Response(429, headers={"retry-after-ms": "1500"}), httpx.Response(200, json=live("s")))
    client(script).retrieve("s")
    assert waits == [1.5]
    script = Script(httpx.Response(500, headers={"x-should-retry": "false"}, json={"message": "no"}))
    with pytest.raises(SteelServerError):
        client(script).retrieve("s")
    assert len(script.requests) == 1
    script = Script(httpx.Response(400, headers={"x-should-retry": "true"}), httpx.Response(200, json=live("s")))
    client(script).retrieve("s")
    assert len(script.requests) == 2


def test_retries_stop_within_the_budget(client: Make, waits: list[float]) -> None:
    script = Script(httpx.Response(429, headers={"retry-after": "20"}))
    with pytest.raises(SteelRateLimitError):
        client(script, call_timeout=10.0).retrieve("s")
    assert (len(script.requests), waits) == (1, [])  # a 20 s wait would pass the 10 s budget: give up instead


def test_create_chooses_the_session_id_and_a_retry_reuses_it(client: Make, waits: list[float]) -> None:
    script = Script(httpx.Response(500), httpx.Response(404), echo_live)
    session = client(script).create(timeout=60_000, block_ads=True)
    assert script.seen() == ["POST /v1/sessions", "GET /v1/sessions/" + session.id, "POST /v1/sessions"]
    assert script.body(0) == script.body(2) == {"blockAds": True, "timeout": 60_000, "sessionId": session.id}


def test_a_create_whose_answer_was_lost_is_found_not_repeated(client: Make, waits: list[float]) -> None:
    script = Script(
        httpx.ReadError("connection reset"), lambda r: httpx.Response(200, json=live(r.url.path.split("/")[-1]))
    )
    session = client(script).create()
    assert script.seen() == ["POST /v1/sessions", f"GET /v1/sessions/{session.id}"]  # one POST: no second session


def test_a_409_for_our_own_id_means_an_earlier_attempt_got_through(client: Make, waits: list[float]) -> None:
    found_live = lambda r: httpx.Response(200, json=live(r.url.path.split("/")[-1]))  # noqa: E731
    script = Script(httpx.Response(503), httpx.Response(404), httpx.Response(409), found_live)
    session = client(script).create()
    assert script.seen() == ["POST /v1/sessions", f"GET /v1/sessions/{session.id}"] * 2


def test_a_spent_id_is_never_reused(client: Make, waits: list[float]) -> None:
    released = lambda r: httpx.Response(200, json={"id": r.url.path.split("/")[-1], "status": "released"})  # noqa: E731
    script = Script(httpx.Response(502), released, echo_live)
    session = client(script).create()
    assert script.body(0)["sessionId"] != session.id == script.body(2)["sessionId"]


def test_a_failed_create_releases_the_id_it_may_have_brought_to_life(client: Make, waits: list[float]) -> None:
    outage = [httpx.Response(503)] * 4
    script = Script(outage[0], httpx.Response(404), outage[1], httpx.Response(404), outage[2], httpx.Response(404),
                    outage[3], httpx.Response(404), httpx.Response(200, json={"success": True}))  # fmt: skip
    with pytest.raises(SteelServerError):
        client(script).create()
    chosen = script.body(0)["sessionId"]
    assert script.seen()[-2:] == [f"GET /v1/sessions/{chosen}", f"POST /v1/sessions/{chosen}/release"]


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (400, SteelBadRequestError, "failed (400). The server said: dimensions too small"),
        (401, SteelAuthenticationError, "was refused (401): the API key from STEEL_API_KEY or the api_key argument"),
        (404, SteelNotFoundError, "failed (404)"),
        (409, SteelConflictError, "failed (409)"),
        (422, SteelBadRequestError, "failed (422)"),
    ],
)  # fmt: skip
def test_statuses_map_to_one_error_each_and_never_show_the_key(
    client: Make, waits: list[float], status: int, error: type[Exception], words: str
) -> None:
    body = {"message": f"dimensions too small, you sent {KEY}", "field": "dimensions"}
    script = Script(httpx.Response(status, headers={"x-should-retry": "false"}, json=body))
    with pytest.raises(error) as raised:
        client(script).retrieve("s")
    message = str(raised.value)
    assert message.startswith(f"GET /v1/sessions/s on http://steel.test {words}")
    assert message.endswith("(field 'dimensions')")
    assert KEY not in message and KEY not in repr(raised.value)
    assert raised.value.status_code == status  # type: ignore[attr-defined]


def test_connection_failures_say_where_and_are_retried(client: Make, waits: list[float]) -> None:
    script = Script(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(SteelConnectionError, match="could not reach the Steel API at http://steel.test"):
        client(script).retrieve("s")
    assert len(script.requests) == 4 and len(waits) == 3


def test_event_hooks_tell_of_creates_and_releases(client: Make, waits: list[float]) -> None:
    seen: list[tuple] = []
    script = Script(echo_live, httpx.Response(200, json={"success": True, "message": "ok"}))
    steel = client(script, event_hooks={"created": [lambda s, elapsed: seen.append(("created", s.id, elapsed >= 0))]})
    steel.event_hooks["released"].append(lambda snapshot: seen.append(("released", snapshot.id, str(snapshot.status))))
    session = steel.create()
    assert steel.release(session.id).success
    assert seen == [("created", session.id, True), ("released", session.id, "released")]
    with pytest.raises(ValueError, match="event_hooks: unknown event 'deleted'; use created or released"):
        client(script, event_hooks={"deleted": []})


def test_list_pages_by_the_last_id_and_stops_on_a_repeated_page(client: Make, waits: list[float]) -> None:
    page = {"sessions": [live("a"), live("b")]}
    script = Script(httpx.Response(200, json=page), httpx.Response(200, json=page))  # steel-browser ignores the cursor
    assert [s.id for s in client(script).list(limit=2)] == ["a", "b"]
    assert [r.url.params.get("cursorId") for r in script.requests] == [None, "b"]


def test_a_create_says_which_of_its_fields_the_backend_ignored(client: Make, waits: list[float]) -> None:
    def steel_browser(request: httpx.Request) -> httpx.Response:  # drops timeout, answers timeout 0
        return httpx.Response(200, json={**live(json.loads(request.content)["sessionId"]), "timeout": 0})

    def steel_local(request: httpx.Request) -> httpx.Response:
        headers = {"x-steel-ignored-fields": "solveCaptcha, useProxy"}
        return httpx.Response(200, json=live(json.loads(request.content)["sessionId"]), headers=headers)

    assert client(Script(steel_browser)).create(timeout=60_000).ignored_fields == ("timeout",)
    assert client(Script(steel_browser)).create().ignored_fields == ()  # asked for none: nothing ignored
    session = client(Script(steel_local)).create(timeout=60_000, use_proxy=True, solve_captcha=True)
    assert session.ignored_fields == ("solveCaptcha", "useProxy")


def test_a_client_of_a_plain_http_server_loads_no_ca_bundle_and_trusts_nothing() -> None:
    """Loading the bundle costs each client about 40 ms; an https request through such a client fails verification."""
    context = network.tls_for("http://127.0.0.1:4000/")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    assert network.tls_for("https://api.steel.dev") is network.ssl_context()  # the policy's one context
