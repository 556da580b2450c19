"""Files cross the session boundary: the files API (server, SDK, clients), uploads and downloads from tests
whose browser shares no disk with them, and several sessions in one test."""

from __future__ import annotations

import asyncio
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_steel import AsyncSteelClient, SteelClient, SteelFilesUnsupportedError

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

    def fetch(path: str, local: Path) -> None:  # as the files API would: the file, written where asked
        fetched.append(path)
        local.write_bytes(b"data")

    relay = DownloadRelay()
    try:
        url, route = relay.endpoint(f"ws://127.0.0.1:{port}/", fetch)
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
