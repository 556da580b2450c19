"""SteelClient against a real steel-local, and against real faults: 429, 500, dropped answers, hangs, refusals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from pytest_steel import (
    AsyncSteelClient,
    ReleaseResult,
    Session,
    SessionStatus,
    SteelAuthenticationError,
    SteelClient,
    SteelConnectionError,
    SteelRateLimitError,
    SteelServerError,
    SteelTimeoutError,
)

from ._support import FaultProxy, Server, StartServer, closed_port_url

StartProxy = Callable[..., FaultProxy]


def live_ids(server: Server) -> list[str]:
    return [s["id"] for s in server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"]]


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_slash_or_v1(fresh: Server, suffix: str) -> None:
    with SteelClient(fresh.url + suffix) as client:
        assert client.base_url == fresh.url
        session = client.create(timeout=60_000)
        assert client.release(session.id).success


def test_sessions_round_trip(fresh: Server) -> None:
    with SteelClient(fresh.url) as client:
        session = client.create(timeout=60_000, block_ads=True, dimensions={"width": 800, "height": 600})
        assert isinstance(session, Session)
        assert (session.status, session.timeout, session.dimensions) == (
            SessionStatus.LIVE,
            60_000,
            {"width": 800, "height": 600},
        )
        assert session.headless is True and session.raw["headless"] is True
        assert session.websocket_url and session.websocket_url.startswith("ws://127.0.0.1:")
        assert client.retrieve(session.id).status is SessionStatus.LIVE
        assert [s.id for s in client.list(status="live")] == [session.id]
        assert client.release(session.id) == ReleaseResult(True, f"Session {session.id} released")
        ended = client.retrieve(session.id)
        assert (ended.status, ended.release_reason) == (SessionStatus.RELEASED, "user_requested")
        client.create(timeout=60_000)
        assert client.release_all() == ReleaseResult(True, "Released 1 session")
        assert live_ids(fresh) == []


def test_list_pages_by_the_last_id(fresh: Server, fault_proxy: StartProxy) -> None:
    proxy = fault_proxy(fresh.url)
    with SteelClient(proxy.url) as client:
        created = [client.create(timeout=60_000).id for _ in range(3)]
        listed = client.list(status="live", limit=2)
        client.release_all()
    assert sorted(s.id for s in listed) == sorted(created)
    pages = [path for method, path, _ in proxy.requests if method == "GET"]
    assert len(pages) == 2 and "cursorId=" in pages[1]


def test_list_stops_when_a_server_ignores_the_cursor(fault_proxy: StartProxy) -> None:
    """A self-hosted steel-browser answers every page with the same list; the SDK's paginator never ends."""
    proxy = fault_proxy()
    proxy.script = ["200"] * 10
    proxy.answer_body = {"sessions": [{"id": "a", "status": "idle"}, {"id": "b", "status": "released"}]}
    with SteelClient(proxy.url) as client:
        listed = client.list(limit=2)
    assert [(s.id, s.status) for s in listed] == [("a", "idle"), ("b", SessionStatus.RELEASED)]
    assert len(proxy.requests) == 2


def test_a_wrong_or_missing_key_says_which_setting_supplies_it(start_server: StartServer) -> None:
    server = start_server(api_key="right-key-0123456789")
    with SteelClient(server.url, api_key="") as client, pytest.raises(SteelAuthenticationError) as missing:
        client.create()
    assert missing.value.status_code == 401
    assert "was refused (401): no API key is configured; set one with STEEL_API_KEY or the api_key argument" in str(
        missing.value
    )
    secret = "wrong-key-ABCDEFGHIJ"
    client = SteelClient(server.url, api_key=secret, api_key_source="--steel-api-key")
    with client, pytest.raises(SteelAuthenticationError) as wrong:
        client.create()
    assert "the API key from --steel-api-key was rejected" in str(wrong.value)
    for shown in (str(wrong.value), repr(wrong.value), repr(client), str(wrong.value.body)):
        assert secret not in shown
    assert repr(client) == f"SteelClient(base_url={server.url!r}, api_key=***)"
    with SteelClient(server.url, api_key="right-key-0123456789") as client:
        url = client.cdp_url(client.create(timeout=60_000))
        assert url.endswith("&apiKey=right-key-0123456789") and repr(url) == "'***'"
        client.release_all()


def test_429_is_retried_after_the_servers_delay(fresh: Server, fault_proxy: StartProxy) -> None:
    proxy = fault_proxy(fresh.url)
    proxy.script = ["429", "429"]
    proxy.answer_headers = {"retry-after-ms": "50"}
    with SteelClient(proxy.url) as client:
        session = client.create(timeout=60_000)
        client.release(session.id)
    posts = [body for method, path, body in proxy.requests if path == "/v1/sessions"]
    assert [b["sessionId"] for b in posts] == [session.id] * 3


def test_rate_limit_gives_up_after_the_retries(fault_proxy: StartProxy) -> None:
    proxy = fault_proxy()
    proxy.script = ["429"] * 10
    proxy.answer_headers = {"retry-after": "0.01"}
    with SteelClient(proxy.url, max_retries=2) as client, pytest.raises(SteelRateLimitError) as error:
        client.retrieve("some-id")
    assert len(proxy.requests) == 3
    assert str(error.value) == (
        f"GET /v1/sessions/some-id on {proxy.url} failed (429). The server said: injected fault"
    )


def test_a_create_whose_answer_was_lost_is_found_not_duplicated(fresh: Server, fault_proxy: StartProxy) -> None:
    """The server created the session but the client never heard: the retry finds it by its id."""
    proxy = fault_proxy(fresh.url)
    proxy.script = ["drop"]
    with SteelClient(proxy.url) as client:
        session = client.create(timeout=60_000)
        assert live_ids(fresh) == [session.id]
        client.release(session.id)
    release = f"POST /v1/sessions/{session.id}/release"
    assert proxy.paths() == ["POST /v1/sessions", f"GET /v1/sessions/{session.id}", release]


def test_a_create_that_failed_with_500_is_retried_with_the_same_id(fresh: Server, fault_proxy: StartProxy) -> None:
    proxy = fault_proxy(fresh.url)
    proxy.script = ["500"]
    with SteelClient(proxy.url) as client:
        session = client.create(timeout=60_000)
        assert live_ids(fresh) == [session.id]
        client.release(session.id)
    assert proxy.paths()[:3] == ["POST /v1/sessions", f"GET /v1/sessions/{session.id}", "POST /v1/sessions"]
    assert proxy.requests[0][2]["sessionId"] == proxy.requests[2][2]["sessionId"] == session.id


def test_a_create_that_keeps_failing_leaves_no_orphan(fresh: Server, fault_proxy: StartProxy) -> None:
    proxy = fault_proxy(fresh.url)
    proxy.script = ["drop"] + ["500"] * 5  # creates and look-ups fail; the final release gets through
    with SteelClient(proxy.url, max_retries=2) as client, pytest.raises(SteelServerError):
        client.create(timeout=60_000)
    assert live_ids(fresh) == []
    session_id = proxy.requests[0][2]["sessionId"]
    assert fresh.get(session_id)["status"] == "released"


def test_a_create_slower_than_one_read_timeout_is_retried_within_the_call(
    fresh: Server, fault_proxy: StartProxy
) -> None:
    """The first POST reaches the server after the client stopped waiting: the retry wins, the late one is refused."""
    proxy = fault_proxy(fresh.url)
    proxy.script = ["hold"]  # until the retry has made the session
    with SteelClient(proxy.url, http_timeout=3.0) as client:  # the call may take 9 s: three answers' worth
        session = client.create(timeout=60_000)
        assert live_ids(fresh) == [session.id]
        proxy.release_held()
        answers = proxy.wait_for_upstream_answers(len(proxy.requests))  # the held POST, too
        assert ("POST /v1/sessions", 409) in answers  # the same id again: refused, never a second session
        assert live_ids(fresh) == [session.id]
        client.release(session.id)
    # after the timeout, a quick health check (it answers: a slow backend, not a hung one), then the look-up
    assert proxy.paths()[:4] == [
        "POST /v1/sessions",
        "GET /v1/health",
        f"GET /v1/sessions/{session.id}",
        "POST /v1/sessions",
    ]


def test_a_create_the_client_gave_up_on_never_comes_to_life(fresh: Server, fault_proxy: StartProxy) -> None:
    """Every POST arrives after the client gave up and released the id: the server refuses them all (no orphan)."""
    proxy = fault_proxy(fresh.url)
    # every POST is held until the client has given up; its health checks, look-ups and release pass at once
    proxy.on_create = ["hold-id"]
    with SteelClient(proxy.url, http_timeout=0.4, max_retries=1, call_timeout=1.0) as client:
        with pytest.raises(SteelTimeoutError):
            client.create(timeout=60_000)
        session_id = proxy.requests[0][2]["sessionId"]
        assert client.abandoned == {session_id}  # released before its create arrived: not yet confirmed
        assert proxy.paths()[-1] == f"POST /v1/sessions/{session_id}/release"
        proxy.release_held()
        creates = [a for a in proxy.wait_for_upstream_answers(len(proxy.requests)) if a[0] == "POST /v1/sessions"]
        # one POST, or two when the back-off fitted in the call's second: each refused, none a session
        assert creates in ([("POST /v1/sessions", 409)], [("POST /v1/sessions", 409)] * 2)
        assert live_ids(fresh) == []
        assert client.settle_abandoned() == []
        assert client.abandoned == set()


def test_should_retry_false_is_obeyed(fault_proxy: StartProxy) -> None:
    proxy = fault_proxy()
    proxy.script = ["503"]
    proxy.answer_headers = {"x-should-retry": "false"}
    with SteelClient(proxy.url) as client, pytest.raises(SteelServerError):
        client.retrieve("x")
    assert len(proxy.requests) == 1


def test_a_hanging_server_times_out(fault_proxy: StartProxy) -> None:
    proxy = fault_proxy()
    proxy.script = ["hang", "hang"]
    with SteelClient(proxy.url, http_timeout=0.3, max_retries=1) as client, pytest.raises(SteelTimeoutError) as error:
        client.retrieve("x")
    assert len(proxy.requests) == 2
    assert "did not answer GET /v1/sessions/x in time" in str(error.value)


def test_release_and_health_are_bounded_by_call_timeout(fresh: Server, fault_proxy: StartProxy) -> None:
    proxy = fault_proxy(fresh.url)
    with SteelClient(proxy.url, http_timeout=30) as client:
        session = client.create(timeout=60_000)
        assert client.release(session.id, call_timeout=5).success
        assert "status" in client.health(call_timeout=5)
        for call in (lambda: client.release("x", call_timeout=0.3), lambda: client.health(call_timeout=0.3)):
            proxy.script = ["hang"]
            started = time.monotonic()
            with pytest.raises(SteelTimeoutError):
                call()
            assert time.monotonic() - started < 5  # the call's bound, not the client's 30 s per answer


def test_the_old_name_timeout_on_release_and_health_still_works_and_warns(
    fresh: Server, fault_proxy: StartProxy
) -> None:
    """``timeout=`` (seconds) on release and health: call_timeout's deprecated alias for one release."""
    proxy = fault_proxy(fresh.url)
    with SteelClient(proxy.url, http_timeout=30) as client:
        session = client.create(timeout=60_000)
        with pytest.warns(
            DeprecationWarning, match=r"release\(timeout=\.\.\.\) is deprecated: use call_timeout="
        ) as seen:
            assert client.release(session.id, timeout=5).success
        assert seen[0].filename == __file__  # the warning points at the caller's line
        proxy.script = ["hang"]
        started = time.monotonic()
        with pytest.warns(DeprecationWarning, match=r"health\(timeout=\.\.\.\) is deprecated: use call_timeout="):
            with pytest.raises(SteelTimeoutError):
                client.health(timeout=0.3)
        assert time.monotonic() - started < 5  # the alias still bounds the call
        sent = len(proxy.requests)
        with pytest.raises(
            TypeError, match=r"release\(\) takes call_timeout, or its deprecated name timeout, not both"
        ):
            client.release("x", call_timeout=1, timeout=1)
        with pytest.raises(TypeError, match=r"health\(\) takes call_timeout"):
            client.health(call_timeout=1, timeout=1)
        assert len(proxy.requests) == sent  # refused before anything was sent

    async def the_async_twin() -> None:
        async with AsyncSteelClient(fresh.url) as aclient:
            session = await aclient.create(timeout=60_000)
            with pytest.warns(DeprecationWarning, match=r"release\(timeout=\.\.\.\) is deprecated") as seen:
                assert (await aclient.release(session.id, timeout=5)).success
            assert seen[0].filename == __file__  # the warning points at the caller's line
            with pytest.warns(DeprecationWarning, match=r"health\(timeout=\.\.\.\) is deprecated"):
                assert "status" in await aclient.health(timeout=5)
            with pytest.raises(TypeError, match="not both"):
                await aclient.release("x", call_timeout=1, timeout=1)

    asyncio.run(the_async_twin())


def test_a_refused_connection_is_a_connection_error() -> None:
    url = closed_port_url()
    with SteelClient(url, max_retries=1) as client, pytest.raises(SteelConnectionError) as error:
        client.create()
    assert str(error.value).startswith(f"could not reach the Steel API at {url} (")


def test_defaults_come_from_the_environment_then_steel_cloud(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEEL_BASE_URL", "http://127.0.0.1:3000/v1/")
    monkeypatch.setenv("STEEL_API_KEY", "env-key-123456")
    with SteelClient() as client:
        assert (client.base_url, client.has_api_key) == ("http://127.0.0.1:3000", True)
        assert "env-key-123456" not in repr(client)
    monkeypatch.delenv("STEEL_BASE_URL")
    monkeypatch.delenv("STEEL_API_KEY")
    with SteelClient() as client:
        assert (client.base_url, client.has_api_key) == ("https://api.steel.dev", False)
    with pytest.raises(ValueError, match="'localhost:3000' is not an http:// or https:// URL"):
        SteelClient("localhost:3000")
