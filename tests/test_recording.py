"""Recordings: steel-local records a session's pages to WebM when asked at create; the plugin keeps them as artifacts.

Every video is checked by decoding it with ffmpeg: its first frame, and the colour of
the page the test showed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from pytest_steel._reporting.test_reports import PYTEST_HTML_WITH_TEARDOWN_EXTRAS

from ._support import Backend, FaultProxy, ProxiedServer, StartServer, installed

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="recordings need ffmpeg (.ci/run installs it)")

MAGENTA = (230, 0, 160)
MAGENTA_PAGE = "data:text/html,<title>magenta</title><body style='margin:0;background:rgb(230,0,160)'>"
GREEN_PAGE = "data:text/html,<title>green</title><body style='margin:0;background:rgb(0,200,60)'>"


def decode(video: Path, *options: str) -> bytes:
    """Raw RGB frames; ffmpeg fails (and so the test) on a file that does not decode."""
    raw = ("-f", "rawvideo", "-pix_fmt", "rgb24", "-")
    command = [FFMPEG or "ffmpeg", "-v", "error", "-i", str(video), *options, *raw]
    return subprocess.run(command, capture_output=True, timeout=60, check=True).stdout


def frames(video: Path, width: int = 16, height: int = 16) -> list[bytes]:
    """The video's frames as raw RGB, scaled to ``width`` x ``height``; decoding fails loudly on a broken file."""
    decoded = decode(video, "-vf", f"scale={width}:{height}")
    size = width * height * 3
    assert decoded and len(decoded) % size == 0, f"{len(decoded)} bytes do not make {width}x{height} frames"
    return [decoded[i : i + size] for i in range(0, len(decoded), size)]


def first_frame(video: Path, width: int, height: int) -> bytes:
    """The first frame at the video's own size: it must decode to exactly one frame of ``width`` x ``height``."""
    decoded = decode(video, "-frames:v", "1")
    assert len(decoded) == width * height * 3, f"first frame: {len(decoded)} bytes, not {width}x{height} RGB"
    return decoded


def shows(frame: bytes, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    """The frame's centre pixel is ``colour`` (JPEG and VP8 shift colours a little)."""
    middle = len(frame) // 3 // 2 * 3
    return all(abs(frame[middle + i] - colour[i]) <= tolerance for i in range(3))


def drive(cdp_url: str, *urls: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(cdp_url)
        page = browser.contexts[0].pages[0]
        for url in urls:
            page.goto(url)
            page.wait_for_timeout(400)  # the recording shows each page for a while: what a test's pages do
        browser.close()


def test_a_recorded_session_is_a_playable_video_of_its_pages_once_it_ends(
    start_server: StartServer, tmp_path: Path
) -> None:
    server = start_server()
    assert server.http.get("/v1/health").json()["recording"] is True
    session = server.create(recordVideo=True, dimensions={"width": 640, "height": 480})
    sid = session["id"]
    early = server.http.get(f"/v1/sessions/{sid}/recording")
    assert early.status_code == 409 and "live" in early.json()["message"]

    drive(session["websocketUrl"], MAGENTA_PAGE, GREEN_PAGE)
    server.release(sid)
    answer = server.http.get(f"/v1/sessions/{sid}/recording")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "video/webm"
    video = tmp_path / "recording.webm"
    video.write_bytes(answer.content)

    first_frame(video, 640, 480)
    shown = frames(video)
    magenta = [i for i, f in enumerate(shown) if shows(f, MAGENTA)]
    green = [i for i, f in enumerate(shown) if shows(f, (0, 200, 60))]
    assert magenta and green and max(magenta) < min(green), (magenta, green)  # in the order the test showed them
    assert len(shown) >= 6  # 0.8 s of pages at 10 frames a second, at least

    assert server.http.delete(f"/v1/sessions/{sid}/recording").json() == {"success": True}
    gone = server.http.get(f"/v1/sessions/{sid}/recording")
    assert gone.status_code == 404 and "deleted" in gone.json()["message"]
    assert list((server.tmpdir).rglob("*.webm")) == []


def test_a_session_not_asked_to_record_has_no_recording_and_nothing_records(start_server: StartServer) -> None:
    server = start_server()
    session = server.create()
    assert not [p for p in server.browsers() if "ffmpeg" in " ".join(p.cmdline())]
    server.release(session["id"])
    answer = server.http.get(f"/v1/sessions/{session['id']}/recording")
    assert answer.status_code == 404
    assert answer.json()["message"] == f"session {session['id']} was not recorded: create it with recordVideo: true"


def test_a_recording_in_progress_ends_with_the_server_and_leaves_nothing(start_server: StartServer) -> None:
    server = start_server()
    session = server.create(recordVideo=True)
    encoders = [p for p in server.browsers() if "ffmpeg" in " ".join(p.cmdline())]  # it runs under the root
    # Seen empty once in CI, unexplained: say what the session and the server said if it happens again.
    assert encoders, (server.get(session["id"]), server.log())
    # start_server's teardown stops the server and asserts no process and no file is left


def test_without_ffmpeg_a_recording_is_refused_and_an_explicit_bad_one_is_a_usage_error(
    start_server: StartServer, tmp_path: Path
) -> None:
    empty = tmp_path / "no-browsers"
    empty.mkdir()
    chromium = "/usr/lib/chromium/chromium-headless-shell"
    env = {"PATH": "/nonexistent", "PLAYWRIGHT_BROWSERS_PATH": str(empty), "STEEL_CHROMIUM": chromium}
    server = start_server(env=env)
    answer = server.http.post("/v1/sessions", json={"recordVideo": True})
    assert answer.status_code == 400
    body = answer.json()
    assert body["field"] == "recordVideo"
    assert body["message"].startswith("recordVideo cannot be honoured: recordings need ffmpeg, and none was found")
    assert "$STEEL_FFMPEG" in body["message"]
    assert server.browsers() == []  # refused before any browser started
    assert server.http.get("/v1/sessions").json()["sessions"] == []

    bad = subprocess.run(
        ["steel-local", "--ffmpeg", str(tmp_path / "missing")], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert f"--ffmpeg: '{tmp_path / 'missing'}' is not an executable file" in bad.stderr


RECORDED_SUITE = textwrap.dedent(
    f"""
    import pytest

    MAGENTA = {MAGENTA_PAGE!r}

    def test_fails(steel_page):
        steel_page.goto(MAGENTA)  # released at once: the video still ends on it (the release's last look)
        assert steel_page.title() == "something else"

    def test_passes(steel_page):
        steel_page.goto(MAGENTA)
        assert steel_page.title() == "magenta"

    @pytest.mark.steel(recording="on")
    def test_passes_and_asks_for_a_recording(steel_page):
        steel_page.goto(MAGENTA)
    """
)


def test_retain_on_failure_keeps_a_playable_recording_of_the_failing_test_only(
    pytester: pytest.Pytester, embedded_backend: Backend
) -> None:
    pytester.makepyfile(test_recorded=RECORDED_SUITE)
    junit = pytester.path / "junit.xml"
    report = pytester.path / "report" / "index.html"
    result = embedded_backend.run(
        pytester,
        "--steel-recording=retain-on-failure",
        "--steel-screenshot=off",
        f"--junitxml={junit}",
        f"--html={report}",
    )
    result.assert_outcomes(passed=2, failed=1)
    output = pytester.path / "test-results"
    assert sorted(p.name for p in output.iterdir()) == [
        "test_recorded.py-test_fails",
        "test_recorded.py-test_passes_and_asks_for_a_recording",
    ]
    video = output / "test_recorded.py-test_fails" / "recording.webm"
    assert sorted(p.name for p in video.parent.iterdir()) == ["recording.webm"]
    first_frame(video, 1280, 800)  # the session's default dimensions
    assert any(shows(frame, MAGENTA) for frame in frames(video))

    result.stdout.fnmatch_lines(
        [
            "steel: screenshot off (--steel-screenshot), tracing off (default), "
            "recording retain-on-failure (--steel-recording), downloads retain-on-failure (default), "
            "output test-results (default)",
            "*- Steel session -*",
            "recording: test-results/test_recorded.py-test_fails/recording.webm",
        ]
    )
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    properties = {
        name: dict((p.get("name"), p.get("value")) for p in case.iter("property")) for name, case in cases.items()
    }
    assert properties["test_fails"]["steel_recording"] == "test-results/test_recorded.py-test_fails/recording.webm"
    assert "steel_recording" not in properties["test_passes"]
    assert properties["test_passes_and_asks_for_a_recording"]["steel_recording"].endswith("recording.webm")

    if installed("pytest-html") >= PYTEST_HTML_WITH_TEARDOWN_EXTRAS:  # older ones show no teardown extras
        html = report.read_text().replace("&#34;", '"').replace("&quot;", '"')
        video_extra = r'"name": "Steel recording", "format_type": "video", "content": "(assets/[^"]+\.webm)"'
        played = re.findall(video_extra, html)
        assert len(played) == 2  # the failing test's, and the one the marker asked for
        webm = b"\x1a\x45\xdf\xa3"  # a Matroska/WebM file, in the report
        assert (report.parent / played[0]).read_bytes()[:4] == webm
    assert list(embedded_backend.tmpdir.rglob("*.webm")) == []  # the server's copies are gone


def run_a_failing_test(pytester: pytest.Pytester, proxy: FaultProxy, mode: str) -> pytest.RunResult:
    """One failing test on the proxy's backend with ``--steel-recording=mode``."""
    pytester.makepyfile(test_one="def test_fails(steel_page):\n    assert False\n")
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, f"--steel-recording={mode}", "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(failed=1)
    return result


def test_a_backend_that_keeps_steel_events_gives_them_with_a_player_page(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    """What Steel Cloud gives: rrweb events, in pages joined by the Next-Cursor header (loopback stand-in)."""
    server, proxy = proxied_server
    proxy.fail_paths["/recording"] = "404"  # like Steel Cloud, no steel-local video
    page_one = [{"type": 4, "data": {"href": "about:blank"}, "timestamp": 1}]
    page_two = [{"type": 3, "data": {"text": "</script><b>"}, "timestamp": 2}]
    proxy.canned["/events?pointer=two"] = (200, {}, json.dumps(page_two).encode())
    proxy.canned["/events"] = (200, {"Next-Cursor": "two"}, json.dumps(page_one).encode())
    result = run_a_failing_test(pytester, proxy, "on")
    folder = pytester.path / "test-results" / "test_one.py-test_fails"
    assert json.loads((folder / "recording-events.json").read_text()) == page_one + page_two
    player = (folder / "recording.html").read_text()
    assert "rrwebPlayer" in player and "</script><b>" not in player  # no event can end the page's script
    result.stdout.fnmatch_lines(
        [
            "recording: test-results/test_one.py-test_fails/recording.html",
            "recording events: test-results/test_one.py-test_fails/recording-events.json",
        ]
    )
    events_asked = [path.split("/events")[1] for method, path, _ in proxy.requests if "/events" in path]
    assert events_asked == ["", "?pointer=two"]


def test_a_backend_without_recordings_says_so_beside_the_failure(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    server, proxy = proxied_server
    proxy.fail_paths["/recording"] = "404"
    proxy.fail_paths["/events"] = "404"  # steel-browser has neither
    result = run_a_failing_test(pytester, proxy, "retain-on-failure")
    result.stdout.fnmatch_lines(
        ["artifact problem: no recording of session *: the backend keeps none (it records only on Steel Cloud)"]
    )


def test_recording_on_the_embedded_server_without_ffmpeg_is_a_usage_error(
    pytester: pytest.Pytester, embedded_backend: Backend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEEL_FFMPEG", str(tmp_path / "no-ffmpeg"))
    pytester.makepyfile(test_any="def test_any(steel_page):\n    pass\n")
    result = embedded_backend.run(pytester, "--steel-recording=on")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --steel-recording on: STEEL_FFMPEG: '{tmp_path / 'no-ffmpeg'}' is not an executable file*"]
    )


def test_the_client_pages_through_events_by_next_cursor(fault_proxy) -> None:
    from pytest_steel import SteelClient

    proxy: FaultProxy = fault_proxy(None)
    proxy.canned["/events?pointer=b"] = (200, {"Next-Cursor": "c"}, b'[{"n": 2}]')
    proxy.canned["/events?pointer=c"] = (200, {}, b'[{"n": 3}]')
    proxy.canned["/events"] = (200, {"Next-Cursor": "b"}, b'[{"n": 1}]')
    with SteelClient(proxy.url, api_key="k") as client:
        assert client.events("s1") == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert [path for _, path, _ in proxy.requests] == [
        "/v1/sessions/s1/events",
        "/v1/sessions/s1/events?pointer=b",
        "/v1/sessions/s1/events?pointer=c",
    ]


def test_recording_a_shared_per_module_session_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_any="def test_any(steel_page):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "--steel-recording=on", "--steel-session-scope=module", "-p", "no:playwright", timeout=120
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --steel-recording on records each test's own session, and --steel-session-scope module shares "
            "one session among tests: use --steel-session-scope function (the default) to record"
        ]
    )
