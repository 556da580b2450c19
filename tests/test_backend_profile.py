"""The backend profile: each backend's quirks in one place, detected from real servers' first answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import pytest_steel
from pytest_steel._client import profile as profiles
from pytest_steel._client.files import _unsupported
from pytest_steel._client.http import Rules
from pytest_steel._config.settings import Setting, Settings
from pytest_steel._sessions.backend import BackendAccess, detected_profile

from ._steel_browser import SteelBrowserStandIn
from ._support import Server, closed_port_url

PACKAGE = Path(pytest_steel.__file__).parent


def _by_url(url: str) -> BackendAccess:
    settings = Settings(base_url=Setting(url, "--steel-base-url")).with_backend()
    return BackendAccess(settings, None, lambda _: None)


def test_the_configuration_alone_tells_steel_cloud_and_the_embedded_server() -> None:
    cloud = Settings(api_key=Setting("k" * 20, "STEEL_API_KEY")).with_backend().configured_profile
    embedded = Settings().with_backend().configured_profile
    server = Settings(base_url=Setting("http://h", "--steel-base-url")).with_backend().configured_profile
    assert (cloud.name, cloud.detected, cloud.records_unasked, cloud.has_files_api) == ("Steel Cloud", True, True, True)
    assert (embedded.name, embedded.browsers_here, embedded.records_unasked) == ("steel-local", True, False)
    assert (server.detected, server.has_files_api, server.max_sessions) == (False, None, None)


def test_a_steel_browser_is_detected_from_its_first_answers(stand_in: SteelBrowserStandIn) -> None:
    backend = _by_url(stand_in.url)
    try:
        found = detected_profile(backend)
        assert found is profiles.STEEL_BROWSER and backend.profile is found
        assert (found.max_sessions, found.ignores_timeout, found.has_files_api) == (1, True, False)
        assert detected_profile(backend) is found  # once per run: asked no more
    finally:
        backend.close()


def test_a_steel_local_by_url_is_detected_by_its_health_alone(server: Server) -> None:
    backend = _by_url(server.url)
    try:
        found = detected_profile(backend)
        assert (found.name, found.browsers_here, found.max_sessions, found.has_files_api) == (
            "steel-local",
            False,  # reached by URL: its browsers may be on another machine
            None,
            None,  # it may be of another release: a listing of a session's files tells
        )
    finally:
        backend.close()


def test_a_server_that_cannot_say_is_taken_as_it_comes() -> None:
    backend = _by_url(closed_port_url())
    try:
        assert detected_profile(backend) is profiles.UNKNOWN
    finally:
        backend.close()


def test_detect_reads_health_first_and_the_list_only_if_it_must() -> None:
    asked: list[str] = []

    def page(paged: bool) -> bool:
        asked.append("list")
        return paged

    assert profiles.detect({"status": "ok", "maxSessions": 4}, lambda: page(False)) is profiles.STEEL_LOCAL
    assert asked == []
    assert profiles.detect({"status": "ok"}, lambda: page(False)) is profiles.STEEL_BROWSER
    assert profiles.detect({"status": "ok"}, lambda: page(True)) is profiles.UNKNOWN
    assert asked == ["list", "list"]


def test_what_an_answer_shows_is_learned_and_the_rest_kept() -> None:
    learned = profiles.UNDETECTED.learned(has_files_api=False)
    assert (learned.has_files_api, learned.detected, learned.kind) == (False, False, profiles.BackendKind.UNKNOWN)
    assert profiles.UNDETECTED.has_files_api is None


@pytest.mark.parametrize(
    ("body", "answered", "header", "ignored"),
    [
        ({"timeout": 60_000}, 0, "", ("timeout",)),  # steel-browser strips it and answers 0
        ({"timeout": 60_000}, 60_000, "", ()),
        ({}, 0, "", ()),  # none asked: nothing ignored
        ({"timeout": 60_000}, 0, "region, solveCaptcha", ("timeout", "region", "solveCaptcha")),
        ({"timeout": 60_000}, 60_000, " region ,", ("region",)),  # steel-local's header
    ],
)
def test_the_ignored_fields_of_a_create_answer(body: dict, answered: int, header: str, ignored: tuple) -> None:
    assert profiles.ignored_fields(body, answered, header) == ignored


def test_answers_read_the_same_way_for_every_backend() -> None:
    assert [profiles.kept_timeout_ms(t) for t in (0, None, 300_000)] == [None, None, 300_000]
    assert profiles.release_says_already_ended("Session s was already released")
    assert not profiles.release_says_already_ended("Session s released")
    assert not profiles.release_says_already_ended(None) and not profiles.release_says_already_ended("")
    assert profiles.ignored_meaning("region") == "a Steel Cloud feature this backend does not have"


def test_messages_that_name_a_backend_take_its_name_from_the_profile() -> None:
    rules = Rules("http://127.0.0.1:1", 0, 1.0, lambda text: text, lambda: "", 1.0, 1.0)
    assert str(_unsupported(rules, "why")) == (
        "the backend at http://127.0.0.1:1 has no session files API as Steel Cloud and steel-local speak it "
        "(why); a self-hosted steel-browser keys files by id at other paths"
    )


def test_only_the_profile_names_steel_browser() -> None:
    """A backend's quirks live in ``_client/profile.py``: no other module of the plugin tests for one by name.

    ``steel_browser`` the fixture is not the backend; the embedded server (``local``) is an application of its own.
    """
    naming = re.compile(r"(?i:steel-browser)|STEEL_BROWSER\b(?!\.name)")  # the profile's constant, but for its name
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative == "_client/profile.py" or relative.startswith("local/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if naming.search(line) and "import" not in line:
                found.append(f"{relative}:{number}: {line.strip()}")
    assert found == []
