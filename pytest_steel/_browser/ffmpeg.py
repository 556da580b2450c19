"""Finding ffmpeg, which the embedded server needs to encode recordings: the one asked for, Playwright's, the system's.

Playwright downloads its own ffmpeg beside its browsers (``playwright install ffmpeg``,
or with ``playwright install chromium``), and its build encodes VP8, which every
browser plays inline: so that one comes before whatever ``ffmpeg`` is on PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .._client.limits import FFMPEG_ENV
from .chromium import playwright_browsers_dirs

__all__ = ["FFmpegNotFoundError", "find_ffmpeg"]

_PLAYWRIGHT_PATTERNS = ("ffmpeg-*/ffmpeg-linux", "ffmpeg-*/ffmpeg-mac", "ffmpeg-*/ffmpeg-win64.exe")


class FFmpegNotFoundError(RuntimeError):
    """No usable ffmpeg; the message says where it looked and how to get one."""


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _playwright_ffmpegs() -> list[Path]:
    found: list[Path] = []
    for root in playwright_browsers_dirs():
        if root.is_dir():
            found += sorted((p for pattern in _PLAYWRIGHT_PATTERNS for p in root.glob(pattern)), reverse=True)
    return found


def find_ffmpeg(explicit: str | os.PathLike[str] | None = None, *, explicit_source: str = "--ffmpeg") -> Path:
    """The ffmpeg to use: ``explicit`` (or ``$STEEL_FFMPEG``), else Playwright's, else the system's."""
    if explicit is None and os.environ.get(FFMPEG_ENV):
        explicit, explicit_source = os.environ[FFMPEG_ENV], FFMPEG_ENV
    if explicit:
        path = Path(explicit).expanduser()
        if not _is_executable(path):
            raise FFmpegNotFoundError(f"{explicit_source}: {str(path)!r} is not an executable file; give ffmpeg's path")
        return path
    on_path = shutil.which("ffmpeg")
    for candidate in [*_playwright_ffmpegs(), *([Path(on_path)] if on_path else [])]:
        if _is_executable(candidate):
            return candidate
    raise FFmpegNotFoundError(
        "recordings need ffmpeg, and none was found: looked for Playwright's in "
        + ", ".join(str(d) for d in playwright_browsers_dirs())
        + " and for ffmpeg on PATH. Install one (`playwright install ffmpeg`, or `apt-get install ffmpeg`), "
        f"or name it with ${FFMPEG_ENV}"
    )
