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
from .._limits import SECRET_ENV
from ._procs import OWNER_ENV, sweep_owned_processes

if TYPE_CHECKING:
    from ._watchdog import Watchdog

log = logging.getLogger("pytest_steel.local")

_DEVTOOLS_LINE = re.compile(rb"DevTools listening on (ws://\S+)")
_STDERR_TAIL_LINES = 20
# Full Chromium puts a Unix socket at $TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket,
# and a socket path may hold at most 107 bytes: beyond this, use a short temp directory.
_MAX_TMPDIR_LENGTH = 60


def _short_temp_base() -> str:
    return "/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()


def _make_directories(parent_dir: Path) -> list[Path]:
    """A browser's own directory (profile, tmp, cache, config), and a short temp one when its path is too long."""
    directory = Path(tempfile.mkdtemp(prefix="browser-", dir=parent_dir))
    for sub in ("profile", "tmp", "cache", "config"):
        (directory / sub).mkdir()
    if len(str(directory / "tmp")) > _MAX_TMPDIR_LENGTH:
        return [directory, Path(tempfile.mkdtemp(prefix="steel-", dir=_short_temp_base()))]
    return [directory]


def _environment(directory: Path, tmp: Path, owner: str) -> dict[str, str]:
    """The server's environment without its secrets, every temp and cache path in the browser's directories."""
    env = {name: value for name, value in os.environ.items() if name not in SECRET_ENV}
    env.update(
        {
            "TMPDIR": str(tmp),
            "TMP": str(tmp),
            "TEMP": str(tmp),
            "XDG_CACHE_HOME": str(directory / "cache"),
            "XDG_CONFIG_HOME": str(directory / "config"),
            OWNER_ENV: f"{owner}:{directory.name}",
        }
    )
    return env


class BrowserLaunchError(RuntimeError):
    """Chromium did not come up; the message carries the end of its stderr."""


class BrowserProcess:
    """A running Chromium and everything it owns on disk."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        chromium: Chromium,
        directories: list[Path],
        stderr_tail: collections.deque[str],
        watchdog: Watchdog | None = None,
        owner_marker: str = "",
    ) -> None:
        self._process = process
        self.chromium = chromium
        self.directories = directories
        self.ws_endpoint = ""  # known once Chromium announces it
        self._stderr_tail = stderr_tail
        self._watchdog = watchdog
        self._owner_marker = owner_marker
        self._drain_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def is_running(self) -> bool:
        return self._process.returncode is None and not self._closed

    @property
    def http_endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` of Chromium's own DevTools HTTP server."""
        host_port = self.ws_endpoint.split("/")[2]
        return f"http://{host_port}"

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
        try:
            directories = _make_directories(parent_dir)
        except OSError as exc:  # the temp root went missing, became a file, or filled up
            raise BrowserLaunchError(f"could not make the browser's directories under {parent_dir}: {exc}") from None
        directory = directories[0]
        env = _environment(directory, directories[-1] if len(directories) > 1 else directory / "tmp", owner)
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
        except (OSError, ValueError) as exc:  # ValueError: an argument exec cannot pass (a NUL byte)
            for path in directories:
                shutil.rmtree(path, ignore_errors=True)
            raise BrowserLaunchError(f"could not start {chromium.path}: {exc}") from exc
        if watchdog is not None:
            for path in directories:
                watchdog.track(process.pid, path)

        tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        browser = cls(process, chromium, directories, tail, watchdog, env[OWNER_ENV])
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
        if not self.chromium.is_headless_shell:
            # Full Chromium starts crash handlers in process groups of their own.
            await asyncio.to_thread(sweep_owned_processes, self._owner_marker)
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(BaseException):
                await self._drain_task
        for path in self.directories:
            await asyncio.to_thread(shutil.rmtree, path, True)
        if self._watchdog is not None:
            self._watchdog.forget(self._process.pid)
