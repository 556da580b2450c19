"""``--steel-playwright``: a pytest-playwright suite, unchanged, on Steel sessions.

The same inline suite runs with pytest-playwright alone (its own browser, on the same
Chromium binary) and with ``--steel-playwright``; in Steel mode the summary shows one
session per test. Every option a pytest-playwright user sets is exercised.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_steel._browser.chromium import find_chromium

from ._support import Backend, installed

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

CONFTEST = """
import json
import pytest

CHROMIUM = CHROMIUM_PATH


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # pytest-playwright's own launch (without --steel-playwright), on the binary this machine has
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {
        **browser_context_args,
        "viewport": {"width": 800, "height": 600},
        "locale": "de-DE",
        "timezone_id": "Asia/Tokyo",
        "extra_http_headers": {"x-suite": "steel-or-not"},
        "permissions": ["geolocation"],
        "geolocation": {"latitude": 48.85, "longitude": 2.35},
        "ignore_https_errors": True,
    }
"""

SUITE = """
import json
import time
import pytest

STATE = {
    "cookies": [{"name": "sid", "value": "s1", "domain": "127.0.0.1", "path": "/", "expires": -1,
                 "httpOnly": True, "secure": False, "sameSite": "Lax"}],
    "origins": [{"origin": "ORIGIN", "localStorage": [{"name": "token", "value": "t1"}]}],
}


def test_context_args_and_base_url(page, pytestconfig):
    page.goto("/headers")  # --base-url
    assert json.loads(page.inner_text("pre"))["x-suite"] == "steel-or-not"
    assert page.evaluate("[innerWidth, innerHeight]") == [800, 600] or pytestconfig.getoption("device")
    assert page.evaluate("navigator.language") == "de-DE"
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Tokyo"
    where = page.evaluate(
        "new Promise(r => navigator.geolocation.getCurrentPosition(p => r([p.coords.latitude, p.coords.longitude])))"
    )
    assert where == [48.85, 2.35]


@pytest.mark.browser_context_args(storage_state=STATE, locale="fr-FR")
def test_marker_storage_state(page):
    page.goto("/headers")
    assert json.loads(page.inner_text("pre"))["cookie"] == "sid=s1"
    assert page.evaluate("localStorage.getItem('token')") == "t1"
    assert page.evaluate("navigator.language") == "fr-FR"


def test_browser_name_and_friends(browser_name, is_chromium, is_firefox, is_webkit, browser):
    assert (browser_name, is_chromium, is_firefox, is_webkit) == ("chromium", True, False, False)
    assert browser.version


def test_new_context_is_a_second_context_in_the_same_browser(new_context, page, browser):
    other = new_context(color_scheme="dark")
    assert other.browser is page.context.browser is browser and other is not page.context
    second = other.new_page()
    second.goto("/headers")
    dark = "matchMedia('(prefers-color-scheme: dark)').matches"
    assert (second.evaluate(dark), page.evaluate(dark)) == (True, False)
    assert second.evaluate("navigator.language") == "de-DE"  # browser_context_args apply to it too


def test_device(page, pytestconfig):
    device = pytestconfig.getoption("device")
    agent = page.evaluate("navigator.userAgent")
    assert ("Android" in agent) == (device == "Pixel 5")


def test_slowmo(page, pytestconfig):
    page.set_content("<button onclick='this.textContent = 1'>0</button>")
    started = time.monotonic()
    page.click("button")
    page.click("button")
    assert time.monotonic() - started >= 2 * pytestconfig.getoption("slowmo") / 1000


def test_headed(browser, pytestconfig):
    product = browser.new_browser_cdp_session().send("Browser.getVersion")["product"]  # not the rewritten UA
    assert product.startswith("HeadlessChrome") != pytestconfig.getoption("headed")
"""

FAILING = """
def test_fails_with_artifacts(page):
    page.goto("/headers")
    page.set_content("<h1 style='color: rgb(255, 0, 0)'>about to fail</h1>")
    assert page.inner_text("h1") == "something else"


def test_passes_without_artifacts(page):
    page.goto("/headers")
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, pages: str, monkeypatch: pytest.MonkeyPatch, playwright_browsers: str) -> str:
    """The inline pytest-playwright suite; returns the base URL its --base-url points at."""
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", playwright_browsers)
    chromium = find_chromium(os.environ.get("STEEL_CHROMIUM")).for_session(headless=True)
    pytester.makeconftest(CONFTEST.replace("CHROMIUM_PATH", repr(str(chromium.path))))
    pytester.makepyfile(test_suite=SUITE.replace("ORIGIN", pages))
    return pages


def run(pytester: pytest.Pytester, backend: Backend, base_url: str, *args: str) -> pytest.RunResult:
    return backend.run(pytester, "--base-url", base_url, "-p", "no:randomly", *args, beside_pytest_playwright=True)


def sessions_created(result: pytest.RunResult) -> int:
    match = re.search(r"^(\d+) sessions? created", result.stdout.str(), re.MULTILINE)
    return int(match.group(1)) if match else 0


TESTS = 7


@pytest.mark.parametrize("options", [[], ["--device", "Pixel 5", "--slowmo", "150"]], ids=["plain", "device-slowmo"])
def test_the_suite_passes_unchanged_with_and_without_steel(
    pytester: pytest.Pytester, backend: Backend, suite: str, options: list[str]
) -> None:
    alone = run(pytester, backend, suite, *options)
    alone.assert_outcomes(passed=TESTS)
    assert sessions_created(alone) == 0  # pytest-playwright's own browser
    on_steel = run(pytester, backend, suite, "--steel-playwright", "-v", *options)
    on_steel.assert_outcomes(passed=TESTS)
    assert sessions_created(on_steel) == TESTS  # one Steel session per test
    on_steel.stdout.fnmatch_lines(["steel: *pytest-playwright on (--steel-playwright)*"])


def test_per_module_sessions_and_the_steel_marker(pytester: pytest.Pytester, backend: Backend, suite: str) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        pytestmark = pytest.mark.steel(timeout="2m")

        def test_one(page, steel_session):
            assert steel_session.timeout == 120_000

        def test_two(page, steel_session, steel_page):
            assert steel_page.context.browser is page.context.browser  # steel_* fixtures in the same run
        """
    )
    result = run(pytester, backend, suite, "--steel-playwright", "--steel-session-scope", "module", "test_marked.py")
    result.assert_outcomes(passed=2)
    assert sessions_created(result) == 1


def test_headed_on_the_embedded_server(
    pytester: pytest.Pytester, embedded_backend: Backend, suite: str, xvfb_display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb_display)
    result = run(pytester, embedded_backend, suite, "--steel-playwright", "--headed", "-k", "headed")
    result.assert_outcomes(passed=1)
    assert sessions_created(result) == 1


def artifact_folders(output: Path) -> dict[str, list[str]]:
    return {d.name: sorted(p.name for p in d.iterdir()) for d in sorted(output.iterdir()) if d.is_dir()}


def test_pytest_playwrights_artifacts_for_a_failing_test(
    pytester: pytest.Pytester, embedded_backend: Backend, suite: str
) -> None:
    pytester.makepyfile(test_failing=FAILING)
    artifacts = ["--tracing", "retain-on-failure", "--video", "retain-on-failure", "--screenshot", "only-on-failure"]
    result = run(pytester, embedded_backend, suite, "--steel-playwright", *artifacts, "--full-page-screenshot",
                 "--output", "pw-out", "-n", "2", "test_failing.py")  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    folders = artifact_folders(pytester.path / "pw-out")
    name = "test-failing-py-test-fails-with-artifacts"
    name += "-chromium" if installed("pytest-playwright") >= (0, 7) else ""  # its folders name the browser from 0.7
    assert list(folders) == [name]
    files = folders[name]
    assert "test-failed-1.png" in files and "trace.zip" in files
    videos = [f for f in files if f.endswith(".webm")]
    assert len(videos) == 1
    folder = pytester.path / "pw-out" / name
    assert (folder / videos[0]).stat().st_size > 1000  # frames were encoded (Playwright's ffmpeg is there)
    assert (folder / "test-failed-1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with zipfile.ZipFile(folder / "trace.zip") as trace:
        assert any(name.endswith(".trace") for name in trace.namelist())
    assert sessions_created(result) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--browser", "firefox"], "ERROR: --browser firefox: Steel sessions run Chromium; with --steel-playwright "
         "use --browser chromium (or none)"),
        (["--browser", "chromium", "--browser", "webkit"], "ERROR: --browser webkit: Steel sessions run Chromium*"),
        (["--browser-channel", "chrome"], "ERROR: --browser-channel: a Steel session's browser is chosen by its "
         "backend, not by a channel; drop it, or drop --steel-playwright"),
        (["-p", "no:playwright"], "ERROR: --steel-playwright puts pytest-playwright's fixtures on Steel sessions, "
         "but neither pytest-playwright nor pytest-playwright-asyncio is active*"),
        (["--headed", "--steel-base-url", "http://127.0.0.1:9"], "ERROR: --headed shows the browser of the embedded "
         "server only, and the backend is chosen by --steel-base-url*"),
    ],
)  # fmt: skip
def test_what_cannot_work_on_steel_is_a_usage_error(
    pytester: pytest.Pytester, clean_tmp: Path, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_never_runs(page): pass")
    result = pytester.runpytest_subprocess("--steel-playwright", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert list(clean_tmp.iterdir()) == []  # nothing started, nothing left


def test_the_setting_also_comes_from_the_environment_and_the_ini_file(
    pytester: pytest.Pytester, embedded_backend: Backend, suite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEEL_PLAYWRIGHT", "1")
    result = run(pytester, embedded_backend, suite, "-k", "browser_name")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["steel: *pytest-playwright on (STEEL_PLAYWRIGHT)*"])
    monkeypatch.delenv("STEEL_PLAYWRIGHT")
    pytester.makeini("[pytest]\nsteel_playwright = true\n")
    result = run(pytester, embedded_backend, suite, "-k", "browser_name")
    result.assert_outcomes(passed=1)
    assert sessions_created(result) == 1


@pytest.fixture
def clean_tmp(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty TMPDIR for the run, so that anything it leaves is seen."""
    path = tmp_path_factory.mktemp("usage-tmp")
    monkeypatch.setenv("TMPDIR", str(path))
    for name in ("STEEL_BASE_URL", "STEEL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield path


def test_headers_page_serves_json(pages: str) -> None:
    """The suite's /headers page echoes request headers (the suite relies on it)."""
    import html

    import httpx

    body = httpx.get(f"{pages}/headers", headers={"x-probe": "1"}).text
    echoed = re.search(r"<pre>(.*)</pre>", body, re.S)
    assert echoed is not None and json.loads(html.unescape(echoed.group(1)))["x-probe"] == "1"


def test_the_example_passes_with_pytest_playwright_alone_and_on_steel(
    pytester: pytest.Pytester, backend: Backend, monkeypatch: pytest.MonkeyPatch, playwright_browsers: str
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", playwright_browsers)
    for name in ("conftest.py", "login_app.py"):
        shutil.copy(EXAMPLES / name, pytester.path / name)
    for folder in ("site", "pytest_playwright"):
        shutil.copytree(EXAMPLES / folder, pytester.path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    chromium = find_chromium(os.environ.get("STEEL_CHROMIUM")).for_session(headless=True)
    with (pytester.path / "conftest.py").open("a") as conftest:  # where Playwright's own Chromium is installed,
        conftest.write(  # a user needs none of this: pytest-playwright's own launch, on this machine's Chromium
            "\n\n@pytest.fixture(scope='session')\ndef browser_type_launch_args(browser_type_launch_args):\n"
            f"    return {{**browser_type_launch_args, 'executable_path': {str(chromium.path)!r}}}\n"
        )
    alone = backend.run(pytester, "pytest_playwright", beside_pytest_playwright=True)
    alone.assert_outcomes(passed=5)
    assert sessions_created(alone) == 0
    on_steel = backend.run(pytester, "--steel-playwright", "pytest_playwright", beside_pytest_playwright=True)
    on_steel.assert_outcomes(passed=5)
    assert sessions_created(on_steel) == 5
