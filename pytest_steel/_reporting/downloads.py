"""A test's downloads, kept in its artifact folder: what its own sessions' files areas hold before release.

A session's files go with it when it is released, so they are saved at the test's
teardown, just before its sessions' release: under ``retain-on-failure`` (the default)
only when the test failed so far, under ``on`` always. They land in
``<test folder>/downloads/`` (per session ``downloads-2/``, ``downloads-3/`` ... when a test
holds several), named as the files area names them (a page's download by its guid, a file
in a subfolder of the area in that subfolder). A name that would land outside the folder
(absolute, ``..``, a NUL, a backslash, too long) is not written, and the test's report says
so. A backend without a files API keeps nothing, and says nothing: there is nothing to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .._client.errors import SteelError, SteelFilesUnsupportedError, SteelNotFoundError, first_line
from .._client.safe_names import UnsafeNameError, inside_relative
from .._config.settings import Settings
from .._config.stash import FAILED_SO_FAR_KEY
from .artifacts import artifact_modes, folder_for

if TYPE_CHECKING:
    from .._client.client import SteelClient
    from .._sessions.lifecycle import TrackedSession


def keep_downloads(client: SteelClient, item: pytest.Item, settings: Settings, tracked: TrackedSession) -> None:
    """Save what ``tracked``'s files area holds into the test's folder, if the mode and the outcome ask for it."""
    mode = artifact_modes(item, settings).downloads
    if mode == "off" or (mode == "retain-on-failure" and not item.stash.get(FAILED_SO_FAR_KEY, False)):
        return
    kept = ExtraArtifacts.of(item)
    kept.sessions += 1
    name = "downloads" if kept.sessions == 1 else f"downloads-{kept.sessions}"
    folder = folder_for(settings.output.value, item) / name
    try:
        files = client.files.list(tracked.id)
    except (SteelNotFoundError, SteelFilesUnsupportedError):
        return  # no files API, or the session is gone: nothing to keep
    except SteelError as exc:
        kept.problems.append(f"no downloads of session {tracked.id}: {first_line(exc)}")
        return
    for file in files:
        try:
            local = inside_relative(folder, file.path)  # the backend names it: it may not name a place outside
        except UnsafeNameError as exc:
            kept.problems.append(f"download of session {tracked.id} not written, its name is unsafe: {first_line(exc)}")
            continue
        try:
            kept.files.append(("download", client.files.download_to(tracked.id, file.path, local)))
        except (SteelNotFoundError, SteelFilesUnsupportedError):
            return
        except (SteelError, OSError) as exc:
            kept.problems.append(f"download {file.path!r} of session {tracked.id} not kept: {first_line(exc)}")


@dataclass
class ExtraArtifacts:
    """What a test kept beside its recorder's artifacts (downloads, further sessions' screenshots), for its report."""

    files: list[tuple[str, Path]] = field(default_factory=list)  # (kind, path)
    problems: list[str] = field(default_factory=list)
    sessions: int = 0  # sessions looked at so far: each gets a folder of its own
    unless_failed: list[Path] = field(default_factory=list)  # retain-on-failure traces: a passing test drops them

    @staticmethod
    def of(item: pytest.Item) -> ExtraArtifacts:
        """The test's, made on first need."""
        return item.stash.setdefault(EXTRA_ARTIFACTS_KEY, ExtraArtifacts())

    def settle(self, failed: bool) -> None:
        """After the last teardown: a passing test's retain-on-failure files go, and their folder if left empty."""
        if failed:
            return
        for path in self.unless_failed:
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # only if empty
            except OSError:
                pass
        self.files = [(kind, path) for kind, path in self.files if path not in self.unless_failed]
        self.unless_failed = []


EXTRA_ARTIFACTS_KEY = pytest.StashKey[ExtraArtifacts]()  # on a test: its downloads, its further sessions' screenshots
