"""``steel-local``: run the embedded Steel-compatible server on its own.

It prints one line, ``steel-local listening on URL``, once it accepts requests,
then logs to stderr. SIGINT, SIGTERM or SIGHUP (and, with ``--exit-with-parent``,
the end of standard input) release every session and exit 0; a second signal
exits at once and leaves the cleanup to the watchdog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

from .._browser.chromium import ChromiumNotFoundError, ChromiumSet, find_chromium
from .._browser.ffmpeg import FFmpegNotFoundError, find_ffmpeg
from .._client.limits import (
    API_KEY_ENV,
    CHROMIUM_ENV,
    DEFAULT_LOCAL_MAX_SESSIONS,
    EXPECTED_SESSIONS,
    FFMPEG_ENV,
    MAX_FILES_MB,
    MAX_SESSIONS,
    POOL_SIZE,
    Count,
)
from ._chromium_procs.pool import default_pool_size
from ._session_files import DEFAULT_MAX_FILES_MB

log = logging.getLogger("pytest_steel.local")


def _count(limit: Count) -> Callable[[str], int]:
    """An argparse type for a bounded count: the same range, and the same words, as the plugin's options."""

    def parse(text: str) -> int:
        try:
            return limit.parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {limit.range}, got {text!r}") from None

    return parse


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535 (0 picks a free one), got {text!r}")
    return int(text)


def _public_url(text: str) -> str:
    """``scheme://host[:port]``, http or https, nothing else: the base every URL the server gives is built from."""
    parts = urllib.parse.urlsplit(text.strip())
    try:
        parts.port  # noqa: B018 - raises on a port that is no number or out of range
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
    except ValueError:
        valid = False
    if not valid or parts.query or parts.fragment or parts.username or parts.password:
        raise argparse.ArgumentTypeError(
            f"must be an http:// or https:// URL of a host and optional port, no path, got {text!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"must be a number of seconds from 0 to 600, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steel-local",
        description="Run pytest-steel's local Steel-compatible browser-session server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port to bind; 0 picks a free one (default: 0)")
    parser.add_argument(
        "--public-url",
        type=_public_url,
        default=None,
        metavar="URL",
        help="the address clients reach the server by, when a front (a TLS terminator, a reverse proxy) stands "
        "before it: every URL it gives (websocketUrl, debugUrl, sessionViewerUrl) is built from it, an https one "
        "giving wss:// (default: each request's own scheme and Host header)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"require this key in the steel-api-key header (default: ${API_KEY_ENV}; "
        "prefer the variable, a command line is visible to other users)",
    )
    parser.add_argument(
        "--chromium",
        default=None,
        metavar="PATH",
        help=f"browser binary for every session (default: ${CHROMIUM_ENV}, else Playwright's, else the system's)",
    )
    parser.add_argument(
        "--ffmpeg",
        default=None,
        metavar="PATH",
        help=f"encoder for recordings (recordVideo at create; default: ${FFMPEG_ENV}, else Playwright's, else the "
        "system's; without one, a create that asks for a recording is refused)",
    )
    for flag, limit, default, does in (
        ("--max-sessions", MAX_SESSIONS, DEFAULT_LOCAL_MAX_SESSIONS, "most sessions live at once; more get 429"),
        (
            "--pool-size",
            POOL_SIZE,
            default_pool_size(),
            "browsers kept running ahead of need, handed to new sessions and never reused; 0 turns the pool off "
            "(the default is from the number of cores)",
        ),
    ):
        parser.add_argument(flag, type=_count(limit), default=default, metavar="N", help=f"{does} (default: {default})")
    _add_sizes(parser)
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop, releasing every session, when standard input closes: give it a pipe whose write "
        "end the parent holds, and the server ends with the parent however the parent ends",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="(default: info)"
    )
    return parser


def _add_sizes(parser: argparse.ArgumentParser) -> None:
    """The options that size the server: what it expects, what it keeps, how long it waits."""
    parser.add_argument(
        "--expected-sessions",
        type=_count(EXPECTED_SESSIONS),
        default=None,
        metavar="N",
        help="how many sessions the client will create (pytest-steel passes its collected tests' count): the pool "
        "launches no browser they would leave unused, and refills as usual past that many creates "
        "(default: not known)",
    )
    parser.add_argument(
        "--max-files-mb",
        type=_count(MAX_FILES_MB),
        default=DEFAULT_MAX_FILES_MB,
        metavar="MB",
        help="most bytes, in MiB, one session's files (uploads and downloads) may hold; an upload past it gets 413 "
        f"(default: {DEFAULT_MAX_FILES_MB})",
    )
    parser.add_argument(
        "--history",
        type=_positive_int,
        default=1000,
        metavar="N",
        help="ended sessions kept for retrieve and list (default: 1000)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=_positive_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long a browser may take to start (default: 30)",
    )


def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def _bind(host: str, port: int) -> socket.socket:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@contextlib.contextmanager
def _no_ca_bundle() -> Iterator[None]:
    """OpenSSL pointed at no CA bundle file, for the import of aiohttp only.

    Importing aiohttp makes its client's two default TLS contexts, each loading the
    system's CA bundle: about 60 ms of this server's start, on the way to a run's first
    session. The server makes no TLS connection of its own, so nothing needs them to
    hold the bundle (the system's hashed certificate directory, looked up lazily, stays).
    The variable is put back before anything else runs: browsers never see it.
    """
    before = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = os.devnull
    try:
        yield
    finally:
        if before is None:
            del os.environ["SSL_CERT_FILE"]
        else:
            os.environ["SSL_CERT_FILE"] = before


async def serve(args: argparse.Namespace, chromium: ChromiumSet, api_key: str | None, sock: socket.socket) -> int:
    with _no_ca_bundle():
        from aiohttp import web  # noqa: PLC0415 - keep `--help` and argument errors fast

    from ._api.app import make_app  # noqa: PLC0415
    from ._chromium_procs.watchdog import Watchdog  # noqa: PLC0415
    from ._session_manager import SessionManager  # noqa: PLC0415

    root = Path(tempfile.mkdtemp(prefix="steel-local-"))
    owner = secrets.token_hex(8)
    watchdog = Watchdog(root, owner)
    manager = SessionManager(
        chromium,
        root=root,
        owner=owner,
        watchdog=watchdog,
        max_sessions=args.max_sessions,
        history=args.history,
        startup_timeout=args.startup_timeout,
        pool_size=args.pool_size,
        expected_sessions=args.expected_sessions,
        ffmpeg=args.ffmpeg_path,
        ffmpeg_missing=args.ffmpeg_missing,
        max_files_mb=args.max_files_mb,
    )
    app = make_app(manager, api_key, args.public_url)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def first_signal() -> None:
        stop.set()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, second_signal)

    def second_signal() -> None:
        # The watchdog sees the pipe close and ends every browser.
        os._exit(1)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, first_signal)
    if args.exit_with_parent:
        _stop_when_stdin_closes(loop, stop)
    try:
        await runner.setup()
        await web.SockSite(runner, sock, shutdown_timeout=5.0).start()
        manager.pool.fill()  # after binding, so a bad port or host costs no browser launch
        print(f"steel-local listening on {_url(sock)}", flush=True)
        log.info("browsers: %s; at most %d sessions", chromium.describe(), args.max_sessions)
        if args.public_url:
            log.info("URLs given out are built from --public-url %s", args.public_url)
        await stop.wait()
        log.info("stopping: releasing %d live sessions", manager.registry.live_count)
        await manager.shutdown()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
        shutil.rmtree(root, ignore_errors=True)
        watchdog.close()  # it sweeps for strays, the one cleanup path for every kind of exit
    return 0


def _stop_when_stdin_closes(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            log.info("parent gone (standard input closed)")
            stop.set()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format="steel-local: %(message)s")
    # Taken out of the environment, so that no child (the watchdog, a browser) inherits it.
    from_env = os.environ.pop(API_KEY_ENV, None) or None
    api_key = args.api_key if args.api_key is not None else from_env
    if api_key is not None and not api_key.strip():
        parser.error("--api-key must not be empty")
    if api_key is None and not _is_loopback(args.host):
        parser.error(
            f"--host {args.host} is not a loopback address: a server reachable from other machines "
            f"needs an API key (--api-key or ${API_KEY_ENV})"
        )
    explicit, source = (args.chromium, "--chromium") if args.chromium else (os.environ.get(CHROMIUM_ENV), CHROMIUM_ENV)
    try:
        chromium = find_chromium(explicit or None, explicit_source=source)
    except ChromiumNotFoundError as exc:
        parser.error(str(exc))
    args.ffmpeg_path, args.ffmpeg_missing = None, ""
    try:
        args.ffmpeg_path = find_ffmpeg(args.ffmpeg)
    except FFmpegNotFoundError as exc:
        if args.ffmpeg or os.environ.get(FFMPEG_ENV):
            parser.error(str(exc))
        args.ffmpeg_missing = str(exc)  # recordings only: said when a create asks for one
    try:
        sock = _bind(args.host, args.port)
    except OSError as exc:
        parser.error(f"cannot listen on --host {args.host} --port {args.port}: {exc.strerror or exc}")
    try:
        return asyncio.run(serve(args, chromium, api_key, sock))
    except KeyboardInterrupt:  # a signal before the handlers were installed
        return 130


if __name__ == "__main__":
    sys.exit(main())
