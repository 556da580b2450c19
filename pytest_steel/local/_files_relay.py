"""One relay client's traffic, as it concerns its session's files: paths in, finished downloads out.

Split from ``_session_files`` (the area and its bound), whose ``FilesArea`` it reads and
writes through: this module is what the CDP relay calls for each message it passes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from .._client.safe_names import UnsafeNameError, inside
from ._session_files import FilesArea

_DOWNLOAD_BEHAVIOR = b'"Browser.setDownloadBehavior"'
_SET_INPUT_FILES = b'"DOM.setFileInputFiles"'
_DOWNLOAD_PROGRESS = b'"Browser.downloadProgress"'
log = logging.getLogger("pytest_steel.local")


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
        self.copies: set[asyncio.Task[bool]] = set()
        self._originals: list[Path] = []  # the browser's own files of the downloads copied in
        self._closed = False  # the client is gone: nothing more is sent or copied for it

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
        if not messages or self._closed:
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

    async def _copy(self, guid: str) -> bool:
        """Bring a finished download into the area; False when it passes the bound (then it is removed)."""
        for folder in self._folders:
            try:
                source = inside(folder, guid)  # the browser's name for it: read from its folder, nowhere else
            except UnsafeNameError as exc:
                log.warning("a finished download was not copied into the session's files: %s", exc)
                return True
            if source.is_file() and not (self._area.root / guid).exists():
                self._originals.append(source)
                if self._area.guard.refused_download(guid) or not await asyncio.to_thread(
                    self._area.copy_in, source, guid
                ):
                    source.unlink(missing_ok=True)  # as the browser removes what a cancelled download wrote
                    return False
                return True
        return self._area.guard.keeps(guid)

    def close(self) -> None:
        """The client is gone, and with it what read the downloads from its own folder: remove them there."""
        self._closed = True
        self._held = None
        for task in self.copies:
            task.cancel()
        for original in self._originals:
            original.unlink(missing_ok=True)

    def _copied(self, task: asyncio.Task[bool]) -> None:
        self.copies.discard(task)
        kept = True
        if not task.cancelled() and task.exception() is not None:
            log.warning("a finished download could not be copied into the session's files: %s", task.exception())
        elif not task.cancelled():
            kept = task.result()
        held, self._held = self._held or [], None
        if held:  # the download's own event first, then what came behind it (which may hold again)
            self._send(held[:1] if kept else [_cancelled_download(held[0])])
            self.events(held[1:])


def _cancelled_download(completed: bytes) -> bytes:
    """A finished download's event, told as the cancel a full disk would have caused: the client's download fails."""
    event = json.loads(completed)
    event["params"]["state"] = "canceled"
    return json.dumps(event).encode()


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
