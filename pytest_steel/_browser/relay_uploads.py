"""The relay's uploads: the driver's local paths in ``DOM.setFileInputFiles`` made the browser's own.

A connection made with ``is_local=True`` (Playwright 1.58 and later; see ``connection``)
tells the driver that the browser shares its disk, so for ``set_input_files`` with paths,
of any size, in any frame, and for a file chooser's ``set_files``, the driver sends the
browser the files' local paths (``DOM.setFileInputFiles``: ``objectId`` or ``nodeId``, and
``files``); for a directory input, the directory's. The browser runs elsewhere, so this
module takes that command: each file (each file under a directory) goes into the session's
files area through the files API, and the command goes on with the paths the files API
answered, which are the browser's. Each large file crosses the network once, as it would
have had Playwright sent its bytes.

The upload runs in a task: the connection's other commands pass meanwhile. A file that
cannot be uploaded gets the driver an error answer for that command, naming the file and
why, so the test's ``set_input_files`` fails with it instead of waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .._client.errors import SteelError, first_line

if TYPE_CHECKING:
    from .route import Route

_SET_INPUT_FILES = '"DOM.setFileInputFiles"'


def take_file_input(text: str, route: Route, browser: Any, driver: Any) -> bool:
    """Whether the relay takes this driver command (a file input filled from this machine's disk) to send later."""
    if _SET_INPUT_FILES not in text or not route.uploads:
        return False
    with contextlib.suppress(ValueError, AttributeError):
        command = json.loads(text)
        files = (command.get("params") or {}).get("files")
        if command.get("method") == "DOM.setFileInputFiles" and isinstance(files, list) and any(map(_here, files)):
            route.files.start(_upload_then_send(command, route, browser, driver))
            return True
    return False


def _here(path: object) -> bool:
    """A path of this machine, as the driver gives them (absolute, existing); any other is the browser's already
    (a path the files API answered, sent over a CDP session of the test's own) and goes on unchanged."""
    return isinstance(path, str) and os.path.isabs(path) and os.path.exists(path)


async def _upload_then_send(command: dict[str, Any], route: Route, browser: Any, driver: Any) -> None:
    params = command["params"]
    try:
        params["files"] = [await _uploaded(local, route) if _here(local) else local for local in params["files"]]
    except (OSError, SteelError) as exc:
        answer: dict[str, Any] = {"id": command.get("id"), "error": {"code": -32000, "message": _why(exc)}}
        if "sessionId" in command:
            answer["sessionId"] = command["sessionId"]
        await driver.send_str(json.dumps(answer))
        return
    await browser.send_str(json.dumps(command))


async def _uploaded(local: str, route: Route) -> str:
    """The browser's path for ``local``, a file or a directory, once it is in the session's files area."""
    source = Path(local)
    folder = f"uploads/{uuid.uuid4().hex[:12]}"
    if not source.is_dir():
        return await route.files.upload(source, f"{folder}/{source.name}")
    remote_dir = f"{folder}/{source.name}"
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = file.relative_to(source).as_posix()
        answered = await route.files.upload(file, f"{remote_dir}/{relative}")
        if answered.endswith("/" + relative):  # the browser's name of the folder: the answer less the file's part
            remote_dir = answered[: -len(relative) - 1]
    return remote_dir


def _why(exc: BaseException) -> str:
    name = PurePosixPath(getattr(exc, "filename", "") or "").name
    where = f" ({name})" if name else ""
    return f"pytest-steel could not put the file{where} into the session's files for its browser: {first_line(exc)}"
