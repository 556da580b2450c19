"""A watchdog process that ends every browser when the server dies, however it dies.

The server tells the watchdog about each browser's process group and directory
over a pipe. When the pipe reaches end-of-file (the server exited, crashed or was
SIGKILLed: the kernel closes the pipe in every case) the watchdog kills whatever
is still tracked, sweeps for processes carrying the server's owner marker, and
removes the server's temp root. It runs in its own session so that a signal to
the server's process group does not take it down with the server.

Protocol, one line each: ``+ PGID DIR`` to track (repeat for more directories of
the same group), ``- PGID`` to forget.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from .procs import sweep_owned_processes


class Watchdog:
    """The server's end of the pipe."""

    def __init__(self, root: Path, owner: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pytest_steel.local._chromium_procs.watchdog", str(root), owner],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, line: str) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            self._process.stdin.write(line.encode() + b"\n")
            self._process.stdin.flush()

    def track(self, pgid: int, directory: Path) -> None:
        self._send(f"+ {pgid} {directory}")

    def forget(self, pgid: int) -> None:
        self._send(f"- {pgid}")

    def close(self, timeout: float = 10.0) -> None:
        """Orderly end: closing the pipe makes the watchdog sweep once and exit."""
        with contextlib.suppress(OSError, ValueError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _watch(root: Path, owner: str) -> None:
    # The server may be stopped by Ctrl-C in a terminal; the watchdog must not be.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tracked: dict[int, list[str]] = {}
    for raw in sys.stdin.buffer:
        op, _, rest = raw.decode(errors="replace").rstrip("\n").partition(" ")
        pgid_text, _, directory = rest.partition(" ")
        if not pgid_text.isdigit():
            continue
        if op == "+":
            tracked.setdefault(int(pgid_text), []).append(directory)
        elif op == "-":
            tracked.pop(int(pgid_text), None)
    for pgid in tracked:
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    sweep_owned_processes(owner)
    for directories in tracked.values():
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    _watch(Path(sys.argv[1]), sys.argv[2])
