"""The official steel-sdk, with strict response validation, against a real steel-local."""

from __future__ import annotations

import uuid

import pytest
import steel

from ._support import Server, StartServer


def strict_client(server: Server, **kwargs: object) -> steel.Steel:
    kwargs.setdefault("steel_api_key", server.api_key)
    return steel.Steel(base_url=server.url, _strict_response_validation=True, max_retries=0, **kwargs)


def test_create_retrieve_release(fresh: Server) -> None:
    client = strict_client(fresh)
    session = client.sessions.create(api_timeout=60_000, dimensions={"width": 900, "height": 700})
    assert session.status == "live"
    assert session.timeout == 60_000
    assert (session.dimensions.width, session.dimensions.height) == (900, 700)
    assert session.release_reason is None
    assert session.websocket_url.startswith("ws://127.0.0.1:")

    again = client.sessions.retrieve(session.id)
    assert again.id == session.id and again.status == "live"
    assert again.duration >= session.duration

    released = client.sessions.release(session.id)
    assert released.success is True
    assert session.id in released.message

    after = client.sessions.retrieve(session.id)
    assert after.status == "released"
    assert after.release_reason == "user_requested"
    # Released sessions stay released, and releasing again is not an error.
    assert client.sessions.release(session.id).success is True
    assert client.sessions.retrieve(session.id).status == "released"


def test_client_chosen_session_id_is_honoured(fresh: Server) -> None:
    client = strict_client(fresh)
    wanted = str(uuid.uuid4())
    session = client.sessions.create(session_id=wanted)
    assert session.id == wanted
    with pytest.raises(steel.ConflictError) as excinfo:
        client.sessions.create(session_id=wanted)
    assert excinfo.value.status_code == 409
    assert excinfo.value.response.headers["x-should-retry"] == "false"


def test_list_pages_through_every_session_and_stops(fresh: Server) -> None:
    client = strict_client(fresh)
    created = [client.sessions.create().id for _ in range(3)]
    client.sessions.release(created[0])

    # The SDK's page object keeps only `sessions`; read the other list fields off the wire.
    first_page = fresh.http.get("/v1/sessions", params={"status": "live", "limit": 1}).json()
    assert [s["id"] for s in first_page["sessions"]] == [created[2]]
    assert first_page["totalCount"] == 2
    assert first_page["nextCursor"] == created[2]
    last_page = fresh.http.get("/v1/sessions", params={"status": "live", "limit": 1, "cursorId": created[2]}).json()
    assert [s["id"] for s in last_page["sessions"]] == [created[1]]
    assert last_page["nextCursor"] is None
    assert "totalCount" not in fresh.http.get("/v1/sessions").json()

    # Auto-pagination follows cursorId = last id and must end (on steel-browser it never does).
    live_ids = [s.id for s in client.sessions.list(status="live", limit=1)]
    assert live_ids == [created[2], created[1]]  # newest first

    all_ids = [s.id for s in client.sessions.list(limit=2)]
    assert set(created) <= set(all_ids)
    released = [s.id for s in client.sessions.list(status="released", limit=100)]
    assert created[0] in released


def test_release_all(fresh: Server) -> None:
    client = strict_client(fresh)
    ids = [client.sessions.create().id for _ in range(2)]
    result = client.sessions.release_all()
    assert result.success is True
    assert result.message == "Released 2 sessions"
    assert {client.sessions.retrieve(i).status for i in ids} == {"released"}
    assert client.sessions.release_all().message == "Released 0 sessions"


def test_unknown_session_is_404(fresh: Server) -> None:
    client = strict_client(fresh)
    with pytest.raises(steel.NotFoundError):
        client.sessions.retrieve(str(uuid.uuid4()))
    with pytest.raises(steel.NotFoundError):
        client.sessions.release("not-a-session")


def test_api_key_is_required_when_configured(start_server: StartServer) -> None:
    server = start_server(api_key="local-secret-key")
    with pytest.raises(steel.AuthenticationError) as excinfo:
        strict_client(server, steel_api_key=None).sessions.list()
    assert "steel-api-key" in str(excinfo.value)
    assert "local-secret-key" not in str(excinfo.value)
    with pytest.raises(steel.AuthenticationError):
        strict_client(server, steel_api_key="wrong-key").sessions.create()

    client = strict_client(server)
    session = client.sessions.create()
    assert client.sessions.retrieve(session.id).status == "live"
    assert client.sessions.release(session.id).success is True
