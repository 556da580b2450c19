"""The embedded server: started once per run, on first use, and shared with every xdist worker.

Under pytest-xdist the controller owns the embedded server. Workers ask it for
the URL over a loopback socket (``Broker``), so the server starts only when some
worker first needs a session, is shared by all of them, and stops with the
controller. Every worker collects the whole suite, so the first one to ask also says
how many sessions the run will need, for the server's pool.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from .._client.errors import SteelConnectionError, SteelError
from .._client.limits import API_KEY_ENV
from ..local import LocalServerError, LocalServerProcess

SERVER_START_TIMEOUT = 60.0


class EmbeddedServer:
    """steel-local as a child of this process, started by the first caller of ``url()``."""

    def __init__(
        self,
        *,
        chromium: str | None,
        max_sessions: int | None,
        pool_size: int | None = None,
        api_key: str | None = None,
    ) -> None:
        self._chromium = chromium
        self._api_key = api_key
        self._max_sessions = max_sessions
        self._pool_size = pool_size
        # The environment as it is now, in the thread that decides to start the server: it may start
        # later in another thread, while the main thread briefly points TMPDIR at Playwright's folder.
        self._env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
        self._lock = threading.Lock()
        self._process: LocalServerProcess | None = None
        self._failure: SteelError | None = None

    @property
    def started(self) -> bool:
        return self._process is not None and self._process.url is not None

    def url(self, expected_sessions: int | None = None) -> str:
        """The server's URL; the first call starts it, with ``expected_sessions`` for its pool if given."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._process is None:
                self._start(expected_sessions)
            assert self._process is not None and self._process.url
            return self._process.url

    def _start(self, expected_sessions: int | None) -> None:
        args = ["--port", "0", "--log-level", "warning"]
        if self._chromium:
            args += ["--chromium", self._chromium]
        if self._max_sessions:
            args += ["--max-sessions", str(self._max_sessions)]
        if self._pool_size is not None:
            args += ["--pool-size", str(self._pool_size)]
        if expected_sessions is not None:
            args += ["--expected-sessions", str(expected_sessions)]
        logdir = tempfile.mkdtemp(prefix="pytest-steel-")
        process = LocalServerProcess(
            args, api_key=self._api_key, env=self._env, log_path=Path(logdir, "steel-local.log")
        )
        try:
            process.start(SERVER_START_TIMEOUT)
        except LocalServerError as exc:
            self._failure = SteelConnectionError(f"the embedded Steel server did not start: {exc}")
            raise self._failure from None
        finally:
            # The server keeps writing to its open log; unlinked now, it leaves nothing even if we are killed.
            shutil.rmtree(logdir, ignore_errors=True)
        self._process = process

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stop()
            self._process = None
            self._failure = self._failure or SteelConnectionError("the embedded Steel server has stopped")


class Broker:
    """The controller's side: answers each worker's request with the embedded server's URL."""

    def __init__(self, server: EmbeddedServer) -> None:
        self._server = server
        self._token = secrets.token_hex(16)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, name="pytest-steel-broker", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}:{self._token}"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            with connection, contextlib.suppress(OSError):
                connection.settimeout(SERVER_START_TIMEOUT)
                token, _, count = connection.makefile("r").readline().strip().partition(" ")
                if token != self._token:
                    continue
                try:
                    answer = "url " + self._server.url(int(count) if count.isdigit() else None)
                except SteelError as exc:
                    answer = "error " + " ".join(str(exc).split())
                connection.sendall(answer.encode() + b"\n")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)


def ask_broker(address: str, expected_sessions: int | None = None) -> str:
    """A worker's side: the embedded server's URL, started by the controller if need be."""
    host, port, token = address.rsplit(":", 2)
    request = token if expected_sessions is None else f"{token} {expected_sessions}"
    try:
        with socket.create_connection((host, int(port)), timeout=SERVER_START_TIMEOUT + 5) as connection:
            connection.sendall(request.encode() + b"\n")
            answer = connection.makefile("r").readline().strip()
    except OSError as exc:
        raise SteelConnectionError(f"could not reach the pytest-steel controller for the server URL ({exc})") from None
    kind, _, rest = answer.partition(" ")
    if kind == "url":
        return rest
    raise SteelConnectionError(rest or "the pytest-steel controller gave no embedded server URL")
