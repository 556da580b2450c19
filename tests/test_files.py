"""Files cross the session boundary: the files API (server, SDK, clients), uploads and downloads from tests
whose browser shares no disk with them, and several sessions in one test."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import io
import json
import os
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_steel import AsyncSteelClient, SteelClient, SteelFilesUnsupportedError
from pytest_steel._reporting.test_reports import PYTEST_HTML_WITH_TEARDOWN_EXTRAS
from pytest_steel._sessions.cdp_urls import playwright_has_is_local

from ._cdp import connected, first_page
from ._steel_browser import SteelBrowserStandIn
from ._support import Backend, FaultProxy, RemoteServer, Server, StartServer, installed

KEY = "files-key"


def _files_dirs(tmpdir: Path) -> list[Path]:
    return [p for p in tmpdir.glob("steel-local-*/files/*")]


def test_every_files_endpoint_as_the_strict_sdk_speaks_it(start_server: StartServer) -> None:
    steel = pytest.importorskip("steel")
    server = start_server("--max-files-mb", "1", api_key=KEY)
    sdk = steel.Steel(steel_api_key=KEY, base_url=server.url, _strict_response_validation=True, max_retries=0)
    session = sdk.sessions.create()
    files = sdk.sessions.files
    assert files.list(session.id).data == []

    uploaded = files.upload(session.id, file=b"hello", path="reports/a.txt")
    assert (uploaded.path, uploaded.size) == ("reports/a.txt", 5)
    from_file = files.upload(session.id, file=("b.csv", io.BytesIO(b"x,y\n1,2\n")))
    assert from_file.path == "b.csv"
    assert [f.path for f in files.list(session.id).data] == ["b.csv", "reports/a.txt"]  # newest first
    assert files.download("reports/a.txt", session_id=session.id).read() == b"hello"
    archive = zipfile.ZipFile(io.BytesIO(files.download_archive(session.id).read()))
    assert sorted(archive.namelist()) == ["b.csv", "reports/a.txt"]
    assert archive.read("reports/a.txt") == b"hello"

    files.delete("reports/a.txt", session_id=session.id)
    with pytest.raises(steel.NotFoundError):
        files.download("reports/a.txt", session_id=session.id)
    with pytest.raises(steel.NotFoundError):
        files.list("00000000-0000-4000-8000-000000000000")

    raw = server.http
    traversal = raw.get(f"/v1/sessions/{session.id}/files/..%2F..%2Fetc%2Fpasswd")
    assert traversal.status_code == 400 and traversal.json()["field"] == "path"
    sneaky = raw.post(f"/v1/sessions/{session.id}/files", files={"file": ("x", b"1")}, data={"path": "../x"})
    assert sneaky.status_code == 400 and "'..'" in sneaky.json()["message"]
    too_big = raw.post(f"/v1/sessions/{session.id}/files", files={"file": ("big", b"y" * (2 * 2**20))})
    assert too_big.status_code == 413
    assert "files limit of 1 MB" in too_big.json()["message"] and "--max-files-mb" in too_big.json()["message"]
    assert [f.path for f in files.list(session.id).data] == ["b.csv"]  # nothing of the refused ones kept
    (area,) = _files_dirs(server.tmpdir)
    assert sorted(p.name for p in area.iterdir()) == ["b.csv"]  # no partial upload either

    files.delete_all(session.id)
    assert files.list(session.id).data == []
    files.upload(session.id, file=b"kept until release")
    sdk.sessions.release(session.id)
    gone = raw.get(f"/v1/sessions/{session.id}/files")
    assert gone.status_code == 404 and "its files went with it" in gone.json()["message"]
    assert _files_dirs(server.tmpdir) == []


def test_the_clients_reach_the_files_and_name_a_backend_that_has_none(
    start_server: StartServer, stand_in: SteelBrowserStandIn, tmp_path: Path
) -> None:
    server = start_server(api_key=KEY)
    local = tmp_path / "data.bin"
    local.write_bytes(os.urandom(300_000))
    with SteelClient(server.url, KEY) as client:
        session = client.create()
        assert client.files.upload(session.id, local).path == "data.bin"
        assert client.files.upload(session.id, io.BytesIO(b"streamed"), path="s/t.txt").size == 8
        saved = client.files.download_to(session.id, "data.bin", tmp_path / "back" / "data.bin")
        assert saved.read_bytes() == local.read_bytes()

        async def listed() -> list[str]:
            async with AsyncSteelClient(server.url, KEY) as async_client:
                await async_client.files.upload(session.id, b"async", path="a.txt")
                return [f.path for f in await async_client.files.list(session.id)]

        assert sorted(asyncio.run(listed())) == ["a.txt", "data.bin", "s/t.txt"]
        client.release(session.id)

    with SteelClient(stand_in.url) as client:
        session = client.create()
        with pytest.raises(SteelFilesUnsupportedError, match="has no session files API as Steel Cloud"):
            client.files.list(session.id)
        client.release(session.id)


# A pytest-playwright project, unchanged: a 60 MB page.set_input_files, a large download saved where the test says,
# uploads from an iframe, a file chooser and a directory input. Every upload's bytes are checked in the page (CRC-32).
FILES_PROJECT = r"""
import os, statistics, time, zlib
from playwright.sync_api import expect
from pytest_steel import set_input_files
from files_page import BIG_MB, DATA, LINK, REMOTE, UPLOAD, big_data, fetching

def test_a_60_mb_upload_arrives_whole(page, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(60 * 2**20))
    page.set_content(UPLOAD)
    page.set_input_files("#f", big)
    expected = f"big.bin {big.stat().st_size} {zlib.crc32(big.read_bytes())}"
    expect(page.locator("#out")).to_have_text(expected, timeout=90_000)

def test_uploads_from_a_frame_a_file_chooser_and_a_directory(page, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"abc" * 1000)
    want = f"small.txt 3000 {zlib.crc32(small.read_bytes())}"
    page.set_content("<iframe srcdoc='" + UPLOAD.replace("'", "&#39;") + "'></iframe>")
    frame = page.frame_locator("iframe")
    frame.locator("#f").set_input_files(small)
    expect(frame.locator("#out")).to_have_text(want)
    page.set_content(UPLOAD)
    with page.expect_file_chooser() as chooser:
        page.click("#f")
    chooser.value.set_files(small)
    expect(page.locator("#out")).to_have_text(want)
    folder = tmp_path / "folder"
    (folder / "inner").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"a")
    (folder / "inner" / "b.txt").write_bytes(b"bb")
    page.set_content("<input type=file id=d webkitdirectory><output id=out></output><script>d.onchange = () =>"
        " out.textContent = [...d.files].map(f => f.webkitRelativePath + ':' + f.size).sort().join(' ')</script>")
    page.set_input_files("#d", folder)
    expect(page.locator("#out")).to_have_text("folder/a.txt:1 folder/inner/b.txt:2")

def test_the_alias_still_fills_an_input(page, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"abc")
    page.set_content(UPLOAD)
    set_input_files(page.locator("#f"), small)
    expect(page.locator("#out")).to_have_text(f"small.txt 3 {zlib.crc32(b'abc')}")

def test_a_large_download_is_saved_while_the_session_answers(page, tmp_path):
    page.set_content(LINK)
    with page.expect_download(timeout=120_000) as info:
        page.click("#big")
    answered_while_fetching, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline and not fetching(done=True):
        before = fetching()
        started = time.monotonic()
        assert page.evaluate("1+1") == 2
        took = time.monotonic() - started
        if before and fetching():  # the fetch was under way before the evaluate, and still after it
            answered_while_fetching.append(took)
    if REMOTE:
        assert answered_while_fetching, "never saw the fetch under way"
        # most answers quick, none held until the fetch ends (a busy machine may stall one now and then)
        assert statistics.median(answered_while_fetching) < 1.0, answered_while_fetching
        assert max(answered_while_fetching) < 5.0, answered_while_fetching
    target = tmp_path / "saved.bin"
    info.value.save_as(target)
    assert target.stat().st_size == BIG_MB * 2**20
    assert target.read_bytes() == big_data()

def test_a_failing_test_keeps_its_downloads(page):
    page.set_content(LINK)
    with page.expect_download() as info:
        page.click("#get")
    assert info.value.failure() is None
    assert False, "fails on purpose"
"""

# The same upload and download from an async test, on the plugin's own async page.
ASYNC_FILES_PROJECT = r"""
import os, statistics, time, zlib
import pytest
from playwright.async_api import expect
from files_page import UPLOAD, LINK, big_data, fetching

pytestmark = pytest.mark.asyncio

async def test_a_60_mb_upload_and_a_large_download(steel_async_page, tmp_path):
    page = steel_async_page
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(60 * 2**20))
    await page.set_content(UPLOAD)
    await page.set_input_files("#f", big)
    expected = f"big.bin {big.stat().st_size} {zlib.crc32(big.read_bytes())}"
    await expect(page.locator("#out")).to_have_text(expected, timeout=90_000)
    await page.set_content(LINK)
    async with page.expect_download(timeout=120_000) as info:
        await page.click("#big")
    download = await info.value
    answered_while_fetching, deadline = [], time.monotonic() + 240
    while time.monotonic() < deadline and not fetching(done=True):
        before = fetching()
        started = time.monotonic()
        assert await page.evaluate("1+1") == 2
        took = time.monotonic() - started
        if before and fetching():
            answered_while_fetching.append(took)
    assert answered_while_fetching, "never saw the fetch under way"
    assert statistics.median(answered_while_fetching) < 1.0, answered_while_fetching
    assert max(answered_while_fetching) < 5.0, answered_while_fetching
    target = tmp_path / "saved.bin"
    await download.save_as(target)
    assert target.read_bytes() == big_data()
"""

# What both projects share: the pages, the download's bytes, and where the relay's fetch can be seen under way.
FILES_PAGE = r"""
import base64, os, pathlib, tempfile

DATA = bytes(range(256)) * 12288  # 3 MiB
BIG_MB = int(os.environ["FILES_BIG_MB"])
REMOTE = os.environ.get("FILES_REMOTE") == "1"
LINK = ("<a id=get download=report.bin href='data:application/octet-stream;base64,"
        + base64.b64encode(DATA).decode() + "'>get</a><button id=big>big</button><script>"
        "big.onclick = () => { const bytes = new Uint8Array(" + str(BIG_MB) + " * 2 ** 20);"
        "for (let i = 0; i < bytes.length; i++) bytes[i] = (i & 255) ^ ((i >>> 20) & 255);"
        "const a = document.createElement('a'); a.download = 'big.bin';"
        "a.href = URL.createObjectURL(new Blob([bytes])); a.click(); }</script>")
UPLOAD = '''<input type=file id=f><output id=out></output><script>
const table = new Uint32Array(256).map((_, n) => {
  let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
document.getElementById('f').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  const bytes = new Uint8Array(await file.arrayBuffer());
  let crc = 0xFFFFFFFF;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >>> 8);
  document.getElementById('out').textContent = `${file.name} ${file.size} ${(crc ^ 0xFFFFFFFF) >>> 0}`;
});
</script>'''


def big_data():
    return b"".join(bytes(b ^ (k & 255) for b in range(256)) * 4096 for k in range(BIG_MB))


def fetching(done=False):
    # The driver reads downloads from playwright-artifacts-* in its TMPDIR (the plugin's driver has one of its own);
    # the relay streams into a hidden .part file there and renames it when whole.
    root = pathlib.Path(tempfile.gettempdir())
    folders = [*root.glob("playwright-artifacts-*"), *root.glob("pytest-steel-playwright-*/playwright-artifacts-*")]
    files = [p for f in folders for p in f.iterdir()]
    if done:
        return any(p.stat().st_size == BIG_MB * 2**20 for p in files if p.name[0] != ".")
    return any(p.name.endswith(".part") for p in files)
"""

DATA = bytes(range(256)) * 12288
BIG_MB = 200  # the export size


NEEDS_IS_LOCAL = pytest.mark.skipif(
    not playwright_has_is_local(),
    reason="Playwright before 1.58 has no is_local: past 50 MB, uploads need pytest_steel.set_input_files there",
)


@NEEDS_IS_LOCAL
@pytest.mark.parametrize("where", ["remote", "embedded"])
def test_uploads_and_downloads_cross_to_a_browser_that_shares_no_disk(
    where: str, request: pytest.FixtureRequest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--steel-playwright", "-p", "playwright"]
    if where == "remote":
        remote: RemoteServer = request.getfixturevalue("remote_server")
        monkeypatch.setenv("STEEL_API_KEY", remote.api_key or "")
        args += ["--steel-base-url", remote.url]
    monkeypatch.setenv("FILES_BIG_MB", str(BIG_MB if where == "remote" else 8))  # embedded: nothing is fetched
    monkeypatch.setenv("FILES_REMOTE", "1" if where == "remote" else "0")
    pytester.makepyfile(test_files_project=FILES_PROJECT, files_page=FILES_PAGE)
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", "-p", "no:randomly", timeout=600)
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: fails on purpose", "download: test-results-steel/*failing*/downloads/*"]
    )
    kept = list(pytester.path.glob("test-results-steel/*failing*/downloads/*"))
    assert [p.read_bytes() == DATA for p in kept] == [True]
    assert not list(pytester.path.glob("test-results-steel/*saved_while*/downloads"))  # passing: none kept
    if where == "remote":
        assert remote.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []


@NEEDS_IS_LOCAL
def test_an_async_test_uploads_and_downloads_large_files_unchanged(
    pytester: pytest.Pytester, remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEEL_API_KEY", remote_server.api_key or "")
    monkeypatch.setenv("FILES_BIG_MB", str(BIG_MB))
    pytester.makepyfile(test_async_files=ASYNC_FILES_PROJECT, files_page=FILES_PAGE)
    result = pytester.runpytest_subprocess(
        "--steel-base-url", remote_server.url, "-p", "no:playwright", "-p", "no:cacheprovider", timeout=600
    )
    result.assert_outcomes(passed=1)


THREE_USERS = """
def test_three_users_each_in_a_browser_of_their_own(steel_new_session):
    made = [steel_new_session() for _ in range(3)]
    assert len({session.id for _, session in made}) == 3
    alice = made[0].page.context
    alice.add_cookies([{"name": "who", "value": "alice", "url": "https://app.test/"}])
    assert [c["value"] for c in alice.cookies()] == ["alice"]
    assert [page.context.cookies() for page, _ in made[1:]] == [[], []]
"""


def test_a_test_holds_three_sessions_and_each_is_released_and_reported(pytester: pytest.Pytester, backend) -> None:
    pytester.makepyfile(THREE_USERS)
    result = backend.run(pytester, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*3 sessions created: 3 released*"])
    assert backend.live_sessions() == []


def test_a_one_session_server_refuses_a_second_session_in_one_test_clearly(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(
        """
        def test_two(steel_new_session):
            steel_new_session()
            steel_new_session()
        """
    )
    result = embedded_backend.run(pytester, "--steel-max-sessions", "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*runs at most 1 at once (--steel-max-sessions) and every slot is held by this*"])
    result.stdout.fnmatch_lines(["*1 session created: 1 released*"])


def test_a_download_that_cannot_come_back_is_said_in_the_tests_report(
    pytester: pytest.Pytester, remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = FaultProxy(remote_server.url)
    proxy.fail_paths["/files"] = "404"  # a backend whose files API cannot give the file back
    monkeypatch.setenv("STEEL_API_KEY", remote_server.api_key or "")
    pytester.makepyfile(
        """
        def test_downloads_then_fails(steel_page):
            steel_page.set_content("<a id=get download=r.bin href='data:application/octet-stream;base64,AAEC'>get</a>")
            with steel_page.expect_download():
                steel_page.click("#get")
            assert False, "fails on purpose"
        """
    )
    try:
        result = pytester.runpytest_subprocess("--steel-base-url", proxy.url, "-p", "no:playwright", timeout=180)
    finally:
        proxy.close()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["artifact problem: download * finished in the session's browser, but not here: *"])


def test_a_files_listing_that_names_places_outside_writes_nothing_there_and_says_so(
    pytester: pytest.Pytester, start_server: StartServer, tmp_path: Path
) -> None:
    """A backend whose files listing names ``..``, absolute, NUL and backslash paths: only the safe one is written."""
    server = start_server(api_key=KEY)
    proxy = FaultProxy(server.url)
    outside = tmp_path / "outside"  # an absolute path the backend names: nothing may appear there
    hostile = ["../../evil", "../../../evil-top", str(outside / "evil-abs"), "a\x00b", "r\\..\\..\\evil-bs", "x" * 300]
    listing = [{"path": path, "size": 4, "lastModified": "2026-12-07T20:00:00.000Z"} for path in [*hostile, "r/a.csv"]]
    proxy.canned["/files"] = (200, {}, json.dumps({"data": listing}).encode())
    proxy.canned["/files/r%2Fa.csv"] = (200, {"content-type": "application/octet-stream"}, b"a,b\n")
    pytester.makepyfile(test_hostile="def test_fails(steel_session):\n    assert False, 'fails on purpose'\n")
    try:
        result = pytester.runpytest_subprocess(
            "--steel-base-url", proxy.url, "--steel-api-key", KEY, "--steel-downloads", "retain-on-failure",
            "-p", "no:playwright", timeout=180,
        )  # fmt: skip
    finally:
        proxy.close()
    result.assert_outcomes(failed=1)
    refused = [line for line in result.stdout.lines if "not written, its name is unsafe" in line]
    assert len(refused) == len(hostile), result.stdout.str()
    for path, line in zip(hostile, refused, strict=True):
        assert line.startswith("artifact problem: download of session ")
        assert repr(path)[:60] in line  # the refused name, as the report can show it
    assert "holds a '..' segment" in refused[0] and "is an absolute path" in refused[2]
    assert "holds a NUL byte" in refused[3] and "holds a backslash" in refused[4]
    folder = pytester.path / "test-results" / "test_hostile.py-test_fails" / "downloads"
    assert (folder / "r" / "a.csv").read_bytes() == b"a,b\n"  # a subfolder of the files area is kept as one
    written = sorted(str(p.relative_to(pytester.path)) for p in pytester.path.rglob("*") if p.is_file())
    assert [p for p in written if "evil" in p or p.startswith("test-results/test_hostile.py-test_fails/d")] == [
        "test-results/test_hostile.py-test_fails/downloads/r/a.csv"
    ]
    assert not outside.exists() and not (tmp_path / "evil").exists()
    requested = [path for method, path, _ in proxy.requests if "/files/" in path]
    assert [path.split("/files/")[1] for path in requested] == ["r%2Fa.csv"]  # nothing asked for the others


async def _through_the_relay(folder: Path, guids: list[str], fetched: list[str], *, again: bool = False) -> Any:
    """A driver that sets a download folder, through a DownloadRelay, to a stand-in browser that says ``guids``
    finished; the events the driver heard, the route, and (``again``) the status of a second connection."""
    from aiohttp import ClientSession, WSServerHandshakeError, web

    from pytest_steel._browser.relay import DownloadRelay
    from pytest_steel._browser.route import RemoteFiles

    async def browser(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            command = json.loads(message.data)
            await socket.send_str(json.dumps({"id": command["id"], "result": {}}))
            for guid in guids:
                params = {"guid": guid, "totalBytes": 4, "receivedBytes": 4, "state": "completed"}
                await socket.send_str(json.dumps({"method": "Browser.downloadProgress", "params": params}))
        return socket

    app = web.Application()
    app.router.add_get("/", browser)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    class Files(RemoteFiles):  # as the files API would: the file, written where asked
        async def download_to(self, path: str, local: Path) -> None:
            fetched.append(path)
            local.write_bytes(b"data")

    relay = DownloadRelay()
    try:
        url, route = relay.endpoint(f"ws://127.0.0.1:{port}/", Files(lambda: None, "s"))  # type: ignore[arg-type, return-value]
        heard = []
        async with ClientSession() as http:
            async with http.ws_connect(url) as driver:
                params = {"behavior": "allowAndName", "downloadPath": str(folder), "eventsEnabled": True}
                await driver.send_str(json.dumps({"id": 1, "method": "Browser.setDownloadBehavior", "params": params}))
                while len(heard) < 1 + len(guids):
                    heard.append(json.loads((await asyncio.wait_for(driver.receive(), 30)).data))
            status = None
            if again:  # the connection is over: its path leads nowhere now
                try:
                    async with http.ws_connect(url):
                        status = 101
                except WSServerHandshakeError as exc:
                    status = exc.status
        return heard, route, status, relay
    finally:
        relay.close()
        await runner.cleanup()


def test_a_download_event_with_a_name_that_leaves_its_folder_writes_nothing_outside(tmp_path: Path) -> None:
    """The relay brings a finished download back under the name the remote browser gave it, if that is one name."""
    folder = tmp_path / "driver" / "downloads"
    folder.mkdir(parents=True)
    hostile = ["../evil", "../../evil-2", str(tmp_path / "evil-abs"), "a/../../evil-3", "..", "a\x00b", ""]
    fetched: list[str] = []
    heard, route, _, _ = asyncio.run(_through_the_relay(folder, [*hostile, "good-guid"], fetched))
    assert [event.get("params", {}).get("guid") for event in heard[1:]] == [*hostile, "good-guid"]
    states = [event["params"]["state"] for event in heard[1:]]
    assert states == ["canceled"] * 6 + ["completed"] * 2  # the driver never reads a file by a name from elsewhere
    assert fetched == ["good-guid"]  # nothing asked for the others
    assert (folder / "good-guid").read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["good-guid"]
    said = [line for line in route.failures if "the session's browser gave it an unsafe name" in line]
    assert len(said) == 6, route.failures  # the empty guid is no download at all: nothing to fetch or say
    assert repr("../evil") in said[0] and "holds a path separator" in said[0] and "holds a NUL byte" in said[5]


def test_a_relay_path_serves_one_connection_and_is_then_forgotten(tmp_path: Path) -> None:
    """The route's token (and with it the upstream URL, key and all) goes with the connection that took it."""
    heard, route, status, relay = asyncio.run(_through_the_relay(tmp_path, ["guid-1"], [], again=True))
    assert heard[0] == {"id": 1, "result": {}} and (tmp_path / "guid-1").read_bytes() == b"data"
    assert status == 404  # a second connection to the same path finds nothing
    assert relay._routes == {}  # nothing of the route left in the relay
    assert route.failures == []  # its holder keeps the record


class _Trickle(http.server.BaseHTTPRequestHandler):
    """A files API whose download starts, then trickles a chunk every 50 ms: a fetch that outlives its timeout."""

    protocol_version = "HTTP/1.1"
    served: list[str] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        type(self).served.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(100 * 2**20))
        self.end_headers()
        try:
            for _ in range(400):  # 20 s at most, far past the fetch's timeout
                self.wfile.write(b"x" * 2**16)
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            return  # the client went away: what the test expects


class _Driver:
    """The driver's end of a relayed connection: what the relay sent it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(text)


def test_a_fetch_past_its_timeout_is_cancelled_leaves_nothing_and_the_other_messages_pass(tmp_path: Path) -> None:
    from pytest_steel._browser.relay_downloads import hold_download_event
    from pytest_steel._browser.route import RemoteFiles, Route

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    folder = tmp_path / "downloads"
    folder.mkdir()
    completed = '{"method":"Browser.downloadProgress","params":{"guid":"g-1","state":"completed","receivedBytes":9}}'
    later = '{"method":"Browser.downloadProgress","params":{"guid":"g-1","state":"completed","receivedBytes":9,"x":1}}'
    other = '{"id":7,"result":{"value":2}}'

    async def scenario() -> tuple[list[str], list[str], float]:
        files = RemoteFiles(lambda: AsyncSteelClient(url, "k", max_retries=0), "s")
        files.fetch_timeout = 1.0
        route, driver = Route("ws://unused", files), _Driver()
        route.folders.add(str(folder))
        assert hold_download_event(completed, route, driver)
        assert hold_download_event(later, route, driver)  # the same download's later event waits behind it
        assert not hold_download_event(other, route, driver)  # everything else passes at once
        started = time.monotonic()
        while files.tasks and time.monotonic() - started < 30:
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        await files.aclose()
        return driver.sent, list(route.failures), took

    try:
        sent, failures, took = asyncio.run(scenario())
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert sent == [completed, later]  # let through, in their order, once the fetch gave up
    assert took < 10
    assert failures == [
        "download g-1 finished in the session's browser, but not here: it did not come back within 1 s "
        "(fetch cancelled, nothing kept)"
    ]
    assert _Trickle.served == ["/v1/sessions/s/files/g-1"]
    assert list(folder.iterdir()) == []  # no partial file; and the fetch was a task, now done: nothing writes later


OLD_ALIAS = """
import os, zlib
from playwright.sync_api import expect
from pytest_steel import set_input_files
from files_page import UPLOAD

def test_the_alias_uploads_60_mb(steel_page, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(60 * 2**20))
    steel_page.set_content(UPLOAD)
    set_input_files(steel_page.locator("#f"), big)
    expected = f"big.bin {big.stat().st_size} {zlib.crc32(big.read_bytes())}"
    expect(steel_page.locator("#out")).to_have_text(expected, timeout=90_000)
"""


@pytest.mark.skipif(playwright_has_is_local(), reason="with is_local the alias is Playwright's own call (tested above)")
def test_before_playwright_1_58_the_alias_still_uploads_past_50_mb(
    pytester: pytest.Pytester, remote_server: RemoteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEEL_API_KEY", remote_server.api_key or "")
    monkeypatch.setenv("FILES_BIG_MB", "1")
    pytester.makepyfile(test_old_alias=OLD_ALIAS, files_page=FILES_PAGE)
    result = pytester.runpytest_subprocess("--steel-base-url", remote_server.url, "-p", "no:playwright", timeout=300)
    result.assert_outcomes(passed=1)


NO_FILES_API = """
import os, zlib
from playwright.sync_api import expect
from files_page import UPLOAD

def test_a_1_mb_upload_goes_as_playwright_sends_it(steel_page, tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(2**20))
    steel_page.set_content(UPLOAD)
    steel_page.set_input_files("#f", small)
    expect(steel_page.locator("#out")).to_have_text(f"small.bin {2**20} {zlib.crc32(small.read_bytes())}")

def test_a_60_mb_upload_cannot_reach_the_browser(steel_page, tmp_path):
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        out.truncate(60 * 2**20)
    steel_page.set_content(UPLOAD)
    steel_page.set_input_files("#f", big)
"""


def test_on_a_backend_without_the_files_api_small_uploads_work_and_a_large_one_fails_clearly(
    pytester: pytest.Pytester, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    browsers = start_server()
    stand_in = SteelBrowserStandIn(browsers=browsers.url)  # steel-browser's API, with a real browser behind it
    monkeypatch.setenv("FILES_BIG_MB", "1")
    pytester.makepyfile(test_no_files_api=NO_FILES_API, files_page=FILES_PAGE)
    try:
        result = pytester.runpytest_subprocess(
            "--steel-base-url", stand_in.url, "-p", "no:playwright", "-p", "no:randomly", timeout=180
        )
    finally:
        stand_in.close()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * Cannot transfer files larger than 50Mb to a browser not co-located with the server",
            "*- Steel: a large upload to a backend without a files API -*",
            f"the backend at {stand_in.url} has no session files API as Steel Cloud and steel-local speak it *",
        ]
    )
    assert stand_in.browser_of == {}  # every session released, its browser with it


TWO_MORE = """
def test_two_shoppers_then_a_failure(steel_new_session):
    for title in ("first", "second"):
        page, _ = steel_new_session()
        page.set_content(f"<title>{title}</title><h1>{title}</h1>")
    assert False, "fails on purpose"

def test_passes_with_one_more(steel_new_session):
    page, _ = steel_new_session()
    page.set_content("<title>fine</title>")
"""


def test_each_further_session_of_a_failing_test_has_its_trace_and_recording_linked(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(test_two_more=TWO_MORE)
    junit = pytester.path / "junit.xml"
    html = pytester.path / "report" / "index.html"
    result = embedded_backend.run(
        pytester,
        "--steel-tracing=retain-on-failure",
        "--steel-recording=retain-on-failure",
        "--steel-screenshot=off",
        "-p",
        "no:randomly",
        f"--junitxml={junit}",
        f"--html={html}",
    )
    result.assert_outcomes(passed=1, failed=1)
    folder = pytester.path / "test-results" / "test_two_more.py-test_two_shoppers_then_a_failure"
    assert sorted(p.name for p in folder.iterdir()) == [
        "recording-2.webm",
        "recording-3.webm",
        "trace-2.zip",
        "trace-3.zip",
    ]
    for number, title in ((2, "first"), (3, "second")):
        trace = zipfile.ZipFile(folder / f"trace-{number}.zip")
        assert any(title in trace.read(name).decode(errors="replace") for name in trace.namelist())  # its own pages
        assert (folder / f"recording-{number}.webm").read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # WebM
    assert [p.name for p in (pytester.path / "test-results").iterdir()] == [folder.name]  # the passing test: none
    result.stdout.fnmatch_lines(
        [
            "trace: test-results/test_two_more.py-test_two_shoppers_then_a_failure/trace-2.zip",
            "trace: test-results/test_two_more.py-test_two_shoppers_then_a_failure/trace-3.zip",
        ]
    )
    import xml.etree.ElementTree as ET

    case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name").endswith("failure"))
    linked = sorted(
        p.get("value") for p in case.iter("property") if p.get("name") in ("steel_trace", "steel_recording")
    )
    assert [Path(v).name for v in linked] == ["recording-2.webm", "recording-3.webm", "trace-2.zip", "trace-3.zip"]
    if installed("pytest-html") >= PYTEST_HTML_WITH_TEARDOWN_EXTRAS:  # older ones show no teardown extras
        page = html.read_text().replace("&#34;", '"').replace("&quot;", '"')
        found = re.findall(r'"name": "Steel trace", "format_type": "url", "content": "[^"]*trace-[23]\.zip"', page)
        assert len(found) == 2


def test_the_relay_leaves_browser_paths_and_strange_download_names_alone(tmp_path: Path) -> None:
    """A file input given the browser's own paths (a CDP session of the test's, with what the files API answered)
    goes on unchanged; a download whose guid would name a file outside the driver's folder is not fetched."""
    from pytest_steel._browser.relay_downloads import hold_download_event, refuse_unsafe_download
    from pytest_steel._browser.relay_uploads import take_file_input
    from pytest_steel._browser.route import RemoteFiles, Route

    route = Route("ws://unused", RemoteFiles(lambda: AsyncSteelClient("http://127.0.0.1:9", "k"), "s"), uploads=True)
    route.folders.add(str(tmp_path))
    given = '{"id":3,"method":"DOM.setFileInputFiles","params":{"files":["uploads/ab/big.bin","/files/x"],"nodeId":5}}'
    assert not take_file_input(given, route, None, None)
    strange = '{"method":"Browser.downloadProgress","params":{"guid":"../../evil","state":"completed"}}'
    canceled = refuse_unsafe_download(strange, route)
    assert json.loads(canceled)["params"]["state"] == "canceled"
    assert not hold_download_event(canceled, route, _Driver())
    assert route.files.tasks == set() and route.files.held == {}


ASYNC_ONE_MORE = """
import pytest

@pytest.mark.asyncio
async def test_one_more_then_a_failure(steel_async_new_session):
    page, _ = await steel_async_new_session()
    await page.set_content("<title>async further</title>")
    assert False, "fails on purpose"
"""


def test_an_async_further_session_of_a_failing_test_has_its_trace(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(test_async_more=ASYNC_ONE_MORE)
    result = embedded_backend.run(pytester, "--steel-tracing=retain-on-failure", "--steel-screenshot=off")
    result.assert_outcomes(failed=1)
    folder = pytester.path / "test-results" / "test_async_more.py-test_one_more_then_a_failure"
    assert [p.name for p in folder.iterdir()] == ["trace-2.zip"]
    trace = zipfile.ZipFile(folder / "trace-2.zip")
    assert any("async further" in trace.read(name).decode(errors="replace") for name in trace.namelist())
    result.stdout.fnmatch_lines(["trace: test-results/test_async_more.py-test_one_more_then_a_failure/trace-2.zip"])


class _Downloads:
    """A loopback site whose /get/<n> answers n bytes as an attachment, with their Content-Length."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if not self.path.startswith("/get/"):
                    body = b"<a id=get href='/get/" + self.path.strip("/").encode() + b"'>get</a>"
                    self.send_response(200)
                    self.send_header("content-type", "text/html")
                else:
                    body = b"d" * int(self.path.rsplit("/", 1)[1])
                    self.send_response(200)
                    self.send_header("content-type", "application/octet-stream")
                    self.send_header("content-disposition", "attachment; filename=big.bin")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def _download(ws_url: str, site: str, size: int) -> str | None:
    """Download ``size`` bytes in the session's page; Playwright's failure (None: it arrived whole)."""
    async with connected(ws_url) as (browser,):
        page = first_page(browser)
        await page.goto(f"{site}/{size}")
        async with page.expect_download(timeout=30_000) as info:
            await page.click("#get")
        download = await info.value
        return await download.failure()


MB = 2**20


def _session_holding(server: Server, size: int) -> dict[str, Any]:
    """A new session whose files area already holds ``size`` bytes (``a.bin``), uploaded through the files API."""
    session = server.create(timeout=120_000)
    upload = server.http.post(f"/v1/sessions/{session['id']}/files", files={"file": ("a.bin", b"a" * size)})
    assert upload.status_code == 200
    return session


def test_uploads_and_a_browser_download_cannot_together_pass_max_files_mb(start_server: StartServer) -> None:
    server = start_server("--max-files-mb", "4")
    site = _Downloads()
    try:
        # A download past the bound fails in the page, as a full disk would fail it, and the server says why.
        session = _session_holding(server, 3 * MB)
        failure = asyncio.run(_download(session["websocketUrl"], site.url, 2 * MB))
        assert failure is not None
        (area,) = _files_dirs(server.tmpdir)
        assert sum(p.stat().st_size for p in area.rglob("*") if p.is_file()) == 3 * MB
        assert "would pass this session's files limit of 4 MB (steel-local --max-files-mb sets it)" in server.log()
        server.release(session["id"])

        # Three uploads and a download at once, each 1.5 MB: at most two of them fit in 4 MB.
        session = server.create(timeout=120_000)
        files = f"/v1/sessions/{session['id']}/files"

        def upload(n: int) -> int:
            body = {"file": (f"u{n}.bin", b"u" * (3 * MB // 2))}
            with httpx.Client(base_url=server.url, timeout=60) as client:
                return client.post(files, files=body).status_code

        with concurrent.futures.ThreadPoolExecutor(4) as threads:
            downloaded = threads.submit(asyncio.run, _download(session["websocketUrl"], site.url, 3 * MB // 2))
            uploads = list(threads.map(upload, range(3)))
            failure = downloaded.result(timeout=60)
        assert set(uploads) <= {200, 413}
        kept = uploads.count(200) + (failure is None)
        assert 1 <= kept <= 2, (uploads, failure)
        assert 413 in uploads or failure is not None
        (area,) = _files_dirs(server.tmpdir)
        on_disk = sum(p.stat().st_size for p in area.rglob("*") if p.is_file())
        assert on_disk <= 4 * MB
        assert [p.name for p in area.iterdir() if p.name.startswith(".upload-")] == []
        server.release(session["id"])
    finally:
        site.close()


async def _navigate_raw(ws_url: str, url: str) -> None:
    """Navigate the session's page with bare CDP: a client that never asks for download events."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as socket:

        async def call(number: int, method: str, params: dict[str, Any], session: str | None = None) -> Any:
            await socket.send_json(
                {"id": number, "method": method, "params": params, **({"sessionId": session} if session else {})}
            )
            while True:  # events come between: each read bounded
                answer = await asyncio.wait_for(socket.receive_json(), 30)
                if answer.get("id") == number:
                    return answer.get("result")

        targets = await call(1, "Target.getTargets", {})
        page = next(t["targetId"] for t in targets["targetInfos"] if t["type"] == "page")
        attached = await call(2, "Target.attachToTarget", {"targetId": page, "flatten": True})
        await call(3, "Page.navigate", {"url": url}, attached["sessionId"])


def test_a_download_no_client_hears_of_is_held_to_max_files_mb_too(start_server: StartServer) -> None:
    """The server alone holds the bound (as it arrives, and again at its end) when no client asked for events."""
    server = start_server("--max-files-mb", "4")
    site = _Downloads()
    try:
        # One that fits is kept: its partial file (<guid>.crdownload) is not counted twice as it arrives.
        session = _session_holding(server, MB)
        asyncio.run(_navigate_raw(session["websocketUrl"], f"{site.url}/get/{5 * MB // 2}"))
        (area,) = _files_dirs(server.tmpdir)
        deadline = time.monotonic() + 30
        while sorted(p.stat().st_size for p in area.iterdir() if not p.name.endswith(".crdownload")) != [
            MB,
            5 * MB // 2,
        ]:
            assert "was cancelled" not in server.log() and time.monotonic() < deadline, server.log()[-2000:]
            time.sleep(0.05)  # nothing tells a bare client that a download is whole: polled, bounded
        server.release(session["id"])

        # One past the bound is refused, whichever look (as it arrives, or at its end) sees it first.
        session = _session_holding(server, 3 * MB)
        asyncio.run(_navigate_raw(session["websocketUrl"], f"{site.url}/get/{2 * MB}"))
        deadline = time.monotonic() + 30
        while not (said := re.search(r"download (\S+) \(\d+ bytes\) was cancelled", server.log())):
            assert time.monotonic() < deadline, server.log()[-2000:]
            time.sleep(0.05)  # the server's log is what says it: polled, bounded
        (area,) = _files_dirs(server.tmpdir)
        guid = said.group(1)
        # the browser's cancel, or the server's look at its end, removes it: whole (<guid>) or partial
        while (area / guid).exists() or (area / f"{guid}.crdownload").exists():
            assert time.monotonic() < deadline, [p.name for p in area.iterdir()]
            time.sleep(0.05)
        assert sum(p.stat().st_size for p in area.rglob("*") if p.is_file()) == 3 * MB
        server.release(session["id"])
    finally:
        site.close()


def test_the_zip_of_the_files_leaves_no_temp_file_whether_it_is_made_or_not(start_server: StartServer) -> None:
    server = start_server()
    session = server.create(timeout=60_000)
    files = f"/v1/sessions/{session['id']}/files"
    for name in ("a.txt", "b/c.txt"):
        assert server.http.post(files, files={"file": ("x", name.encode())}, data={"path": name}).status_code == 200
    (area,) = _files_dirs(server.tmpdir)
    before = sorted(p.name for p in area.parent.rglob("*"))

    zipped = zipfile.ZipFile(io.BytesIO(server.http.get(f"{files}.zip").content))
    assert sorted(zipped.namelist()) == ["a.txt", "b/c.txt"] and zipped.read("b/c.txt") == b"b/c.txt"
    assert sorted(p.name for p in area.parent.rglob("*")) == before  # nothing made beside the area

    # A client that goes away after the first bytes of a large zip: the server stops making it.
    noise = os.urandom(12 * 2**20)  # does not compress: the zip is many chunks
    assert server.http.post(files, files={"file": ("n", noise)}, data={"path": "noise.bin"}).status_code == 200
    before = sorted(p.name for p in area.parent.rglob("*"))
    with server.http.stream("GET", f"{files}.zip") as answer:
        assert answer.status_code == 200
        next(answer.iter_bytes())
    assert server.http.get("/v1/health").status_code == 200  # still answering
    assert len(zipfile.ZipFile(io.BytesIO(server.http.get(f"{files}.zip").content)).namelist()) == 3
    assert sorted(p.name for p in area.parent.rglob("*")) == before
    assert not list(server.tmpdir.rglob("*.zip"))
    server.release(session["id"])
    assert not area.exists()


def test_an_upload_that_ends_after_its_session_was_released_does_not_bring_its_folder_back(
    start_server: StartServer,
) -> None:
    server = start_server()
    session = server.create(timeout=60_000)
    (area,) = _files_dirs(server.tmpdir)
    released = threading.Event()
    boundary = "b0undary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\nlate/x.bin\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        yield b"x" * (2 * 2**20)  # a first chunk, written into the area
        assert released.wait(30)
        yield b"y" * (2 * 2**20)
        yield f"\r\n--{boundary}--\r\n".encode()

    def upload() -> httpx.Response:
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.post(f"/v1/sessions/{session['id']}/files", content=body(), headers=headers)

    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        answer = threads.submit(upload)
        deadline = time.monotonic() + 30
        while not list(area.glob(".upload-*")) and time.monotonic() < deadline:  # no event to await: bounded poll
            time.sleep(0.02)
        server.release(session["id"])
        released.set()
        late = answer.result(timeout=60)
    assert late.status_code == 410, late.text
    assert "has ended" in late.json()["message"]
    assert not area.exists()
