"""Playwright drives real Chromium sessions through the server's CDP relay."""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

import psutil
import pytest

from pytest_steel._browser.chromium import find_chromium

from ._cdp import browser_pid, connected, first_page
from ._support import Server, StartServer, wait_until_gone, wait_until_removed


def test_several_live_sessions_are_driven_at_once(fresh: Server, pages: str) -> None:
    sessions = [fresh.create() for _ in range(3)]

    async def drive() -> tuple[list[str], list[int], list[str | None]]:
        async with connected(*(s["websocketUrl"] for s in sessions)) as browsers:
            tabs = [first_page(b) for b in browsers]
            await asyncio.gather(*(t.goto(f"{pages}/index.html") for t in tabs))
            titles = [await t.title() for t in tabs]
            # Isolation: state written in one session is invisible in the others.
            await tabs[0].evaluate("localStorage.setItem('owner', 'first')")
            seen = [await t.evaluate("localStorage.getItem('owner')") for t in tabs]
            pids = [await browser_pid(b) for b in browsers]
            return titles, pids, seen

    titles, pids, seen = asyncio.run(drive())
    assert titles == ["Steel test page"] * 3
    assert len(set(pids)) == 3
    assert seen == ["first", None, None]


def test_form_and_navigation(fresh: Server, pages: str) -> None:
    session = fresh.create()

    async def fill_form() -> tuple[str, str]:
        async with connected(session["websocketUrl"]) as (browser,):
            page = first_page(browser)
            await page.goto(f"{pages}/form.html")
            await page.fill("input[name=who]", "steel")
            await page.click("button")
            await page.wait_for_url("**/done.html?who=steel")
            return await page.title(), await page.text_content("#who") or ""

    assert asyncio.run(fill_form()) == ("Done", "steel")


def test_messages_of_every_size_cross_the_relay_intact(fresh: Server) -> None:
    """The relay reads and writes its own WebSocket frames: each length encoding, and UTF-8, arrive whole both ways."""
    session = fresh.create()
    sizes = [0, 100, 125, 126, 1000, 65_535, 65_536, 3_000_000]  # around the 7-bit, 16-bit and 64-bit lengths

    async def echo() -> tuple[list[str], list[str], list[int]]:
        async with connected(session["websocketUrl"]) as (browser,):
            page = first_page(browser)
            texts = await asyncio.gather(*(page.evaluate("n => 'é€'.repeat(n)", n // 5) for n in sizes))
            bursts = await page.evaluate("() => Array.from({length: 200}, (_, i) => 'm' + i)")
            # to the browser: each command carries its argument, in masked frames of every length class
            checks = [await page.evaluate("s => s === 'é€'.repeat(s.length / 2)", "é€" * (n // 5)) for n in sizes]
            return list(texts), bursts, checks

    texts, bursts, checks = asyncio.run(echo())
    assert texts == ["é€" * (n // 5) for n in sizes]
    assert bursts == [f"m{i}" for i in range(200)]
    assert checks == [True] * len(sizes)


def test_dimensions_and_user_agent_are_applied(fresh: Server) -> None:
    session = fresh.create(dimensions={"width": 640, "height": 480}, userAgent="steel-local-test/1.0")

    async def measure() -> list[object]:
        async with connected(session["websocketUrl"]) as (browser,):
            return await first_page(browser).evaluate("[innerWidth, innerHeight, navigator.userAgent]")

    assert asyncio.run(measure()) == [640, 480, "steel-local-test/1.0"]


def test_headless_sessions_prefer_the_headless_shell(fresh: Server) -> None:
    if find_chromium().headless_shell is None:
        pytest.skip("no Chromium headless shell on this machine")
    session = fresh.create()

    async def pid() -> int:
        async with connected(session["websocketUrl"]) as (browser,):
            return await browser_pid(browser)

    assert "headless" in psutil.Process(asyncio.run(pid())).name()


def test_full_chromium_when_named_explicitly(start_server: StartServer, pages: str) -> None:
    full = find_chromium().full
    if full is None:
        pytest.skip("no full Chromium on this machine")
    server = start_server("--chromium", str(full.path))
    session = server.create()

    async def drive() -> tuple[str, int]:
        async with connected(session["websocketUrl"]) as (browser,):
            page = first_page(browser)
            await page.goto(f"{pages}/index.html")
            return await page.title(), await browser_pid(browser)

    title, pid = asyncio.run(drive())
    assert title == "Steel test page"
    browser = psutil.Process(pid)
    assert browser.exe() == str(full.path)
    private_tmp = Path(browser.environ()["TMPDIR"])
    assert any(p.name.startswith("org.chromium.Chromium.") for p in private_tmp.iterdir())
    server.release(session["id"])
    assert wait_until_gone([browser]) == []
    assert wait_until_removed(private_tmp)  # where full Chromium left its files, wherever that was


def test_released_session_accepts_no_connection(fresh: Server) -> None:
    session = fresh.create()
    fresh.release(session["id"])

    async def connect() -> None:
        async with connected(session["websocketUrl"]):
            pass

    with pytest.raises(Exception, match="410"):
        asyncio.run(connect())


def test_cdp_relay_requires_the_api_key(start_server: StartServer) -> None:
    server = start_server(api_key="relay-key")
    session = server.create()

    async def title(url: str) -> str:
        async with connected(url) as (browser,):
            return await first_page(browser).title()

    with pytest.raises(Exception, match="401"):
        asyncio.run(title(session["websocketUrl"]))
    # As on Steel Cloud: the key goes in the CDP URL's apiKey parameter.
    assert asyncio.run(title(session["websocketUrl"] + "&apiKey=relay-key")) == ""


def test_no_browser_listens_on_any_port(start_server: StartServer) -> None:
    """The relay is the only way to a browser: each speaks CDP over a pipe only the server holds."""
    server = start_server(api_key="relay-key")
    server.create()
    browsers = server.browsers()
    assert browsers
    for process in browsers:
        connections = getattr(process, "net_connections", None) or process.connections  # psutil < 6: connections
        assert [c for c in connections("inet") if c.status == psutil.CONN_LISTEN] == []
        assert not any(arg.startswith("--remote-debugging-port") for arg in process.cmdline())
    session = server.create()

    async def title(url: str) -> str:
        async with connected(url) as (browser,):
            page = first_page(browser)
            await page.goto("data:text/html,<title>through the relay</title>")
            return await page.title()

    assert asyncio.run(title(session["websocketUrl"] + "&apiKey=relay-key")) == "through the relay"


PIXEL = "Array.from(document.getElementById('live').getContext('2d').getImageData(20, 20, 1, 1).data)"


def test_the_viewer_shows_the_session_live_and_refuses_a_wrong_key(start_server: StartServer) -> None:
    """One session is driven while a second one's browser watches the first's viewer: the frames follow."""
    server = start_server(api_key="viewer-key")
    driven, watching = server.create(), server.create()
    key = "&apiKey=viewer-key"

    async def watch() -> tuple[list[int], list[int], str, str]:
        async with connected(driven["websocketUrl"] + key, watching["websocketUrl"] + key) as (test, viewer_browser):
            page, viewer = first_page(test), first_page(viewer_browser)
            await page.goto("data:text/html,<title>red</title><body style='background:rgb(255,0,0)'>")
            await viewer.goto(driven["sessionViewerUrl"] + "?apiKey=viewer-key")
            assert viewer.url == driven["sessionViewerUrl"]  # the key left the address bar: a cookie holds the way in
            await viewer.wait_for_function("window.steelFrames > 0", timeout=15_000)
            red = await viewer.evaluate(PIXEL)
            await page.goto("data:text/html,<title>green</title><body style='background:rgb(0,200,0)'>")
            await viewer.wait_for_function(f"(() => {{ const [r, g] = {PIXEL}; return g > 150 && r < 80; }})()")
            green = await viewer.evaluate(PIXEL)
            await viewer.wait_for_function("document.getElementById('shown').textContent.startsWith('green')")
            second = await test.contexts[0].new_page()  # a page the test opens is followed too
            await second.goto("data:text/html,<title>blue</title><body style='background:rgb(0,0,255)'>")
            await viewer.wait_for_function(f"(() => {{ const [r, g, b] = {PIXEL}; return b > 200 && r < 60; }})()")
            server.release(driven["id"])
            await viewer.wait_for_function("document.getElementById('time').textContent === 'ended'")
            ended = await viewer.text_content("#status") or ""
            refused = await viewer.goto(driven["sessionViewerUrl"] + "?apiKey=wrong")
            assert refused is not None
            return red, green, ended, str(refused.status)

    red, green, ended, refused = asyncio.run(watch())
    assert red[0] > 200 and red[1] < 60 and red[2] < 60  # the page the test drove, as the viewer drew it
    assert green[1] > 150 and green[0] < 80
    assert ended == "released (user_requested)"
    assert refused == "401"
    server.release(watching["id"])


def test_viewer_and_debug_pages(fresh: Server, pages: str) -> None:
    session = fresh.create()

    async def visit_and_view() -> str:
        async with connected(session["websocketUrl"]) as (browser,):
            await first_page(browser).goto(f"{pages}/index.html")
            return fresh.http.get(session["sessionViewerUrl"]).text

    viewer = asyncio.run(visit_and_view())
    assert "Steel test page" in viewer
    assert f"{pages}/index.html" in viewer
    debug = fresh.http.get(session["debugUrl"], follow_redirects=False)
    assert debug.status_code == 302
    assert fresh.http.get("/").status_code == 200


def test_the_viewer_shows_what_a_page_sends_as_text(fresh: Server) -> None:
    """A page chooses its title: the viewer escapes it, and a placeholder of the viewer's page in it stays text."""
    session = fresh.create()
    hostile = "<img src=x onerror=alert(1)>{{cdp_url}}"

    async def visit_and_view() -> str:
        async with connected(session["websocketUrl"]) as (browser,):
            page = first_page(browser)
            await page.set_content(f"<title>{html.escape(hostile)}</title>")
            assert await page.title() == hostile
            return fresh.http.get(session["sessionViewerUrl"]).text

    viewer = asyncio.run(visit_and_view())
    assert html.escape(hostile) in viewer
    assert "<img" not in viewer
    assert viewer.count(html.escape(session["websocketUrl"])) == 1  # the CDP line's, not filled into the title


def test_headed_session_runs_full_chromium_in_a_window(
    start_server: StartServer, xvfb_display: str, pages: str
) -> None:
    full = find_chromium().full
    if full is None:
        pytest.skip("no full Chromium on this machine")
    server = start_server(env={"DISPLAY": xvfb_display})
    session = server.create(headless=False, dimensions={"width": 1000, "height": 700})
    assert session["headless"] is False

    async def drive() -> tuple[str, str, int]:
        async with connected(session["websocketUrl"]) as (browser,):
            page = first_page(browser)
            await page.goto(f"{pages}/index.html")
            return await page.title(), await page.evaluate("navigator.userAgent"), await browser_pid(browser)

    title, user_agent, pid = asyncio.run(drive())
    assert title == "Steel test page"
    assert "HeadlessChrome" not in user_agent
    assert psutil.Process(pid).exe() == str(full.path)
