"""Every malformed or out-of-range request gets a 4xx JSON error that names the field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from ._support import Server, StartServer

BAD_CREATE_BODIES = [
    pytest.param(b"{not json", 400, None, "not valid JSON", id="malformed-json"),
    pytest.param(b'{"timeout": NaN}', 400, None, "not valid JSON", id="nan"),
    pytest.param(b"[1, 2]", 400, None, "must be a JSON object", id="array-body"),
    pytest.param(b'"text"', 400, None, "must be a JSON object", id="string-body"),
    pytest.param({"timeout": 0}, 400, "timeout", "from 1 to 86400000", id="timeout-zero"),
    pytest.param({"timeout": -5}, 400, "timeout", "from 1 to 86400000", id="timeout-negative"),
    pytest.param({"timeout": 86_400_001}, 400, "timeout", "from 1 to 86400000", id="timeout-over-24h"),
    pytest.param({"timeout": "abc"}, 400, "timeout", 'got "abc"', id="timeout-string"),
    pytest.param({"timeout": 1500.5}, 400, "timeout", "must be an integer", id="timeout-fraction"),
    pytest.param({"timeout": True}, 400, "timeout", "must be an integer", id="timeout-bool"),
    pytest.param({"inactivityTimeout": 0}, 400, "inactivityTimeout", "from 1 to 86400000", id="inactivity-zero"),
    pytest.param({"sessionId": "not-a-uuid"}, 400, "sessionId", "UUID", id="session-id-not-uuid"),
    pytest.param({"sessionId": 42}, 400, "sessionId", "UUID", id="session-id-number"),
    pytest.param({"dimensions": {"width": 800}}, 400, "dimensions", "width and height", id="dimensions-partial"),
    pytest.param({"dimensions": [800, 600]}, 400, "dimensions", "width and height", id="dimensions-array"),
    pytest.param(
        {"dimensions": {"width": 0, "height": 600}}, 400, "dimensions", "from 1 to 16384", id="dimensions-zero"
    ),
    pytest.param({"headless": "yes"}, 400, "headless", "true or false", id="headless-string"),
    pytest.param({"userAgent": 7}, 400, "userAgent", "string", id="user-agent-number"),
    pytest.param({"userAgent": "a\nb"}, 400, "userAgent", "single-line", id="user-agent-newline"),
    pytest.param({"userAgent": "a\u0000b"}, 400, "userAgent", "control characters", id="user-agent-nul"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, 400, None, "nests too deeply", id="json-100000-deep"),
    pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, 400, None, "nests too deeply", id="object-50000-deep"),
]


@pytest.mark.parametrize(("body", "status", "field", "words"), BAD_CREATE_BODIES)
def test_bad_create_body(fresh: Server, body: object, status: int, field: str | None, words: str) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = fresh.http.post("/v1/sessions", content=content, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()
    assert words in error["message"]
    assert error.get("field") == field
    assert fresh.http.get("/v1/sessions", params={"status": "live"}).json()["totalCount"] == 0


def test_empty_body_and_unknown_fields_create_a_default_session(fresh: Server) -> None:
    empty = fresh.http.post("/v1/sessions", content=b"")
    assert empty.status_code == 200
    assert empty.json()["timeout"] == 300_000
    unknown = fresh.http.post("/v1/sessions", json={"blockAds": True, "region": "us-east", "somethingNew": [1]})
    assert unknown.status_code == 200
    assert "somethingNew" not in unknown.json()


def test_integral_float_timeout_is_accepted(fresh: Server) -> None:
    assert fresh.create(timeout=60000.0)["timeout"] == 60_000


def test_unknown_ids_and_routes(fresh: Server) -> None:
    missing = str(uuid.uuid4())
    assert fresh.http.get(f"/v1/sessions/{missing}").status_code == 404
    assert fresh.http.post(f"/v1/sessions/{missing}/release").status_code == 404
    assert fresh.http.get("/v1/sessions/not-a-uuid").json()["message"] == "no session with id 'not-a-uuid'"
    nowhere = fresh.http.get("/v1/nowhere")
    assert nowhere.status_code == 404 and "message" in nowhere.json()
    wrong_method = fresh.http.delete("/v1/sessions")
    assert wrong_method.status_code == 405 and "message" in wrong_method.json()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "idle"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursorId": str(uuid.uuid4())}, "cursorId"),
    ],
)
def test_bad_list_query(fresh: Server, query: dict[str, str], field: str) -> None:
    response = fresh.http.get("/v1/sessions", params=query)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_capacity_gives_429_with_retry_after(start_server: StartServer) -> None:
    server = start_server("--max-sessions", "2")
    first, _ = server.create(), server.create()
    refused = server.http.post("/v1/sessions", json={})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "--max-sessions" in refused.json()["message"]
    server.release(first["id"])
    assert server.http.post("/v1/sessions", json={}).status_code == 200


def test_auth_covers_every_route(start_server: StartServer) -> None:
    server = start_server(api_key="k-123456")
    session = server.create()
    anonymous = httpx.Client(base_url=server.url, timeout=10)
    routes = [
        ("GET", "/v1/health"),
        ("GET", "/v1/sessions"),
        ("POST", "/v1/sessions"),
        ("GET", f"/v1/sessions/{session['id']}"),
        ("POST", f"/v1/sessions/{session['id']}/release"),
        ("POST", "/v1/sessions/release"),
        ("GET", f"/sessions/{session['id']}"),
        ("GET", "/"),
        ("POST", "/v1/viewer-tokens"),
    ]
    for method, path in routes:
        response = anonymous.request(method, path)
        assert response.status_code == 401, (method, path)
        assert "steel-api-key" in response.json()["message"]
        assert "k-123456" not in response.text
    # People open the viewer in a browser, which cannot send the header: ?apiKey= works there, and leaves the URL.
    typed = anonymous.get(f"/sessions/{session['id']}", params={"apiKey": "k-123456"}, follow_redirects=True)
    assert typed.status_code == 200 and typed.url.path == f"/sessions/{session['id']}" and not typed.url.query
    # ...but not on the API itself.
    assert anonymous.get("/v1/sessions", params={"apiKey": "k-123456"}).status_code == 401
    assert server.get(session["id"])["status"] == "live"
    assert "k-123456" not in json.dumps(server.get(session["id"]))
    anonymous.close()


def test_the_key_reaches_no_browser_and_no_watchdog(start_server: StartServer) -> None:
    """Chromium runs with --no-sandbox: whatever its environment holds, a page exploit could read."""
    server = start_server(api_key="k-in-the-environment-42")
    server.create()
    helpers = [*server.browsers(), psutil.Process(server.watchdog_pid or -1)]
    assert len(helpers) >= 2
    for process in helpers:
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert b"k-in-the-environment-42" not in environ, process.cmdline()[:1]
        assert b"STEEL_API_KEY=" not in environ


def test_health(fresh: Server) -> None:
    fresh.create()
    health = fresh.http.get("/v1/health").json()
    pool = {"ready": 0, "size": 0, "launched": 0}
    assert health == {"status": "ok", "liveSessions": 1, "maxSessions": 16, "pool": pool, "recording": True}


def test_rejected_creates_leave_nothing_in_the_temp_directory(start_server: StartServer) -> None:
    server = start_server()
    [root] = server.tmpdir.iterdir()  # the server's own temp root; browsers get directories inside it
    for body in ({"userAgent": "a\u0000b"}, {"userAgent": "x\x7f"}, {"timeout": -1}):
        assert server.http.post("/v1/sessions", json=body).status_code == 400
    assert list(root.iterdir()) == []


def test_a_broken_temp_root_is_a_clear_error_not_a_crash(start_server: StartServer) -> None:
    server = start_server()
    [root] = server.tmpdir.iterdir()
    root.rmdir()
    root.write_text("not a directory any more")
    try:
        response = server.http.post("/v1/sessions", json={})
        assert response.status_code == 500
        assert "could not make the browser's directories under" in response.json()["message"]
        assert server.http.get("/v1/health").status_code == 200  # the server stayed up
    finally:
        root.unlink()
        root.mkdir()
    assert server.create()["status"] == "live"  # and recovers once the directory is back
