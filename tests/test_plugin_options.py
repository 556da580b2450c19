"""Options, ini twins and environment: precedence, the report header, and usage errors that leave nothing behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_steel._client.limits import parse_timeout_ms

from ._support import FaultProxy, StartServer, closed_port_url, live_processes_mentioning

TIMEOUT_ERROR = (
    "ERROR: {where}: {value!r} is not a valid session timeout; give a positive duration of at most 24 h: "
    "milliseconds (300000) or 30s, 10m, 1h (1 to 86400000 ms)"
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in ("STEEL_BASE_URL", "STEEL_API_KEY", "STEEL_CHROMIUM"):
        monkeypatch.delenv(name, raising=False)
    tmpdir = tmp_path_factory.mktemp("run-tmp")
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    return tmpdir


@pytest.mark.parametrize(
    ("text", "ms"),
    [("1", 1), ("300000", 300_000), ("30s", 30_000), ("10m", 600_000), ("1h", 3_600_000), ("24h", 86_400_000),
     ("1.5s", 1_500), ("250ms", 250), (" 2M ", 120_000), (45_000, 45_000)],
)  # fmt: skip
def test_timeouts_that_parse(text: object, ms: int) -> None:
    assert parse_timeout_ms(text) == ms


@pytest.mark.parametrize("value", ["0", "-5", "abc", "25h", "86400001", "1.5", "0.5ms", "", "10d", "1e3", "5 minutes"])
def test_a_bad_timeout_is_a_usage_error_that_starts_nothing(
    pytester: pytest.Pytester, clean_env: Path, value: str
) -> None:
    pytester.makepyfile("def test_never_runs(steel_page): pass")
    result = pytester.runpytest_subprocess(f"--steel-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([TIMEOUT_ERROR.format(where="--steel-timeout", value=value)])
    assert "test_never_runs" not in result.stdout.str()
    assert list(clean_env.iterdir()) == []
    assert live_processes_mentioning(str(clean_env)) == []


def test_a_bad_ini_timeout_names_the_ini_setting(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsteel_timeout = 48h\n")
    pytester.makepyfile("def test_never_runs(steel_page): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([TIMEOUT_ERROR.format(where="ini steel_timeout", value="48h")])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steel-session-scope", "class"], "ERROR: --steel-session-scope: 'class' is not a session scope; "
         "use function, module or session"),
        (["--steel-base-url", "localhost:3000"], "ERROR: --steel-base-url: 'localhost:3000' is not an http:// or "
         "https:// URL (for example http://localhost:3000)"),
        (["--steel-local", "--steel-base-url", "http://127.0.0.1:3000"], "ERROR: --steel-local and --steel-base-url "
         "both choose a backend; keep one of them"),
        (["--steel-chromium", "/nonexistent/chrome"], "ERROR: --steel-chromium: '/nonexistent/chrome' is not an "
         "executable file; give the path of a Chromium or Chrome binary"),
        (["--steel-max-sessions", "0"], "ERROR: --steel-max-sessions: '0' is not a session count; use a whole "
         "number from 1 to 10000"),
        (["--steel-pool-size", "many"], "ERROR: --steel-pool-size: 'many' is not a pool size; use a whole number "
         "from 0 to 64"),
        (["--steel-screenshot", "always"], "ERROR: --steel-screenshot: 'always' is not a screenshot mode; use off, "
         "on or only-on-failure"),
        (["--steel-tracing", "yes"], "ERROR: --steel-tracing: 'yes' is not a tracing mode; use off, on or "
         "retain-on-failure"),
    ],
)  # fmt: skip
def test_other_bad_values_are_usage_errors(
    pytester: pytest.Pytester, clean_env: Path, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_never_runs(steel_page): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert list(clean_env.iterdir()) == []


def test_command_line_beats_environment_beats_ini(
    pytester: pytest.Pytester, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_server = start_server()
    pytester.makeini(
        f"[pytest]\nsteel_timeout = 10m\nsteel_base_url = {closed_port_url()}\nsteel_session_scope = module\n"
    )
    monkeypatch.setenv("STEEL_BASE_URL", env_server.url)
    pytester.makepyfile(
        """
        import sys

        def test_settings(steel_session, steel_client, request):
            expected = int(request.config.getoption("timeout_expected"))
            assert steel_session.timeout == expected
            print("SESSION-ON", steel_client.base_url)
        """
    )
    pytester.makeconftest("def pytest_addoption(parser): parser.addoption('--timeout-expected')")

    result = pytester.runpytest_subprocess("--timeout-expected=600000", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"steel: Steel-compatible server at {env_server.url} (STEEL_BASE_URL)",
            "steel: timeout 600000 ms (ini steel_timeout), scope module (ini steel_session_scope), "
            "release-all own (default), api key none (default)*",
            f"*SESSION-ON {env_server.url}",
        ]
    )
    # on xdist workers too, and the command line wins over both
    result = pytester.runpytest_subprocess(
        "--timeout-expected=30000", "--steel-timeout=30s", "-n", "2", "--steel-local"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "steel: embedded local server, started after collection when a test uses it (--steel-local)",
            "steel: timeout 30000 ms (--steel-timeout), scope module (ini steel_session_scope), *",
        ]
    )


def test_a_suite_without_steel_fixtures_starts_nothing(pytester: pytest.Pytester, clean_env: Path) -> None:
    pytester.makeconftest(
        """
        import sys
        import psutil

        def pytest_sessionfinish(session):
            assert "playwright" not in sys.modules
            assert "httpx" not in sys.modules
            assert "pytest_steel._sessions.tracker" not in sys.modules  # the run's parts load on first need
            assert psutil.Process().children() == []
        """
    )
    pytester.makepyfile("def test_plain(): assert 1 + 1 == 2")
    result = pytester.runpytest_subprocess("-p", "no:playwright")  # pytest-playwright imports it by itself
    result.assert_outcomes(passed=1)
    assert list(clean_env.iterdir()) == []


def test_collecting_a_steel_suite_starts_nothing(pytester: pytest.Pytester, clean_env: Path) -> None:
    """The embedded server starts early only when tests are about to run, not for --collect-only."""
    pytester.makeconftest(
        """
        import sys
        import psutil

        def pytest_unconfigure(config):
            assert psutil.Process().children() == []
            assert "httpx" not in sys.modules
        """
    )
    pytester.makepyfile("def test_page(steel_page): pass")
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:playwright")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["test_collecting_a_steel_suite_starts_nothing.py::test_page", "1 test collected*"])
    assert list(clean_env.iterdir()) == []


def test_an_unreachable_backend_is_reported_once_and_later_tests_fail_fast(pytester: pytest.Pytester) -> None:
    url = closed_port_url()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_needs_a_session(steel_session, n):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--steel-base-url", url)
    result.assert_outcomes(errors=4)
    # The short test summary repeats every message, cut to the terminal's width (whole where $CI is set): leave it out.
    output = "\n".join(line for line in result.outlines if not line.startswith("ERROR "))
    assert output.count(f"could not reach the Steel API at {url}") == 2  # the first error, and the summary
    assert output.count("SteelBackendUnavailableError: the Steel backend is unavailable; see the first error") == 3
    result.stdout.fnmatch_lines(
        ["*= pytest-steel =*", "the Steel backend was unavailable, so tests needing a session errored: could not*"]
    )


def test_a_rejected_key_is_reported_once(pytester: pytest.Pytester, fault_proxy) -> None:
    proxy: FaultProxy = fault_proxy()
    proxy.script = ["401"] * 20
    proxy.answer_body = {"message": "Invalid API key"}
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_needs_a_session(steel_session, n):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--steel-base-url", proxy.url, "--steel-api-key", "not-the-key-42")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            f"*POST /v1/sessions on {proxy.url} was refused (401): the API key from --steel-api-key or STEEL_API_KEY "
            "was rejected; check that it is current. The server said: Invalid API key"
        ]
    )
    assert proxy.paths() == ["GET /v1/health", "POST /v1/sessions"]  # the other tests never asked
    assert "not-the-key-42" not in result.stdout.str() + result.stderr.str()


def test_an_api_key_alone_selects_steel_cloud_and_is_never_shown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steel Cloud itself is out of reach here: only the choice and the header are checked."""
    secret = "ste-CLOUD-KEY-0000-never-shown"
    monkeypatch.setenv("STEEL_API_KEY", secret)
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "steel: Steel Cloud at https://api.steel.dev (STEEL_API_KEY)",
            "steel: timeout 300000 ms (default), scope function (default), release-all own (default), "
            "api key set (STEEL_API_KEY)*",
        ]
    )
    assert secret not in result.stdout.str() + result.stderr.str()


def test_headed_is_for_the_embedded_server_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never_runs(steel_page): pass")
    result = pytester.runpytest_subprocess("--steel-headed", "--steel-base-url", "http://127.0.0.1:3000")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --steel-headed applies to the embedded server only, and the backend is chosen by --steel-base-url"]
    )


def test_runs_beside_pytest_playwright(pytester: pytest.Pytester) -> None:
    """Both plugins load, their options do not clash, and both kinds of page work in one run."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def browser_type_launch_args(browser_type_launch_args):
            from pytest_steel._browser.chromium import find_chromium
            binary = find_chromium().for_session(headless=True).path
            return {**browser_type_launch_args, "executable_path": str(binary), "args": ["--no-sandbox"]}
        """
    )
    pytester.makepyfile(
        """
        def test_steel(steel_page):
            steel_page.goto("data:text/html,<title>steel</title>")
            assert steel_page.title() == "steel"

        def test_playwright(page):
            page.goto("data:text/html,<title>playwright</title>")
            assert page.title() == "playwright"
        """
    )
    result = pytester.runpytest_subprocess("--browser", "chromium")
    result.assert_outcomes(passed=2)
    plugins = next(line for line in result.stdout.lines if line.startswith("plugins: "))
    assert "playwright-" in plugins and "steel-" in plugins


def test_headed_sessions_on_the_embedded_server(
    pytester: pytest.Pytester, xvfb_display: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb_display)
    pytester.makepyfile(
        """
        def test_headed(steel_session, steel_page):
            assert steel_session.headless is False
            assert "HeadlessChrome" not in steel_page.evaluate("navigator.userAgent")
        """
    )
    result = pytester.runpytest_subprocess("--steel-headed")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["steel: *headed yes (--steel-headed)"])


@pytest.mark.parametrize(
    ("args", "sent", "shown"),
    [
        ([], 300_000, "inactivity 300000 ms (default)"),
        (["--steel-inactivity-timeout=90s"], 90_000, "inactivity 90000 ms (--steel-inactivity-timeout)"),
        (["--steel-inactivity-timeout=off"], None, "inactivity off (--steel-inactivity-timeout)"),
        (["-o", "steel_inactivity_timeout=2m"], 120_000, "inactivity 120000 ms (ini steel_inactivity_timeout)"),
    ],
)
def test_every_session_is_created_with_the_inactivity_timeout_the_header_shows(
    pytester: pytest.Pytester, proxied_server, args: list[str], sent: int | None, shown: str
) -> None:
    server, proxy = proxied_server
    pytester.makepyfile(
        """
        import pytest

        def test_page(steel_page): pass

        def test_two(steel_new_session):
            steel_new_session()

        @pytest.mark.steel(inactivity_timeout=45_000)
        def test_marked(steel_page): pass
        """
    )
    result = pytester.runpytest_subprocess("--steel-base-url", proxy.url, "-p", "no:playwright", *args)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"steel: timeout 300000 ms (default), *, {shown}*"])
    creates = [body for method, path, body in proxy.requests if (method, path) == ("POST", "/v1/sessions")]
    assert [c.get("inactivityTimeout") for c in creates] == [sent, sent, 45_000]  # a marker's own wins


@pytest.mark.parametrize(
    ("args", "where", "value"),
    [
        (["--steel-inactivity-timeout=-5"], "--steel-inactivity-timeout", "-5"),
        (["--steel-inactivity-timeout=25h"], "--steel-inactivity-timeout", "25h"),
        (["-o", "steel_inactivity_timeout=soon"], "ini steel_inactivity_timeout", "soon"),
    ],
)
def test_a_bad_inactivity_timeout_is_a_usage_error_naming_the_option_and_range(
    pytester: pytest.Pytester, clean_env: Path, args: list[str], where: str, value: str
) -> None:
    pytester.makepyfile("def test_never_runs(steel_page): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: {where}: {value!r} is not a valid inactivity timeout; give off or a positive duration of "
            "at most 24 h: milliseconds (300000) or 30s, 10m, 1h (1 to 86400000 ms)"
        ]
    )
    assert "test_never_runs" not in result.stdout.str()
    assert list(clean_env.iterdir()) == []
