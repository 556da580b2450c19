"""The test machine's local app, reachable from a session whose browser runs elsewhere (``--steel-expose-local``).

A page's request to ``localhost``, ``127.0.0.0/8``, ``[::1]`` or a host named with
``--steel-expose-host`` (any port, http or https) is intercepted over the session's own
CDP connection and answered by the Playwright driver, which runs on the test machine:
``route.fetch()`` sends it from here, with the method, body and headers (cookies
included) the browser sent, and ``route.fulfill()`` hands the answer back, ``Set-Cookie``
(``HttpOnly`` too) and redirects included (a redirect goes back to the browser, whose
next request is intercepted in its turn). WebSockets to those hosts are connected from
here too (``route_web_socket``, Playwright 1.48 and newer; see ``socket_bridge``).
No inbound port, no tunnel.

A navigation's redirect reaches the browser as a page that moves on to its target at
once (Playwright routes a request, not the redirects after it); other requests' redirects
are followed here. Only those hosts are intercepted, by a pattern the driver matches (other requests never
pause), and only for a page that is itself on one of them, on ``about:blank`` or
``data:``, or for a top-level navigation: a page from a public origin cannot reach the
test machine's loopback this way, as Chrome's Private Network Access would refuse it.
A body is passed whole, up to ``MAX_BODY_BYTES``; a larger one is answered 502, saying so.
Service workers of the local app are not covered: their requests bypass Playwright's routing.
"""

from __future__ import annotations

import html
import ipaddress
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright import async_api, sync_api

LOOPBACK_NAMES = ("localhost",)
MAX_BODY_BYTES = 100 * 2**20
REFUSED = "blockedbyclient"  # the error a refused request fails with in the page (net::ERR_BLOCKED_BY_CLIENT)


@dataclass
class LocalExposure:
    """Which hosts the test machine answers for, and the interception that does it, per browser context.

    Not frozen: Playwright notes its own wrapper of a route handler on the handler's object.
    """

    hosts: tuple[str, ...] = ()  # named hosts beside the loopback ones, e.g. ("app.test",)

    @property
    def pattern(self) -> re.Pattern[str]:
        names = "|".join(re.escape(h.lower()) for h in (*LOOPBACK_NAMES, *self.hosts))
        hosts = rf"(?:{names}|127(?:\.\d{{1,3}}){{3}}|\[::1\])"
        return re.compile(rf"^(?:https?|wss?)://{hosts}(?::\d+)?(?:[/?#]|$)", re.IGNORECASE)

    def describe(self) -> str:
        return ", ".join(("localhost", "127.0.0.0/8", "[::1]", *self.hosts))

    def is_local(self, url: str) -> bool:
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        if host in LOOPBACK_NAMES or host in (h.lower() for h in self.hosts):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def allowed(self, request: Any) -> bool:
        """A request from a page on a local host (or a blank one), or a top-level navigation; not a public page's."""
        if request.is_navigation_request() and request.frame.parent_frame is None:
            return True
        origin = request.frame.url
        return origin.startswith(("about:", "data:")) or not origin or self.is_local(origin)

    # -- the sync API --------------------------------------------------------------------

    def attach(self, browser: sync_api.Browser) -> None:
        """Every context of ``browser``, present and to come, answers local requests from here."""
        for context in browser.contexts:
            self.attach_context(context)
        new_context, new_page = browser.new_context, browser.new_page

        def exposed_context(*args: Any, **kwargs: Any) -> sync_api.BrowserContext:
            context = new_context(*args, **kwargs)
            self.attach_context(context)
            return context

        def exposed_page(*args: Any, **kwargs: Any) -> sync_api.Page:
            page = new_page(*args, **kwargs)
            self.attach_context(page.context)
            return page

        browser.new_context = exposed_context  # type: ignore[method-assign]
        browser.new_page = exposed_page  # type: ignore[method-assign]

    def attach_context(self, context: sync_api.BrowserContext) -> None:
        context.route(self.pattern, self._answer)
        if hasattr(context, "route_web_socket"):  # Playwright 1.48 and newer
            context.route_web_socket(self.is_local, _bridge)

    def _answer(self, route: sync_api.Route) -> None:
        request = route.request
        if not self.allowed(request):
            route.abort(REFUSED)
            return
        try:
            response = route.fetch(max_redirects=0 if _navigates(request) else 20)
        except Exception:  # noqa: BLE001 - the app is not there: the page sees it refused, as it would locally
            route.abort("connectionrefused")
            return
        route.fulfill(**_fulfilment(response.status, response.headers, response.body(), request.url))

    # -- the async API -------------------------------------------------------------------

    async def attach_async(self, browser: async_api.Browser) -> None:
        for context in browser.contexts:
            await self.attach_context_async(context)
        new_context, new_page = browser.new_context, browser.new_page

        async def exposed_context(*args: Any, **kwargs: Any) -> async_api.BrowserContext:
            context = await new_context(*args, **kwargs)
            await self.attach_context_async(context)
            return context

        async def exposed_page(*args: Any, **kwargs: Any) -> async_api.Page:
            page = await new_page(*args, **kwargs)
            await self.attach_context_async(page.context)
            return page

        browser.new_context = exposed_context  # type: ignore[method-assign]
        browser.new_page = exposed_page  # type: ignore[method-assign]

    async def attach_context_async(self, context: async_api.BrowserContext) -> None:
        await context.route(self.pattern, self._answer_async)
        if hasattr(context, "route_web_socket"):  # Playwright 1.48 and newer
            await context.route_web_socket(self.is_local, _bridge_async)

    async def _answer_async(self, route: async_api.Route) -> None:
        request = route.request
        if not self.allowed(request):
            await route.abort(REFUSED)
            return
        try:
            response = await route.fetch(max_redirects=0 if _navigates(request) else 20)
        except Exception:  # noqa: BLE001 - the app is not there: the page sees it refused, as it would locally
            await route.abort("connectionrefused")
            return
        fulfilment = _fulfilment(response.status, response.headers, await response.body(), request.url)
        await route.fulfill(**fulfilment)


def _navigates(request: Any) -> bool:
    return bool(request.is_navigation_request())


def _fulfilment(status: int, headers: dict[str, str], body: bytes, url: str) -> dict[str, Any]:
    """What the browser gets for a local answer.

    Playwright routes a request, not the redirects that follow it: the browser would send
    those to its own network. So a navigation's redirect (303 after a form's POST, say)
    comes as a page that moves on at once to where it pointed, its cookies set; the next
    navigation is routed again. Any other request's redirects are followed here.
    """
    if len(body) > MAX_BODY_BYTES:
        return {"status": 502, "body": _too_large(len(body))}
    location = headers.get("location")
    if 300 <= status < 400 and location:
        target = html.escape(urllib.parse.urljoin(url, location), quote=True)
        kept = {k: v for k, v in headers.items() if k.lower() == "set-cookie"}
        page = f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
        return {"status": 200, "headers": {**kept, "content-type": "text/html"}, "body": page}
    return {"status": status, "headers": headers, "body": body}


def _bridge(route: Any) -> None:
    from .socket_bridge import SocketBridge

    SocketBridge.start(route)


async def _bridge_async(route: Any) -> None:
    _bridge(route)


def _too_large(size: int) -> str:
    return (
        f"pytest-steel: this local response is {size // 2**20} MB, and --steel-expose-local passes bodies of at "
        f"most {MAX_BODY_BYTES // 2**20} MB to a browser on another machine"
    )


def parse_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """Host names from the option (repeatable) or the ini list: plain names, no scheme, port or path."""
    hosts = []
    for value in values:
        for host in value.replace(",", " ").split():
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
                raise ValueError(f"{host!r} is not a host name; give names like app.test (no scheme, port or path)")
            hosts.append(host.lower())
    return tuple(dict.fromkeys(hosts))
