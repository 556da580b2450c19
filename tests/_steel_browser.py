"""A loopback stand-in for a self-hosted steel-browser (its REST quirks only, no browser).

steel-browser itself (Node, Docker) cannot run on this machine. This speaks the
quirks that ../shared/steel-api.md sections 7 and 11 record, which are what the
plugin must cope with: one session at a time, a create that silently replaces
the live session, timeouts stripped (``timeout: 0``), a synthetic ``released``
record for any unknown id, a release that ends the active session whatever the
id, a list with no ``totalCount``, and a bare ``{"status":"ok"}`` health.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

import httpx


class SteelBrowserStandIn:
    def __init__(self, browsers: str | None = None) -> None:
        self.browsers = browsers
        self.browser_of: dict[str, str] = {}  # a session's id -> its session on ``browsers``
        self.lock = threading.Lock()
        self.active: dict[str, Any] | None = None
        self.past: list[dict[str, Any]] = []
        self.replaced: list[str] = []  # ids of live sessions a create silently replaced
        self.creates = 0
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, body: object, status: int = 200) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with stand_in.lock:
                    if path == "/v1/health":
                        return self._send({"status": "ok"})
                    if path == "/v1/sessions":
                        active = [stand_in.active] if stand_in.active else []
                        return self._send({"sessions": active + stand_in.past})
                    session_id = path.rsplit("/", 1)[-1]
                    if stand_in.active and stand_in.active["id"] == session_id:
                        return self._send(stand_in.active)
                    return self._send(stand_in._record(session_id, "released"))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                path = self.path.split("?")[0]
                with stand_in.lock:
                    if path == "/v1/sessions":
                        stand_in.creates += 1
                        if stand_in.active:
                            stand_in.replaced.append(stand_in.active["id"])  # dropped, not even kept as past
                        stand_in.active = stand_in._record(body.get("sessionId") or str(uuid.uuid4()), "live")
                        stand_in._back_with_a_browser(stand_in.active)
                        return self._send(stand_in.active)
                    if path.endswith("/release"):  # single and release-all alike: the active session ends
                        ended = stand_in.active or stand_in._record(str(uuid.uuid4()), "idle")
                        ended = {**ended, "status": "released"}
                        if stand_in.active:
                            stand_in.past.insert(0, ended)
                            stand_in._release_browser(stand_in.active["id"])
                        stand_in.active = None
                        return self._send({"success": True, **ended})
                self._send({"message": "not found"}, 404)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _back_with_a_browser(self, record: dict[str, Any]) -> None:
        if self.browsers is None:
            return
        made = httpx.post(f"{self.browsers}/v1/sessions", json={}, timeout=60).json()
        self.browser_of[record["id"]] = made["id"]
        record["websocketUrl"] = made["websocketUrl"]

    def _release_browser(self, session_id: str) -> None:
        if session_id in self.browser_of:
            httpx.post(f"{self.browsers}/v1/sessions/{self.browser_of.pop(session_id)}/release", timeout=60)

    def _record(self, session_id: str, status: str) -> dict[str, Any]:
        host = self.url.removeprefix("http://")
        return {
            "id": session_id,
            "createdAt": datetime.now(timezone.utc).isoformat(),
            "status": status,
            "timeout": 0,
            "duration": 0,
            "eventCount": 0,
            "creditsUsed": 0,
            "proxyTxBytes": 0,
            "proxyRxBytes": 0,
            "websocketUrl": f"ws://{host}/",
            "debugUrl": f"http://{host}/v1/sessions/debug",
            "debuggerUrl": f"http://{host}/v1/devtools/inspector.html",
            "sessionViewerUrl": f"http://{host}/",
            "dimensions": {"width": 1920, "height": 1080},
            "userAgent": "",
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
