"""Temp folders named with the pid of the process that owns them, so that a later run can remove a killed one's.

A run killed with SIGKILL removes nothing of its own. Each folder made here is named
``<prefix><pid>-<mkdtemp's letters>``; making one first removes this user's folders of
the same prefix whose process is gone. A pid reused by another process since keeps its
folder until that process is gone too, which only delays the clean-up.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def make(prefix: str) -> str:
    """A new folder of this process's, after removing those of the same prefix whose process is gone."""
    remove_orphaned(prefix)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def remove_orphaned(prefix: str) -> None:
    """Remove this user's ``prefix`` folders whose process is gone (killed, so it could not remove them)."""
    if os.name != "posix":
        return  # os.kill(pid, 0) probes only on POSIX; elsewhere it would end the process
    try:
        entries = list(os.scandir(tempfile.gettempdir()))
    except OSError:
        return
    for folder in entries:
        if not folder.name.startswith(prefix):
            continue
        pid, _, rest = folder.name[len(prefix) :].partition("-")
        if not pid.isdigit() or not rest:
            continue
        try:
            if not folder.is_dir(follow_symlinks=False) or folder.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder.path, ignore_errors=True)
        except OSError:
            continue  # alive (perhaps another user's), or not ours to look at
