"""A tiny app with a real login: an httpOnly session cookie for the server, a localStorage token for the page.

``/login?user=NAME`` signs NAME in: it sets the cookie, and its page stores the token
in localStorage. ``/account`` shows who the server sees (from the cookie) and who
the page sees (from localStorage, read by a script in the document's head, so before
anything else of the page runs). Each user's token is random per app, so nothing
can pass for signed in without having signed in.
"""

from __future__ import annotations

import html
import http.cookies
import http.server
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

ACCOUNT_PAGE = """<!doctype html><title>Account</title>
<script>window.pageUser = localStorage.getItem("user") || "nobody";
window.pageToken = localStorage.getItem("token");</script>
<p>Server sees: <b id=server-user>%s</b></p>
<p>Page sees: <b id=page-user></b></p>
<script>document.getElementById("page-user").textContent = window.pageUser;</script>"""

LOGIN_PAGE = """<!doctype html><title>Signed in</title>
<script>localStorage.setItem("user", %s); localStorage.setItem("token", %s);</script>
<p id=done>Signed in as %s</p>"""


class LoginApp:
    """The app's state: which session cookie belongs to whom."""

    def __init__(self) -> None:
        self.sessions: dict[str, str] = {}  # cookie value -> user
        self.tokens: dict[str, str] = {}  # user -> page token

    def sign_in(self, user: str) -> tuple[str, str]:
        cookie = secrets.token_hex(16)
        self.sessions[cookie] = user
        token = self.tokens.setdefault(user, secrets.token_hex(16))
        return cookie, token

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if url.path == "/login" and query.get("user"):
                    user = query["user"][0]
                    cookie, token = app.sign_in(user)
                    body = LOGIN_PAGE % (_js(user), _js(token), html.escape(user))
                    self._send(body, {"Set-Cookie": f"sid={cookie}; HttpOnly; Path=/; SameSite=Lax"})
                elif url.path == "/account":
                    jar = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
                    user = app.sessions.get(jar["sid"].value, "nobody") if "sid" in jar else "nobody"
                    self._send(ACCOUNT_PAGE % html.escape(user))
                else:
                    self.send_error(404)

            def _send(self, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def _js(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextmanager
def serve() -> Iterator[tuple[str, LoginApp]]:
    """The app on a free loopback port: its base URL, and its state."""
    app = LoginApp()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), app.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", app
    finally:
        server.shutdown()
        server.server_close()
