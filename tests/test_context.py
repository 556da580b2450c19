"""Session context: read from one live session, restored into new ones before their first page loads anything.

The app is the example suite's (``examples/login_app.py``): an httpOnly session cookie
the server reads, and a localStorage token a script in the page's head reads, so a
restore that came one moment too late would show "nobody".
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import steel
from playwright.sync_api import Browser, Playwright, sync_playwright

from ._support import Backend, Server, wait_until_gone

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load_login_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("login_app", EXAMPLES / "login_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


login_app = _load_login_app()


@pytest.fixture(scope="module")
def app() -> Iterator[str]:
    """The login app on loopback: its base URL."""
    with login_app.serve() as (url, _):
        yield url


@pytest.fixture(scope="module")
def driver() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


def connect(driver: Playwright, session: dict[str, Any]) -> Browser:
    return driver.chromium.connect_over_cdp(session["websocketUrl"])


def signed_in(server: Server, driver: Playwright, app: str, user: str) -> dict[str, Any]:
    """Sign ``user`` in in a fresh session; its context, read while it lives; the session released."""
    session = server.create()
    browser = connect(driver, session)
    page = browser.contexts[0].pages[0]
    page.goto(f"{app}/login?user={user}")
    page.evaluate("(user) => sessionStorage.setItem('tab', user + '-tab')", user)
    answer = server.http.get(f"/v1/sessions/{session['id']}/context")
    browser.close()
    server.release(session["id"])
    assert answer.status_code == 200, answer.text
    return answer.json()


def who(browser: Browser, app: str, new_page: bool = False) -> tuple[str, str, str | None]:
    """What the server, the page's head script and sessionStorage say, on a first navigation."""
    context = browser.contexts[0]
    page = context.new_page() if new_page else context.pages[0]
    page.goto(f"{app}/account")
    return (
        page.inner_text("#server-user"),
        page.evaluate("window.pageUser"),
        page.evaluate("sessionStorage.tab || null"),
    )


def test_a_context_is_read_whole_and_restored_before_the_first_page_loads(
    fresh: Server, driver: Playwright, app: str
) -> None:
    context = signed_in(fresh, driver, app, "alice")
    sid = next(c for c in context["cookies"] if c["name"] == "sid")
    assert (sid["httpOnly"], sid["sameSite"], sid["session"], sid["domain"]) == (True, "Lax", True, "127.0.0.1")
    assert "expires" not in sid  # a session cookie has none
    assert set(context["localStorage"]["127.0.0.1"]) == {"user", "token"}
    assert context["sessionStorage"] == {"127.0.0.1": {"tab": "alice-tab"}}
    assert context["indexedDB"] == {}

    session = fresh.create(sessionContext=context)
    browser = connect(driver, session)
    assert who(browser, app) == ("alice", "alice", "alice-tab")
    page = browser.contexts[0].pages[0]
    page.evaluate("localStorage.removeItem('user')")  # signed out in the page: it stays so after a reload
    page.reload()
    assert page.evaluate("window.pageUser") == "nobody"
    # A new tab shares localStorage (restored once, per session) and starts sessionStorage from the context.
    assert who(browser, app, new_page=True) == ("alice", "nobody", "alice-tab")
    again = fresh.http.get(f"/v1/sessions/{session['id']}/context").json()
    assert "user" not in again["localStorage"]["127.0.0.1"]
    browser.close()
    fresh.release(session["id"])


def test_roles_stay_apart(fresh: Server, driver: Playwright, app: str) -> None:
    admin, viewer = (signed_in(fresh, driver, app, user) for user in ("admin", "viewer"))
    sessions = [fresh.create(sessionContext=admin), fresh.create(sessionContext=viewer)]
    browsers = [connect(driver, s) for s in sessions]
    assert [who(b, app) for b in browsers] == [("admin", "admin", "admin-tab"), ("viewer", "viewer", "viewer-tab")]
    for browser, session in zip(browsers, sessions, strict=True):
        browser.close()
        fresh.release(session["id"])


def test_the_official_sdk_validates_the_context_strictly(fresh: Server, driver: Playwright, app: str) -> None:
    context = signed_in(fresh, driver, app, "carol")
    client = steel.Steel(base_url=fresh.url, _strict_response_validation=True, max_retries=0)
    session = client.sessions.create(session_context=context)
    read = client.sessions.context(session.id)
    sid = next(c for c in read.cookies or [] if c.name == "sid")
    assert (sid.http_only, sid.same_site, sid.path) == (True, "Lax", "/")
    assert read.local_storage is not None and read.local_storage["127.0.0.1"]["user"] == "carol"
    client.sessions.release(session.id)


def test_indexeddb_round_trips_as_given(fresh: Server) -> None:
    indexed = {"127.0.0.1": [{"id": 1, "name": "app", "data": [{"id": 1, "name": "kv", "records": []}]}]}
    session = fresh.create(sessionContext={"indexedDB": indexed})
    assert fresh.http.get(f"/v1/sessions/{session['id']}/context").json()["indexedDB"] == indexed
    fresh.release(session["id"])


def test_context_of_an_unknown_or_ended_session(fresh: Server) -> None:
    unknown = fresh.http.get(f"/v1/sessions/{uuid.uuid4()}/context")
    assert unknown.status_code == 404
    session = fresh.create()
    fresh.release(session["id"])
    ended = fresh.http.get(f"/v1/sessions/{session['id']}/context")
    assert (ended.status_code, ended.json()["message"]) == (
        410,
        f"session {session['id']} is released; its context went with its browser",
    )


COOKIE = {"name": "a", "value": "b", "domain": "example.test"}


@pytest.mark.parametrize(
    ("context", "field", "words"),
    [
        ([], "sessionContext", "sessionContext must be an object"),
        ({"cookies": {}}, "sessionContext.cookies", "sessionContext.cookies must be a list of cookies"),
        ({"cookies": [{"value": "b", "domain": "x"}]}, "sessionContext.cookies[0].name", "must be a string"),
        ({"cookies": ["sid=sekrit"]}, "sessionContext.cookies[0]", "must be an object, got a string"),
        ({"cookies": [{**COOKIE, "sameSite": "Sometimes"}]}, "sessionContext.cookies[0].sameSite", "Lax or None"),
        ({"cookies": [{**COOKIE, "expires": "soon"}]}, "sessionContext.cookies[0].expires", "must be a number"),
        ({"cookies": [{"name": "a", "value": "b"}]}, "sessionContext.cookies[0]", "needs a domain or a url"),
        ({"cookies": [{**COOKIE, "partitionKey": "x"}]}, "sessionContext.cookies[0].partitionKey", "topLevelSite"),
        ({"localStorage": {"h": {"k": 1}}}, "sessionContext.localStorage", "host name to an object of strings"),
        ({"sessionStorage": ["x"]}, "sessionContext.sessionStorage", "host name to an object of strings"),
        ({"indexedDB": {"h": {}}}, "sessionContext.indexedDB", "host name to a list of databases"),
    ],
)  # fmt: skip
def test_a_malformed_context_is_a_400_naming_the_field(fresh: Server, context: object, field: str, words: str) -> None:
    answer = fresh.http.post("/v1/sessions", json={"sessionContext": context})
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert words in answer.json()["message"]
    assert "sekrit" not in answer.text  # a rejected value is named by its kind, never echoed
    # Refused before any browser started: none is left once an earlier test's killed browser is reaped
    # (the server answers a release before that).
    assert wait_until_gone(fresh.browsers()) == []


LOGGED_IN_SUITE = """
import json
import pytest
from pathlib import Path


@pytest.fixture(scope="session")
def alice(steel_login, app_url):
    return steel_login(lambda page: page.goto(f"{app_url}/login?user=alice"))


@pytest.fixture(scope="session")
def bob(steel_login, app_url):
    context = steel_login(lambda page: page.goto(f"{app_url}/login?user=bob"))
    Path("secrets.json").write_text(json.dumps(context))  # for the outer test to search the output for
    return context


@pytest.mark.steel(context="alice")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_alice_starts_signed_in(steel_page, app_url, n):
    steel_page.goto(f"{app_url}/account")
    assert steel_page.inner_text("#server-user") == "alice"
    assert steel_page.evaluate("window.pageUser") == "alice"


@pytest.mark.steel(context="bob")
def test_bob_starts_signed_in(steel_page, app_url):
    steel_page.goto(f"{app_url}/account")
    assert (steel_page.inner_text("#server-user"), steel_page.evaluate("window.pageUser")) == ("bob", "bob")


def test_nobody_without_a_context(steel_page, app_url):
    steel_page.goto(f"{app_url}/account")
    assert steel_page.inner_text("#server-user") == "nobody"


@pytest.mark.steel(context="bob")
def test_fails_showing_its_locals(steel_page, bob, app_url):
    steel_page.goto(f"{app_url}/account")
    context = bob
    assert context is None
"""

APP_CONFTEST = """
import importlib.util
import pytest

spec = importlib.util.spec_from_file_location("login_app", "login_app.py")
login_app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(login_app)


@pytest.fixture(scope="session")
def app_url():
    with login_app.serve() as (url, _):
        yield url
"""


def run_logged_in_suite(pytester: pytest.Pytester, backend: Backend, *args: str) -> None:
    """Two roles signed in once each; every test in a fresh session; nothing secret in any output."""
    shutil.copy(EXAMPLES / "login_app.py", pytester.path / "login_app.py")
    pytester.makeconftest(APP_CONFTEST)
    pytester.makepyfile(test_logged_in=LOGGED_IN_SUITE)
    junit = pytester.path / "junit.xml"
    result = backend.run(pytester, "-v", "--showlocals", f"--junitxml={junit}", "-p", "no:randomly", *args)
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["context *= <SessionContext: 1 cookies, storage for 1 hosts>"])
    result.stdout.fnmatch_lines(["steel: created session * for steel_login in *"])
    secrets = json.loads((pytester.path / "secrets.json").read_text())
    hidden = [c["value"] for c in secrets["cookies"]] + list(secrets["localStorage"]["127.0.0.1"].values())
    assert "bob" in hidden  # the user name is stored too; it is the only one allowed to show
    shown = result.stdout.str() + result.stderr.str() + junit.read_text()
    assert [value for value in hidden if value != "bob" and value in shown] == []


def test_log_in_once_per_role_and_start_every_test_signed_in(pytester: pytest.Pytester, backend: Backend) -> None:
    run_logged_in_suite(pytester, backend)


def test_log_in_once_per_role_under_xdist(pytester: pytest.Pytester, embedded_backend: Backend) -> None:
    run_logged_in_suite(pytester, embedded_backend, "-n", "2")  # each worker signs each role in once


def test_the_example_suite_starts_signed_in_under_xdist(pytester: pytest.Pytester, backend: Backend) -> None:
    skip = shutil.ignore_patterns("__pycache__", "pytest.ini", "pytest_playwright")  # pytest-playwright's part
    shutil.copytree(EXAMPLES, pytester.path, dirs_exist_ok=True, ignore=skip)
    result = backend.run(pytester, "-n", "2", "-p", "no:randomly", "test_logged_in.py")
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*= pytest-steel =*", "* sessions created: * released"])
