"""Start and stop a ``steel-local`` server as a child process (stdlib only).

The API key travels in the environment, never on the command line where other
users could read it in the process list. By default the child watches a pipe
from this process and stops when it closes, so it never outlives its parent.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .._client.limits import API_KEY_ENV

READY_PREFIX = "steel-local listening on "


class LocalServerError(RuntimeError):
    """The server did not come up; the message carries what it printed."""


class LocalServerProcess:
    """One ``python -m pytest_steel.local`` child, ready once ``start()`` returns its URL."""

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        api_key: str | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        exit_with_parent: bool = True,
        wrapper: Sequence[str] = (),
    ) -> None:
        self.args = [*args, "--exit-with-parent"] if exit_with_parent else list(args)
        self.wrapper = list(wrapper)  # a command the server runs under: unshare, nice, a container's exec
        self._exit_with_parent = exit_with_parent
        self._api_key = api_key
        self._env = dict(env if env is not None else os.environ)
        self.log_path = Path(log_path) if log_path else None
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.url: str | None = None

    def __repr__(self) -> str:
        return f"<LocalServerProcess url={self.url!r} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 30.0) -> str:
        env = dict(self._env)
        env.pop(API_KEY_ENV, None)
        if self._api_key is not None:
            env[API_KEY_ENV] = self._api_key
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "pytest_steel.local", *self.args],
            # The server ends when this pipe closes, which the kernel does when this process dies.
            stdin=subprocess.PIPE if self._exit_with_parent else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log if self._log else subprocess.DEVNULL,
            env=env,
        )
        line = self._read_ready_line(timeout)
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise LocalServerError(f"steel-local did not start (exit code {self.process.returncode}){self._log_tail()}")
        self.url = line[len(READY_PREFIX) :].strip()
        return self.url

    def _read_ready_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    break
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    break
                buffer += chunk
        return buffer.decode(errors="replace").partition("\n")[0]

    def _log_tail(self) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-10:]
        return ":\n" + "\n".join(tail) if tail else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Signal the server and wait for it; SIGKILL (the watchdog then cleans up) if it hangs."""
        assert self.process is not None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe:
                pipe.close()
        if self._log:
            self._log.close()
            self._log = None
        return self.process.returncode

    def __enter__(self) -> LocalServerProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
