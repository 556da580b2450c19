"""A zip made by one thread and sent by another, so that no copy of the zipped files is ever on disk.

``zipfile`` writes an unseekable stream with data descriptors, which every unzip reads.
The writer is held back by a small queue (a few chunks of a MB), so a slow client costs the
server a few MB of memory, not a second copy of the files; a client that goes away stops
the writer at its next chunk.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import zipfile
from pathlib import Path


class ZipStream:
    """A zip written by one thread, read as chunks by another; at most a few chunks held between them."""

    CHUNK = 2**20

    def __init__(self) -> None:
        self._chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=4)
        self._buffer = bytearray()
        self._abandoned = threading.Event()
        self.position = 0

    # -- the file-like side zipfile writes to (unseekable: it writes data descriptors) --
    def write(self, data: bytes) -> int:
        self._buffer += data
        self.position += len(data)
        if len(self._buffer) >= self.CHUNK:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def _put(self, item: bytes | BaseException | None) -> None:
        while not self._abandoned.is_set():
            with contextlib.suppress(queue.Full):
                self._chunks.put(item, timeout=0.1)
                return
        raise _Abandoned

    def make(self, root: Path, names: list[str]) -> None:
        try:
            with zipfile.ZipFile(self, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[call-overload]
                for name in names:
                    with contextlib.suppress(FileNotFoundError):  # deleted since it was listed
                        archive.write(root / name, arcname=name)
            if self._buffer:
                self._put(bytes(self._buffer))
            self._put(None)
        except _Abandoned:
            return
        except Exception as exc:  # noqa: BLE001 - the answer ends with it
            with contextlib.suppress(_Abandoned):
                self._put(exc)

    def next_chunk(self) -> bytes | None:
        item = self._chunks.get()
        if isinstance(item, BaseException):
            raise OSError(f"the files could not be zipped: {item}")
        return item

    def abandon(self) -> None:
        self._abandoned.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._chunks.get_nowait()


class _Abandoned(Exception):
    """The reader of a zip went away."""
