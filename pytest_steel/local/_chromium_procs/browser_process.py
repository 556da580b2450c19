"""One session's browser: a Chromium process group with directories of its own.

Every browser runs in a new process group (so one ``killpg`` ends renderers,
zygotes and helpers alike) with a private profile, temp, cache and config
directory (so Chromium leaves nothing in the system temp directory), and carries
an owner marker in its environment, so that a sweep can find any process that
escaped its group. It speaks CDP only over a pipe the server holds (``pipe``): no
DevTools port is open to other local processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..._browser.chromium import Chromium, chromium_command
from ..._client.limits import SECRET_ENV
from .pipe import BrowserPipe, PipeClosed
from .procs import OWNER_ENV, sweep_owned_processes

if TYPE_CHECKING:
    from .watchdog import Watchdog

log = logging.getLogger("pytest_steel.local")

# Chromium reads CDP from fd 3 and writes to fd 4 (--remote-debugging-pipe). subprocess keeps a passed
# descriptor's number, so bash moves ours there just before it becomes Chromium (exec keeps the pid).
_PIPE_TRAMPOLINE = 'exec 3<&{to_browser} 4>&{from_browser} {to_browser}<&- {from_browser}>&-; exec "$@"'
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


def _bash() -> str:
    """The shell that hands Chromium its pipe (bash: it takes descriptor numbers above 9)."""
    found = shutil.which("bash")
    if found is None:
        raise BrowserLaunchError("bash is needed to start Chromium with its DevTools pipe, and none was found")
    return found


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
        self.pipe: BrowserPipe | None = None  # its DevTools connection, once it answered on it
        self._stderr_tail = stderr_tail
        self._watchdog = watchdog
        self._owner_marker = owner_marker
        self._drain_task: asyncio.Task[None] | None = None
        self._killed = False
        self._closed = False

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def is_running(self) -> bool:
        return self._process.returncode is None and not self._killed

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
        """Start Chromium and wait, bounded, until it answers on its DevTools pipe."""
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
        process, to_browser, from_browser = await _start_on_pipes(chromium, argv, env, directories)
        if watchdog is not None:
            for path in directories:
                watchdog.track(process.pid, path)
        tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        browser = cls(process, chromium, directories, tail, watchdog, env[OWNER_ENV])
        browser._drain_task = asyncio.ensure_future(browser._drain_stderr())
        await browser._connect(BrowserPipe(to_browser, from_browser), startup_timeout)
        return browser

    async def _connect(self, pipe: BrowserPipe, startup_timeout: float) -> None:
        """Wait, bounded, for the browser's first answer on its pipe; a browser that gives none is ended."""
        started = time.monotonic()
        try:
            await pipe.start(startup_timeout)
        except PipeClosed as exc:
            pipe.close()
            exited = await self._exit_code_soon()
            await self.close()
            why = f"exited with code {exited}" if exited is not None else f"did not answer on its pipe ({exc})"
            raise BrowserLaunchError(
                f"{self.chromium.path} {why} before it was ready{self._tail_for_message()}"
            ) from None
        except BaseException:
            pipe.close()
            await self.close()
            raise
        self.pipe = pipe
        log.debug("browser pid %d up in %.0f ms", self.pid, (time.monotonic() - started) * 1000)

    def _tail_for_message(self) -> str:
        tail = self.stderr_tail().strip()
        return f"; its stderr ended with:\n{tail}" if tail else ""

    async def _exit_code_soon(self) -> int | None:
        """The exit code, if the browser exits within a moment (a launch that failed), with its stderr read."""
        with contextlib.suppress(asyncio.TimeoutError):
            code = await asyncio.wait_for(self._process.wait(), 2.0)
            if self._drain_task is not None:
                with contextlib.suppress(asyncio.TimeoutError, BaseException):
                    await asyncio.wait_for(asyncio.shield(self._drain_task), 1.0)
            return code
        return None

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

    def kill(self) -> None:
        """Stop the browser now: close its pipe and SIGKILL its process group; ``close`` reaps and cleans up."""
        if self._killed:
            return
        self._killed = True
        if self.pipe is not None:
            self.pipe.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)

    async def close(self) -> None:
        """Kill the whole process group, wait for it, and remove the browser's directories; idempotent."""
        if self._closed:
            return
        self._closed = True
        self.kill()
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


async def _start_on_pipes(
    chromium: Chromium, argv: list[str], env: dict[str, str], directories: list[Path]
) -> tuple[asyncio.subprocess.Process, int, int]:
    """Exec Chromium in a process group of its own, its DevTools pipe on fds 3 and 4; our ends of the pipe."""
    to_browser, ours_to_browser = os.pipe()
    ours_from_browser, from_browser = os.pipe()
    trampoline = _PIPE_TRAMPOLINE.format(to_browser=to_browser, from_browser=from_browser)
    try:
        process = await asyncio.create_subprocess_exec(
            _bash(),
            "-c",
            trampoline,
            "steel-browser",  # $0 of the script; "$@" is Chromium's argv
            *argv,
            pass_fds=(to_browser, from_browser),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except BaseException as exc:  # cancelled too: asyncio kills a process it started, we remove the rest
        for fd in (ours_to_browser, ours_from_browser):
            os.close(fd)
        for path in directories:
            shutil.rmtree(path, ignore_errors=True)
        if isinstance(exc, (OSError, ValueError)):  # ValueError: an argument exec cannot pass (a NUL byte)
            raise BrowserLaunchError(f"could not start {chromium.path}: {exc}") from exc
        raise
    finally:
        os.close(to_browser)  # the browser's ends: only it holds them now
        os.close(from_browser)
    return process, ours_to_browser, ours_from_browser
