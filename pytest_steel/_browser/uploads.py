"""``set_input_files``: a file input filled with local files of any size, on a session whose browser runs elsewhere.

Playwright connected over CDP sends a file's bytes to the browser itself, and refuses a set
of 50 MiB or more ("Cannot transfer files larger than 50Mb to a browser not co-located with
the server"); no plugin can change that. So this one call does what ``locator.set_input_files``
does, at any size: under Playwright's limit it is exactly that call; from it on, each file
goes into the session's files area through the files API, and the input is given the
browser's own paths for them over CDP (``DOM.setFileInputFiles``, which fires ``input``
and ``change`` as a person's choice would). The input must be in the page's main frame.
"""

from __future__ import annotations

import os
import secrets
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .._client.errors import SteelError

if TYPE_CHECKING:
    from playwright import async_api, sync_api

    from .._client.client import SteelClient

PLAYWRIGHT_LIMIT = 50 * 2**20  # Playwright refuses a set of this many bytes or more for a browser not on its machine
_MARK = "data-steel-upload"
Files = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]]


@dataclass(frozen=True)
class SessionOf:
    """The session a connected browser belongs to, and the client that reaches it."""

    client: SteelClient
    session_id: str


_SESSIONS: weakref.WeakKeyDictionary[Any, SessionOf] = weakref.WeakKeyDictionary()


def remember(browser: Any, client: SteelClient, session_id: str) -> None:
    """Note which session a Playwright browser connected to (``Connection`` and ``AsyncConnection`` do)."""
    _SESSIONS[browser] = SessionOf(client, session_id)


def _paths(files: Files) -> list[Path]:
    listed = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    return [Path(f) for f in listed]


def _session_of(browser: Any) -> SessionOf:
    found = _SESSIONS.get(browser)
    if found is None:
        raise SteelError(
            "set_input_files needs a page of a Steel session that pytest-steel connected (steel_page, "
            "steel_context, steel_new_session, or --steel-playwright's page)"
        )
    return found


def playwright_takes(paths: list[Path]) -> bool:
    """Whether Playwright itself sends these files: their total is under its limit (it checks ``>=``)."""
    return sum(p.stat().st_size for p in paths) < PLAYWRIGHT_LIMIT


def _remote_paths(session: SessionOf, paths: list[Path]) -> list[str]:
    folder = f"uploads/{uuid.uuid4().hex[:12]}"
    return [session.client.files.upload(session.session_id, p, path=f"{folder}/{p.name}").path for p in paths]


def set_input_files(locator: sync_api.Locator, files: Files) -> None:
    """``locator.set_input_files(files)`` for local files of any size (see the module's docstring)."""
    paths = _paths(files)
    if playwright_takes(paths):
        locator.set_input_files(paths)
        return
    page = locator.page
    remote = _remote_paths(_session_of(page.context.browser), paths)
    token = secrets.token_hex(8)
    locator.evaluate(f"(el) => el.setAttribute('{_MARK}', '{token}')")
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"[{_MARK}='{token}']"})["nodeId"]
        _check_found(node)
        cdp.send("DOM.setFileInputFiles", {"files": remote, "nodeId": node})
    finally:
        cdp.detach()
        locator.evaluate(f"(el) => el.removeAttribute('{_MARK}')")


async def async_set_input_files(locator: async_api.Locator, files: Files) -> None:
    """``set_input_files`` for Playwright's async API."""
    paths = _paths(files)
    if playwright_takes(paths):
        await locator.set_input_files(paths)
        return
    import asyncio

    page = locator.page
    remote = await asyncio.to_thread(_remote_paths, _session_of(page.context.browser), paths)
    token = secrets.token_hex(8)
    await locator.evaluate(f"(el) => el.setAttribute('{_MARK}', '{token}')")
    cdp = await page.context.new_cdp_session(page)
    try:
        root = (await cdp.send("DOM.getDocument", {"depth": 0}))["root"]["nodeId"]
        node = (await cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"[{_MARK}='{token}']"}))["nodeId"]
        _check_found(node)
        await cdp.send("DOM.setFileInputFiles", {"files": remote, "nodeId": node})
    finally:
        await cdp.detach()
        await locator.evaluate(f"(el) => el.removeAttribute('{_MARK}')")


def _check_found(node: int) -> None:
    if not node:
        raise SteelError("set_input_files: the file input must be in the page's main frame, not in a frame")
