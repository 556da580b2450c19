"""Finding a server's processes by the owner marker in their environment (stdlib only, Linux ``/proc``).

Its own module so that the watchdog, which runs this scan when the server dies, loads
nothing else: not asyncio, not the browser module.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

OWNER_ENV = "STEEL_LOCAL_OWNER"


def sweep_owned_processes(owner: str) -> list[int]:
    """SIGKILL every process whose environment carries this owner marker; Linux only, best effort.

    Catches helpers that left their browser's process group. A server's marker is
    ``OWNER``, each browser's ``OWNER:NAME``: sweeping ``OWNER`` takes all its browsers,
    sweeping ``OWNER:NAME`` one. Returns the pids signalled.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    marker = f"{OWNER_ENV}={owner}".encode()
    prefix = marker + b":"
    me = os.getpid()
    killed: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(var == marker or var.startswith(prefix) for var in environ.split(b"\0")):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
    return killed
