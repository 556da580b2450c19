"""Where a name that came over the wire may be written on this machine: inside its folder, or nowhere.

A backend's files listing and a remote browser's download events name files that
pytest-steel then writes locally. Those names are untrusted: a broken or hostile server
could answer ``../../.ssh/authorized_keys`` or ``/usr/lib/python3/site-packages/x.pth``.
Every such name goes through ``inside`` (one file name, as a download's guid) or
``inside_relative`` (a ``/``-separated path, as Steel's files API names a file in a
subfolder, ``reports/a.csv``) before anything is written. Both refuse, with
``UnsafeNameError``: an empty name, an absolute path, a ``..`` or ``.`` segment, a NUL,
a backslash (a separator on Windows), a segment longer than a file name can be (255
bytes of UTF-8); and both check that the path, symlinks resolved, stays in the folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import SteelError

MAX_NAME_BYTES = 255  # the longest file name most file systems take (ext4, APFS, NTFS in UTF-16 units)
MAX_SEGMENTS = 32  # folders deep: far more than a files area needs, few enough to bound the work


class UnsafeNameError(SteelError, ValueError):
    """A name from a backend or a browser that would be written outside its folder, or could not be written."""


def inside(folder: str | os.PathLike[str], name: str) -> Path:
    """``folder / name`` for a plain file name (no separator at all); ``UnsafeNameError`` otherwise."""
    if isinstance(name, str) and ("/" in name or "\\" in name):
        raise UnsafeNameError(f"{_shown(name)} is not a plain file name: it holds a path separator")
    return inside_relative(folder, name)


def inside_relative(folder: str | os.PathLike[str], path: str) -> Path:
    """``folder / path`` for a relative ``/``-separated path whose every segment is a plain name."""
    if not isinstance(path, str) or not path:
        raise UnsafeNameError(f"{_shown(path)} is not a file name: it is empty")
    if "\x00" in path:
        raise UnsafeNameError(f"{_shown(path)} holds a NUL byte")
    if "\\" in path:
        raise UnsafeNameError(f"{_shown(path)} holds a backslash, a path separator on Windows")
    if path.startswith("/") or PurePosixPath(path).is_absolute() or (os.name == "nt" and PureWindowsPath(path).drive):
        raise UnsafeNameError(f"{_shown(path)} is an absolute path")
    segments = path.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise UnsafeNameError(f"{_shown(path)} is more than {MAX_SEGMENTS} folders deep")
    for segment in segments:
        if segment in ("", ".", ".."):
            what = f"a {segment!r}" if segment else "an empty"
            raise UnsafeNameError(f"{_shown(path)} holds {what} segment")
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise UnsafeNameError(f"{_shown(path)} holds a name longer than {MAX_NAME_BYTES} bytes")
    base = Path(folder)
    target = base.joinpath(*segments)
    resolved_base = base.resolve()
    if not target.resolve().is_relative_to(resolved_base):  # a symlink on the way that leads out
        raise UnsafeNameError(f"{_shown(path)} leads outside {base}")
    return target


def _shown(name: object) -> str:
    """The name as a report can show it: quoted, control characters escaped, long ones cut."""
    text = repr(name)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]} ({len(str(name))} characters)"
