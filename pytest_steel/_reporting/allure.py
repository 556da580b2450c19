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

allure-pytest takes a failure's message straight from the exception (``exconly()``), which
no pytest report scrubbing reaches; so ``Scrubber``, an allure-commons plugin, goes over
every result and fixture container just before Allure writes it (messages, traces, step
and parameter names and values, links) and replaces the key in each string.
"""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .._client.redaction import redact

if TYPE_CHECKING:
    from .._sessions.lifecycle import TrackedSession

LISTENER = "allure_listener"  # the name allure-pytest registers its listener under, with --alluredir
REPORT_DIR_OPTION = "allure_report_dir"  # allure-pytest's --alluredir, known once options are parsed


def active(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin(LISTENER)


class Scrubber:
    """Every Allure result and container, rid of the key just before allure-commons writes it to the folder."""

    def __init__(self, secret: Callable[[], str | None]) -> None:
        self._secret = secret  # asked at each write: the embedded server's key exists only once the run starts

    @classmethod
    def register(cls, config: pytest.Config, secret: Callable[[], str | None]) -> None:
        """Register with allure-commons, before its file logger is asked, and unregister when the run ends."""
        import allure_commons

        for name in ("report_result", "report_container"):  # hooks of allure-commons, asked before its writer
            method = getattr(cls, name)
            if not hasattr(method, "allure_impl"):
                setattr(cls, name, allure_commons.hookimpl(tryfirst=True)(method))
        scrubber = cls(secret)
        allure_commons.plugin_manager.register(scrubber)
        config.add_cleanup(lambda: allure_commons.plugin_manager.unregister(scrubber))

    def _scrub(self, item: Any) -> None:
        secret = self._secret()
        if secret:
            _scrubbed(item, secret, depth=0)

    def report_result(self, result: Any) -> None:
        self._scrub(result)

    def report_container(self, container: Any) -> None:
        self._scrub(container)


def _scrubbed(value: Any, secret: str, depth: int) -> Any:
    """``value`` with the secret replaced in every string it holds (attrs models, lists, dicts), changed in place."""
    if isinstance(value, str):
        return redact(value, secret)
    if depth > 32:  # Allure's models nest steps in steps; deeper than this is no real result
        return value
    if isinstance(value, list):
        value[:] = [_scrubbed(v, secret, depth + 1) for v in value]
    elif isinstance(value, dict):
        for key in list(value):
            value[key] = _scrubbed(value[key], secret, depth + 1)
    elif hasattr(type(value), "__attrs_attrs__"):
        for attribute in type(value).__attrs_attrs__:
            with contextlib.suppress(AttributeError):  # a frozen model: it holds what Allure put there
                setattr(value, attribute.name, _scrubbed(getattr(value, attribute.name), secret, depth + 1))
    return value


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
