"""How many sessions the server runs at once, kept to across every process of the run.

A server whose profile runs one session at a time silently replaces it on every create:
``SessionLimit`` asks the profile (or takes ``--steel-max-sessions``), and ``SessionSlots``
serialises sessions with lock files the kernel frees if a process dies.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._client.errors import SteelError
from .._config.settings import Settings

if TYPE_CHECKING:
    from .._client.client import SteelClient
    from .._client.profile import BackendProfile

DEFAULT_SLOT_WAIT_S = 60.0


class SlotUnavailable(SteelError):
    """Every slot is held, by this process or until the wait ran out."""


class SessionSlots:
    """At most ``count`` live sessions at once on one server, across every process of the run.

    Each slot is a lock file under ``directory`` held (``flock``) from create to
    release; the kernel frees it if the process dies. A process that holds every
    slot and asks for another would wait on itself, so it fails at once instead.
    """

    POLL_INTERVAL = 0.05

    def __init__(self, directory: Path, server_url: str, count: int) -> None:
        key = hashlib.sha256(server_url.encode()).hexdigest()[:16]
        self.count = count
        self._paths = [directory / f"slot-{key}-{n}.lock" for n in range(count)]
        self._held: dict[str, int] = {}  # session-to-be key -> fd

    def acquire(self, key: str, wait: float) -> None:
        import fcntl  # POSIX only, and only needed for servers that limit sessions

        if len(self._held) >= self.count:
            raise SlotUnavailable("every slot is held by this process")
        deadline = time.monotonic() + wait
        while True:
            for path in self._paths:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                self._held[key] = fd
                return
            if time.monotonic() >= deadline:
                raise SlotUnavailable(f"no slot came free in {wait:.0f} s")
            time.sleep(self.POLL_INTERVAL)  # flock has no timed wait; other processes free slots

    def release(self, key: str) -> None:
        fd = self._held.pop(key, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops its lock

    @property
    def holders(self) -> list[str]:
        return list(self._held)


@dataclass(frozen=True)
class Concurrency:
    limit: int | None
    reason: str


class SessionLimit:
    """The server's concurrency, configured or detected once, and the slots that keep to it."""

    def __init__(
        self,
        settings: Settings,
        client: SteelClient,
        profile: Callable[[], BackendProfile],
        slots_directory: Callable[[], str],
        say: Callable[[str], None],
    ) -> None:
        self.concurrency = self._detect(settings, profile, say)
        self._slots: SessionSlots | None = None
        if self.concurrency.limit is not None:
            self._slots = SessionSlots(Path(slots_directory()), client.base_url, self.concurrency.limit)

    @staticmethod
    def _detect(settings: Settings, profile: Callable[[], BackendProfile], say: Callable[[str], None]) -> Concurrency:
        """``--steel-max-sessions``, else what the backend's profile says (asked only then: it may ask the server)."""
        configured = settings.max_sessions
        if configured.value is not None:
            return Concurrency(configured.value, configured.source)
        backend = profile()
        if backend.max_sessions is not None:
            say(
                "the server runs one session at a time (detected), so sessions were serialised across "
                "workers; set --steel-max-sessions to override"
            )
            return Concurrency(backend.max_sessions, f"detected: a {backend.name} server runs one session at a time")
        return Concurrency(None, "the server enforces its own limit")

    def reserve(self, session_id: str, owner: str, timeout_ms: int | None) -> None:
        """Wait for a free slot on a server that limits sessions; a SteelError says who holds them."""
        if self._slots is None:
            return
        try:
            self._slots.acquire(session_id, wait=max(DEFAULT_SLOT_WAIT_S, (timeout_ms or 300_000) / 1000))
        except SlotUnavailable as exc:
            holders = ", ".join(self._slots.holders) or "other processes"
            raise SteelError(
                f"{owner} needs a session, but the server runs at most {self.concurrency.limit} at once "
                f"({self.concurrency.reason}) and {exc} (live: {holders}). Use one session per test, or raise "
                "--steel-max-sessions if the server allows more."
            ) from None

    def free(self, session_id: str) -> None:
        if self._slots is not None:
            self._slots.release(session_id)


MADE_AHEAD_FILE = "made-ahead"  # in the run's shared folder: ids of sessions created ahead of their test


def note_made_ahead(folder: str, session_id: str) -> None:
    """A session about to be created ahead of its test (the prefetcher's), noted before its create is sent.

    No test report names it until a test takes it: if the worker that made it is killed first,
    the controller's safety net finds it here, so that it does not meter until its timeout.
    """
    try:
        with open(os.path.join(folder, MADE_AHEAD_FILE), "a", encoding="utf-8") as ledger:
            ledger.write(session_id + "\n")  # one short append: whole, whoever else appends
    except OSError:
        pass  # the folder went with a dead controller: this worker releases what it made itself


def made_ahead(folder: str) -> set[str]:
    """Every id noted by ``note_made_ahead`` in this run (taken, released or not)."""
    try:
        return set(Path(folder, MADE_AHEAD_FILE).read_text(encoding="utf-8").split())
    except OSError:
        return set()
