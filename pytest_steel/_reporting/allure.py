"""Each test's Steel sessions and artifacts on its Allure result, when allure-pytest writes one (``--alluredir``).

Loaded only when allure-pytest's listener is registered: pytest-steel needs no Allure.
Attached in the test's teardown report, once every fixture is torn down and the artifacts
are settled, so the same retention applies as everywhere (``only-on-failure``: a passing
test gets no screenshot). Screenshots as PNG, the Playwright trace as a zip named for
trace.playwright.dev (a further session's with its file name, ``trace-2.zip``), a recording
as WebM (or Steel Cloud's replay page as HTML), downloads by their own type; each session as
a link to its viewer and as parameters (id, backend, billed minutes) kept out of Allure's
history id. Every value goes through
the run's redaction: no key reaches the results folder.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .._sessions.lifecycle import TrackedSession

LISTENER = "allure_listener"  # the name allure-pytest registers its listener under, with --alluredir


def active(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin(LISTENER)


def attach(
    sessions: list[tuple[TrackedSession, int]],
    artifacts: list[tuple[str, Path]],
    backend: str,
    redact: Callable[[str], str],
) -> None:
    """Put ``sessions`` (each with its billed minutes) and ``artifacts`` on the running test's Allure result."""
    import allure

    for number, (tracked, billed) in enumerate(sessions, start=1):
        suffix = "" if len(sessions) == 1 else f" {number}"
        viewer = tracked.session.session_viewer_url
        if viewer:
            allure.dynamic.link(redact(viewer), name=f"Steel session{suffix} {tracked.id}")
        for name, value in (("id", redact(tracked.id)), ("backend", backend), ("billed minutes", billed)):
            allure.dynamic.parameter(f"steel session{suffix} {name}", value, excluded=True)
    for kind, path in artifacts:
        if path.is_file():
            allure.attach.file(str(path), **_described(kind, path, allure.attachment_type))


def _described(kind: str, path: Path, types: Any) -> dict[str, Any]:
    if kind == "screenshot":
        return {"name": f"Steel screenshot: {path.name}", "attachment_type": types.PNG}
    further = "" if path.stem in ("trace", "recording") else f" {path.name}"  # a steel_new_session's: trace-2.zip
    if kind == "trace":
        name = f"Playwright trace{further} (open it at https://trace.playwright.dev)"
        return {"name": name, "attachment_type": types.ZIP}
    if kind == "recording" and path.suffix == ".webm":
        return {"name": f"Steel recording{further}", "attachment_type": types.WEBM}
    if kind == "recording":
        return {
            "name": f"Steel recording: {path.name}",
            "attachment_type": types.HTML if path.suffix == ".html" else None,
        }
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return {"name": f"Steel {kind}: {path.name}", "attachment_type": mime, "extension": path.suffix.lstrip(".") or None}
