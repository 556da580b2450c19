"""Playwright drives real Chromium sessions through the server's CDP relay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from pytest_steel._chromium import find_chromium

from ._cdp import browser_pid, connected, first_page
from ._support import Server, StartServer, wait_until_gone


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
    assert not private_tmp.exists()  # where full Chromium left its files, wherever that was


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
        assert [c for c in process.net_connections("inet") if c.status == psutil.CONN_LISTEN] == []
        assert not any(arg.startswith("--remote-debugging-port") for arg in process.cmdline())
    session = server.create()

    async def title(url: str) -> str:
        async with connected(url) as (browser,):
            page = first_page(browser)
            await page.goto("data:text/html,<title>through the relay</title>")
            return await page.title()

    assert asyncio.run(title(session["websocketUrl"] + "&apiKey=relay-key")) == "through the relay"


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
