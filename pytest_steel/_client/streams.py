"""A response body streamed into a file: a temporary name beside the target, renamed when whole.

A session's download may be any size (an export of hundreds of MB): holding it in memory
would make the test machine's memory the limit, and writing it in place would let a
reader see half a file. So the body goes, a chunk at a time, into a hidden file in the
target's folder, and is renamed over the target only once the last byte is in; whatever
stops it first (a transport error, a timeout, a cancelled task) removes the hidden file.
An error status or a JSON answer is read as usual instead, for the plan to judge.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

CHUNK = 2**20  # bytes read and written at a time: the memory a download takes, whatever its size
INTO = "into"  # the Send keyword naming the file a body goes into


def _body_is_a_file(response: httpx.Response) -> bool:
    return response.status_code < 400 and not response.headers.get("content-type", "").startswith("application/json")


@contextlib.contextmanager
def partial_file(target: Path) -> Iterator[IO[bytes]]:
    """A hidden file beside ``target``, renamed to it when the block ends well, removed when it does not."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        with partial.open("xb") as out:
            yield out
        os.replace(partial, target)
    except BaseException:  # a cancelled task too: nothing is left behind
        partial.unlink(missing_ok=True)
        raise


def send_into(http: httpx.Client, method: str, path: str, kwargs: dict) -> httpx.Response:
    """``http.request``, with the body of a file answer streamed into ``kwargs["into"]``."""
    kwargs = dict(kwargs)
    target = Path(kwargs.pop(INTO))
    response = http.send(http.build_request(method, path, **kwargs), stream=True)
    try:
        if not _body_is_a_file(response):
            response.read()
            return response
        with partial_file(target) as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
    finally:
        response.close()
    return response


async def send_into_async(http: httpx.AsyncClient, method: str, path: str, kwargs: dict) -> httpx.Response:
    """``send_into``, awaited: a task cancelled mid-way leaves no file, and nothing writes after it."""
    kwargs = dict(kwargs)
    target = Path(kwargs.pop(INTO))
    response = await http.send(http.build_request(method, path, **kwargs), stream=True)
    try:
        if not _body_is_a_file(response):
            await response.aread()
            return response
        with partial_file(target) as out:
            async for chunk in response.aiter_bytes(CHUNK):
                out.write(chunk)
    finally:
        await response.aclose()
    return response
