"""The test machine's app answered inside the relay, for one remote session's connection.

The relay already sees every CDP message between the Playwright driver and a remote
browser. So rather than a Playwright route (which makes the driver pause every request
of every page and turns the browser's cache off), the relay asks each page and frame
target to pause only requests to the exposed hosts (``Fetch.enable`` with their
patterns, sent before the target runs), decides who asked (``frames.FrameMap``) and
answers them itself: the request goes from this machine to the app, and its answer goes
back with exactly the app's status and headers, so the browser applies the app's own
CORS, cookies and redirects as it would to a local app. Preflights are the app's to
answer too. Public requests never pause; the cache behaves as it does without this.

When a test routes requests itself, the driver enables interception of everything on a
target; the relay then lets the driver see exposed requests first, and takes over only
where the driver would let them go to the network (``Fetch.continueRequest``) or would
fake a CORS preflight. A test's own ``route.fulfill`` or ``route.abort`` stands.

The WebSocket half of the rule is decided here too, on the same CDP messages and frame map,
and asks the browser for cookies over the same connection; what a grant is, how Playwright's
binding call reads and which cookies a handshake carries are ``socket_grants``'.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .expose import MAX_BODY_BYTES, LocalExposure
from .frames import FrameMap
from .socket_grants import WEBSOCKET_BINDING, SocketGrant, cookie_header, passthrough, socket_payload

if TYPE_CHECKING:
    from aiohttp import ClientSession

Send = Callable[[str], Awaitable[None]]

OWN_IDS = 1_500_000_000  # the relay's own command ids start here, far above the driver's
APP_TIMEOUT_S = 300.0  # the longest one answer of the app may take
_HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host")
)
_DROPPED_ANSWER = frozenset(("content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"))
_ID = re.compile(r'^\s*\{\s*"id"\s*:\s*(\d+)')  # an answer (a proxy in between may re-space the JSON)
_EVENTS = (
    '"Fetch.requestPaused"',
    '"Target.attachedToTarget"',
    '"Target.detachedFromTarget"',
    '"Page.frame',
    '"Page.navigatedWithinDocument"',
    '"Runtime.executionContextCreated"',
    '"Runtime.bindingCalled"',
)
_COMMANDS = ('"Fetch.', '"Page.getFrameTree"')


@dataclass
class Interceptor:
    """One connection's interception of the exposed hosts, fed every message the relay passes."""

    exposure: LocalExposure
    to_browser: Send
    to_driver: Send
    http: ClientSession
    notes: list[str] = field(default_factory=list)  # what the test's report should say
    grants: list[SocketGrant] = field(default_factory=list)
    frames: FrameMap = field(init=False)
    _next_id: int = OWN_IDS
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _driver_fetch: set[str] = field(default_factory=set)  # sessions on which the driver intercepts everything
    _forwarded: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # request id -> paused event
    _frame_trees: dict[int, str] = field(default_factory=dict)  # the driver's Page.getFrameTree ids
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.frames = FrameMap(self.exposure.is_local)

    # -- the two directions ----------------------------------------------------------------

    async def from_driver(self, text: str) -> str | None:
        """A driver command: passed on as it is, rewritten, or answered here (None)."""
        if not any(marker in text for marker in _COMMANDS):
            return text
        try:
            command = json.loads(text)
        except ValueError:
            return text
        method, session = command.get("method"), command.get("sessionId") or ""
        params = command.get("params") or {}
        if method == "Page.getFrameTree" and isinstance(command.get("id"), int):
            self._frame_trees[command["id"]] = session
        elif method == "Fetch.enable":
            self._driver_fetch.add(session)
        elif method == "Fetch.disable" and session in self._driver_fetch:
            self._driver_fetch.discard(session)
            command["method"], command["params"] = "Fetch.enable", {"patterns": self.exposure.fetch_patterns()}
            return json.dumps(command)  # the driver hears Fetch.disable's empty answer; the exposed hosts stay
        elif method in ("Fetch.continueRequest", "Fetch.fulfillRequest", "Fetch.failRequest"):
            forwarded = self._forwarded.pop(str(params.get("requestId")), None)
            if forwarded is not None:
                paused_session, paused = forwarded
                take = method == "Fetch.continueRequest" or (method == "Fetch.fulfillRequest" and _preflight(paused))
                if take:
                    await self._answer_driver(command)
                    overrides = params if method == "Fetch.continueRequest" else {}
                    self._spawn(self._handle(paused_session, paused, overrides))
                    return None
        return text

    async def from_browser(self, text: str) -> str | None:
        """A browser message: passed on, or kept here (None) when it is the relay's own business."""
        found = _ID.match(text)
        if found is not None:
            number = int(found.group(1))
            if number >= OWN_IDS:
                future = self._pending.pop(number, None)
                if future is not None and not future.done():
                    with contextlib.suppress(ValueError):
                        future.set_result(json.loads(text))
                return None
            if number in self._frame_trees:
                self._frame_trees.pop(number)
                with contextlib.suppress(ValueError, AttributeError):
                    self.frames.frame_tree((json.loads(text).get("result") or {}).get("frameTree") or {})
            return text
        if not any(marker in text for marker in _EVENTS):
            return text
        try:
            event = json.loads(text)
        except ValueError:
            return text
        method, session = event.get("method"), event.get("sessionId") or ""
        params = event.get("params") or {}
        if method == "Fetch.requestPaused":
            return self._paused(session, params, text)
        if method == "Target.attachedToTarget":
            target = self.frames.attached(params)
            if target is not None and target.kind in ("page", "iframe"):
                await self._send(params["sessionId"], "Fetch.enable", {"patterns": self.exposure.fetch_patterns()})
        elif method == "Target.detachedFromTarget":
            self.frames.detached(params)
            self._driver_fetch.discard(str(params.get("sessionId")))
        elif method == "Page.frameAttached":
            self.frames.frame_attached(params)
        elif method == "Page.frameNavigated":
            self.frames.frame_navigated(params.get("frame") or {})
        elif method == "Page.navigatedWithinDocument":
            self.frames.navigated_within_document(params)
        elif method == "Runtime.executionContextCreated":
            self.frames.context_created(session, params.get("context") or {})
        elif method == "Runtime.bindingCalled" and WEBSOCKET_BINDING in str(params.get("payload")):
            return await self._socket_created(session, params, text)
        return text

    # -- requests --------------------------------------------------------------------------

    def _paused(self, session: str, paused: dict[str, Any], text: str) -> str | None:
        url = str((paused.get("request") or {}).get("url") or "")
        exposed = self.exposure.is_local(url)
        if session in self._driver_fetch:
            if exposed and "responseStatusCode" not in paused and "responseErrorReason" not in paused:
                self._forwarded[str(paused.get("requestId"))] = (session, paused)
            return text  # the test's own routes see it first
        if exposed:
            self._spawn(self._handle(session, paused, {}))
        else:  # a public host the patterns matched by their shape (127.example.com): on its way
            self._spawn(self._call_quietly(session, "Fetch.continueRequest", {"requestId": paused.get("requestId")}))
        return None

    async def _handle(self, session: str, paused: dict[str, Any], overrides: dict[str, Any]) -> None:
        request_id = paused.get("requestId")
        request = paused.get("request") or {}
        url = str(overrides.get("url") or request.get("url") or "")
        if not self.exposure.is_local(url) or not self.frames.allows_request(session, paused):
            refusal = {"requestId": request_id, "errorReason": "BlockedByClient"}
            await self._call_quietly(session, "Fetch.failRequest", refusal)
            return
        try:
            body = await self._request_body(session, paused, overrides)
        except _TooLarge as exc:
            self.notes.append(str(exc))
            await self._call_quietly(session, "Fetch.fulfillRequest", _error(request_id, 413, str(exc)))
            return
        headers = _request_headers(overrides.get("headers"), request.get("headers"))
        method = str(overrides.get("method") or request.get("method") or "GET")
        try:
            status, answer_headers, answer = await self._fetch(method, url, headers, body)
        except _TooLarge as exc:
            self.notes.append(str(exc))
            await self._call_quietly(session, "Fetch.fulfillRequest", _error(request_id, 502, str(exc)))
            return
        except Exception:  # noqa: BLE001 - the app is not there: the page sees it refused, as it would locally
            await self._call_quietly(
                session, "Fetch.failRequest", {"requestId": request_id, "errorReason": "ConnectionRefused"}
            )
            return
        params = {
            "requestId": request_id,
            "responseCode": status,
            "responseHeaders": [{"name": k, "value": v} for k, v in answer_headers],
            "body": base64.b64encode(answer).decode("ascii"),
        }
        await self._call_quietly(session, "Fetch.fulfillRequest", params)

    async def _request_body(self, session: str, paused: dict[str, Any], overrides: dict[str, Any]) -> bytes | None:
        if isinstance(overrides.get("postData"), str):
            body = base64.b64decode(overrides["postData"])
        else:
            request = paused.get("request") or {}
            entries = request.get("postDataEntries")
            if isinstance(entries, list) and entries:
                body = b"".join(base64.b64decode(e.get("bytes") or "") for e in entries if isinstance(e, dict))
            elif isinstance(request.get("postData"), str):
                body = request["postData"].encode()
            elif request.get("hasPostData") and paused.get("networkId"):
                answer = await self._call(session, "Network.getRequestPostData", {"requestId": paused["networkId"]})
                data = str((answer.get("result") or {}).get("postData") or "")
                base64_encoded = (answer.get("result") or {}).get("base64Encoded")
                body = base64.b64decode(data) if base64_encoded else data.encode()
            else:
                return None
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge(_too_large("request", len(body)))
        return body

    async def _fetch(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """The app's answer, as it sent it, read up to the bound; redirects are the browser's to follow."""
        from aiohttp import ClientTimeout

        async with self.http.request(
            method, url, headers=headers, data=body, allow_redirects=False, timeout=ClientTimeout(total=APP_TIMEOUT_S)
        ) as response:
            length = response.content_length
            if length is not None and length > MAX_BODY_BYTES:
                raise _TooLarge(_too_large("response", length))
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(2**16):
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _TooLarge(_too_large("response", size, at_least=True))
                chunks.append(chunk)
            answer_headers = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in response.raw_headers
                if k.decode("latin-1").lower() not in _DROPPED_ANSWER
            ]
            return response.status, answer_headers, b"".join(chunks)

    # -- sockets ---------------------------------------------------------------------------

    async def _socket_created(self, session: str, params: dict[str, Any], text: str) -> str | None:
        """A page's ``new WebSocket`` under Playwright's routing: let through with its grant, or made to go direct."""
        created = socket_payload(params.get("payload"))
        if created is None:
            return text  # a later message of a socket (or one this cannot read): the bridge decides
        socket_id, url, protocols = created
        if not self.exposure.is_local(url):
            return text
        context_id = params.get("executionContextId")
        allowed, origin = self.frames.allows_context(session, context_id)
        if not allowed:
            # As if no route matched: the page's socket goes out on the browser's own network, as without pytest-steel.
            await self._send(
                session, "Runtime.evaluate", {"expression": passthrough(socket_id), "contextId": context_id}
            )
            return None
        self.grants.append(SocketGrant(url, session, origin, protocols))
        return text

    def take_grant(self, url: str) -> SocketGrant | None:
        """The oldest grant for a socket to ``url`` (the driver hands the routes out in the order it got them)."""
        for index, grant in enumerate(self.grants):
            if grant.url == url:
                return self.grants.pop(index)
        return None

    async def cookie_header(self, grant: SocketGrant) -> str | None:
        """The cookies the browser keeps for the socket's URL, as the page's own handshake would send them."""
        http_url = "http" + grant.url[2:] if grant.url.startswith("ws") else grant.url
        answer = await self._call(grant.session, "Network.getCookies", {"urls": [http_url]})
        return cookie_header(grant, http_url, (answer.get("result") or {}).get("cookies"))

    # -- CDP plumbing ------------------------------------------------------------------------

    async def _send(self, session: str, method: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self.to_browser(json.dumps(message))
        return self._next_id

    async def _call(self, session: str, method: str, params: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id + 1] = future
        await self._send(session, method, params)
        return await asyncio.wait_for(future, timeout)

    async def _call_quietly(self, session: str, method: str, params: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await self._send(session, method, params)

    async def _answer_driver(self, command: dict[str, Any]) -> None:
        answer: dict[str, Any] = {"id": command.get("id"), "result": {}}
        if command.get("sessionId"):
            answer["sessionId"] = command["sessionId"]
        await self.to_driver(json.dumps(answer))

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never an unretrieved exception

    async def close(self) -> None:
        """Cancel what is under way: the connection is gone."""
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()


class _TooLarge(Exception):
    pass


def _too_large(what: str, size: int, at_least: bool = False) -> str:
    mib = size / 2**20
    return (
        f"pytest-steel: this local {what} is {'over ' if at_least else ''}{mib:.1f} MiB; --steel-expose-local passes "
        f"bodies of at most {MAX_BODY_BYTES // 2**20} MiB to a browser on another machine"
    )


def _error(request_id: Any, status: int, text: str) -> dict[str, Any]:
    """``Fetch.fulfillRequest``'s parameters for pytest-steel's own plain-text answer."""
    return {
        "requestId": request_id,
        "responseCode": status,
        "responseHeaders": [{"name": "content-type", "value": "text/plain; charset=utf-8"}],
        "body": base64.b64encode(text.encode()).decode("ascii"),
    }


def _preflight(paused: dict[str, Any]) -> bool:
    request = paused.get("request") or {}
    headers = {str(k).lower() for k in (request.get("headers") or {})}
    return request.get("method") == "OPTIONS" and "access-control-request-method" in headers


def _request_headers(overridden: Any, original: Any) -> dict[str, str]:
    if isinstance(overridden, list):
        pairs = [(h.get("name"), h.get("value")) for h in overridden if isinstance(h, dict)]
    else:
        pairs = list((original or {}).items())
    headers = {str(k): str(v) for k, v in pairs if isinstance(k, str) and k.lower() not in _HOP_BY_HOP}
    headers = {k: v for k, v in headers.items() if k.lower() not in ("accept-encoding", "content-length")}
    headers["Accept-Encoding"] = "gzip, deflate"  # what this side decodes before the browser gets the body
    return headers
