"""The test machine's app, reached from a session whose browser runs elsewhere (``--steel-expose-local``).

The remote server's Chromium sends every request, loopback included, to a proxy that goes
nowhere: a page there can load this machine's app only through the plugin. The app runs in
the inner project's own process, as a ``live_server`` fixture would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from pytest_steel import SteelClient

from ._support import ROUTES_WEBSOCKETS, RemoteServer

APP_CONFTEST = r"""
import asyncio, threading
import pytest
from aiohttp import web

BIG = b"window.bigSize = " + str(3 * 2**20).encode() + b";//" + b"x" * (3 * 2**20)

async def index(request):
    return web.Response(content_type="text/html", text=(
        "<title>shop</title><form method=post action=/login><input id=who name=who><button>go</button></form>"))

async def login(request):
    who = (await request.post())["who"]
    response = web.HTTPSeeOther("/me")
    response.set_cookie("sid", who, httponly=True)
    raise response

async def me(request):
    return web.Response(content_type="text/html",
        text=f"<p id=me>sid={request.cookies.get('sid')}</p><script src=/big.js></script>")

async def big(request):
    return web.Response(body=BIG + b"\n", content_type="application/javascript")

async def echo(request):
    return web.json_response({"echo": await request.json(), "method": request.method})

async def ws(request):
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    async for message in socket:
        await socket.send_str("echo " + message.data)
    return socket

@pytest.fixture(scope="session")
def app():
    loop = asyncio.new_event_loop()  # set up on this thread, then served from its own
    application = web.Application()
    application.add_routes([web.get("/", index), web.post("/login", login), web.get("/me", me),
                            web.get("/big.js", big), web.post("/api/echo", echo), web.get("/ws", ws)])
    runner = web.AppRunner(application)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
"""

# pytest-playwright's own driver starts with its session fixture ``playwright``, which pytest 9.2 sets up
# before the conftest's ``app``, and marks this thread's loop running: the app's set-up runs on its thread.
APP_ON_ITS_THREAD_CONFTEST = APP_CONFTEST.replace(
    """    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
""",
    """    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(runner.setup(), loop).result(10)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    asyncio.run_coroutine_threadsafe(site.start(), loop).result(10)
    port = runner.addresses[0][1]
""",
)
assert APP_ON_ITS_THREAD_CONFTEST != APP_CONFTEST

ECHO = (
    "fetch('/api/echo', {method: 'POST', headers: {'content-type': 'application/json'}, body: '{\"a\": 1}'})"
    ".then(r => r.json())"
)
WEBSOCKET = (
    "new Promise((done, fail) => { const s = new WebSocket(location.origin.replace('http', 'ws') + '/ws');"
    " s.onopen = () => s.send('hi'); s.onmessage = (e) => done(e.data); s.onerror = () => fail('ws failed'); })"
)
# The page's WebSocket to this machine's app: carried (Playwright 1.48+), or before it failing (docs/local-app.md).
WEBSOCKET_ECHO = "echo hi" if ROUTES_WEBSOCKETS else "ws failed"

SYNC_TESTS = f"""
from playwright.sync_api import expect

def _walk(page, app):
    page.goto(app + "/")
    page.fill("#who", "ada")
    page.click("button")
    expect(page.locator("#me")).to_have_text("sid=ada")  # the HttpOnly cookie came back on the next request
    assert page.evaluate("document.cookie") == ""  # HttpOnly: the page cannot read it
    page.wait_for_function("window.bigSize === {3 * 2**20}")  # a 3 MB script, whole
    assert page.evaluate({ECHO!r}) == {{"echo": {{"a": 1}}, "method": "POST"}}
    assert _socket(page) == {WEBSOCKET_ECHO!r}

def _socket(page):
    try:
        return page.evaluate({WEBSOCKET!r})
    except Exception as exc:
        assert "ws failed" in str(exc), exc
        return "ws failed"

def test_the_shop_on_this_machine(steel_page, app):
    _walk(steel_page, app)

def test_a_context_the_test_opens_itself(steel_browser, app):
    context = steel_browser.new_context()
    _walk(context.new_page(), app)
    context.close()
"""

ASYNC_TESTS = f"""
import pytest

@pytest.mark.asyncio
async def test_the_shop_async(steel_async_page, app):
    page = steel_async_page
    await page.goto(app + "/")
    await page.fill("#who", "bob")
    await page.click("button")
    assert await page.inner_text("#me") == "sid=bob"
    assert await page.evaluate({ECHO!r}) == {{"echo": {{"a": 1}}, "method": "POST"}}
    try:
        answer = await page.evaluate({WEBSOCKET!r})
    except Exception as exc:
        assert "ws failed" in str(exc), exc
        answer = "ws failed"
    assert answer == {WEBSOCKET_ECHO!r}
"""

PLAYWRIGHT_TESTS = f"""
def test_with_pytest_playwrights_page(page, app):
    page.goto(app + "/")
    page.fill("#who", "cy")
    page.click("button")
    assert page.inner_text("#me") == "sid=cy"
    assert page.evaluate({ECHO!r})["echo"] == {{"a": 1}}

def test_with_new_context(new_context, app):
    page = new_context().new_page()
    page.goto(app + "/me")
    assert page.inner_text("#me") == "sid=None"
"""


def _remote(
    pytester: pytest.Pytester, remote: RemoteServer, monkeypatch: pytest.MonkeyPatch, conftest: str = APP_CONFTEST
) -> list[str]:
    pytester.makeconftest(conftest)
    monkeypatch.setenv("STEEL_API_KEY", remote.api_key or "")
    return ["--steel-base-url", remote.url, "-p", "no:cacheprovider"]


def test_a_plain_cdp_client_cannot_reach_this_machine_from_the_remote_browser(
    remote_server: RemoteServer, pages: str
) -> None:
    with SteelClient(remote_server.url, remote_server.api_key) as client, sync_playwright() as playwright:
        session = client.create()
        try:
            browser = playwright.chromium.connect_over_cdp(str(client.cdp_url(session)))
            with pytest.raises(Exception, match="net::ERR_PROXY_CONNECTION_FAILED"):
                browser.contexts[0].pages[0].goto(pages + "/index.html", timeout=10_000)
            browser.close()
        finally:
            client.release(session.id)


@pytest.mark.timeout(270)  # the run's own bound, 240 s: about 40 s on a quiet machine, not the suite's 120
def test_the_plugin_reaches_this_machines_app_sync_async_and_under_xdist(
    pytester: pytest.Pytester, remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _remote(pytester, remote_server, monkeypatch)
    pytester.makepyfile(test_sync=SYNC_TESTS, test_async=ASYNC_TESTS)
    result = pytester.runpytest_subprocess(*args, "-p", "no:playwright", "-n", "2", timeout=240)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["steel: expose-local on (default): session pages reach this machine at localhost, 127.0.0.0/8, [::1]"]
    )


def test_the_plugin_reaches_this_machines_app_with_pytest_playwrights_fixtures(
    pytester: pytest.Pytester, remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _remote(pytester, remote_server, monkeypatch, APP_ON_ITS_THREAD_CONFTEST)
    pytester.makepyfile(test_pw=PLAYWRIGHT_TESTS)
    result = pytester.runpytest_subprocess(*args, "--steel-playwright", "-p", "playwright", timeout=240)
    result.assert_outcomes(passed=2)


def test_turned_off_the_report_says_why_and_a_public_page_is_refused(
    pytester: pytest.Pytester, remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _remote(pytester, remote_server, monkeypatch)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.steel(expose_local=False)
        def test_off(steel_page, app):
            steel_page.goto(app + "/")

        def test_a_public_page_cannot_reach_it(steel_page, app):
            steel_page.route("https://public.example/", lambda route: route.fulfill(
                content_type="text/html", body="<title>public</title>"))
            steel_page.goto("https://public.example/")
            outcome = steel_page.evaluate(
                "url => fetch(url).then(() => 'reached', () => 'refused')", app + "/")
            assert outcome == "refused"
            steel_page.goto(app + "/")  # the test's own navigation is the test machine's to answer
            assert steel_page.title() == "shop"
        """
    )
    result = pytester.runpytest_subprocess(*args, "-p", "no:playwright", timeout=240)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*net::ERR_PROXY_CONNECTION_FAILED at http://127.0.0.1:*",
            "*the session's browser runs on another machine: its 127.0.0.1 is not yours*--steel-expose-local on*",
        ]
    )


def test_the_example_suite_passes_against_a_remote_server_and_prints_no_warning(
    remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = Path(__file__).parent.parent / "examples"
    env = {**os.environ, "STEEL_API_KEY": remote_server.api_key or "", "STEEL_BASE_URL": remote_server.url}
    for name in ("STEEL_CHROMIUM", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID"):
        env.pop(name, None)
    result = subprocess.run(
        # pytest-benchmark is on this machine, not on a fresh install: its own xdist warning is not the examples'
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:benchmark", str(examples)],
        cwd=examples,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Steel-compatible server at" in result.stdout
    assert "expose-local on" in result.stdout
    assert re.search(r"\b20 passed\b", result.stdout)
    assert "warning" not in result.stdout.lower() and "warning" not in result.stderr.lower()
