"""``AsyncSteelClient``: ``SteelClient``'s async twin, for async fixtures and async code outside pytest.

The same endpoints, errors, retries and idempotent create: ``endpoints``'
plans, run with ``http.drive_async`` over an ``httpx.AsyncClient``.
"""

from __future__ import annotations

import builtins
from typing import Any

import httpx

from . import endpoints
from .endpoints import ClientBase
from .files import AsyncFiles
from .http import Plan, T, drive_async, transport_options
from .models import ReleaseResult, Session, SessionContext, SessionPage
from .wire import MAX_LIST_LIMIT, SessionStatus


class AsyncSteelClient(ClientBase):
    """The Steel sessions API, awaited. Arguments as ``SteelClient``'s; use ``async with`` or ``aclose()``.

    Over 16 methods: one per endpoint plus ``aclose`` and the async context-manager pair, its size is the API's.
    """

    def __init__(self, *args: Any, transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        transport = transport or httpx.AsyncHTTPTransport(**transport_options(self.base_url))
        self._http = httpx.AsyncClient(transport=transport, **self._http_options)
        self.files = AsyncFiles(self._run, self._rules)  # the session files API

    async def _run(self, plan: Plan[T]) -> T:
        return await drive_async(plan, self._http, self._rules)

    async def create(
        self, timeout: int | None = None, *, rate_limit_wait: float | None = None, **fields: Any
    ) -> Session:
        """Create a live session (see ``SteelClient.create``: the client picks the id, so retries leave no orphan)."""
        return await self._run(self._plan_create(timeout, fields, rate_limit_wait))

    async def retrieve(self, session_id: str) -> Session:
        return await self._run(endpoints.retrieve(self._rules, session_id))

    async def context(self, session_id: str) -> SessionContext:
        """The live session's context in Steel's wire shape, to pass back as ``session_context``."""
        return await self._run(endpoints.context(self._rules, session_id))

    async def list(
        self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT
    ) -> builtins.list[Session]:
        return await self._run(endpoints.list_all(self._rules, status, limit))

    async def list_page(
        self, status: SessionStatus | str | None = None, *, limit: int = MAX_LIST_LIMIT, cursor_id: str | None = None
    ) -> SessionPage:
        return await self._run(endpoints.list_page(self._rules, status, limit, cursor_id))

    async def release(
        self,
        session_id: str,
        *,
        call_timeout: float | None = None,
        rate_limit_wait: float | None = None,
        timeout: float | None = None,
    ) -> ReleaseResult:
        """As ``SteelClient.release``: ``call_timeout`` in seconds; ``timeout`` its deprecated name."""
        budget = endpoints.call_timeout_of("release", call_timeout, timeout)
        return await self._run(self._plan_release(session_id, budget, rate_limit_wait))

    async def release_all(self) -> ReleaseResult:
        """Release every live session the key can reach: on Steel Cloud, the whole organisation's."""
        return await self._run(endpoints.release_all(self._rules))

    async def events(self, session_id: str) -> builtins.list[Any]:
        return await self._run(endpoints.events(self._rules, session_id))

    async def recording(self, session_id: str) -> bytes:
        return await self._run(endpoints.recording(self._rules, session_id))

    async def discard_recording(self, session_id: str) -> None:
        await self._run(endpoints.discard_recording(self._rules, session_id))

    async def health(self, *, call_timeout: float | None = None, timeout: float | None = None) -> dict[str, Any]:
        """As ``SteelClient.health``: ``call_timeout`` in seconds; ``timeout`` its deprecated name."""
        budget = endpoints.call_timeout_of("health", call_timeout, timeout)
        return await self._run(endpoints.health(self._rules, budget))

    async def settle_abandoned(self) -> builtins.list[str]:
        """As ``SteelClient.settle_abandoned``: release what came to life of the creates given up on."""
        return await self._run(self._plan_settle_abandoned())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSteelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def async_twin(client: ClientBase) -> AsyncSteelClient:
    """An ``AsyncSteelClient`` with ``client``'s backend, key, timeouts, retries and rate gate, but no event hooks.

    For work in an event loop of its own (the download relay's), which a blocking client would stall.
    """
    rules = client._rules
    return AsyncSteelClient(
        client.base_url,
        client._api_key,
        api_key_source=client._api_key_source,
        http_timeout=rules.read_timeout,
        connect_timeout=rules.connect_timeout,
        max_retries=rules.max_retries,
        call_timeout=rules.call_timeout,
        request_gate=rules.gate,
    )
