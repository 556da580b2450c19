"""``set_input_files``: kept as a thin alias of ``locator.set_input_files``, which now works at any size.

With Playwright 1.58 or later, on a backend with the files API, the plugin connects with
``is_local=True`` and its relay puts each file into the session's files area before the
browser reads it (``relay_uploads``): ``locator.set_input_files`` itself then takes files
of any size, in any frame, and this call is exactly that. It stays for tests written
against earlier releases, and for an older Playwright, where it still does what it did:
under Playwright's limit (it refuses a set of 50 MiB or more), ``locator.set_input_files``;
from it on, each file goes into the session's files area through the files API, and the input (in the page's main frame)
is given the browser's own paths over CDP (``DOM.setFileInputFiles``).
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
    local_paths: bool = False  # connected with is_local: the relay makes the driver's paths the browser's


_SESSIONS: weakref.WeakKeyDictionary[Any, SessionOf] = weakref.WeakKeyDictionary()


def remember(browser: Any, client: SteelClient, session_id: str, local_paths: bool = False) -> None:
    """Note which session a Playwright browser connected to (``Connection`` and ``AsyncConnection`` do)."""
    _SESSIONS[browser] = SessionOf(client, session_id, local_paths)


def _playwrights_own(browser: Any, paths: list[Path]) -> bool:
    found = _SESSIONS.get(browser)
    return bool(found is not None and found.local_paths) or playwright_takes(paths)


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
    if _playwrights_own(locator.page.context.browser, paths):
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
    if _playwrights_own(locator.page.context.browser, paths):
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
