"""A TLS front and a CONNECT proxy on loopback, each an asyncio server in a thread of its own, for the network tests.

``TLSFront`` terminates TLS with a certificate from a test CA (``trustme``) and forwards
the plain bytes to a steel-local; it records each connection's peer port and first
request line. ``ConnectProxy`` is an HTTP proxy that only tunnels (CONNECT), as a
company's egress proxy does for https; it records each tunnel's target and the local port
of its connection onwards. A connection the front saw from a port the proxy did not open
went around the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

BOUND = 30.0  # seconds any start, stop or wait here may take


class _LoopThread:
    """An asyncio loop in a daemon thread, serving one listener on 127.0.0.1."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(lambda loop, context: None)  # refused handshakes are the tests' point
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(BOUND)

    def listen(self, ssl_context: ssl.SSLContext | None = None) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0, ssl=ssl_context)
            self.port = self._server.sockets[0].getsockname()[1]

        self.run(start())

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            await self.serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open):
                writer.close()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(BOUND)
        self.loop.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _both_ways(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter], b: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    """Bytes both ways until either side ends; then both are closed."""
    tasks = [asyncio.ensure_future(_pipe(a[0], b[1])), asyncio.ensure_future(_pipe(b[0], a[1]))]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    a[1].close()
    b[1].close()
    for task in tasks:
        task.cancel()


@dataclass(frozen=True)
class Received:
    peer_port: int  # the client's port: for a tunnelled connection, the proxy's onward port
    first_line: str  # "POST /v1/sessions HTTP/1.1", "GET /?sessionId=... HTTP/1.1"


class TLSFront(_LoopThread):
    """TLS on 127.0.0.1 (the certificate ``server_context`` holds), forwarding plain bytes to ``upstream``."""

    def __init__(self, server_context: ssl.SSLContext) -> None:
        super().__init__("tls front")
        self.upstream: tuple[str, int] | None = None
        self.received: list[Received] = []
        self.listen(server_context)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readline()
        if not first:
            return
        self.received.append(Received(writer.get_extra_info("peername")[1], first.decode("latin-1").strip()))
        assert self.upstream is not None, "the front has nothing to forward to"
        onward = await asyncio.open_connection(*self.upstream)
        onward[1].write(first)
        await _both_ways((reader, writer), onward)


@dataclass(frozen=True)
class Tunnel:
    target: str  # "127.0.0.1:4433", as CONNECT named it
    onward_port: int  # the local port of the proxy's connection to the target
    authorization: str | None  # the Proxy-Authorization it came with


class ConnectProxy(_LoopThread):
    """An HTTP proxy that only tunnels; with ``authorization`` set, a CONNECT without that value gets 407."""

    def __init__(self, authorization: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__("connect proxy")
        self.authorization = authorization
        self.tunnels: list[Tunnel] = []
        self.refused: list[str] = []  # what it would not tunnel, and why
        self._scheme = "https" if ssl_context is not None else "http"
        self.listen(ssl_context)  # with a context, an https:// proxy: TLS to the proxy, the tunnel's TLS inside it

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        given = next((v for k, v in headers.items() if k.lower() == "proxy-authorization"), None)
        if method != "CONNECT":
            return await self._refuse(writer, f"{method} {target}", "405 Method Not Allowed")
        if self.authorization is not None and given != self.authorization:
            return await self._refuse(writer, target, "407 Proxy Authentication Required")
        host, _, port = target.rpartition(":")
        try:
            onward = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            return await self._refuse(writer, target, "502 Bad Gateway")
        self.tunnels.append(Tunnel(target, onward[1].get_extra_info("sockname")[1], given))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _both_ways((reader, writer), onward)

    async def _refuse(self, writer: asyncio.StreamWriter, what: str, status: str) -> None:
        self.refused.append(f"{what}: {status}")
        extra = 'Proxy-Authenticate: Basic realm="test"\r\n' if status.startswith("407") else ""
        writer.write(f"HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
