"""What the run says about its sessions: live progress, each test's session and artifacts, and the summary.

``RunReport`` owns it all. Everything travels as plain data (strings, dicts), because
under pytest-xdist it is made on a worker and shown by the controller: per-test
details and progress lines ride on the test reports, session records and summary
notes on ``workeroutput`` (``to_worker_output`` / ``merge_worker_output``).
"""

from __future__ import annotations

import base64
import math
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._client.profile import ignored_meaning, kept_timeout_ms

if TYPE_CHECKING:
    from .._sessions.lifecycle import TrackedSession

# How each session ended, in the order the summary lists them.
ENDS = {
    "released": "released",
    "failed": "failed",
    "timeout": "released by timeout",
    "safety-net": "released by the safety net",
    "unreleased": "could not be released",
    "live": "still live",
}
SLOWEST_SHOWN = 3


@dataclass
class SessionRecord:
    """One session the run created, from creation to its end (JSON-able, for xdist)."""

    id: str
    owner: str  # the test or module that created it
    create_ms: float
    lifetime_ms: float | None = None  # Steel's duration when the backend reports it, else measured here
    end: str = "live"  # a key of ENDS
    state: str = "live"  # e.g. "released (user_requested)", "failed (browser_crashed)"
    timeout_ms: int | None = None  # known when it matters: a session we could not release meters until then
    created_at: float = field(default_factory=time.time)  # wall clock: another process may end the record

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionRecord:
        return cls(**data)

    @property
    def billed_minutes(self) -> int:
        """Steel meters by the minute, rounded up, per session."""
        return math.ceil((self.lifetime_ms or 0) / 60_000)


def format_ms(ms: float) -> str:
    if ms < 1_000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"


def created_line(record: SessionRecord) -> str:
    return f"steel: created session {record.id} for {record.owner} in {format_ms(record.create_ms)}"


def ended_line(record: SessionRecord) -> str:
    return f"steel: session {record.id} {_how_it_ended(record)}"


def _how_it_ended(record: SessionRecord) -> str:
    lived = f" after {format_ms(record.lifetime_ms)}" if record.lifetime_ms is not None else ""
    plain = record.end in ("released", "safety-net") and record.state.startswith("released")
    return f"{ENDS[record.end]}{lived}" + ("" if plain else f" [{record.state}]")


def summary(records: list[SessionRecord], caught_by_release_all: int, verbosity: int) -> list[str]:
    """The run's sessions in a few lines: one with ``-q``, a line per session with ``-v``."""
    if not records and not caught_by_release_all:
        return []
    counts = {end: sum(1 for r in records if r.end == end) for end in ENDS}
    ends = ", ".join(f"{n} {ENDS[end]}" for end, n in counts.items() if n)
    total_ms = sum(r.lifetime_ms or 0 for r in records)
    billed = sum(r.billed_minutes for r in records)
    noun = "session" if len(records) == 1 else "sessions"
    if verbosity < 0:
        return [f"{len(records)} {noun} ({ends}), {format_ms(total_ms)}, billed {billed} min"]
    lines = [f"{len(records)} {noun} created: {ends or 'none'}"]
    if caught_by_release_all:
        lines.append(f"release-all found {caught_by_release_all} more live session(s) this run did not track")
    lines.append(
        f"session time {format_ms(total_ms)}; billed {billed} min (each session's time rounded up to whole minutes)"
    )
    unreleased = [r for r in records if r.end == "unreleased"]
    if unreleased:
        more = sum(max(math.ceil((r.timeout_ms or 0) / 60_000) - r.billed_minutes, 0) for r in unreleased)
        upto = f" (up to {more} min more)" if more else ""
        lines.append(
            f"{len(unreleased)} could not be released and may go on metering until their timeout{upto}: "
            "check the backend's dashboard"
        )
    by_create = sorted(records, key=lambda r: r.create_ms, reverse=True)
    if verbosity <= 0 and by_create:
        shown = ", ".join(f"{format_ms(r.create_ms)} ({r.owner})" for r in by_create[:SLOWEST_SHOWN])
        lines.append(f"slowest creations: {shown}")
    if verbosity > 0:
        lines.append("sessions, slowest creation first:")
        for r in by_create:
            lines.append(f"  {r.id}  create {format_ms(r.create_ms)}, {_how_it_ended(r)}  {r.owner}")
    return lines


def traffic_line(traffic: Mapping[str, float], sessions: int) -> str:
    """The run's REST requests against the plan: how many, per session, refused, and the time spent waiting."""
    requests = int(traffic.get("requests", 0))
    per = f" ({requests / sessions:.1f} per session)" if sessions else ""
    line = f"REST requests {requests}{per}, {int(traffic.get('refused', 0))} refused with 429"
    waits = int(traffic.get("waits", 0))
    if waits:
        line += f"; waited {traffic.get('waited_s', 0):.1f} s for the plan's rate or its Retry-After ({waits} times)"
    return line


WORKER_OUTPUT_KEY = "steel_report"


@dataclass
class RunReport:
    """Everything the run will say about its sessions, gathered as it happens."""

    records: dict[str, SessionRecord] = field(default_factory=dict)  # every session created, by id
    notes: list[str] = field(default_factory=list)  # lines for the summary: what went wrong, what the net caught
    caught_by_release_all: int = 0
    workers_used_steel: bool = False  # reported by xdist workers as they finish
    traffic: dict[str, float] = field(default_factory=dict)  # REST requests, 429s, waits: every process's, summed
    _events: list[str] = field(default_factory=list)  # progress lines not yet attached to a test report
    _changed: dict[str, None] = field(default_factory=dict)  # records changed since the last test report

    def note(self, line: str) -> None:
        self.notes.append(line)

    def created(self, tracked: TrackedSession, elapsed_s: float) -> None:
        record = SessionRecord(tracked.id, tracked.owner, create_ms=elapsed_s * 1000)
        self.records[tracked.id] = record
        self._changed[tracked.id] = None
        self._events.append(created_line(record))

    def ended(self, tracked: TrackedSession, end: str) -> None:
        """``end`` is a key of ``ENDS``: how the session ended, as the summary counts it."""
        record = self.records[tracked.id]
        record.lifetime_ms = tracked.lifetime_ms()
        record.state = tracked.final.describe_state() if tracked.final is not None else "live"
        record.end = end
        self._changed[tracked.id] = None
        self._events.append(ended_line(record))

    def backend_ignored(self, tracked: TrackedSession) -> None:
        """The backend took fields of this session's create without acting on them: say so, once per field."""
        for name in tracked.session.ignored_fields:
            self.note(f"the backend ignores the create field {name}: {ignored_meaning(name)}")
        self._events.append(
            f"steel: the backend ignored {', '.join(tracked.session.ignored_fields)} for session {tracked.id}"
        )

    def unreleased(self, tracked: TrackedSession, why: str) -> None:
        """Our release failed: billed for its time so far, and said to be able to meter on until its timeout."""
        record = self.records[tracked.id]
        record.end, record.state = "unreleased", "may be live until its timeout"
        record.lifetime_ms = tracked.lifetime_ms()
        record.timeout_ms = kept_timeout_ms(tracked.session.timeout)
        self._changed[tracked.id] = None
        self.note(f"session {tracked.id} created by {tracked.owner} could not be released: {why}")

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events

    def take_changes(self) -> list[dict[str, Any]]:
        """The records changed since the last call, as plain data: an xdist worker sends them with each report,
        so that the controller knows of every session even if the worker crashes before it finishes."""
        changed, self._changed = self._changed, {}
        return [self.records[session_id].to_dict() for session_id in changed]

    def merge_records(self, records: list[dict[str, Any]]) -> None:
        for item in records:
            record = SessionRecord.from_dict(item)
            self.records[record.id] = record

    def released_by_release_all(self, session_ids: list[str]) -> int:
        """Records of sessions the safety net released (a crashed worker's); how many ids it did not know."""
        unknown = 0
        for session_id in session_ids:
            record = self.records.get(session_id)
            if record is None or record.end != "live":
                unknown += record is None
                continue
            record.end, record.state = "safety-net", "released (by release-all)"
            record.lifetime_ms = (time.time() - record.created_at) * 1000
        return unknown

    def summary(self, verbosity: int) -> list[str]:
        """The summary's lines, then the notes (once each: xdist workers may say the same)."""
        lines = summary(list(self.records.values()), self.caught_by_release_all, verbosity) if verbosity > -2 else []
        if lines and verbosity >= 0 and self.traffic.get("requests"):
            lines.append(traffic_line(self.traffic, len(self.records)))
        return lines + list(dict.fromkeys(self.notes))

    def add_traffic(self, counts: Mapping[str, float]) -> None:
        for name, value in counts.items():
            self.traffic[name] = self.traffic.get(name, 0) + value

    def to_worker_output(self, used_steel: bool) -> dict[str, Any]:
        records = [record.to_dict() for record in self.records.values()]
        return {"used": used_steel, "notes": list(self.notes), "records": records, "traffic": dict(self.traffic)}

    def merge_worker_output(self, output: Mapping[str, Any]) -> None:
        data = output.get(WORKER_OUTPUT_KEY) or {}
        self.workers_used_steel = self.workers_used_steel or bool(data.get("used"))
        self.notes.extend(data.get("notes", ()))
        self.merge_records(data.get("records", ()))
        self.add_traffic(data.get("traffic", {}))


def describe_end(tracked: TrackedSession) -> str:
    """One line naming the session, its state and what that means."""
    final = tracked.final
    if final is None or final.is_live:
        return f"Steel session {tracked.id} lost its CDP connection during the test (the session is still live)"
    reasons = {
        "browser_crashed": "its browser crashed",
        "browser_closed": "its browser closed",
        "timeout": f"its timeout ({tracked.session.timeout} ms) passed; raise it with --steel-timeout "
        "or @pytest.mark.steel(timeout=...)",
        "inactivity_timeout": "it was idle for longer than its inactivityTimeout",
        "user_requested": "something other than its fixture released it",
        "backend_unreachable": "its backend stopped answering, so the session is gone with it, or out of reach "
        "(see the pytest-steel summary for the first error)",
    }
    why = reasons.get(final.release_reason or "", "the backend ended it")
    return f"Steel session {tracked.id} is {final.describe_state()} during the test: {why}"


def session_properties(tracked: TrackedSession, shared: bool, debug_url: bool) -> list[tuple[str, str]]:
    """A test's JUnit properties for one session it used."""
    state = tracked.final.describe_state() if tracked.final is not None else "live"
    if tracked.unreleased:
        state = "could not be released: it may be live, and metering, until its timeout"
    elif tracked.final is None:
        state += " (shared with the module's other tests)" if shared else " (left live; released at the run's end)"
    properties = [("steel_session_id", tracked.id), ("steel_session_state", state)]
    for name in tracked.session.ignored_fields:  # beside a failing assertion on one, the reason for it
        properties.append(("steel_backend_ignored", f"{name}: {ignored_meaning(name)}"))
    if tracked.session.session_viewer_url:
        properties.append(("steel_session_viewer_url", tracked.session.session_viewer_url))
    if debug_url and tracked.session.debug_url:
        properties.append(("steel_session_debug_url", tracked.session.debug_url))
    return properties


# -- per test -----------------------------------------------------------------


@dataclass
class TestDetails:
    """A test's sessions and artifacts, as report properties, a report section and pytest-html links."""

    properties: list[tuple[str, str]]  # as JUnit XML shows them: paths relative to where pytest started
    artifacts: list[tuple[str, Path]]  # ("screenshot", "trace", "recording"..., absolute path)

    __test__ = False

    def section(self) -> str:
        lines = []
        for name, value in self.properties:
            label = name.removeprefix("steel_").replace("_", " ")
            lines.append(f"{label}: {value}")
            if name == "steel_trace":
                lines.append(f"  (open it with: playwright show-trace {value})")
        return "\n".join(lines)

    def html_extras(self, html_dir: str) -> list[dict[str, Any]]:
        """pytest-html's extras, as the dicts ``pytest_html.extras`` makes (so it need not be imported)."""
        extras: list[dict[str, Any]] = []
        for name, value in self.properties:
            if name in ("steel_session_viewer_url", "steel_session_debug_url"):
                label = "Steel viewer" if name == "steel_session_viewer_url" else "Steel debug view"
                extras.append(_extra(value, "url", label))
        for kind, path in self.artifacts:
            if kind == "screenshot" and path.is_file():  # embedded: the report stands on its own
                data = base64.b64encode(path.read_bytes()).decode()
                extras.append(_extra(data, "image", path.name, "image/png", "png"))
            elif kind == "trace":
                extras.append(_extra(os.path.relpath(path, html_dir), "url", "Steel trace"))
            elif kind == "recording" and path.suffix == ".webm" and path.is_file():  # plays in the report
                data = base64.b64encode(path.read_bytes()).decode()
                extras.append(_extra(data, "video", "Steel recording", "video/webm", "webm"))
            elif kind == "recording":  # Steel Cloud's events, with their player page
                extras.append(_extra(os.path.relpath(path, html_dir), "url", "Steel recording"))
            elif kind == "download":
                extras.append(_extra(os.path.relpath(path, html_dir), "url", f"Steel download {path.name}"))
        return extras


def _extra(content: str, kind: str, name: str, mime: str | None = None, ext: str | None = None) -> dict[str, Any]:
    return {"name": name, "format_type": kind, "content": content, "mime_type": mime, "extension": ext}
