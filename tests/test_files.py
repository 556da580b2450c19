"""Files cross the session boundary: the files API (server, SDK, clients), uploads and downloads from tests
whose browser shares no disk with them, and several sessions in one test."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import http.server
import io
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_steel import AsyncSteelClient, SteelClient, SteelFilesUnsupportedError

from ._cdp import connected, first_page
from ._steel_browser import SteelBrowserStandIn
from ._support import Backend, FaultProxy, RemoteServer, StartServer

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


# A pytest-playwright-style project: its page, a 60 MB upload, a download saved where the test says.
FILES_PROJECT = r'''
import os, pathlib, zlib
from playwright.sync_api import expect
from pytest_steel import set_input_files

DATA = bytes(range(256)) * 12288  # 3 MiB
LINK = ("<a id=get download=report.bin href='data:application/octet-stream;base64,"
        + __import__("base64").b64encode(DATA).decode() + "'>get</a>")
UPLOAD = """<input type=file id=f><output id=out></output><script>
const table = new Uint32Array(256).map((_, n) => {
  let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1; return c >>> 0; });
document.getElementById('f').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  const bytes = new Uint8Array(await file.arrayBuffer());
  let crc = 0xFFFFFFFF;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >>> 8);
  document.getElementById('out').textContent = `${file.name} ${file.size} ${(crc ^ 0xFFFFFFFF) >>> 0}`;
});
</script>"""


def test_a_60_mb_upload_arrives_whole(page, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(60 * 2**20))
    page.set_content(UPLOAD)
    set_input_files(page.locator("#f"), big)
    expected = f"big.bin {big.stat().st_size} {zlib.crc32(big.read_bytes())}"
    expect(page.locator("#out")).to_have_text(expected, timeout=60_000)


def test_a_small_upload_is_playwrights_own(page, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(b"abc")
    page.set_content(UPLOAD)
    set_input_files(page.locator("#f"), small)
    expect(page.locator("#out")).to_have_text(f"small.txt 3 {zlib.crc32(b'abc')}")


def test_a_download_is_saved_where_the_test_says(page, tmp_path):
    page.set_content(LINK)
    with page.expect_download() as info:
        page.click("#get")
    target = tmp_path / "saved.bin"
    info.value.save_as(target)
    assert target.read_bytes() == DATA
    assert pathlib.Path(info.value.path()).read_bytes() == DATA


def test_a_failing_test_keeps_its_downloads(page):
    page.set_content(LINK)
    with page.expect_download() as info:
        page.click("#get")
    assert info.value.failure() is None
    assert False, "fails on purpose"
'''

DATA = bytes(range(256)) * 12288


@pytest.mark.parametrize("where", ["remote", "embedded"])
def test_uploads_and_downloads_cross_to_a_browser_that_shares_no_disk(
    where: str, request: pytest.FixtureRequest, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--steel-playwright", "-p", "playwright"]
    if where == "remote":
        remote: RemoteServer = request.getfixturevalue("remote_server")
        monkeypatch.setenv("STEEL_API_KEY", remote.api_key or "")
        args += ["--steel-base-url", remote.url]
    pytester.makepyfile(test_files_project=FILES_PROJECT)
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", timeout=240)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: fails on purpose", "download: test-results-steel/*failing*/downloads/*"]
    )
    kept = list(pytester.path.glob("test-results-steel/*failing*/downloads/*"))
    assert [p.read_bytes() == DATA for p in kept] == [True]
    assert not list(pytester.path.glob("test-results-steel/*saved_where*/downloads"))  # passing: none kept
    if where == "remote":
        assert remote.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []


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


def test_uploads_and_a_browser_download_cannot_together_pass_max_files_mb(start_server: StartServer) -> None:
    server = start_server("--max-files-mb", "4")
    site = _Downloads()
    try:
        # A download past the bound fails in the page, as a full disk would fail it, and the server says why.
        session = server.create(timeout=120_000)
        files = f"/v1/sessions/{session['id']}/files"
        assert server.http.post(files, files={"file": ("a.bin", b"a" * (3 * MB))}).status_code == 200
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
