"""The relay's downloads: a finished download fetched beside the session, while every other message passes.

The driver hears a download finished from the browser's ``Browser.downloadProgress``
(``completed``), and reads the file from the folder it gave ``Browser.setDownloadBehavior``.
When the browser runs elsewhere, that file is not there yet. So that event, and only it,
is held while a task fetches the file through the session's files API; the events of the
same download that come after it (matched by its guid) wait behind it, in their order,
and every other message of the connection goes on at once: a test whose export takes a
minute to come back can still click, evaluate and hear its page meanwhile.

The fetch streams to a hidden name beside its target and is renamed there when whole
(``_client.streams``), so memory stays bounded and no reader sees half a file. One that
takes longer than ``FETCH_TIMEOUT`` is cancelled, which removes what it wrote; the held
event is then let through all the same and the test's report says what did not come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._client.safe_names import UnsafeNameError, inside

if TYPE_CHECKING:
    from .route import Route

_DOWNLOAD_PROGRESS = '"Browser.downloadProgress"'


def hold_download_event(text: str, route: Route, driver: Any) -> bool:
    """Whether the relay keeps this browser message back (a finished download on its way); False: pass it now."""
    files = route.files
    if files.held:
        for fetching, waiting in files.held.items():
            if fetching in text and _guid_of(text) == fetching:
                waiting.append(text)  # a later event of a download still being fetched: behind it
                return True
    if _DOWNLOAD_PROGRESS not in text or '"completed"' not in text:
        return False
    guid = _completed_guid(text)
    if not guid:
        return False
    if all((Path(folder) / guid).exists() for folder in route.folders):
        return False  # nothing to fetch: a server on this machine wrote it where the driver reads
    files.held[guid] = [text]
    files.start(_bring_back(guid, route, driver))
    return True


async def _bring_back(guid: str, route: Route, driver: Any) -> None:
    """Fetch the file into each folder the driver reads from, then send what was held for it, in order."""
    files = route.files
    try:
        for folder in list(route.folders):
            local = Path(folder) / guid
            if local.exists():
                continue
            try:
                await asyncio.wait_for(files.download_to(guid, local), files.fetch_timeout)
            except asyncio.TimeoutError:
                route.failures.append(
                    f"download {guid} finished in the session's browser, but not here: it did not come back "
                    f"within {files.fetch_timeout:g} s (fetch cancelled, nothing kept)"
                )
            except Exception as exc:  # noqa: BLE001 - the test hears of it in its report
                route.failures.append(f"download {guid} finished in the session's browser, but not here: {exc}")
    finally:
        waiting = files.held.get(guid, [])
        with contextlib.suppress(Exception):  # the driver may be gone: nothing to tell it then
            while waiting:
                await driver.send_str(waiting.pop(0))
        files.held.pop(guid, None)


def refuse_unsafe_download(text: str, route: Route) -> str:
    """A finished download whose guid would name a file outside the driver's folder, made a canceled one.

    The browser names the file; the driver reads ``<folder>/<guid>``. A guid with a separator,
    ``..``, a NUL or too long is nothing to fetch or read: the test's ``save_as`` fails as for a
    canceled download, and its report says why.
    """
    if _DOWNLOAD_PROGRESS not in text or '"completed"' not in text:
        return text
    guid = _completed_guid(text)
    if not guid:
        return text
    for folder in route.folders or {"."}:
        try:
            inside(folder, guid)
        except UnsafeNameError as exc:
            route.failures.append(f"download not written, the session's browser gave it an unsafe name: {exc}")
            event = json.loads(text)
            event["params"]["state"] = "canceled"
            return json.dumps(event)
    return text


def _guid_of(text: str) -> str | None:
    with contextlib.suppress(ValueError, AttributeError):
        guid = (json.loads(text).get("params") or {}).get("guid")
        return guid if isinstance(guid, str) else None
    return None


def _completed_guid(text: str) -> str | None:
    with contextlib.suppress(ValueError, AttributeError):
        event = json.loads(text)
        params = event.get("params") or {}
        if event.get("method") == "Browser.downloadProgress" and params.get("state") == "completed":
            return str(params.get("guid") or "") or None
    return None
