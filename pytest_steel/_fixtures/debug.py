"""``--steel-debug``: watch each test's session as it runs, and look at it when the test fails.

As a session starts, its live viewer's link is printed (and opened where there is a
display); Playwright's actions are slowed down (``--steel-slowmo``, 250 ms by default
here) so that a person can follow; and when a test fails, its sessions stay open while
the run waits for Enter, or until the first of them times out. The waiting reads the
controlling terminal (``/dev/tty``), not standard input, which pytest captures: so the
mode needs one, and is refused under pytest-xdist, whose workers have none.

The embedded server's viewer wants its per-run key, which must not ride in a URL: the
browser opened here shows its URL in the process list. So each link carries a one-time
token the server mints for the key (``POST /v1/viewer-tokens``) and exchanges for a cookie
as the page opens, redirecting to the same page without it: the link opened at once lives
a minute, a printed one ten (a fresh one is printed at a failure), and either, once
spent, opens nothing more in another browser.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
import urllib.parse
import webbrowser
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .._client.models import Session
    from .._sessions.lifecycle import TrackedSession


DEBUG_SLOWMO = 250.0  # milliseconds before each action, unless --steel-slowmo says otherwise
OPENED_LINK_MS = 60_000  # how long the link handed to a browser opens the viewer: it is spent at once
PRINTED_LINK_MS = 600_000  # how long a printed link does: a person reads, then clicks


def terminal_to_wait_on(config: pytest.Config) -> int:
    """The terminal to wait on (a descriptor), or a usage error saying why the mode cannot run."""
    if hasattr(config, "workerinput") or (config.getoption("numprocesses", None) or 0):
        raise pytest.UsageError(
            "--steel-debug waits for you at a failing test, which pytest-xdist's workers cannot do: "
            "run without -n (or with -n 0)"
        )
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)  # held for the run, closed at unconfigure
    except OSError:
        raise pytest.UsageError(
            "--steel-debug waits for Enter at a failing test, and this run has no terminal to read it from; "
            "run pytest from a terminal, or leave --steel-debug off"
        ) from None


def _has_display() -> bool:
    return bool(
        os.environ.get("BROWSER")
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or sys.platform in ("darwin", "win32")
    )


def _viewer_token(base_url: str, key: str, lifetime_ms: int) -> str | None:
    """A token from the embedded server that opens its viewer once; None if it gives none."""
    import httpx

    from .._client.wire import API_KEY_HEADER

    try:
        answer = httpx.post(  # straight to the loopback server: no proxy from the environment sees the key
            f"{base_url}/v1/viewer-tokens",
            headers={API_KEY_HEADER: key},
            json={"ttlMs": lifetime_ms},
            timeout=10,
            trust_env=False,
        )
        token = answer.raise_for_status().json()["token"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return token if isinstance(token, str) else None


class Debugger:
    """The mode's plugin: links as sessions start, a pause after each failure."""

    def __init__(self, config: pytest.Config, tty: int) -> None:
        self._config = config
        self._tty = tty

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._tty)

    def _say(self, line: str) -> None:
        """Straight to the terminal: pytest captures standard output while a test sets up and runs."""
        with contextlib.suppress(OSError):
            os.write(self._tty, b"\n" + line.encode() + b"\n")

    def viewer_link(self, session: Session, lifetime_ms: int = PRINTED_LINK_MS) -> str | None:
        """The session's viewer; the embedded server's with a one-time token, never the key."""
        url = session.session_viewer_url
        if not url:
            return None
        from .._config.settings import settings_of
        from .run import started_run

        run = started_run(self._config)
        if run is not None and settings_of(self._config).is_embedded and run.backend.embedded_key:
            token = _viewer_token(run.backend.client().base_url, run.backend.embedded_key, lifetime_ms)
            if token:  # else the plain link: refused by the server, but no key shown anywhere
                url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"viewerToken": token})
        return url

    @pytest.hookimpl
    def pytest_steel_session_created(self, session: Session, node: Any, config: pytest.Config) -> None:
        link = self.viewer_link(session)
        owner = getattr(node, "nodeid", None) or "the run"
        self._say(f"steel: watch session {session.id} for {owner}: {link or '(the backend gives no viewer)'}")
        if link and _has_display():
            with contextlib.suppress(Exception):  # a browser that cannot open is no reason to stop the run
                webbrowser.open(self.viewer_link(session, OPENED_LINK_MS) or link, new=2)

    def pause(self, item: pytest.Item, sessions: list[TrackedSession], report: pytest.TestReport) -> None:
        """After a failing test: wait for Enter, or until the first of its live sessions times out."""
        live = [t for t in sessions if not t.is_over]
        if not live:
            return
        lines = report.longreprtext.strip().splitlines()
        said = next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1] if lines else "")
        if said:
            self._say(f"steel: {item.nodeid}: {said}")
        time_left = [t.session.timeout / 1000 - (time.monotonic() - t.started) for t in live if t.session.timeout]
        wait = max(min(time_left), 0.0) if time_left else None
        until = f"or wait {wait:.0f} s, until its timeout" if wait is not None else "(its backend has no timeout)"
        links = ", ".join(self.viewer_link(t.session) or t.id for t in live)
        self._say(f"steel: {item.nodeid} failed; its session stays open at {links}")
        self._say(f"steel: press Enter to go on {until}")
        deadline = time.monotonic() + wait if wait is not None else None
        while True:  # until a whole line (Enter), or the deadline
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not select.select([self._tty], [], [], left)[0]:
                return
            typed = os.read(self._tty, 1024)
            if not typed or b"\n" in typed or b"\r" in typed:
                return
