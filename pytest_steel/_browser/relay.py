"""A loopback relay between the Playwright driver and a remote session's CDP endpoint, for its files.

Playwright connected over CDP asks the browser to download into a folder of the driver's
machine, and reads a finished download from there (``download.path()``, ``save_as``); and,
told the browser shares its disk (``is_local``), it hands a file input this machine's paths.
A browser on another machine has neither. So every connection to a session that may run
elsewhere goes through this relay, which watches a few messages and passes every other one
through as it came:

- the driver's ``Browser.setDownloadBehavior``: the folder the driver will read from;
- the driver's ``DOM.setFileInputFiles``: its files uploaded into the session's files, and
  the command sent on with the browser's paths for them (``relay_uploads``);
- the browser's ``Browser.downloadProgress`` that says ``completed``: held, with the later
  events of that download only, until the file is fetched through the session's files API
  into that folder (``relay_downloads``). Only then does the driver hear that the download
  finished, so a test's ``download.save_as(...)`` finds the file, unchanged. A file already
  there (a server on this machine) is not fetched again.

A download the backend's files API cannot give is let through as it is, and noted: the
test's report says why its ``save_as`` found nothing. With ``--steel-expose-local`` on,
the route's ``intercept.Interceptor`` also sees every message, and answers the pages'
requests to the test machine's app itself. The relay runs in a thread of its
own with an asyncio loop; each connection has a random path, so no other local process
can drive the session through it, and the API key stays in the upstream URL, never here.
A path serves one connection: the relay forgets it (and the upstream URL) once it is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
from typing import TYPE_CHECKING, Any

from .._client.network import ws_options
from .relay_downloads import hold_download_event, refuse_unsafe_download
from .relay_uploads import take_file_input
from .route import RemoteFiles, Route

if TYPE_CHECKING:
    from aiohttp import ClientSession, web

    from .expose import LocalExposure

_DOWNLOAD_BEHAVIOR = '"Browser.setDownloadBehavior"'
START_TIMEOUT = 10.0  # seconds the relay's thread may take to listen


class DownloadRelay:
    """The run's relay: one loopback listener, a route per connection, started on first need."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._http: ClientSession | None = None
        self._app_http: ClientSession | None = None  # to the test machine's app: no cookies kept, no proxy
        self._port = 0
        self._lock = threading.Lock()

    def endpoint(
        self, upstream: str, files: RemoteFiles, uploads: bool = False, exposure: LocalExposure | None = None
    ) -> tuple[str, Route]:
        """A loopback CDP URL that reaches ``upstream`` through the relay, and the route's record."""
        self._start()
        token = secrets.token_urlsafe(16)
        route = self._routes[token] = Route(upstream, files, uploads, exposure)
        if exposure is not None:
            exposure.relay = route
        return f"ws://127.0.0.1:{self._port}/{token}", route

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            ready = threading.Event()
            failure: list[BaseException] = []

            def run() -> None:
                loop = self._loop = asyncio.new_event_loop()
                try:
                    loop.run_until_complete(self._listen())
                except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                    failure.append(exc)
                    ready.set()
                    return
                ready.set()
                loop.run_forever()
                loop.run_until_complete(self._shut())
                loop.close()

            self._thread = threading.Thread(target=run, name="pytest-steel download relay", daemon=True)
            self._thread.start()
            if not ready.wait(START_TIMEOUT) or failure:
                raise RuntimeError(f"the download relay did not start: {failure[0] if failure else 'timed out'}")

    async def _listen(self) -> None:
        from aiohttp import ClientSession, ClientTimeout, DummyCookieJar, web

        app = web.Application()
        app.router.add_get("/{token}", self._relay)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        # trust_env off: the upstream's trust and proxy come from the one network policy, per URL (ws_options)
        self._http = ClientSession(timeout=ClientTimeout(total=None, sock_connect=30), trust_env=False)
        self._app_http = ClientSession(cookie_jar=DummyCookieJar(), trust_env=False, auto_decompress=True)

    async def _relay(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        route = self._routes.pop(request.match_info["token"], None)  # one connection per path: then forgotten
        if route is None:
            raise web.HTTPNotFound()
        assert self._http is not None
        driver = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await driver.prepare(request)
        try:
            options = ws_options(route.upstream)
            browser = await self._http.ws_connect(route.upstream, max_msg_size=0, autoping=True, **options)
        except Exception as exc:  # noqa: BLE001 - the driver sees its connection refused, as it would directly
            route.failures.append(_unreachable(exc, route.upstream))
            await driver.close(code=1011, message=b"could not reach the session's browser")
            return driver
        interceptor = None
        if route.exposure is not None and self._app_http is not None:
            from .intercept import Interceptor

            interceptor = Interceptor(route.exposure, browser.send_str, driver.send_str, self._app_http, route.failures)
            route.interceptor, route.loop = interceptor, asyncio.get_running_loop()
        to_browser = asyncio.ensure_future(_pump_commands(driver, browser, route))
        to_driver = asyncio.ensure_future(_pump_events(browser, driver, route))
        done, pending = await asyncio.wait((to_browser, to_driver), return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in (to_browser, to_driver):
            with contextlib.suppress(BaseException):
                await task
        if interceptor is not None:
            await interceptor.close()
            route.interceptor = None
        await route.files.aclose()  # what is still on its way is of no use to a driver that left
        close_code = browser.close_code or driver.close_code or 1000
        await browser.close()
        if not driver.closed:
            await driver.close(code=close_code if close_code >= 1000 else 1000)
        return driver

    async def _shut(self) -> None:
        for route in self._routes.values():
            await route.files.aclose()
        if self._app_http is not None:
            await self._app_http.close()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        """Stop the thread, closing every connection still open; nothing is left running."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = None


async def _pump_commands(driver: Any, browser: Any, route: Route) -> None:
    from aiohttp import WSMsgType

    async for message in driver:
        if message.type == WSMsgType.TEXT:
            text: str = message.data
            if route.interceptor is not None:
                passed = await route.interceptor.from_driver(text)
                if passed is None:  # answered or refused by the interceptor itself
                    continue
                text = passed
            if _DOWNLOAD_BEHAVIOR in text:
                folder = _download_folder(text)
                if folder:
                    route.folders.add(folder)
            if take_file_input(text, route, browser, driver):  # sent on by relay_uploads
                continue
            await browser.send_str(text)
        elif message.type == WSMsgType.BINARY:
            await browser.send_bytes(message.data)


async def _pump_events(browser: Any, driver: Any, route: Route) -> None:
    from aiohttp import WSMsgType

    async for message in browser:
        if message.type == WSMsgType.TEXT:
            text: str = message.data
            if route.interceptor is not None:
                passed = await route.interceptor.from_browser(text)
                if passed is None:  # answered or refused by the interceptor itself
                    continue
                text = passed
            text = refuse_unsafe_download(text, route)
            if hold_download_event(text, route, driver):  # sent on by relay_downloads
                continue
            await driver.send_str(text)
        elif message.type == WSMsgType.BINARY:
            await driver.send_bytes(message.data)


def _download_folder(text: str) -> str | None:
    with contextlib.suppress(ValueError, AttributeError):
        command = json.loads(text)
        if command.get("method") == "Browser.setDownloadBehavior":
            folder = (command.get("params") or {}).get("downloadPath")
            return folder if isinstance(folder, str) else None
    return None


UNREACHABLE = "the page connection could not reach the session's browser"


def _unreachable(exc: BaseException, upstream: str) -> str:
    """Why the upstream WebSocket did not open, as the network policy says; never with the query (a key)."""
    from aiohttp import ClientHttpProxyError, ClientProxyConnectionError

    from .._client.http import connection_trouble

    shown = upstream.split("?", 1)[0]
    proxy_failed = isinstance(exc, (ClientProxyConnectionError, ClientHttpProxyError))
    why = connection_trouble(exc, shown, proxy_failed=proxy_failed, redact=lambda text: text.replace(upstream, shown))
    return f"{UNREACHABLE}: {why or type(exc).__name__}"
