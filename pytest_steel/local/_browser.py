"""One session's browser: a Chromium process group with directories of its own.

Every browser runs in a new process group (so one ``killpg`` ends renderers,
zygotes and helpers alike) with a private profile, temp, cache and config
directory (so Chromium leaves nothing in the system temp directory), and carries
an owner marker in its environment, so that a sweep can find any process that
escaped its group.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._chromium import Chromium, chromium_command

if TYPE_CHECKING:
    from ._watchdog import Watchdog

log = logging.getLogger("pytest_steel.local")

OWNER_ENV = "STEEL_LOCAL_OWNER"
_DEVTOOLS_LINE = re.compile(rb"DevTools listening on (ws://\S+)")
_STDERR_TAIL_LINES = 20


class BrowserLaunchError(RuntimeError):
    """Chromium did not come up; the message carries the end of its stderr."""


class BrowserProcess:
    """A running Chromium and everything it owns on disk."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        chromium: Chromium,
        directory: Path,
        ws_endpoint: str,
        stderr_tail: collections.deque[str],
        watchdog: Watchdog | None = None,
    ) -> None:
        self._process = process
        self.chromium = chromium
        self.directory = directory
        self.ws_endpoint = ws_endpoint
        self._stderr_tail = stderr_tail
        self._watchdog = watchdog
        self._drain_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def http_endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` of Chromium's own DevTools HTTP server."""
        host_port = self.ws_endpoint.split("/")[2]
        return f"http://{host_port}"

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)

    @classmethod
    async def launch(
        cls,
        chromium: Chromium,
        *,
        parent_dir: Path,
        owner: str,
        headless: bool,
        width: int,
        height: int,
        user_agent: str | None,
        startup_timeout: float,
        watchdog: Watchdog | None = None,
    ) -> BrowserProcess:
        """Start Chromium and wait, bounded, until its CDP endpoint is announced."""
        directory = Path(tempfile.mkdtemp(prefix="browser-", dir=parent_dir))
        for sub in ("profile", "tmp", "cache", "config"):
            (directory / sub).mkdir()
        env = dict(os.environ)
        env.update(
            {
                "TMPDIR": str(directory / "tmp"),
                "TMP": str(directory / "tmp"),
                "TEMP": str(directory / "tmp"),
                "XDG_CACHE_HOME": str(directory / "cache"),
                "XDG_CONFIG_HOME": str(directory / "config"),
                OWNER_ENV: owner,
            }
        )
        argv = chromium_command(
            chromium,
            profile_dir=directory / "profile",
            headless=headless,
            width=width,
            height=height,
            user_agent=user_agent,
        )
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise BrowserLaunchError(f"could not start {chromium.path}: {exc}") from exc
        if watchdog is not None:
            watchdog.track(process.pid, directory)

        tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        browser = cls(process, chromium, directory, "", tail, watchdog)
        started = time.monotonic()
        try:
            browser.ws_endpoint = await asyncio.wait_for(browser._read_endpoint(), startup_timeout)
        except asyncio.TimeoutError:
            await browser.close()
            raise BrowserLaunchError(
                f"{chromium.path} announced no DevTools endpoint within {startup_timeout:g} s"
                + browser._tail_for_message()
            ) from None
        except BaseException:
            await browser.close()
            raise
        browser._drain_task = asyncio.ensure_future(browser._drain_stderr())
        log.debug("browser pid %d up in %.0f ms", process.pid, (time.monotonic() - started) * 1000)
        return browser

    def _tail_for_message(self) -> str:
        tail = self.stderr_tail().strip()
        return f"; its stderr ended with:\n{tail}" if tail else ""

    async def _read_endpoint(self) -> str:
        assert self._process.stderr is not None
        while True:
            line = await self._process.stderr.readline()
            if not line:
                await self._process.wait()
                raise BrowserLaunchError(
                    f"{self.chromium.path} exited with code {self._process.returncode} before it was ready"
                    + self._tail_for_message()
                )
            match = _DEVTOOLS_LINE.search(line)
            if match:
                return match.group(1).decode()
            text = line.decode(errors="replace").rstrip()
            if text:
                self._stderr_tail.append(text)

    async def _drain_stderr(self) -> None:
        """Chromium blocks if nobody reads its stderr; keep the last lines for crash reports."""
        assert self._process.stderr is not None
        with contextlib.suppress(Exception):
            while line := await self._process.stderr.readline():
                text = line.decode(errors="replace").rstrip()
                if text:
                    self._stderr_tail.append(text)

    async def wait(self) -> int:
        """Wait for the browser's main process to exit, for whatever reason."""
        return await self._process.wait()

    async def close(self) -> None:
        """Kill the whole process group and remove the browser's directories; idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        await self._process.wait()
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(BaseException):
                await self._drain_task
        await asyncio.to_thread(shutil.rmtree, self.directory, True)
        if self._watchdog is not None:
            self._watchdog.forget(self._process.pid)


def sweep_owned_processes(owner: str) -> list[int]:
    """SIGKILL every process whose environment carries this owner marker; Linux only, best effort.

    Catches helpers that left their browser's process group. Returns the pids signalled.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    marker = f"{OWNER_ENV}={owner}".encode()
    me = os.getpid()
    killed: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed
