"""A session's recording: its screencast, re-timed to a steady frame rate and encoded to WebM by ffmpeg.

Asked for at create (``recordVideo: true``), it runs for the session's whole life on a
CDP client of its own (a ``Screencast`` of the newest page). Chromium sends a frame only
when the page changes, so each frame is written as many times as the time it stayed on
screen fills at ``FPS``: the video plays in real time. ffmpeg (in a session of its own,
so a Ctrl-C to the server's group cannot cut a file short) ends when its input does; if
the server dies, its input closes and it ends too, and the watchdog's sweep finds it by
the owner marker in its environment. VP8 in WebM is what Playwright records and what
every browser plays inline.

The file lives in the server's temp root until the client deletes it, ``KEPT_FOR_S``
after the session ended, when the session leaves the history, or when the server stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
from pathlib import Path

from ..._client.limits import SECRET_ENV
from .cdp import CDPConnection
from .pipe import BrowserPipe
from .procs import OWNER_ENV
from .screencast import Screencast

log = logging.getLogger("pytest_steel.local")

FPS = 10
MAX_GAP_S = 600.0  # a page that stays still longer shows for this long: a bound on what one gap writes
FINISH_TIMEOUT = 30.0  # seconds for ffmpeg to finish the file once its input ends
FOLLOW_STOP_TIMEOUT = 2.0  # seconds for the screencast to stop once told
LAST_LOOK_TIMEOUT = 2.0  # seconds a release waits for the screen's last look before the browser goes
KEPT_FOR_S = 600.0  # a recording nobody fetched or deleted goes this long after its session ended


def _even(value: int) -> int:
    return max(2, value - value % 2)


def ffmpeg_command(ffmpeg: Path, path: Path, width: int, height: int) -> list[str]:
    """JPEG frames on standard input to a VP8 WebM of a fixed size (pages may differ in size)."""
    size = f"{_even(width)}:{_even(height)}"
    fit = f"scale={size}:force_original_aspect_ratio=decrease,pad={size}:(ow-iw)/2:(oh-ih)/2:color=gray"
    return [
        str(ffmpeg),
        *("-loglevel", "error", "-f", "image2pipe", "-c:v", "mjpeg", "-framerate", str(FPS), "-i", "pipe:0"),
        *("-an", "-vf", fit, "-r", str(FPS), "-c:v", "vp8", "-deadline", "realtime", "-cpu-used", "8"),
        *("-b:v", "1M", "-qmin", "0", "-qmax", "50", "-crf", "8", "-threads", "1", "-y", str(path)),
    ]


class Recorder:
    """Records one session until ``finish``; ``path`` then holds the video, if any frame was shown."""

    def __init__(self, path: Path, cdp: CDPConnection, process: asyncio.subprocess.Process) -> None:
        self.path = path
        self._cdp = cdp
        self._process = process
        self._last: bytes | None = None  # the frame on screen now
        self._written_until = 0.0  # monotonic time up to which frames have been written
        self._lock = asyncio.Lock()
        self._cast = Screencast(cdp, self._frame)
        self._follow = asyncio.ensure_future(self._cast.run())
        self._finishing: asyncio.Task[None] | None = None
        self.error: str | None = None  # why there is no video

    @classmethod
    async def start(
        cls, ffmpeg: Path, pipe: BrowserPipe | None, path: Path, *, width: int, height: int, owner: str
    ) -> Recorder:
        """Start ffmpeg and the screencast; raises CDPError or OSError when either cannot start."""
        path.parent.mkdir(parents=True, exist_ok=True)
        cdp = await CDPConnection.open(pipe)
        env = {name: value for name, value in os.environ.items() if name not in SECRET_ENV}
        env[OWNER_ENV] = owner
        try:
            process = await asyncio.create_subprocess_exec(
                *ffmpeg_command(ffmpeg, path, width, height),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError:
            await cdp.close()
            raise
        return cls(path, cdp, process)

    async def _frame(self, data: str) -> None:
        with contextlib.suppress(ValueError):
            jpeg = base64.b64decode(data)
            async with self._lock:
                if self._finishing is None:
                    await self._write_until(time.monotonic())
                    self._last = jpeg

    async def _write_until(self, now: float, *, at_least_one: bool = False) -> None:
        """Show the frame on screen until ``now``, at the steady frame rate."""
        if self._last is None:
            self._written_until = now  # the video starts with its first frame
            return
        count = round(min(now - self._written_until, MAX_GAP_S) * FPS)
        if at_least_one:
            count = max(count, 1)
        if count <= 0:
            return
        self._written_until += count / FPS
        stdin = self._process.stdin
        assert stdin is not None
        try:
            stdin.writelines([self._last] * count)
            await stdin.drain()
        except (ConnectionError, RuntimeError) as exc:  # ffmpeg quit: say why when asked
            self.error = self.error or f"ffmpeg stopped taking frames: {exc}"

    async def last_look(self) -> None:
        """Take what is on screen now as the newest frame, bounded by ``LAST_LOOK_TIMEOUT``.

        Called as the session is released, before its browser is killed: the screencast's frames lag the
        screen by a paint and an encode (more on a busy machine), and the video must end on what the
        page showed when the test ended, which is what a failing test's recording is for.
        """
        if self._finishing is not None:
            return
        try:
            data = await asyncio.wait_for(self._cast.snapshot(), LAST_LOOK_TIMEOUT)
        except asyncio.TimeoutError:
            log.debug("recording %s: no last look within %.0f s", self.path.name, LAST_LOOK_TIMEOUT)
            return
        if data is not None:
            await self._frame(data)

    def finish(self) -> asyncio.Task[None]:
        """Stop recording and complete the file (once; later calls return the same task)."""
        if self._finishing is None:
            self._finishing = asyncio.ensure_future(self._finish(time.monotonic()))
        return self._finishing

    async def _finish(self, ended_at: float) -> None:
        await self._stop_following()
        async with self._lock:
            await self._write_until(ended_at, at_least_one=True)
        stdin = self._process.stdin
        assert stdin is not None and self._process.stderr is not None
        with contextlib.suppress(ConnectionError, RuntimeError):
            stdin.close()
        try:
            said = await asyncio.wait_for(self._process.stderr.read(), FINISH_TIMEOUT)
            code = await asyncio.wait_for(self._process.wait(), FINISH_TIMEOUT)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
            said, code = b"", None
            self.error = f"ffmpeg did not finish the recording within {FINISH_TIMEOUT:.0f} s"
        if self._last is None:
            self.error = "the session showed no page to record"
        elif code != 0 and self.error is None:
            self.error = f"ffmpeg failed (exit code {code}): {said.decode(errors='replace').strip()[-300:]}"
        if self.error is not None:
            self.path.unlink(missing_ok=True)
            log.warning("recording %s: %s", self.path.name, self.error)

    async def wait(self) -> Path | None:
        """The finished file, or None (``error`` says why); the recording must have been finished."""
        assert self._finishing is not None, "finish() first"
        await asyncio.shield(self._finishing)
        return self.path if self.error is None and self.path.is_file() else None

    async def discard(self, why: str = "it was deleted") -> None:
        """Finish if need be, and remove the file."""
        await asyncio.shield(self.finish())
        self.path.unlink(missing_ok=True)
        self.error = self.error or why

    async def _stop_following(self) -> None:
        self._cast.stop()
        await self._cdp.close()  # pending commands fail at once
        self._follow.cancel()
        await asyncio.wait([self._follow], timeout=FOLLOW_STOP_TIMEOUT)
        if self._follow.done() and not self._follow.cancelled():
            self._follow.exception()  # retrieved: a screencast that failed has no more to say
