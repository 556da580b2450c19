"""Recordings of a test's own session, asked for at create and saved beside its screenshots and trace.

- steel-local (the embedded server, or one reached by base URL) records a session
  when its create says ``recordVideo: true``: a WebM of the session's pages, served
  at ``/v1/sessions/{id}/recording`` once the session has ended, kept until deleted.
- Steel Cloud records every session by itself; the plugin saves what its API gives,
  the rrweb events (``GET /v1/sessions/{id}/events``, page by page), with a page that
  replays them (the rrweb player comes from a CDN, so it needs the network).
- A backend with neither (its profile in ``_client.profile`` says which) leaves a note
  in the report, not an error.

A per-module session is shared by its tests, so it is not recorded: a test's
recording is of its own session, and of each ``steel_new_session`` session it made
(``recording-2.webm``, ``recording-3.webm`` ...).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .._client.errors import SteelError, SteelNotFoundError, first_line
from .._client.profile import STEEL_CLOUD
from .._client.wire import RECORD_VIDEO_FIELD
from .._config.settings import Settings
from .._config.stash import RECORDING_KEY

if TYPE_CHECKING:
    from .._client.client import SteelClient
    from .._sessions.lifecycle import TrackedSession

VIDEO_NAME = "recording.webm"
EVENTS_NAME = "recording-events.json"
PLAYER_NAME = "recording.html"
Saved = tuple[list[tuple[str, Path]], list[str]]  # the files kept, as (kind, path), and what went wrong
_PLAYER = "https://cdn.jsdelivr.net/npm/rrweb-player@1.0.0-alpha.4/dist"


def recording_fields(item: pytest.Item, settings: Settings) -> dict[str, bool]:
    """The create fields that make the backend record ``item``'s own session (none where it records unasked)."""
    return _fields(_mode(item, settings), settings)


def ask_at_create(item: pytest.Item, settings: Settings) -> dict[str, bool]:
    """``recording_fields``, noting the mode on the item for its teardown report."""
    mode = _mode(item, settings)
    if mode != "off":
        item.stash[RECORDING_KEY] = mode
    return _fields(mode, settings)


def _mode(item: pytest.Item, settings: Settings) -> str:
    """--steel-recording, or the closest marker's ``recording=``."""
    from .artifacts import artifact_modes

    return artifact_modes(item, settings).recording


def _fields(mode: str, settings: Settings) -> dict[str, bool]:
    # Known from the configuration (Steel Cloud is chosen by its key), before any answer: a create asks here.
    return {} if mode == "off" or settings.configured_profile.records_unasked else {RECORD_VIDEO_FIELD: True}


def save(client: SteelClient, tracked: TrackedSession, folder: Path, *, failed: bool, records_unasked: bool) -> Saved:
    """After the session ended: keep its recording if the mode and the outcome say so, else discard it.

    ``records_unasked``: the backend's profile records every session itself (Steel's events), with no video.
    Returns the kept files as ``("recording", path)`` and what went wrong, as report lines.
    """
    mode = tracked.node.stash.get(RECORDING_KEY, "off") if isinstance(tracked.node, pytest.Item) else "off"
    keep = mode == "on" or (mode == "retain-on-failure" and failed)
    if not records_unasked and not tracked.unreleased:
        try:
            if keep:
                return _keep_video(client, tracked, folder)
        except SteelNotFoundError:
            pass  # no video: perhaps a backend that gives Steel's events
        except SteelError as exc:
            return [], [f"no recording of session {tracked.id}: {first_line(exc)}"]
        finally:
            _discard(client, tracked.id)
    if not keep:
        return [], []
    if tracked.unreleased:
        return [], [f"no recording of session {tracked.id}: it could not be released"]
    return _keep_events(client, tracked, folder)


def named(name: str, number: int) -> str:
    """A session's artifact name: as given for the test's own session, ``-N`` after the stem for its Nth."""
    if number == 1:
        return name
    stem, dot, suffix = name.partition(".")
    first, dash, rest = stem.partition("-")  # recording-events.json -> recording-2-events.json
    return f"{first}-{number}{dash}{rest}{dot}{suffix}"


def _keep_video(client: SteelClient, tracked: TrackedSession, folder: Path) -> Saved:
    video = client.recording(tracked.id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / named(VIDEO_NAME, tracked.number)
    path.write_bytes(video)
    return [("recording", path)], []


def _discard(client: SteelClient, session_id: str) -> None:
    """steel-local keeps a recording until told: tell it, whatever became of the file."""
    try:
        client.discard_recording(session_id)
    except SteelError:
        pass  # no such recording, or a backend that has none: nothing is kept there


def _keep_events(
    client: SteelClient, tracked: TrackedSession, folder: Path
) -> tuple[list[tuple[str, Path]], list[str]]:
    try:
        events = client.events(tracked.id)
    except SteelNotFoundError:
        return [], [
            f"no recording of session {tracked.id}: the backend keeps none (it records only on {STEEL_CLOUD.name})"
        ]
    except SteelError as exc:
        return [], [f"no recording of session {tracked.id}: {first_line(exc)}"]
    if not events:
        return [], [f"no recording of session {tracked.id}: the backend recorded no events"]
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(events)
    kept_events = folder / named(EVENTS_NAME, tracked.number)
    kept_events.write_text(data)
    player = folder / named(PLAYER_NAME, tracked.number)
    player.write_text(_player_page(tracked.id, data))
    return [("recording", player), ("recording_events", kept_events)], []


def _player_page(session_id: str, events_json: str) -> str:
    """A page that replays the events with rrweb-player; ``<`` escaped so that no event can end the script."""
    embedded = events_json.replace("<", "\\u003c")
    return f"""<!doctype html>
<meta charset="utf-8">
<title>Steel session {html.escape(session_id)}</title>
<link rel="stylesheet" href="{_PLAYER}/style.css">
<div id="player"></div>
<script id="events" type="application/json">{embedded}</script>
<script src="{_PLAYER}/index.js"></script>
<script>
new rrwebPlayer({{target: document.getElementById("player"),
  props: {{events: JSON.parse(document.getElementById("events").textContent)}}}});
</script>
"""
