"""The DevTools pipe's multiplexer, on real OS pipes with a stand-in browser, whose end is easy to time."""

from __future__ import annotations

import asyncio
import json
import os

from pytest_steel.local._chromium_procs.pipe import BrowserPipe


def test_nothing_reaches_a_client_after_its_browser_closed_the_pipe() -> None:
    """A command that arrives after the browser is gone gets no reply: the client sees the connection end instead."""

    async def run() -> list[bytes]:
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        loop = asyncio.get_running_loop()

        async def browser(answers: int) -> None:  # answers the multiplexer's own commands, as Chromium would
            buffer = b""
            while answers:
                buffer += await loop.run_in_executor(None, os.read, to_browser_read, 65536)
                while b"\0" in buffer:
                    text, _, buffer = buffer.partition(b"\0")
                    command = json.loads(text)
                    attached = command["method"] == "Target.attachToBrowserTarget"
                    result = {"sessionId": "BROWSER-SESSION"} if attached else {"product": "stand-in"}
                    os.write(from_browser_write, json.dumps({"id": command["id"], "result": result}).encode() + b"\0")
                    answers -= 1

        pipe = BrowserPipe(to_browser_write, from_browser_read)
        answering = asyncio.ensure_future(browser(2))
        await pipe.start(timeout=5)
        channel = await pipe.open_channel()
        await asyncio.wait_for(answering, 5)
        delivered: list[bytes] = []
        channel.forward_to(delivered.extend)
        os.close(from_browser_write)  # the browser exits
        await asyncio.wait_for(_until_the_end(channel), 5)
        channel.send('{"id":7,"method":"Page.navigate","params":{},"sessionId":"A-CHILD-SESSION"}')
        pipe.close()
        os.close(to_browser_read)
        return delivered

    assert asyncio.run(run()) == []


async def _until_the_end(channel: object) -> None:
    async for _ in channel:  # type: ignore[attr-defined]
        pass
