"""The relay's WebSocket: aiohttp answers the upgrade, the relay reads and writes the frames.

Every CDP message of a test crosses the relay, a few hundred per test that fills a
form. aiohttp's ``WebSocketResponse`` hands each message it receives to a task
through a queue, a turn of the event loop per message, and that was most of what the
relay still cost (issue 13). A ``RelaySocket`` parses the client's frames in the
connection's own data callback and gives each message to the relay at once, as bytes;
the browser's messages go out as frames in one write per read of its pipe. Only what
a CDP relay needs is here (RFC 6455 without extensions or subprotocols): text and
binary messages, fragments, ping, and the closing handshake.

aiohttp still parses the request and writes the ``101``; the socket then takes the
connection's payload, as aiohttp's own WebSocket does, through the request handler's
``set_parser``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Callable

from aiohttp import web

from .._http_errors import InvalidRequest

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
_CLOSE_REPLY_WAIT = 2.0  # seconds a client has to answer our close frame, as aiohttp's WebSocketResponse(timeout=2.0)
_TEXT, _BINARY, _CONTINUATION, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
_PROTOCOL_ERROR = 1002
# How far a client may fall behind what is sent to it before its connection is dropped: the
# figure of Chromium's own DevTools server (kSendBufferSizeForDevTools), which does the same.
# A stuck client (a suspended test process, say) must not turn the server's memory into its buffer.
MAX_UNSENT = 256 * 2**20
_CHECK_EVERY = 2**20  # bytes written between two looks at what is unsent (a sum over buffers in Python 3.12+)
Receiver = Callable[[bytes], None]


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame, as a server writes it."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


def _unmask(payload: bytes, mask: bytes) -> bytes:
    size = len(payload)
    if not size:
        return payload
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


class RelaySocket:
    """A client's WebSocket after the upgrade: messages in through ``receive_with``, out through ``send_texts``.

    It is also the payload parser aiohttp feeds (``feed_data``, ``feed_eof``), so frames
    are read in the connection's data callback with no task between them and the pipe.
    """

    def __init__(self, response: web.StreamResponse, transport: asyncio.Transport) -> None:
        self.response = response
        self._transport = transport
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = _TEXT
        self._receiver: Receiver | None = None
        self._early: list[bytes] = []  # messages that came before a receiver was given
        self._gone = asyncio.Event()  # the connection is over: closed both ways, or lost
        self._written = 0  # bytes written since the last look at what is unsent
        self.closed = False  # a close frame was sent or received: nothing more goes out
        self.fell_behind = False  # dropped for having MAX_UNSENT bytes unread

    @classmethod
    async def accept(cls, request: web.Request) -> RelaySocket:
        """Answer the upgrade and take the connection over; a bad upgrade is a 400."""
        key = request.headers.get("Sec-WebSocket-Key", "")
        if request.headers.get("Upgrade", "").lower() != "websocket" or not key:
            raise InvalidRequest("Sec-WebSocket-Key: a WebSocket upgrade needs one", "Sec-WebSocket-Key")
        if request.headers.get("Sec-WebSocket-Version", "13") != "13":
            raise InvalidRequest("Sec-WebSocket-Version: the relay speaks version 13 only", "Sec-WebSocket-Version")
        accept = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
        response = web.StreamResponse(
            status=101, headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept}
        )
        response.force_close()
        transport = request.transport
        if not isinstance(transport, asyncio.Transport) or transport.is_closing():
            raise ConnectionResetError("the client went away before the upgrade")
        socket = cls(response, transport)
        await response.prepare(request)
        # what follows the 101 is ours: aiohttp feeds any parser with feed_data/feed_eof, as its own WebSocketReader
        request.protocol.set_parser(socket)  # type: ignore[arg-type]
        return socket

    # -- out -------------------------------------------------------------------------

    def send_texts(self, messages: list[bytes]) -> None:
        """Send each message (UTF-8 bytes) as a text frame, all in one write."""
        if not self.closed and not self._transport.is_closing():
            data = b"".join([frame(_TEXT, message) for message in messages])
            self._transport.write(data)
            self._written += len(data)
            if self._written >= _CHECK_EVERY:
                self._written = 0
                if self._transport.get_write_buffer_size() > MAX_UNSENT:
                    self.fell_behind = True
                    self._transport.abort()  # what is unsent goes: a close frame would wait behind it
                    self._shut()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """The closing handshake from our side: send a close frame, wait a moment for the answer, shut."""
        if self.closed:
            return False
        self._send_close(code, message)
        try:
            await asyncio.wait_for(self._gone.wait(), _CLOSE_REPLY_WAIT)
        except asyncio.TimeoutError:
            self._shut()
        return True

    async def wait_closed(self) -> None:
        """Until the client closed the socket, or the connection was lost."""
        await self._gone.wait()

    def _send_close(self, code: int, reason: bytes) -> None:
        self.closed = True
        if not self._transport.is_closing():
            reason = reason[:123].decode("utf-8", errors="ignore").encode()  # a control frame's limit, whole characters
            self._transport.write(frame(_CLOSE, struct.pack("!H", code) + reason))

    def _shut(self) -> None:
        self.closed = True
        self._transport.close()
        self._gone.set()

    # -- in --------------------------------------------------------------------------

    def pause_receiving(self) -> None:
        """Stop reading the client's socket: what it sends waits in the kernel's buffers, then in its own."""
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_receiving(self) -> None:
        """Read the client's socket again."""
        if not self._transport.is_closing():
            self._transport.resume_reading()

    def receive_with(self, receiver: Receiver) -> None:
        """Give every message from now on, and any that already came, to ``receiver``."""
        early, self._early = self._early, []
        self._receiver = receiver
        for message in early:
            receiver(message)

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        """aiohttp's payload-parser call: every byte the client sends after the upgrade."""
        buffer = self._buffer
        buffer += data
        start = 0
        while not self._gone.is_set():
            available = len(buffer) - start
            if available < 2:
                break
            first, second = buffer[start], buffer[start + 1]
            size, head = second & 0x7F, 2
            if size == 126:
                if available < 4:
                    break
                size, head = int.from_bytes(buffer[start + 2 : start + 4], "big"), 4
            elif size == 127:
                if available < 10:
                    break
                size, head = int.from_bytes(buffer[start + 2 : start + 10], "big"), 10
            if not second & 0x80:
                self._protocol_error()  # RFC 6455, 5.1: a client masks every frame
                break
            if available < head + 4 + size:
                break
            mask = bytes(buffer[start + head : start + head + 4])
            payload = _unmask(bytes(buffer[start + head + 4 : start + head + 4 + size]), mask)
            start += head + 4 + size
            self._frame(bool(first & 0x80), first & 0x0F, payload)
        del buffer[:start]
        return False, b""

    def feed_eof(self) -> None:
        """aiohttp's call when the connection is lost."""
        self.closed = True
        self._gone.set()

    def _frame(self, final: bool, opcode: int, payload: bytes) -> None:
        if opcode in (_TEXT, _BINARY):
            if self._fragments:
                return self._protocol_error()
            if final:
                return self._message(opcode, payload)
            self._fragment_opcode, self._fragments = opcode, [payload]
        elif opcode == _CONTINUATION:
            if not self._fragments:
                return self._protocol_error()
            self._fragments.append(payload)
            if final:
                whole, self._fragments = b"".join(self._fragments), []
                self._message(self._fragment_opcode, whole)
        elif opcode == _PING:
            if not self.closed:
                self._transport.write(frame(_PONG, payload))
        elif opcode == _CLOSE:
            if not self.closed:  # the client began the handshake: answer with its code
                self._send_close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1000, b"")
            self._shut()
        elif opcode != _PONG:
            self._protocol_error()

    def _message(self, opcode: int, payload: bytes) -> None:
        if opcode == _BINARY:  # CDP is text; a browser would reject what is not UTF-8
            payload = payload.decode("utf-8", errors="replace").encode()
        if self._receiver is None:
            self._early.append(payload)
        else:
            self._receiver(payload)

    def _protocol_error(self) -> None:
        if not self.closed:
            self._send_close(_PROTOCOL_ERROR, b"malformed frame")
        self._shut()
