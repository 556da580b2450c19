"""A loopback stand-in for a Steel plan, in front of a steel-local: a request rate and a cap on live sessions.

Steel Cloud itself cannot run here. This enforces what ../shared/steel-api.md section 6 and
12 say a plan does: past ``rate`` REST requests in any rolling ``window_s`` (a minute,
time-scaled here), or a create past ``sessions`` live ones, the answer is 429 with
``Retry-After`` (and ``retry-after-ms``). Everything else is forwarded as the server
answered. It keeps the figures a test reads: when each request was let through, each 429.
"""

from __future__ import annotations

import http.server
import json
import math
import threading
import time

import httpx


class PlanStandIn:
    def __init__(self, upstream: str, *, rate: int, window_s: float, sessions: int) -> None:
        self.upstream, self.rate, self.window_s, self.sessions = upstream, rate, window_s, sessions
        self.admitted: list[float] = []  # when each request was let through
        self.refused: list[tuple[float, str]] = []  # each 429: when, and why ("rate", "sessions")
        self.live: set[str] = set()
        self.lock = threading.Lock()
        plan = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                creating = self.command == "POST" and self.path == "/v1/sessions"
                refusal = plan._admit(creating)
                if refusal is not None:
                    why, wait = refusal
                    return self._answer(429, {"message": f"plan limit: {why}"}, wait)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "steel-api-key")}
                answer = httpx.request(self.command, plan.upstream + self.path, content=raw, headers=headers)
                plan._note(self.command, self.path, answer)
                self._answer(answer.status_code, answer.content, None, answer.headers.get("content-type"))

            def _answer(self, status: int, body: object, wait: float | None, kind: str | None = None) -> None:
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", kind or "application/json")
                if wait is not None:
                    self.send_header("retry-after", str(max(1, math.ceil(wait))))
                    self.send_header("retry-after-ms", str(max(1, int(wait * 1000))))
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _admit(self, creating: bool) -> tuple[str, float] | None:
        with self.lock:
            now = time.monotonic()
            recent = [t for t in self.admitted if t > now - self.window_s]
            if len(recent) >= self.rate:
                self.refused.append((now, "rate"))
                return "rate", recent[-self.rate] + self.window_s - now
            if creating and len(self.live) >= self.sessions:
                self.refused.append((now, "sessions"))
                return "concurrent sessions", 1.0
            self.admitted.append(now)
            return None

    def _note(self, method: str, path: str, answer: httpx.Response) -> None:
        with self.lock:
            if method == "POST" and path == "/v1/sessions" and answer.status_code == 200:
                self.live.add(answer.json()["id"])
            elif method == "POST" and path.endswith("/release") and path != "/v1/sessions/release":
                self.live.discard(path.split("/")[3])
            elif method == "POST" and path == "/v1/sessions/release":
                self.live.clear()

    def busiest_window(self) -> int:
        """The most requests let through in any rolling window."""
        times = sorted(self.admitted)
        most, start = 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - self.window_s:
                start += 1
            most = max(most, end - start + 1)
        return most

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
