"""A session's files area: what tests upload and what its pages download, gone when the session ends.

Steel Cloud keeps a filesystem per session behind ``/v1/sessions/{id}/files``; this is
the embedded server's. Paths are relative to the area's root, ``/``-separated, and may
not leave it: an absolute path, a ``..`` segment, a NUL or an empty segment is refused
(400). The area is bounded (``--max-files-mb``), and the bound holds whatever runs at once:
each upload's chunk takes its room (what is on disk, theirs included) before it is written,
so concurrent uploads cannot each fill the same room; one that would pass the bound is
refused (413) and leaves nothing behind. Its pages' downloads land here because the
server points the browser's download folder at it (see ``_session_manager``), and copies in
what a client had downloaded into a folder of its own (``FilesRelay``). Downloads count
too: one whose size would pass the bound is cancelled in the browser, as a full disk
would fail it, and the server says why. The zip of the area is streamed as it is made,
so that no copy of the files exists outside the area, and a released session's folder,
once removed, is never made again by an upload or a copy that finishes late.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from .._client.safe_names import UnsafeNameError, inside
from ._http_errors import InvalidRequest, SessionError, SessionGone, SessionNotFound
from ._zipstream import ZipStream

DEFAULT_MAX_FILES_MB = 1024
_DOWNLOAD_BEHAVIOR = b'"Browser.setDownloadBehavior"'
_SET_INPUT_FILES = b'"DOM.setFileInputFiles"'
_DOWNLOAD_PROGRESS = b'"Browser.downloadProgress"'
log = logging.getLogger("pytest_steel.local")


class _Pipe(Protocol):
    async def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = ...) -> Any: ...

    on_event: Callable[[dict[str, Any]], None] | None


class FilesTooLarge(SessionError):
    status = 413
    retry = False  # the same upload would be refused again


class FilesArea:
    """One session's folder of files, with the bound on its total size."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.removed = False  # the session ended: nothing may write here again
        self.guard = DownloadGuard(self)
        root.mkdir(parents=True, exist_ok=True)

    async def receive_downloads(self, pipe: _Pipe | None) -> None:
        """Point the browser's downloads here, named by their guid, as Playwright names them too.

        The browser's download events (for whatever folder a client chose) come to the server
        too, so each download is held to the bound as it arrives.
        """
        if pipe is None:
            raise OSError("the browser has no DevTools pipe")
        self.guard.pipe = pipe
        pipe.on_event = self.guard.event
        await pipe.call("Browser.setDownloadBehavior", _download_behavior(str(self.root)))

    def take_room(self, size: int, before: str) -> None:
        """Room for ``size`` more bytes, taken now (before they are written); 413 when there is none."""
        _check_open(self)
        used = self.used_bytes()
        if used + size > self.max_bytes:
            left = max(self.max_bytes - used, 0)
            raise FilesTooLarge(
                f"{before} would pass this session's files limit of {self.max_bytes // 2**20} MB "
                f"({left // 2**20} MB left; steel-local --max-files-mb sets it)"
            )

    def resolve(self, path: str) -> Path:
        """The file ``path`` names inside the area; 400 for a path that is not a plain relative one."""
        parts = PurePosixPath(path).parts
        if not path or "\x00" in path or path.startswith("/") or "\\" in path or not parts:
            raise InvalidRequest(f"path {path!r} must be a relative path inside the session's files", "path")
        if any(part in ("..", ".") for part in path.split("/")) or "" in path.split("/"):
            raise InvalidRequest(f"path {path!r} may not contain '..', '.' or empty segments", "path")
        return self.root.joinpath(*parts)

    def existing(self, path: str) -> Path:
        found = self.resolve(path)
        if not found.is_file():
            raise SessionNotFound(f"no file {path!r} in this session's files")
        return found

    def used_bytes(self) -> int:
        """What the area holds on disk now: placed files, uploads and downloads under way."""
        total = 0
        for found in self.root.rglob("*"):
            with contextlib.suppress(OSError):  # a file gone since it was listed holds nothing
                total += found.stat().st_size if found.is_file() else 0
        return total

    def listing(self) -> list[dict[str, object]]:
        """Every file, newest first (as Steel lists them), with its size and time."""
        files = [p for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".upload-")]
        files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        return [self._entry(p) for p in files]

    def _entry(self, file: Path) -> dict[str, object]:
        stat = file.stat()
        modified = dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc)
        return {
            "path": file.relative_to(self.root).as_posix(),
            "size": stat.st_size,
            "lastModified": modified.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }

    async def receive(self, chunks: AsyncIterator[bytes]) -> Path:
        """An upload's bytes, in a hidden file of the area until ``place`` names it; 413 past the bound.

        Each chunk takes its room and is written with no await between, so that every other
        writer (another upload, a download) sees it: together they cannot pass the bound.
        """
        _check_open(self)
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        partial = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                async for chunk in chunks:
                    self.take_room(len(chunk), "the upload")
                    out.write(chunk)
                    out.flush()  # on disk, so that the next writer's count includes it
        except BaseException:
            partial.unlink(missing_ok=True)  # its room given back
            raise
        return partial

    def place(self, partial: Path, path: str) -> dict[str, object]:
        """Give a received upload its path (replacing a file there); the hidden file goes whatever happens."""
        try:
            _check_open(self)
            target = self.resolve(path)
            if target.is_dir():
                raise InvalidRequest(f"path {path!r} names a folder of the session's files", "path")
            target.parent.mkdir(parents=True, exist_ok=True)  # the root exists: it is removed only with the session
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return self._entry(target)

    def copy_in(self, source: Path, path: str) -> None:
        """A file the browser finished downloading elsewhere, copied in, if the bound leaves room for it."""
        if self.removed:
            return
        size = source.stat().st_size
        if self.used_bytes() + size > self.max_bytes:
            log.warning("download %s (%d bytes) not kept in the session's files: past --max-files-mb", path, size)
            return
        with open(self.resolve(path), "xb") as out, open(source, "rb") as data:  # never makes a missing root
            shutil.copyfileobj(data, out)

    def delete(self, path: str) -> None:
        self.existing(path).unlink()
        self._prune(self.resolve(path).parent)

    def delete_all(self) -> None:
        for child in self.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def _prune(self, folder: Path) -> None:
        """Remove folders a delete left empty, up to the root."""
        while folder != self.root and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

    async def archive(self) -> AsyncGenerator[bytes, None]:
        """Every file in one zip, its bytes as they are made: no copy of the files outside the area.

        A thread writes the zip into a small bounded queue; the answer is sent from it. A
        client that goes away stops the thread at its next write.
        """
        stream = ZipStream()
        names = [str(entry["path"]) for entry in self.listing()]
        maker = threading.Thread(target=stream.make, args=(self.root, names), daemon=True)
        maker.start()
        try:
            while (chunk := await asyncio.to_thread(stream.next_chunk)) is not None:
                yield chunk
        finally:
            stream.abandon()
            await asyncio.to_thread(maker.join)

    def remove(self) -> None:
        self.removed = True
        self.guard.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _whole(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and value > 0 else 0


class DownloadGuard:
    """Holds the browser's downloads to the area's bound: one that would pass it is cancelled, saying why.

    The server's own ``Browser.setDownloadBehavior`` asks for download events, so every
    download of the browser is seen here as it arrives, into the area or into a folder a
    client chose; its size (the total the server announced, else what has arrived) is
    weighed with what the area holds. Cancelling is what a full disk would do to it: the
    page's download fails and the browser removes what it had written.
    """

    def __init__(self, area: FilesArea) -> None:
        self._area = area
        self.pipe: _Pipe | None = None
        self.refused: list[str] = []  # downloads cancelled for the bound, and why
        self._cancelled: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    def event(self, event: dict[str, Any]) -> None:
        """A download that would pass the bound is cancelled, as a full disk would fail it."""
        if event.get("method") != "Browser.downloadProgress" or self._area.removed:
            return
        params = event.get("params") or {}
        guid = params.get("guid")
        if not isinstance(guid, str) or guid in self._cancelled or params.get("state") != "inProgress":
            return
        size = max(_whole(params.get("receivedBytes")), _whole(params.get("totalBytes")))
        here = self._area.root / guid
        on_disk = here.stat().st_size if here.is_file() else 0
        if self._area.used_bytes() - on_disk + size <= self._area.max_bytes:
            return
        self._cancelled.add(guid)
        reason = (
            f"download {guid} ({size} bytes) was cancelled: it would pass this session's files limit of "
            f"{self._area.max_bytes // 2**20} MB (steel-local --max-files-mb sets it)"
        )
        self.refused.append(reason)
        log.warning("%s", reason)
        task = asyncio.ensure_future(self._cancel(guid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cancel(self, guid: str) -> None:
        with contextlib.suppress(Exception):
            assert self.pipe is not None
            await self.pipe.call("Browser.cancelDownload", {"guid": guid})
        (self._area.root / guid).unlink(missing_ok=True)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


def _check_open(area: FilesArea) -> None:
    if area.removed:
        raise SessionGone("the session has ended; its files went with it")


def _download_behavior(folder: str, behavior: str = "allowAndName") -> dict[str, Any]:
    return {"behavior": behavior, "downloadPath": folder, "eventsEnabled": True}


class FilesRelay:
    """One relay client's traffic, as it concerns the session's files.

    Commands: ``DOM.setFileInputFiles`` paths relative to the files area (as the files API
    returns them) become the area's absolute paths; the folders a client names in
    ``Browser.setDownloadBehavior`` are noted and left as they are, so that a client on
    the browser's own machine (Playwright reading its downloads from its own folder) works
    unchanged. Events: a ``Browser.downloadProgress`` that says ``completed`` is held, with
    every message after it, until the finished file is copied into the files area, so that
    a client that hears of it can fetch it through the files API at once. Two substring
    checks a message, no parse, for everything else.
    """

    def __init__(self, area: FilesArea, send: Callable[[list[bytes]], None]) -> None:
        self._area = area
        self._send = send
        self._folders: set[str] = set()  # where this client asked the browser to download
        self._held: list[bytes] | None = None  # messages waiting behind a download being copied
        self.copies: set[asyncio.Task[None]] = set()
        self._originals: list[Path] = []  # the browser's own files of the downloads copied in

    def command(self, message: bytes) -> bytes:
        """A client's command, as the browser should get it."""
        if _DOWNLOAD_BEHAVIOR not in message and _SET_INPUT_FILES not in message:
            return message
        try:
            command = json.loads(message)
            method, params = command.get("method"), command.get("params") or {}
        except (ValueError, AttributeError):
            return message
        if method == "Browser.setDownloadBehavior" and isinstance(params.get("downloadPath"), str):
            self._folders.add(params["downloadPath"])
            return message
        if method == "DOM.setFileInputFiles" and isinstance(params.get("files"), list):
            params["files"] = [
                f if not isinstance(f, str) or f.startswith("/") else str(self._area.resolve(f))
                for f in params["files"]
            ]
            command["params"] = params
            return json.dumps(command).encode()
        return message

    def events(self, messages: list[bytes]) -> None:
        """The browser's messages for the client, held behind a finished download until it is in the area."""
        if not messages:
            return
        if self._held is not None:
            self._held.extend(messages)
            return
        for index, message in enumerate(messages):
            guid = _completed_download(message)
            if guid is not None:
                if index:
                    self._send(messages[:index])
                self._held = list(messages[index:])
                task = asyncio.ensure_future(self._copy(guid))
                self.copies.add(task)
                task.add_done_callback(self._copied)
                return
        self._send(messages)

    async def _copy(self, guid: str) -> None:
        for folder in self._folders:
            try:
                source = inside(folder, guid)  # the browser's name for it: read from its folder, nowhere else
            except UnsafeNameError as exc:
                log.warning("a finished download was not copied into the session's files: %s", exc)
                return
            if source.is_file() and not (self._area.root / guid).exists():
                await asyncio.to_thread(self._area.copy_in, source, guid)
                self._originals.append(source)
                return

    def close(self) -> None:
        """The client is gone, and with it what read the downloads from its own folder: remove them there."""
        for task in self.copies:
            task.cancel()
        for original in self._originals:
            original.unlink(missing_ok=True)

    def _copied(self, task: asyncio.Task[None]) -> None:
        self.copies.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a finished download could not be copied into the session's files: %s", task.exception())
        held, self._held = self._held or [], None
        if held:  # the download's own event first, then what came behind it (which may hold again)
            self._send(held[:1])
            self.events(held[1:])


def _completed_download(message: bytes) -> str | None:
    if _DOWNLOAD_PROGRESS not in message or b'"completed"' not in message:
        return None
    try:
        event = json.loads(message)
    except ValueError:
        return None
    params = event.get("params") or {}
    if event.get("method") == "Browser.downloadProgress" and params.get("state") == "completed":
        return str(params.get("guid"))
    return None
