"""A session's files, as Steel's files API serves them: ``client.files`` on both clients.

The endpoints and their shapes are steel-sdk 0.19's ``sessions.files``: list, upload
(multipart, a ``file`` part and an optional ``path``), download one, the zip of all,
delete one, delete all. Paths are relative to the session's files area and sent as one
URL path segment (``/`` encoded), as the SDK sends them. Every call has the client's
retries and error mapping: an upload from a file or a stream is read again from its
start on a retry (httpx rewinds it).

A backend without this files API (``profile``: which ones, and why) raises
``SteelFilesUnsupportedError``, naming the backend.
"""

from __future__ import annotations

import builtins
import os
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar, Union

import httpx

from .errors import SteelFilesUnsupportedError, SteelNotFoundError
from .http import Plan, Rules
from .models import SessionFile
from .profile import FILES_API_SPEAKERS, NO_FILES_API_WHY
from .redaction import display_url

T = TypeVar("T")
Upload = Union[bytes, str, "os.PathLike[str]", IO[bytes]]  # content, a local file's path, or a binary stream
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"  # RFC 3986 pchar, less "/": the SDK's encoding of a path parameter


def _files(session_id: str) -> str:
    return f"/v1/sessions/{session_id}/files"


def _file(session_id: str, path: str) -> str:
    if not path:
        raise ValueError("path: give the file's path in the session's files area, e.g. 'report.csv'")
    return f"{_files(session_id)}/{urllib.parse.quote(path, safe=_SEGMENT_SAFE)}"


def _unsupported(rules: Rules, why: str) -> SteelFilesUnsupportedError:
    return SteelFilesUnsupportedError(
        f"the backend at {display_url(rules.base_url)} has no session files API as {FILES_API_SPEAKERS} "
        f"speak it ({why}); {NO_FILES_API_WHY} at other paths"
    )


def list_files(rules: Rules, session_id: str) -> Plan[list[SessionFile]]:
    response = yield from rules.call("GET", _files(session_id))
    body = _json_or_none(response)
    entries = body.get("data") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "path" in e for e in entries):
        raise _unsupported(rules, "its list has no data of files with paths")
    return [SessionFile.from_wire(entry) for entry in entries]


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def upload(rules: Rules, session_id: str, file: Upload, path: str | None) -> Plan[SessionFile]:
    if isinstance(file, (str, os.PathLike)):
        local = Path(file)
        with local.open("rb") as stream:
            return (yield from _upload(rules, session_id, (local.name, stream), path))
    name = Path(getattr(file, "name", "") or "upload").name if not isinstance(file, bytes) else "upload"
    return (yield from _upload(rules, session_id, (name, file), path))


def upload_url(rules: Rules, session_id: str, url: str, path: str | None) -> Plan[SessionFile]:
    """Steel fetches ``url`` into the session's files (the ``file`` part given as a string)."""
    data = {"path": path} if path else {}
    response = yield from rules.call("POST", _files(session_id), data=data, files={"file": (None, url.encode())})
    return SessionFile.from_wire(response.json())


def _upload(rules: Rules, session_id: str, part: tuple[str, Any], path: str | None) -> Plan[SessionFile]:
    data = {"path": path} if path else {}
    response = yield from rules.call("POST", _files(session_id), files={"file": part}, data=data)
    return SessionFile.from_wire(response.json())


def download(rules: Rules, session_id: str, path: str) -> Plan[bytes]:
    headers = {"accept": "application/octet-stream"}
    response = yield from rules.call("GET", _file(session_id, path), headers=headers)
    if response.headers.get("content-type", "").startswith("application/json"):
        raise _unsupported(rules, "it answered a file's download with JSON")
    return response.content


def download_into(rules: Rules, session_id: str, path: str, destination: Path) -> Plan[Path]:
    """One file streamed into ``destination`` (see ``streams``): memory bounded, the file whole or absent."""
    headers = {"accept": "application/octet-stream"}
    response = yield from rules.call("GET", _file(session_id, path), headers=headers, into=destination)
    if response.headers.get("content-type", "").startswith("application/json"):
        raise _unsupported(rules, "it answered a file's download with JSON")
    return destination


def download_archive(rules: Rules, session_id: str) -> Plan[bytes]:
    headers = {"accept": "application/zip"}
    return (yield from rules.call("GET", f"/v1/sessions/{session_id}/files.zip", headers=headers)).content


def delete(rules: Rules, session_id: str, path: str) -> Plan[None]:
    yield from rules.call("DELETE", _file(session_id, path), headers={"accept": "*/*"})


def delete_all(rules: Rules, session_id: str) -> Plan[None]:
    yield from rules.call("DELETE", _files(session_id), headers={"accept": "*/*"})


def _explained(plan: Plan[T], rules: Rules) -> Plan[T]:
    """The plan, with a 404 for the files route itself (no such route on the backend) said as such."""
    try:
        return (yield from plan)
    except SteelNotFoundError as exc:
        said = exc.body.get("message") if isinstance(exc.body, dict) else exc.body
        if not said or str(said).strip().lower() in ("not found", "404: not found"):
            raise _unsupported(rules, "it answered 404 for the route itself") from None
        raise


class Files:
    """``SteelClient.files``: a session's files area. Paths are relative to it; ``session_id`` comes first."""

    def __init__(self, run: Callable[[Plan[Any]], Any], rules: Rules) -> None:
        self._run, self._rules = run, rules

    def list(self, session_id: str) -> builtins.list[SessionFile]:
        """Every file of the session, newest first."""
        return self._run(_explained(list_files(self._rules, session_id), self._rules))

    def upload(
        self, session_id: str, file: Upload | None = None, *, path: str | None = None, url: str | None = None
    ) -> SessionFile:
        """Put ``file`` (bytes, a binary stream, or a local file's path) or the body at ``url`` into the session.

        ``path`` is where it goes in the session's files (default: the file's own name). The
        returned ``path`` is what the session's browser knows it by (``DOM.setFileInputFiles``).
        """
        return self._run(_explained(_upload_plan(self._rules, session_id, file, path, url), self._rules))

    def download(self, session_id: str, path: str) -> bytes:
        """One file's bytes."""
        return self._run(_explained(download(self._rules, session_id, path), self._rules))

    def download_to(self, session_id: str, path: str, destination: str | os.PathLike[str]) -> Path:
        """One file, streamed to ``destination`` on this machine (its folders made), renamed there when whole."""
        return self._run(_explained(download_into(self._rules, session_id, path, Path(destination)), self._rules))

    def download_archive(self, session_id: str) -> bytes:
        """Every file of the session in one zip archive."""
        return self._run(_explained(download_archive(self._rules, session_id), self._rules))

    def delete(self, session_id: str, path: str) -> None:
        self._run(_explained(delete(self._rules, session_id, path), self._rules))

    def delete_all(self, session_id: str) -> None:
        self._run(_explained(delete_all(self._rules, session_id), self._rules))


class AsyncFiles:
    """``AsyncSteelClient.files``: ``Files``, awaited."""

    def __init__(self, run: Callable[[Plan[Any]], Awaitable[Any]], rules: Rules) -> None:
        self._run, self._rules = run, rules

    async def list(self, session_id: str) -> builtins.list[SessionFile]:
        return await self._run(_explained(list_files(self._rules, session_id), self._rules))

    async def upload(
        self, session_id: str, file: Upload | None = None, *, path: str | None = None, url: str | None = None
    ) -> SessionFile:
        return await self._run(_explained(_upload_plan(self._rules, session_id, file, path, url), self._rules))

    async def download(self, session_id: str, path: str) -> bytes:
        return await self._run(_explained(download(self._rules, session_id, path), self._rules))

    async def download_to(self, session_id: str, path: str, destination: str | os.PathLike[str]) -> Path:
        plan = download_into(self._rules, session_id, path, Path(destination))
        return await self._run(_explained(plan, self._rules))

    async def download_archive(self, session_id: str) -> bytes:
        return await self._run(_explained(download_archive(self._rules, session_id), self._rules))

    async def delete(self, session_id: str, path: str) -> None:
        await self._run(_explained(delete(self._rules, session_id, path), self._rules))

    async def delete_all(self, session_id: str) -> None:
        await self._run(_explained(delete_all(self._rules, session_id), self._rules))


def _upload_plan(rules: Rules, session_id: str, file: Upload | None, path: str | None, url: str | None) -> Plan[Any]:
    if file is None and url is not None:
        return upload_url(rules, session_id, url, path)
    if file is not None and url is None:
        return upload(rules, session_id, file, path)
    raise ValueError("upload takes either file (bytes, a stream or a local path) or url=, not both or neither")
