"""A browser's one DevTools connection, a pipe, shared by the server's clients as if each had its own.

Chromium's DevTools port (``--remote-debugging-port``) answers every local process,
with no key: any of them could list a session's pages and run JavaScript in them.
Started with ``--remote-debugging-pipe`` instead, a browser speaks CDP only over file
descriptors 3 and 4 of its own process, which only the server holds, so the server's
relay, behind its API key, is the one way in.

One pipe, several clients (a test's Playwright, the server's context agent, the
viewer): each ``Channel`` gets a browser session of its own
(``Target.attachToBrowserTarget``, flat mode), which Chromium treats as a client of
its own: its own auto-attach and discovery settings, its own child sessions, and when
it detaches, the end of all it set up (child sessions, request interception, the
browser contexts it created), as when a WebSocket client disconnects. The multiplexer
sends a channel's browser-level commands on its browser session, strips that session
id from what comes back, and routes child sessions' messages to the channel that owns
them. Ids need no rewriting: Chromium answers each command on the session it came on.

A browser that falls behind reading its pipe holds its clients back: past the write
transport's high-water mark, every channel's client stops being read (``hold_back``),
so a busy or stopped browser leaves commands waiting in the clients' sockets, not in
the server's memory; reading resumes once the pipe drains.

Messages are JSON texts ending in a NUL byte, both ways. Most of them are a child
session's, which Chromium and Playwright both write with ``"sessionId"`` last: those
are routed by that tail alone, without parsing (screenshots and traces are megabytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

COMMAND_TIMEOUT = 10.0  # seconds for the multiplexer's own commands
_SESSION_TAIL = re.compile(rb',"sessionId":"([^"\\]+)"\}\s*$')  # on the bytes, both ways: nothing decoded
_TARGET_EVENT = b'{"method":"Target.'  # attach and detach events change who owns which session: parsed
Sink = Callable[[list[bytes]], None]


class Source(Protocol):
    """Where a channel's commands come from: a client's socket, which can stop being read."""

    def pause_receiving(self) -> None: ...

    def resume_receiving(self) -> None: ...


class PipeClosed(RuntimeError):
    """The browser's pipe is closed: the browser exited, or the pipe was shut."""


class Calls:
    """Commands awaited by their ids: the multiplexer's own, and a ``CDPConnection``'s on its channel."""

    def __init__(self, error: type[RuntimeError]) -> None:
        self._error = error  # what a failed, unanswered or abandoned command raises
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    async def call(
        self,
        write: Callable[[dict[str, Any]], None],
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        *,
        timeout: float = COMMAND_TIMEOUT,
    ) -> dict[str, Any]:
        """Write a command with a new id and wait, bounded, for its result."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[number] = future
        try:
            write(message)
            answer = await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise self._error(f"{method}: no answer from the browser within {timeout:g} s") from None
        finally:
            self._pending.pop(number, None)
        if "error" in answer:
            raise self._error(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer.get("result", {})

    def answered(self, message: dict[str, Any]) -> bool:
        """Whether ``message`` is an answer (to a command still awaited or not): it is delivered."""
        if "id" not in message:
            return False
        future = self._pending.get(message["id"])
        if future is not None and not future.done():
            future.set_result(message)
        return True

    def fail_all(self, reason: str) -> None:
        """The connection is gone: every command still awaited fails with ``reason``."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._error(reason))


class Channel:
    """One client's connection to the browser: send CDP text, iterate CDP text, close to detach.

    A relay hands its messages on without looking at them: ``forward_to`` gives it each
    read's messages as one batch of UTF-8 bytes, in the reader's own callback, so they
    cost one write to the client and no turn of the event loop per message. Iterating
    then only waits for the end.
    """

    def __init__(self, pipe: BrowserPipe, browser_session: str) -> None:
        self._pipe = pipe
        self.browser_session = browser_session
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._sink: Sink | None = None
        self._source: Source | None = None
        self._batch: list[bytes] = []
        self._ended = False  # the end was delivered: nothing follows it (a reply to a late command, say)
        self.closed = False

    def send(self, message: str | bytes) -> None:
        """One CDP command, as a client writes it (a relay's as the UTF-8 bytes it received)."""
        if not self.closed:
            self._pipe._from_channel(self, message.encode() if isinstance(message, str) else message)

    def forward_to(self, sink: Sink) -> None:
        """Give every message from now on (and any already waiting) to ``sink``, in batches."""
        waiting, ended = [], False
        while not self._inbox.empty():
            message = self._inbox.get_nowait()
            if message is None:
                ended = True
                break
            waiting.append(message)
        self._sink = sink
        if waiting:
            sink(waiting)
        if ended:
            self._inbox.put_nowait(None)  # iterating still sees the end

    def hold_back(self, source: Source) -> None:
        """Stop reading ``source`` whenever the browser is behind reading its pipe (now, too, if it is)."""
        self._source = source
        if self._pipe.backlogged:
            source.pause_receiving()

    def _deliver(self, message: bytes | None) -> None:
        if self._ended:
            return
        if message is None:
            self._flush()
            self._ended = True
            self._inbox.put_nowait(None)
        elif not self.closed:
            if self._sink is None:
                self._inbox.put_nowait(message)
            else:
                if not self._batch:
                    self._pipe._unflushed.append(self)
                self._batch.append(message)

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            if self._sink is not None and not self.closed:
                self._sink(batch)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str]:
        while (message := await self._inbox.get()) is not None:
            yield message.decode("utf-8", errors="replace")

    async def close(self) -> None:
        """Detach this client's browser session: Chromium undoes what it set up."""
        if not self.closed:
            self.closed = True
            self._source = None
            self._inbox.put_nowait(None)
            await self._pipe._detach(self)


class _Reader(asyncio.Protocol):
    """Splits what the browser writes into messages at each NUL byte."""

    def __init__(self, pipe: BrowserPipe) -> None:
        self._pipe = pipe
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        start = 0
        while (end := self._buffer.find(b"\0", start)) >= 0:
            self._pipe._from_browser(bytes(self._buffer[start:end]))
            start = end + 1
        del self._buffer[:start]
        self._pipe._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._closed_by_browser()


class _Writer(asyncio.Protocol):
    """Tells the pipe when the browser falls behind reading it, and when it has caught up."""

    def __init__(self, pipe: BrowserPipe) -> None:
        self._pipe = pipe

    def pause_writing(self) -> None:
        self._pipe._hold_clients(True)

    def resume_writing(self) -> None:
        self._pipe._hold_clients(False)


class BrowserPipe:
    """The server's end of one browser's DevTools pipe."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self._to_fd, self._from_fd = to_browser, from_browser
        self._writer: asyncio.WriteTransport | None = None
        self._reader: asyncio.ReadTransport | None = None
        self._calls = Calls(PipeClosed)  # the multiplexer's own commands
        self._owners: dict[str, Channel] = {}  # every session id a channel owns: its browser session, its children
        self._unflushed: list[Channel] = []  # channels given messages by the read under way
        self.backlogged = False  # more is unwritten than the transport's high-water mark: clients are held
        self.closed = False
        self.on_event: Callable[[dict[str, Any]], None] | None = None  # the server's own browser-level events

    async def start(self, timeout: float) -> dict[str, Any]:
        """Connect both ends and wait, bounded, until the browser answers; its version."""
        loop = asyncio.get_running_loop()
        self._writer, _ = await loop.connect_write_pipe(
            lambda: _Writer(self), os.fdopen(self._to_fd, "wb", buffering=0)
        )
        self._reader, _ = await loop.connect_read_pipe(
            lambda: _Reader(self), os.fdopen(self._from_fd, "rb", buffering=0)
        )
        return await self.call("Browser.getVersion", timeout=timeout)

    async def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = COMMAND_TIMEOUT) -> Any:
        """A browser-level command of the server's own, outside every channel."""
        if self.closed:
            raise PipeClosed("the browser's DevTools pipe is closed")
        return await self._calls.call(self._write, method, params, timeout=timeout)

    async def open_channel(self) -> Channel:
        """A new client connection: a browser session of its own."""
        attached = await self.call("Target.attachToBrowserTarget")
        channel = Channel(self, attached["sessionId"])
        self._owners[channel.browser_session] = channel
        return channel

    # -- traffic ---------------------------------------------------------------------

    def _write(self, message: dict[str, Any] | bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise PipeClosed("the browser's DevTools pipe is closed")
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        self._writer.write(data + b"\0")

    def _hold_clients(self, hold: bool) -> None:
        self.backlogged = hold
        for channel in self._channels():
            if channel._source is not None:
                if hold:
                    channel._source.pause_receiving()
                else:
                    channel._source.resume_receiving()

    def _from_channel(self, channel: Channel, data: bytes) -> None:
        tail = _SESSION_TAIL.search(data[-80:])
        if tail is not None and self._owners.get(tail.group(1).decode("ascii", errors="replace")) is channel:
            with contextlib.suppress(PipeClosed):
                self._write(data)  # a command to one of its own sessions: as it is
            return
        try:
            message = json.loads(data)
        except ValueError:
            return  # not CDP: a browser would drop it too
        session = message.get("sessionId")
        if session is None:
            message["sessionId"] = channel.browser_session  # a browser-level command, on its own browser session
        elif self._owners.get(session) is not channel:
            error = {"code": -32001, "message": f"Session with given id not found: {session}"}
            channel._deliver(json.dumps({"id": message.get("id"), "error": error, "sessionId": session}).encode())
            self._flush()
            return
        with contextlib.suppress(PipeClosed):
            self._write(message)

    def _from_browser(self, data: bytes) -> None:
        tail = _SESSION_TAIL.search(data[-80:])
        if tail is not None and not data.startswith(_TARGET_EVENT):
            session_id = tail.group(1).decode("ascii", errors="replace")
            channel = self._owners.get(session_id)
            if channel is not None and session_id != channel.browser_session:
                channel._deliver(data)  # a child session's message: as it is
                return
        try:
            message = json.loads(data)
        except ValueError:
            return
        session = message.get("sessionId")
        if session is None:
            self._at_root(message)
            return
        channel = self._owners.get(session)
        if channel is None:
            return  # a session of a channel that has gone
        method = message.get("method")
        if method == "Target.attachedToTarget":
            self._owners[message["params"]["sessionId"]] = channel  # a child of one of its sessions
        elif method == "Target.detachedFromTarget":
            self._owners.pop(message.get("params", {}).get("sessionId", ""), None)
        if session == channel.browser_session:
            del message["sessionId"]  # to the client, its browser session is the browser
            data = json.dumps(message).encode()
        channel._deliver(data)

    def _flush(self) -> None:
        """Hand each channel's messages from one read to its sink together."""
        unflushed, self._unflushed = self._unflushed, []
        for channel in unflushed:
            channel._flush()

    def _at_root(self, message: dict[str, Any]) -> None:
        if self._calls.answered(message):
            return
        if self.on_event is not None and "method" in message:
            self.on_event(message)  # the server's own browser-level events (its downloads)
        if message.get("method") == "Target.detachedFromTarget":  # a channel's browser session ended
            channel = self._owners.get(message.get("params", {}).get("sessionId", ""))
            if channel is not None and channel.browser_session == message["params"]["sessionId"]:
                self._forget(channel)
                channel._deliver(None)

    def _channels(self) -> list[Channel]:
        """Every channel attached, once each (each owns several session ids)."""
        return list({id(c): c for c in self._owners.values()}.values())

    def _forget(self, channel: Channel) -> None:
        for session in [s for s, owner in self._owners.items() if owner is channel]:
            del self._owners[session]

    async def _detach(self, channel: Channel) -> None:
        self._forget(channel)
        with contextlib.suppress(PipeClosed):
            await self.call("Target.detachFromTarget", {"sessionId": channel.browser_session})

    def _closed_by_browser(self) -> None:
        self.closed = True
        self._calls.fail_all("the browser closed its DevTools pipe")
        for channel in self._channels():
            channel._deliver(None)
        self._owners.clear()
        if self._writer is not None:
            self._writer.close()

    def close(self) -> None:
        """Shut both ends (the browser is being killed)."""
        for transport in (self._writer, self._reader):
            if transport is not None:
                transport.close()
        if self._writer is None:  # never started: the descriptors are still ours to close
            for fd in (self._to_fd, self._from_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._closed_by_browser()
