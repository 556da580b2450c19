"""An xdist worker whose controller died: stop as on Ctrl-C, release what it holds, leave nothing.

When the controller is SIGKILLed, pytest-xdist does not tell its workers; execnet, which
carries their messages, sees its pipe close, waits 5 s for the running test, sends the
worker SIGINT, and 10 s later ends it with ``os._exit``: a clean-up that is slow (under
load, releasing sessions and stopping Playwright) is cut short, leaving sessions live and
folders behind. The kernel can tell a worker at once: ``PR_SET_PDEATHSIG`` sends a signal
to a process when its parent dies. Each worker asks for SIGHUP ("the other end hung up")
and turns it into the interruption pytest handles for Ctrl-C, ignoring execnet's SIGINT
from then on: its fixtures are torn down, which releases their sessions, the end-of-run
sweep runs, and the worker exits (within execnet's 15 s). The controller's temp folder
for session slots is removed by whichever worker gets there; nobody else would.

Linux only (where ``prctl`` exists); elsewhere a worker behaves as before.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1


class ControllerGone(KeyboardInterrupt):
    """Raised in a worker's main thread when its controller died: pytest stops as on Ctrl-C."""


_gone = False


def controller_gone() -> bool:
    """Whether this worker heard that its controller died (its embedded server died with it)."""
    return _gone


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _gone
    _gone = True
    # execnet sees the same death as a closed pipe, and 5 s later sends this worker SIGINT, which would cut
    # the clean-up short; it exits the worker anyway 10 s after that, which bounds the clean-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # it can come twice: once is enough, and more would cut it short
    raise ControllerGone("the pytest-xdist controller died; this worker stops, releasing its sessions")


def interrupt_when_orphaned() -> int | None:
    """Arrange for this worker to stop when its controller dies; the controller's pid, or None where unsupported."""
    if sys.platform != "linux":
        return None
    controller = os.getppid()
    try:
        signal.signal(signal.SIGHUP, _interrupt)  # only in the main thread, where xdist runs the tests
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGHUP), 0, 0, 0) != 0:
            return None
    except (OSError, ValueError, AttributeError):
        return None
    if os.getppid() != controller:  # it died before the kernel was asked
        os.kill(os.getpid(), signal.SIGHUP)
    return controller


def orphaned(controller: int | None) -> bool:
    """Whether the controller this worker started under is gone (it was reparented)."""
    return controller is not None and os.getppid() != controller


def clean_up_after_controller(workerinput: dict[str, Any], slots_key: str) -> None:
    """The dead controller's slots folder: removed by the first worker to leave (the others find it gone)."""
    folder = workerinput.get(slots_key)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
