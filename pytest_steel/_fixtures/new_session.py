"""``steel_new_session``: further isolated sessions in one test (two users in a chat, an admin and a customer).

Each call creates a session of its own with the test's create parameters and any fields
given, connects Playwright to it and hands back its page and the session. Each is reported
on the test and counted in the summary, takes a slot like every other session (on a server
that runs one session at a time, a second one in the same test is a clear error instead of a
wait on itself), keeps its downloads and, as the test's own session does under the same
modes, a screenshot of its pages (``session-N-...png``), a Playwright trace (``trace-N.zip``)
and, where the backend records, its recording (``recording-N.webm``) in the test's folder,
N being 2 for the first further session; it is released at the test's teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from .._client.errors import first_line
from .._config.settings import settings_of
from .._config.stash import FAILED_SO_FAR_KEY
from .connect import connect
from .create_params import create_params
from .release import raise_if_it_ended_under_the_test, release_own

if TYPE_CHECKING:
    from playwright.async_api import Page as AsyncPage
    from playwright.sync_api import Page

    from .._browser.connection import Connection, PlaywrightDriver
    from .._client.models import Session
    from .._reporting.downloads import ExtraArtifacts
    from .._sessions.lifecycle import TrackedSession
    from .run import SteelRun


class NewSession(NamedTuple):
    """A further session of the test: a page in its own browser, and the session (unpack as ``page, session``)."""

    page: Page
    session: Session


class AsyncNewSession(NamedTuple):
    """``steel_async_new_session``'s: the same, with a page of Playwright's async API."""

    page: AsyncPage
    session: Session


@pytest.fixture
def steel_new_session(
    request: pytest.FixtureRequest, _steel_playwright: PlaywrightDriver, _steel_run: SteelRun
) -> Iterator[Callable[..., NewSession]]:
    """``steel_new_session(**create_fields)``: another isolated session for this test, as ``(page, session)``."""
    run = _steel_run
    made: list[tuple[Connection, TrackedSession]] = []

    def new(**create_fields: Any) -> NewSession:
        tracked = further_session(run, request, create_fields)
        tracked.number = len(made) + 2
        try:
            connection = connect(run, _steel_playwright, tracked, request.node)
        except BaseException:
            run.sessions.release(tracked)
            raise
        made.append((connection, tracked))  # from here on, the teardown disconnects and releases it
        context = connection.context
        if trace_target(request.node, tracked.number) is not None:
            context.tracing.start(**TRACE_OPTIONS, title=request.node.nodeid)
        return NewSession(context.pages[0] if context.pages else context.new_page(), tracked.session)

    yield new
    finish_new_sessions(run, request.node, made)


def further_session(run: SteelRun, request: pytest.FixtureRequest, create_fields: dict[str, Any]) -> TrackedSession:
    """A further session for the test, created with its create parameters, its recording and ``create_fields``."""
    from .._reporting.recordings import ask_at_create

    recording = ask_at_create(request.node, settings_of(request.config))  # recorded as the test's own session is
    return run.sessions.create({**create_params(request, request.node), **recording, **create_fields}, request.node)


def finish_new_sessions(run: SteelRun, item: pytest.Item, made: list[tuple[Connection, TrackedSession]]) -> None:
    """Screenshots and trace, as the modes ask, then disconnect and release each; the first session error raised."""
    from playwright.sync_api import Error as PlaywrightError

    for connection, tracked in made:
        for page, path in screenshot_targets(item, tracked.number, connection.context.pages):
            try:
                page.screenshot(path=path)
            except PlaywrightError as exc:
                extra_artifacts_of(item).problems.append(f"no screenshot of {page.url}: {exc}")
            else:
                extra_artifacts_of(item).files.append(("screenshot", path))
        trace = trace_target(item, tracked.number)
        if trace is not None:
            try:
                connection.context.tracing.stop(path=trace)
            except PlaywrightError as exc:
                extra_artifacts_of(item).problems.append(f"no trace of session {tracked.id}: {first_line(exc)}")
            else:
                keep_trace(item, trace)
        connection.close()
        release_own(run, tracked)
    raise_for_any_ended([tracked for _, tracked in made])


# As the test's own session's trace.
TRACE_OPTIONS: dict[str, Any] = {"screenshots": True, "snapshots": True, "sources": True}


def trace_target(item: pytest.Item, number: int) -> Path | None:
    """Where the further session's trace goes (``trace-N.zip``), or None when tracing is off."""
    from .._reporting.artifacts import artifact_modes, folder_for

    settings = settings_of(item.config)
    if artifact_modes(item, settings).tracing == "off":
        return None
    return folder_for(settings.output.value, item) / f"trace-{number}.zip"


def keep_trace(item: pytest.Item, path: Path) -> None:
    """A trace written: linked from the test's report, and dropped after it if it passed under retain-on-failure."""
    from .._reporting.artifacts import artifact_modes

    kept = extra_artifacts_of(item)
    kept.files.append(("trace", path))
    if artifact_modes(item, settings_of(item.config)).tracing == "retain-on-failure":
        kept.unless_failed.append(path)


def raise_for_any_ended(made: list[TrackedSession]) -> None:
    """Each further session that ended on its own under the test, unreported so far: the first is raised."""
    for tracked in made:
        raise_if_it_ended_under_the_test(tracked)


def extra_artifacts_of(item: pytest.Item) -> ExtraArtifacts:
    """The test's artifacts besides its own session's recorder (downloads, further sessions' files)."""
    from .._reporting.downloads import ExtraArtifacts

    return ExtraArtifacts.of(item)


def screenshot_targets(item: pytest.Item, number: int, pages: list[Any]) -> list[tuple[Any, Path]]:
    """The further session's open pages to screenshot now, as the screenshot mode and the outcome ask."""
    from .._reporting.artifacts import artifact_modes, folder_for

    settings = settings_of(item.config)
    mode = artifact_modes(item, settings).screenshot
    failed = item.stash.get(FAILED_SO_FAR_KEY, False)
    if mode == "off" or (mode == "only-on-failure" and not failed):
        return []
    folder = folder_for(settings.output.value, item)
    status = "failed" if failed else "finished"
    live = [p for p in pages if not p.is_closed()]
    return [(page, folder / f"session-{number}-{status}-{index + 1}.png") for index, page in enumerate(live)]
