"""The relay's own WebSocket framing, spoken to byte by byte from a raw socket."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import struct
from urllib.parse import urlsplit

import pytest

from pytest_steel.local._api.websocket import MAX_UNSENT

from ._support import Server, StartServer

TIMEOUT = 10.0


class RawSocket:
    """A WebSocket client that writes frames by hand: fragments, pings, unmasked frames, close."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, websocket_url: str, headers: dict[str, str] | None = None) -> tuple[RawSocket, bytes]:
        url = urlsplit(websocket_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        lines = [
            f"GET {url.path or '/'}?{url.query} HTTP/1.1",
            f"Host: {url.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
        ]
        lines += [f"{name}: {value}" for name, value in {"Sec-WebSocket-Version": "13", **(headers or {})}.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        return cls(reader, writer), head

    def send(self, opcode: int, payload: bytes, *, final: bool = True, masked: bool = True) -> None:
        first = (0x80 if final else 0) | opcode
        size = len(payload)
        mask_bit = 0x80 if masked else 0
        if size < 126:
            head = bytes((first, mask_bit | size))
        elif size < 1 << 16:
            head = struct.pack("!BBH", first, mask_bit | 126, size)
        else:
            head = struct.pack("!BBQ", first, mask_bit | 127, size)
        if masked:
            mask = os.urandom(4)
            key = (mask * (size // 4 + 1))[:size]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
            head += mask
        self.writer.write(head + payload)

    async def receive(self) -> tuple[int, bytes]:
        first, second = await asyncio.wait_for(self.reader.readexactly(2), TIMEOUT)
        size = second & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
        assert not second & 0x80, "a server's frames are never masked"
        return first & 0x0F, await asyncio.wait_for(self.reader.readexactly(size), TIMEOUT)

    async def answer_to(self, command_id: int) -> dict[str, object]:
        while True:
            opcode, payload = await self.receive()
            assert opcode == 0x1
            message = json.loads(payload)
            if message.get("id") == command_id:
                return message

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), TIMEOUT) == b""


async def _until_logged(server: Server, text: str, timeout: float = 60.0) -> bool:
    """Whether the server logs ``text`` within ``timeout`` seconds (its log is a file)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in server.log():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def _key_header() -> dict[str, str]:
    return {"Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()}


def test_a_command_in_fragments_is_answered_and_a_ping_between_them_gets_its_pong(fresh: Server) -> None:
    session = fresh.create()
    command = json.dumps({"id": 7, "method": "Browser.getVersion"}).encode()

    async def talk() -> tuple[bytes, tuple[int, bytes], dict[str, object]]:
        socket, head = await RawSocket.open(session["websocketUrl"], _key_header())
        socket.send(0x1, command[:5], final=False)
        socket.send(0x9, b"are you there")
        socket.send(0x0, command[5:12], final=False)
        socket.send(0x0, command[12:])
        pong = await socket.receive()
        answer = await socket.answer_to(7)
        socket.send(0x8, struct.pack("!H", 1000))
        return head, pong, answer

    head, pong, answer = asyncio.run(talk())
    assert head.startswith(b"HTTP/1.1 101 ")
    assert pong == (0xA, b"are you there")
    assert "Chrome" in str(answer["result"])


def test_a_client_that_closes_gets_its_close_answered_and_the_session_stays_live(fresh: Server) -> None:
    session = fresh.create()

    async def close_then_reconnect() -> tuple[tuple[int, bytes], bool, dict[str, object]]:
        socket, _ = await RawSocket.open(session["websocketUrl"], _key_header())
        socket.send(0x8, struct.pack("!H", 4000) + b"done")
        closing = await socket.receive()
        ended = await socket.at_eof()
        again, _ = await RawSocket.open(session["websocketUrl"], _key_header())
        again.send(0x1, json.dumps({"id": 1, "method": "Browser.getVersion"}).encode())
        return closing, ended, await again.answer_to(1)

    closing, ended, answer = asyncio.run(close_then_reconnect())
    assert closing == (0x8, struct.pack("!H", 4000))
    assert ended
    assert "result" in answer
    assert fresh.http.get(f"/v1/sessions/{session['id']}").json()["status"] == "live"


def test_an_unmasked_frame_from_a_client_closes_the_socket_as_a_protocol_error(fresh: Server) -> None:
    session = fresh.create()

    async def unmasked() -> tuple[tuple[int, bytes], bool]:
        socket, _ = await RawSocket.open(session["websocketUrl"], _key_header())
        socket.send(0x1, b'{"id":1,"method":"Browser.getVersion"}', masked=False)
        return await socket.receive(), await socket.at_eof()

    (opcode, payload), ended = asyncio.run(unmasked())
    assert (opcode, payload[:2]) == (0x8, struct.pack("!H", 1002))
    assert ended


@pytest.mark.parametrize(
    ("headers", "field"),
    [({}, "Sec-WebSocket-Key"), ({**_key_header(), "Sec-WebSocket-Version": "8"}, "Sec-WebSocket-Version")],
    ids=["no key", "old version"],
)
def test_a_malformed_upgrade_is_a_400_that_says_what_is_expected(
    fresh: Server, headers: dict[str, str], field: str
) -> None:
    session = fresh.create()

    async def upgrade() -> tuple[bytes, dict[str, str]]:
        socket, head = await RawSocket.open(session["websocketUrl"], headers)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await asyncio.wait_for(socket.reader.readexactly(length), TIMEOUT)
        socket.writer.close()
        return head, json.loads(body)

    head, body = asyncio.run(upgrade())
    assert head.startswith(b"HTTP/1.1 400 ")
    assert body["field"] == field
    assert field in body["message"]


def test_a_client_that_reads_nothing_is_dropped_once_more_is_unsent_than_chromium_would_hold(
    start_server: StartServer,
) -> None:
    """A stuck client (a suspended test process) costs the server at most MAX_UNSENT bytes, not its session."""
    server = start_server()
    session = server.create()
    block = 8 * 2**20  # characters in each answer
    floods = MAX_UNSENT // block + 8
    logged = f"session {session['id']}: a CDP client left {MAX_UNSENT // 2**20} MB unread; its connection was closed"

    async def flood_without_reading() -> tuple[bool, int, dict[str, object]]:
        socket, _ = await RawSocket.open(session["websocketUrl"], _key_header())
        socket.send(0x1, json.dumps({"id": 1, "method": "Target.getTargets"}).encode())
        page = next(t for t in (await socket.answer_to(1))["result"]["targetInfos"] if t["type"] == "page")
        attach = {"targetId": page["targetId"], "flatten": True}
        socket.send(0x1, json.dumps({"id": 2, "method": "Target.attachToTarget", "params": attach}).encode())
        page_session = (await socket.answer_to(2))["result"]["sessionId"]
        evaluate = {"expression": f"'x'.repeat({block})", "returnByValue": True}
        for n in range(floods):
            socket.send(
                0x1,
                json.dumps(
                    {"id": 10 + n, "method": "Runtime.evaluate", "params": evaluate, "sessionId": page_session}
                ).encode(),
            )
        await socket.writer.drain()
        if not await _until_logged(server, logged):
            return False, 0, {}
        received = 0
        with contextlib.suppress(ConnectionResetError):
            while chunk := await asyncio.wait_for(socket.reader.read(2**20), TIMEOUT):
                received += len(chunk)
        socket.writer.close()
        again, _ = await RawSocket.open(session["websocketUrl"], _key_header())
        again.send(0x1, json.dumps({"id": 1, "method": "Browser.getVersion"}).encode())
        answer = await again.answer_to(1)
        again.writer.close()
        return True, received, answer

    dropped, received, answer = asyncio.run(flood_without_reading())
    assert dropped, server.log()  # the line logged says which session, and how much was unread
    assert received < MAX_UNSENT  # what waited in the server went with the connection
    assert "result" in answer
    assert server.get(session["id"])["status"] == "live"


def test_a_browser_that_stops_reading_its_pipe_holds_its_client_back_instead_of_filling_the_server(
    start_server: StartServer,
) -> None:
    """A stopped browser leaves a client's commands in the client's socket, not the server's memory."""
    server = start_server()
    session = server.create()
    block = 2**20  # bytes of padding in each command
    offered = 128 * block  # far more than the kernel's socket buffers hold between the two ends
    stall = 2.0  # seconds without a byte leaving the client that count as being held back

    async def flood_a_stopped_browser() -> tuple[int, dict[str, object]]:
        socket, _ = await RawSocket.open(session["websocketUrl"], _key_header())
        socket.send(0x1, json.dumps({"id": 1, "method": "SystemInfo.getProcessInfo"}).encode())
        processes = (await socket.answer_to(1))["result"]["processInfo"]
        pid = next(p["id"] for p in processes if p["type"] == "browser")
        os.kill(pid, signal.SIGSTOP)
        try:
            pad = "x" * block
            written = 0
            while written < offered:
                command = {"id": 100 + written // block, "method": "Browser.getVersion", "params": {"pad": pad}}
                socket.send(0x1, json.dumps(command).encode())
                written += block
                try:
                    await asyncio.wait_for(socket.writer.drain(), stall)
                except asyncio.TimeoutError:
                    break  # held back: the server stopped reading
            transport = socket.writer.transport
            left_the_client = written - transport.get_write_buffer_size()
        finally:
            os.kill(pid, signal.SIGCONT)
        socket.send(0x1, json.dumps({"id": 2, "method": "Browser.getVersion"}).encode())
        answer = await socket.answer_to(2)  # every held command went through first, in order
        socket.writer.close()
        return left_the_client, answer

    left_the_client, answer = asyncio.run(flood_a_stopped_browser())
    assert left_the_client < offered // 2, f"{left_the_client // block} MB left the client for a stopped browser"
    assert "result" in answer
    assert server.get(session["id"])["status"] == "live"
