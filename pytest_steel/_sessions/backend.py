"""Reaching the run's backend: its client, the embedded server and its xdist broker, and how many sessions it runs.

``BackendAccess`` is the one owner of everything between "a fixture wants a session"
and an HTTP request: which URL, started how (the embedded server on first need, or
asked of the xdist controller), with which key, within which concurrency limit, and
whether an earlier failure already showed the backend unusable.

What a failure says about the backend is decided here, once: a connection that
cannot be made, or a rejected key, condemns it at once; a slow answer does not,
but two calls in a row that time out do. A condemned backend costs each later
test that wants a session one health probe of at most a second, which brings it
back if it answers again (a restarted server); everything else fails at once.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._client import profile as profiles
from .._client.errors import (
    SteelBackendUnavailableError,
    SteelError,
    SteelHungError,
    SteelTimeoutError,
    SteelUnreachableError,
)
from .._client.limits import API_KEY_ENV
from .._client.profile import BackendProfile
from .._client.redaction import redact
from .._config.settings import Settings
from .._config.stash import WORKER_BROKER_KEY, WORKER_EMBEDDED_KEY, WORKER_SLOTS_KEY
from .health import BackendHealth

SLOTS_DIR_PREFIX = "pytest-steel-slots-"  # then the owning process's pid, a dash, mkdtemp's letters

if TYPE_CHECKING:
    from .._client.client import EventHook, SteelClient
    from .embedded import Broker, EmbeddedServer
    from .rate import SharedRateLimit
    from .slots import SessionLimit


class BackendAccess:
    """The backend as one run (one process: the controller or a worker) reaches it.

    Reaching the backend has several faces (the client, the embedded server, the xdist
    hand-over, the concurrency limit, the end); each is short, and each face with state
    of its own is delegated to its own type (``health``, ``embedded``, ``slots``).
    """

    def __init__(self, settings: Settings, workerinput: Mapping[str, Any] | None, say: Callable[[str], None]) -> None:
        self.settings = settings
        self._workerinput = workerinput or {}
        self._say = say  # a line for the run's summary
        self.event_hooks: dict[str, list[EventHook]] = {"created": [], "released": []}  # handed to the client
        self._client: SteelClient | None = None
        self._embedded: EmbeddedServer | None = None
        self._expected_sessions: int | None = None  # for the embedded server's pool, when collection can tell
        self._broker: Broker | None = None
        self._slots_dir: str | None = None
        self._own_slots_dir = False
        self.known_limit: SessionLimit | None = None  # the concurrency limit, once a create has needed it
        self._rate: SharedRateLimit | None = None
        self.health = BackendHealth(say, lambda: self._client)
        # What the backend ignores, lacks and says differently: from the configuration, then from its
        # answers (``detected_profile`` asks a server by base URL; a connection learns of its files API).
        self.profile: BackendProfile = settings.configured_profile
        # The embedded server gets a fresh key per run, so no other local process can drive its sessions;
        # xdist workers receive it from the controller over execnet, never through a socket anyone can ask.
        self.embedded_key: str | None = None
        if settings.is_embedded:
            self.embedded_key = self._workerinput.get(WORKER_EMBEDDED_KEY) or secrets.token_urlsafe(24)

    @property
    def secret(self) -> str | None:
        """The key this run sends: the user's for a remote backend, the per-run one for the embedded server."""
        return self.embedded_key if self.settings.is_embedded else self.settings.api_key.value

    @property
    def used(self) -> bool:
        """Whether anything in this process has needed the backend."""
        return self._client is not None

    @property
    def embedded_started(self) -> bool:
        return self._embedded is not None and self._embedded.started

    # -- the client -------------------------------------------------------------

    def client(self) -> SteelClient:
        """The run's client; the embedded server starts here, on first need."""
        if not self.health.unavailable and WORKER_BROKER_KEY in self._workerinput:
            from .orphaned_worker import controller_gone

            if controller_gone():  # the embedded server was the controller's child: asking it would only wait
                self.health.mark_unavailable(
                    SteelUnreachableError("the embedded server stopped with the xdist controller")
                )
        if self.health.unavailable:
            raise SteelBackendUnavailableError(
                "the Steel backend is unavailable; see the first error of this run, and the pytest-steel summary"
            )
        if self._client is None:
            try:
                base_url = self._base_url()
            except SteelError as exc:
                self.health.mark_unavailable(exc)
                raise
            self._client = self._make_client(base_url, event_hooks=self.event_hooks)
            self.event_hooks = self._client.event_hooks
        return self._client

    def new_client(self) -> SteelClient:
        """A second client on the same backend, without the run's event hooks: for work in other threads,
        whose results the tracker takes in on the main thread (the prefetcher's)."""
        return self._make_client(self.client().base_url)

    def _make_client(self, base_url: str, **options: Any) -> SteelClient:
        from .._client.client import SteelClient  # httpx loads only when a test needs Steel

        embedded = self.settings.is_embedded
        return SteelClient(
            base_url,
            self.secret,
            api_key_source="the embedded server's per-run key" if embedded else f"--steel-api-key or {API_KEY_ENV}",
            http_timeout=self.settings.http_timeout.value,
            request_gate=self.rate,
            **options,
        )

    def redact(self, text: str) -> str:
        """``text`` without the key this run sends."""
        return redact(text, self.secret)

    def _base_url(self) -> str:
        if self.settings.server_url is not None:
            return self.settings.server_url
        if WORKER_BROKER_KEY in self._workerinput:
            from .embedded import ask_broker

            return ask_broker(self._workerinput[WORKER_BROKER_KEY], self._expected_sessions)
        return self._embedded_server().url(self._expected_sessions)

    def warm_up(self, expected_sessions: int | None = None) -> None:
        """In the background while the first test sets up: load the HTTP client, and start the embedded server.

        Under xdist a worker asks the controller, which starts it. A failure here is
        kept (or recurs) and reported by the first test that needs a session.
        ``expected_sessions``: how many the run's tests will create, if known; the embedded
        server, started here or by the xdist controller, then launches no pooled browser
        they would leave unused.
        """
        threading.Thread(target=_load_http_client, name="pytest-steel preload", daemon=True).start()
        if not self.settings.is_embedded:
            return
        self._expected_sessions = expected_sessions
        if WORKER_BROKER_KEY not in self._workerinput:
            self._embedded_server()  # made here, so that it keeps this thread's environment as it is now

        def quietly() -> None:
            with contextlib.suppress(Exception):
                self._base_url()

        threading.Thread(target=quietly, name="pytest-steel warm-up", daemon=True).start()

    def _embedded_server(self) -> EmbeddedServer:
        if self._embedded is None:
            from .embedded import EmbeddedServer

            self._embedded = EmbeddedServer(
                chromium=self.settings.chromium.value,
                max_sessions=self.settings.max_sessions.value,
                pool_size=self.settings.pool_size.value,
                api_key=self.embedded_key,
            )
        return self._embedded

    # -- xdist: what the controller hands its workers -----------------------------

    def worker_input(self) -> dict[str, str]:
        """For each xdist worker: where to ask for the embedded server, and the session slots they share."""
        given = {WORKER_SLOTS_KEY: self.shared_folder()}
        if self.settings.is_embedded:
            if self._broker is None:
                from .embedded import Broker

                self._broker = Broker(self._embedded_server())
            given[WORKER_BROKER_KEY] = self._broker.address
            given[WORKER_EMBEDDED_KEY] = self.embedded_key or ""
        return given

    def shared_folder(self) -> str:
        """The run's folder shared by all its processes (session slots, the rate limit, sessions made ahead)."""
        if self._slots_dir is None:
            if WORKER_SLOTS_KEY in self._workerinput:
                self._slots_dir = self._workerinput[WORKER_SLOTS_KEY]
            else:
                from .._browser import pid_folders

                # named with this pid: a later run removes it if this one is killed, as the driver's folders
                self._slots_dir = pid_folders.make(SLOTS_DIR_PREFIX)
                self._own_slots_dir = True
        return self._slots_dir

    @property
    def rate(self) -> SharedRateLimit | None:
        """The run's request budget, shared through the slots folder by every process of the run.

        None for the embedded server unless a limit is asked for: its requests cost nothing.
        """
        if self.settings.is_embedded and not self.settings.max_requests_per_minute.value:
            return None
        if self._rate is None:
            from .rate import SharedRateLimit

            self._rate = SharedRateLimit(self.shared_folder(), self.settings.max_requests_per_minute.value)
        return self._rate

    def limit(self) -> SessionLimit:
        """How many sessions the server runs at once, and the slots that keep to it across processes."""
        if self.known_limit is None:
            from .slots import SessionLimit

            self.known_limit = SessionLimit(
                self.settings, self.client(), lambda: detected_profile(self), self.shared_folder, self._say
            )
        return self.known_limit

    # -- the end ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop the broker and the embedded server, close the client, remove the slots folder."""
        if self._broker is not None:
            self._broker.close()
        if self._embedded is not None:
            self._embedded.stop()
        if self._client is not None:
            self._client.close()
        if self._own_slots_dir and self._slots_dir:
            shutil.rmtree(self._slots_dir, ignore_errors=True)


def detected_profile(backend: BackendAccess) -> BackendProfile:
    """The backend's profile; a server by base URL is asked once (its health, then one page of its list)."""
    if not backend.profile.detected:
        client = backend.client()
        try:
            found = profiles.detect(client.health(), lambda: client.list_page("live", limit=1).paged)
        except SteelHungError:
            raise
        except SteelTimeoutError as exc:  # its health is the quick check: no answer to it in an answer's time
            hung = f"{exc} Its health check is the quick one, so the server is taken as hung."
            raise SteelHungError(hung) from None
        except SteelError:
            found = profiles.UNKNOWN  # it could not tell: nothing is assumed
        backend.profile = found
    return backend.profile


def _load_http_client() -> None:
    """httpx, and what its first request loads, imported in a thread of their own: see ``_client.http.preload``."""
    from .._client.http import preload

    preload()
