"""A session's files area: what tests upload and what its pages download, gone when the session ends.

Steel Cloud keeps a filesystem per session behind ``/v1/sessions/{id}/files``; this is
the embedded server's. Paths are relative to the area's root, ``/``-separated, and may
not leave it: an absolute path, a ``..`` segment, a NUL or an empty segment is refused
(400). The area is bounded (``--max-files-mb``), and the bound holds whatever runs at once:
each upload's chunk, and each download copied in, takes its room (what is on disk, theirs
included) under one lock before it is written, so concurrent writers cannot each fill the
same room; an upload that would pass the bound is refused (413) and leaves nothing behind.
Its pages' downloads land here because the server points the browser's download folder at
it (see ``_session_manager``), and the relay copies in what a client had downloaded into a
folder of its own (``_files_relay``). Downloads count too: one whose size would pass the
bound is cancelled in the browser, as a full disk would fail it, and the server says why;
one too fast for the cancel is removed when it finishes and told to its client as
cancelled, so the bound holds however fast the network. The zip of the area is streamed as
it is made, so that no copy of the files exists outside the area, and a released
session's folder, once removed, is never made again by an upload or a copy that finishes
late.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
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
        # Held while room is weighed and taken (an upload's chunk written, a copy's file made at its
        # size, a finished download weighed) and while the area is removed: the event loop and the
        # copying threads take it.
        self.room = threading.Lock()
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
        """Room for ``size`` more bytes (hold ``room`` until they are on disk); 413 when there is none."""
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
                    with self.room:
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

    def copy_in(self, source: Path, path: str) -> bool:
        """A file the browser finished downloading elsewhere, copied in; False when the bound leaves no room.

        Its room is taken first, with the file made at its full size, so that other copies and
        uploads weigh it while its bytes are still on their way.
        """
        size = source.stat().st_size
        with self.room:
            if self.removed:
                return True  # nothing to keep it in: the session's end, not the bound
            if self.used_bytes() + size > self.max_bytes:
                self.guard.refuse(path, size)
                return False
            out = open(self.resolve(path), "xb")  # never makes a missing root
            out.truncate(size)
        with out, open(source, "rb") as data:
            shutil.copyfileobj(data, out)
        return True

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
        with self.room:  # no copy makes its file after this
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
    page's download fails and the browser removes what it had written. A download that
    finished before the cancel could stop it is weighed again at its end (``keeps``).
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
        if isinstance(guid, str) and params.get("state") == "completed":
            self.keeps(guid)  # a download too fast for the cancel, whichever client (or none) hears of it
            return
        if not isinstance(guid, str) or guid in self._cancelled or params.get("state") != "inProgress":
            return
        size = max(_whole(params.get("receivedBytes")), _whole(params.get("totalBytes")))
        try:
            on_disk = _size_on_disk(self._area.root, guid)  # the browser's name for it: never a path out of the area
        except UnsafeNameError:
            return
        if self._area.used_bytes() - on_disk + size <= self._area.max_bytes:
            return
        self.refuse(guid, size)
        task = asyncio.ensure_future(self._cancel(guid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def refuse(self, guid: str, size: int) -> None:
        """Note (once) that the download ``guid`` passes the bound, and say why in the server's log."""
        if guid in self._cancelled:
            return
        self._cancelled.add(guid)
        reason = (
            f"download {guid} ({size} bytes) was cancelled: it would pass this session's files limit of "
            f"{self._area.max_bytes // 2**20} MB (steel-local --max-files-mb sets it)"
        )
        self.refused.append(reason)
        log.warning("%s", reason)

    def keeps(self, guid: str) -> bool:
        """Whether a download the browser finished in the area stays: False (and removed) when past the bound.

        The guard cancels a download as it arrives, but a fast one can finish before the
        browser hears the cancel; this look at its end is what makes the bound hold.
        """
        try:
            _download_files(self._area.root, guid)
        except UnsafeNameError:
            return True  # no name of the area's: nothing of it is there to keep or remove
        with self._area.room:
            size = _size_on_disk(self._area.root, guid)
            if guid not in self._cancelled:
                # weighed with what stays: not itself, nor what is left of downloads already refused
                others = self._area.used_bytes() - size - self._refused_on_disk()
                if not size or others + size <= self._area.max_bytes:
                    return True
            self.refuse(guid, size)
            _remove_download(self._area.root, guid)
            return False

    def _refused_on_disk(self) -> int:
        total = 0
        for guid in self._cancelled:
            with contextlib.suppress(UnsafeNameError):  # never a name of the area's
                total += _size_on_disk(self._area.root, guid)
        return total

    def refused_download(self, guid: str) -> bool:
        """Whether the download ``guid`` was cancelled for the bound (it may have finished all the same)."""
        return guid in self._cancelled

    async def _cancel(self, guid: str) -> None:
        with contextlib.suppress(Exception):
            assert self.pipe is not None
            await self.pipe.call("Browser.cancelDownload", {"guid": guid})
        _remove_download(self._area.root, guid)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


def _download_files(root: Path, guid: str) -> tuple[Path, Path]:
    """Where a download into the area is on disk: ``<guid>.crdownload`` while it arrives, ``<guid>`` once whole."""
    return inside(root, guid), inside(root, guid + ".crdownload")


def _size_on_disk(root: Path, guid: str) -> int:
    total = 0
    for path in _download_files(root, guid):
        with contextlib.suppress(OSError):  # not there (yet, or any more)
            total += path.stat().st_size
    return total


def _remove_download(root: Path, guid: str) -> None:
    with contextlib.suppress(UnsafeNameError):
        for path in _download_files(root, guid):
            path.unlink(missing_ok=True)


def _check_open(area: FilesArea) -> None:
    if area.removed:
        raise SessionGone("the session has ended; its files went with it")


def _download_behavior(folder: str, behavior: str = "allowAndName") -> dict[str, Any]:
    return {"behavior": behavior, "downloadPath": folder, "eventsEnabled": True}
