"""--steel-prefetch: the next tests' sessions, created while a test runs, used only when they match, never leaked.

The backend is a real steel-local behind the loopback fault proxy, whose request log
shows when each create arrived relative to what the tests did.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from ._steel_browser import SteelBrowserStandIn
from ._support import FaultProxy, ProxiedServer

# Each test records its session, then asks the backend for it: that GET marks, in the proxy's log, when it ran.
MARKING_TESTS = textwrap.dedent(
    """
    import json, os, pytest

    def mark(name, steel_session, steel_client):
        with open(os.path.join({out!r}, name + ".json"), "w") as f:
            json.dump({{"id": steel_session.id, "timeout": steel_session.timeout}}, f)
        assert steel_client.retrieve(steel_session.id).status.value == "live"

    @pytest.mark.parametrize("n", range(4))
    def test_page(steel_page, steel_session, steel_client, n):
        steel_page.goto(f"data:text/html,<title>{{n}}</title>")
        assert steel_page.title() == str(n)
        mark(f"test_page-{{n}}", steel_session, steel_client)

    def test_without_a_session():
        pass

    # 10 min: a prefetched session is used with 90 % of its timeout left, a minute here however slow the tests ahead
    @pytest.mark.steel(timeout="10m")
    def test_with_its_own_timeout(steel_session, steel_client):
        mark("test_with_its_own_timeout", steel_session, steel_client)
    """
)


def sessions_of(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


def creates(proxy: FaultProxy) -> list[dict]:
    return [body for method, path, body in proxy.requests if (method, path) == ("POST", "/v1/sessions")]


def test_each_test_gets_a_session_created_ahead_with_its_own_parameters(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    server, proxy = proxied_server
    out = pytester.mkdir("sessions")
    pytester.makepyfile(test_ahead=MARKING_TESTS.format(out=str(out)))
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-prefetch", "2", "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=6)
    used = sessions_of(out)
    made = creates(proxy)
    assert sorted(body["sessionId"] for body in made) == sorted(s["id"] for s in used.values())  # none wasted
    assert used["test_with_its_own_timeout"]["timeout"] == 600_000  # the marker's, asked for ahead of the test
    assert {used[f"test_page-{n}"]["timeout"] for n in range(4)} == {300_000}

    # Every session after the first was asked for before the test ahead of it finished (its marking GET).
    log = [(method, path.split("?")[0], body.get("sessionId")) for method, path, body in proxy.requests]
    order = ["test_page-0", "test_page-1", "test_page-2", "test_page-3", "test_with_its_own_timeout"]
    for before, after in zip(order, order[1:], strict=False):
        created_at = log.index(("POST", "/v1/sessions", used[after]["id"]))
        marked_at = log.index(("GET", f"/v1/sessions/{used[before]['id']}", None))
        assert created_at < marked_at, (before, after)
    result.stdout.fnmatch_lines(["*prefetch 2 (--steel-prefetch)*", "5 sessions created: 5 released"])
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []


def test_a_session_created_ahead_with_other_parameters_is_released_and_not_used(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    server, proxy = proxied_server
    out = pytester.mkdir("sessions")
    pytester.makepyfile(
        test_a_first=f"""
        import json, os

        def test_first(steel_session):
            json.dump({{"id": steel_session.id}}, open(os.path.join({str(out)!r}, "first.json"), "w"))
        """
    )
    other = pytester.mkpydir("z_other")  # collected after test_a_first.py
    (other / "conftest.py").write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture(scope="session")
            def steel_session_params():
                return {"timeout": 90_000}
            """
        )
    )
    (other / "test_b_second.py").write_text(
        textwrap.dedent(
            f"""
            import json, os

            def test_second(steel_session):
                json.dump({{"id": steel_session.id, "timeout": steel_session.timeout}},
                          open(os.path.join({str(out)!r}, "second.json"), "w"))
            """
        )
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-prefetch", "1", "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=2)
    used = sessions_of(out)
    assert used["second"]["timeout"] == 90_000  # its own parameters, not the guess made from the test before
    made = {body["sessionId"]: body for body in creates(proxy)}
    assert len(made) == 3
    [wasted] = set(made) - {used["first"]["id"], used["second"]["id"]}
    assert made[wasted]["timeout"] == 300_000
    assert server.get(wasted)["status"] == "released"
    result.stdout.fnmatch_lines(
        [
            "3 sessions created: 3 released",
            f"released session {wasted}, created ahead and not used: z_other/test_b_second.py::test_second asks for "
            "other parameters",
        ]
    )


def test_sessions_created_ahead_for_tests_that_never_ran_are_released_and_billed(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    server, proxy = proxied_server
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_stops_the_run(steel_session, n):
            assert n != 0
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-prefetch", "3", "-x", "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(failed=1)
    made = [body["sessionId"] for body in creates(proxy)]
    assert len(made) == 4  # the failing test's, and three ahead that no test took
    assert [server.get(sid)["status"] for sid in made] == ["released"] * 4
    result.stdout.fnmatch_lines(
        [
            "4 sessions created: 4 released",
            "session time *; billed 4 min (each session's time rounded up to whole minutes)",
        ]
    )
    for n in (1, 2, 3):
        result.stdout.fnmatch_lines([f"released session *, created ahead and not used: *[[]{n}[]] did not run"])


def test_a_create_ahead_that_fails_is_reported_and_the_test_creates_its_own(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    server, proxy = proxied_server
    proxy.answer_headers = {"x-should-retry": "false"}
    proxy.answer_body = {"message": "no capacity for another session"}
    proxy.on_create = ["forward", "503"]  # the first test's own create, then the one made ahead for the second
    out = pytester.mkdir("sessions")
    pytester.makepyfile(test_ahead=MARKING_TESTS.format(out=str(out)))
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-prefetch", "1", "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=6)
    made = [body["sessionId"] for body in creates(proxy)]
    assert len(made) == 6  # five sessions, and the create that failed
    assert len({s["id"] for s in sessions_of(out).values()}) == 5
    result.stdout.fnmatch_lines(
        [
            "could not create a session ahead for test_ahead.py::test_page[[]1[]]: *no capacity for another session*; "
            "the test created its own",
        ]
    )
    assert all(server.get(s["id"])["status"] == "released" for s in sessions_of(out).values())


def test_prefetch_is_off_on_a_one_session_server(pytester: pytest.Pytester, stand_in: SteelBrowserStandIn) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_holds_its_session(steel_session, steel_client, n):
            assert steel_client.retrieve(steel_session.id).status.value == "live"
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", stand_in.url, "--steel-prefetch", "2", "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=3)
    assert (stand_in.creates, stand_in.replaced) == (3, [])  # none ahead, so none silently replaced
    result.stdout.fnmatch_lines(
        [
            "--steel-prefetch is off: the server runs at most 1 session(s) at once, and a session created ahead "
            "would take a test's place"
        ]
    )


@pytest.mark.parametrize("mode", [["-n", "2"], ["--steel-session-scope", "module"]], ids=["xdist", "module"])
def test_prefetch_under_xdist_and_with_per_module_sessions_leaves_nothing(
    pytester: pytest.Pytester, proxied_server: ProxiedServer, mode: list[str]
) -> None:
    server, proxy = proxied_server
    for module in range(2):
        pytester.makepyfile(
            **{
                f"test_m{module}": """
                import pytest

                @pytest.mark.parametrize("n", range(3))
                def test_page(steel_page, n):
                    steel_page.goto(f"data:text/html,<title>{n}</title>")
                    assert steel_page.title() == str(n)
                """
            }
        )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-prefetch", "2", *mode, "-p", "no:playwright", timeout=180
    )
    result.assert_outcomes(passed=6)
    made = [body["sessionId"] for body in creates(proxy)]
    expected = 2 if "module" in mode else 6  # per module: one each, nothing ahead; under xdist: one per test
    assert len(made) == expected
    assert all(server.get(sid)["status"] == "released" for sid in made)
    result.stdout.fnmatch_lines([f"{expected} sessions created: {expected} released"])


def test_a_worker_sigkilled_while_it_holds_sessions_created_ahead_leaves_nothing_live(
    pytester: pytest.Pytester, proxied_server: ProxiedServer
) -> None:
    """A worker dies (SIGKILL) with its own session and those made ahead for its next tests: none stays live."""
    server, proxy = proxied_server
    pytester.makepyfile(
        """
        import os, signal, time
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_page(steel_session, steel_client, n):
            if n != 1:
                return
            deadline = time.monotonic() + 60
            while len(steel_client.list(status="live")) < 2:  # its own, and one made ahead for the next test
                assert time.monotonic() < deadline, "no sessions were created ahead"
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", proxy.url, "--steel-prefetch", "2", "-n", "1", "-p", "no:playwright",
        "-p", "no:randomly", timeout=180,
    )  # fmt: skip
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*crashed while running*test_page[[]1[]]*"])
    made = [body["sessionId"] for body in creates(proxy)]
    assert len(made) >= 2
    assert server.http.get("/v1/sessions", params={"status": "live"}).json()["sessions"] == []
