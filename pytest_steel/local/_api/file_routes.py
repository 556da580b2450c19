"""Steel's routes for a session's files: list, upload (bytes or a URL), download, delete, the zip of all."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from aiohttp import BodyPartReader, ClientError, ClientSession, web

from .._http_errors import InvalidRequest, SessionError, SessionNotFound
from .._session_files import FilesArea
from .state import session_of


def _files_of(request: web.Request) -> FilesArea:
    session = session_of(request)
    if session.files is None:
        raise SessionNotFound(f"session {session.id} is {session.status.value}; its files went with it")
    return session.files


async def list_files(request: web.Request) -> web.Response:
    return web.json_response({"data": _files_of(request).listing()})


async def upload_file(request: web.Request) -> web.Response:
    """Multipart, as the SDKs send it: a ``file`` part (bytes, or a URL to fetch) and an optional ``path``."""
    files = _files_of(request)
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("send multipart/form-data with a 'file' part and an optional 'path' part", "file")
    received: Path | None = None
    name: str | None = None
    path: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "path":
                path = (await part.text()).strip()
            elif part.name == "file" and received is None:
                if part.filename is None:  # a URL to fetch, as Steel Cloud takes one
                    url = (await part.text()).strip()
                    name, received = _name_from_url(url), await files.receive(_fetched(url))
                else:
                    name, received = PurePosixPath(part.filename).name, await files.receive(_chunks(part))
        if received is None:
            raise InvalidRequest("the upload has no 'file' part", "file")
        return web.json_response(files.place(received, path or name or "upload"))
    finally:
        if received is not None:
            received.unlink(missing_ok=True)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(2**20):
        yield chunk


def _name_from_url(url: str) -> str:
    return PurePosixPath(urllib.parse.urlsplit(url).path).name or "download"


async def _fetched(url: str) -> AsyncIterator[bytes]:
    """The body at ``url``, for an upload given as a URL; 400 when it cannot be fetched."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise InvalidRequest(f"file {url[:200]!r} is neither a file part nor an http(s) URL", "file")
    try:
        async with ClientSession() as http, http.get(url) as response:
            if response.status >= 400:
                raise InvalidRequest(f"fetching {url[:200]!r} answered {response.status}", "file")
            async for chunk in response.content.iter_chunked(2**20):
                yield chunk
    except ClientError as exc:
        raise InvalidRequest(f"could not fetch {url[:200]!r}: {exc}", "file") from None


async def download_file(request: web.Request) -> web.StreamResponse:
    found = _files_of(request).existing(request.match_info["path"])
    return web.FileResponse(found, headers={"Content-Type": "application/octet-stream"})


async def delete_file(request: web.Request) -> web.Response:
    _files_of(request).delete(request.match_info["path"])
    return web.json_response({"success": True})


async def delete_all_files(request: web.Request) -> web.Response:
    _files_of(request).delete_all()
    return web.json_response({"success": True})


async def files_archive(request: web.Request) -> web.StreamResponse:
    """Every file of the session in one zip, streamed as it is made: nothing of it is left anywhere after."""
    chunks = _files_of(request).archive()
    try:
        first = await chunks.__anext__()  # a zip that cannot be made is an error answer, not a cut-off one
    except StopAsyncIteration:
        first = b""
    except OSError as exc:
        raise SessionError(str(exc)) from None
    try:
        response = web.StreamResponse(headers={"Content-Type": "application/zip"})
        await response.prepare(request)
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await chunks.aclose()
