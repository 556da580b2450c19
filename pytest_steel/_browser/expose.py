"""The test machine's local app, reachable from a session whose browser runs elsewhere (``--steel-expose-local``).

A page's request to ``localhost``, ``127.0.0.0/8``, ``[::1]`` or a host named with
``--steel-expose-host`` (any port, http or https) is paused by the browser and answered
from the test machine by the session's relay (``intercept``): the request is sent from
here, and its answer goes back with exactly the app's status and headers, so the browser
applies the app's own CORS, cookies and redirects. Only those hosts pause; the cache is
left as it is. WebSockets to those hosts are connected from here (``route_web_socket``,
Playwright 1.48 and newer; see ``socket_bridge``). No inbound port, no tunnel.

The rule, for both (``frames``): the test machine answers a request only where a local
browser would have let the asking document read the answer. Top-level navigations are
answered whoever started them (their answer is a new document); anything else only for a
document on an exposed origin, or a blank, ``srcdoc`` or ``data:`` one with no public
ancestor and no public opener. A body is passed up to ``MAX_BODY_BYTES`` each way; a
larger one is refused before it is read whole. Service workers of the local app are not
covered: their requests are not paused with the page's.
"""

from __future__ import annotations

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


@dataclass
class LocalExposure:
    """Which hosts the test machine answers for, per session connection (the relay answers; this bridges sockets)."""

    hosts: tuple[str, ...] = ()  # named hosts beside the loopback ones, e.g. ("app.test",)
    relay: Any = None  # the relay's route for the session's connection, which answers and grants; set on connect

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

    def fetch_patterns(self) -> list[dict[str, str]]:
        """``Fetch.enable`` patterns pausing requests to these hosts (and public look-alikes, let go at once)."""
        hosts = ("localhost", "127.*", "[::1]", *self.hosts)
        schemes = ("http", "https")
        return [{"urlPattern": f"{s}://{host}*", "requestStage": "Request"} for host in hosts for s in schemes]

    # -- WebSockets, through Playwright's routing ------------------------------------------

    def attach(self, browser: sync_api.Browser) -> None:
        """Every context of ``browser``, present and to come, bridges local WebSockets from here."""
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
        if hasattr(context, "route_web_socket"):  # Playwright 1.48 and newer
            context.route_web_socket(self.is_local, self._bridge)

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
        if hasattr(context, "route_web_socket"):  # Playwright 1.48 and newer
            await context.route_web_socket(self.is_local, self._bridge_async)

    def _bridge(self, route: Any) -> None:
        from .socket_bridge import SocketBridge

        SocketBridge.start(route, self.relay)

    async def _bridge_async(self, route: Any) -> None:
        self._bridge(route)


def parse_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """Host names from the option (repeatable) or the ini list: plain names, no scheme, port or path."""
    hosts = []
    for value in values:
        for host in value.replace(",", " ").split():
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
                raise ValueError(f"{host!r} is not a host name; give names like app.test (no scheme, port or path)")
            hosts.append(host.lower())
    return tuple(dict.fromkeys(hosts))
