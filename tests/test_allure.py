"""Failure artifacts and sessions on Allure results, read from the JSON allure-pytest writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._support import StartServer

pytest.importorskip("allure_pytest")

PROJECT = """
import pytest

def test_fails(steel_page):
    steel_page.set_content("<title>red</title><body style='background:red'>")
    assert steel_page.title() == "green"

def test_passes(steel_page):
    steel_page.set_content("<title>green</title>")
    assert steel_page.title() == "green"
"""

FLAKY = """
import os, pathlib

def test_flaky(steel_page):
    marker = pathlib.Path("attempted")
    first = not marker.exists()
    marker.write_text("once")
    steel_page.set_content("<title>flaky</title>")
    assert not first, "fails the first time only"
"""


def _results(folder: Path) -> dict[str, list[dict]]:
    """Each test's results by name (a rerun test has one per attempt), oldest first."""
    found: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*-result.json"), key=lambda p: json.loads(p.read_text())["start"]):
        result = json.loads(path.read_text())
        found.setdefault(result["name"], []).append(result)
    return found


def _attached(result: dict, folder: Path) -> dict[str, str]:
    """Attachment name prefix -> MIME type, each checked to exist in the results folder."""
    for attachment in result.get("attachments", []):
        assert (folder / attachment["source"]).is_file()
    return {a["name"].split(":")[0]: a["type"] for a in result.get("attachments", [])}


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_failing_test_carries_its_screenshot_trace_and_session_and_a_passing_one_no_screenshot(
    pytester: pytest.Pytester, start_server: StartServer, xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "allure-secret-key-0123456789"
    server = start_server(api_key=key)
    pytester.makepyfile(PROJECT)
    monkeypatch.setenv("STEEL_API_KEY", key)
    result = pytester.runpytest_subprocess(
        "--steel-base-url", server.url, "--steel-tracing", "retain-on-failure", "--alluredir", "results",
        "-p", "no:playwright", *xdist, timeout=180,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    folder = pytester.path / "results"
    results = _results(folder)
    (failed,), (passed,) = results["test_fails"], results["test_passes"]
    assert failed["status"] == "failed"
    attached = _attached(failed, folder)
    assert attached["Steel screenshot"] == "image/png"
    assert attached["Playwright trace (open it at https"] == "application/zip"
    assert [link["name"].split()[:2] for link in failed["links"]] == [["Steel", "session"]]
    assert failed["links"][0]["url"].startswith(server.url + "/sessions/")
    parameters = {p["name"]: p["value"] for p in failed["parameters"]}
    assert parameters["steel session backend"] == "'server'"  # as Allure shows a string
    assert parameters["steel session billed minutes"] == "1"
    assert "Steel screenshot" not in _attached(passed, folder)  # only-on-failure
    assert "Playwright trace (open it at https" not in _attached(passed, folder)  # retain-on-failure
    for path in folder.iterdir():
        assert key.encode() not in path.read_bytes(), path.name


def test_each_attempt_of_a_rerun_test_carries_its_own_artifacts(pytester: pytest.Pytester, embedded_backend) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(FLAKY)
    result = embedded_backend.run(pytester, "--reruns", "1", "--alluredir", "results")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 passed, 1 rerun*"])
    folder = pytester.path / "results"
    attempts = _results(folder)["test_flaky"]
    assert [a["status"] for a in attempts] == ["failed", "passed"]
    first, second = (_attached(a, folder) for a in attempts)
    assert first["Steel screenshot"] == "image/png"
    assert "Steel screenshot" not in second


LEAKS = """
import logging, os
import allure

def test_leaks_the_key(steel_session):
    key = os.environ["STEEL_API_KEY"]
    print("printed", key)
    logging.getLogger("app").warning("logged %s", key)
    with allure.step(f"a step named for {key}"):
        raise RuntimeError(f"could not use ws://example/?apiKey={key}")

@allure.title("a passing test")
def test_passes(steel_session):
    pass
"""


def test_a_failure_that_holds_the_key_shows_it_in_no_report_nor_log(
    pytester: pytest.Pytester, start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Allure's message comes from the exception itself, its trace and captured output from the report: all scrubbed,
    as JUnit's and pytest-html's are; and the run's own log (every logger at DEBUG) never held the key."""
    key = "report-secret-key-0123456789"
    server = start_server(api_key=key)
    pytester.makepyfile(LEAKS)
    monkeypatch.setenv("STEEL_API_KEY", key)
    result = pytester.runpytest_subprocess(
        "--steel-base-url", server.url, "--alluredir", "results", "--junitxml", "junit.xml", "--html", "report.html",
        "--log-file", "run.log", "--log-file-level", "DEBUG", "-p", "no:playwright", timeout=180,
    )  # fmt: skip
    result.assert_outcomes(passed=1, failed=1)
    (failed,) = _results(pytester.path / "results")["test_leaks_the_key"]
    assert failed["statusDetails"]["message"] == "RuntimeError: could not use ws://example/?apiKey=***"
    assert "raise RuntimeError" in failed["statusDetails"]["trace"]
    assert [step["name"] for step in failed["steps"]] == ["a step named for ***"]
    attached = {a["name"]: (pytester.path / "results" / a["source"]).read_text() for a in failed["attachments"]}
    assert "printed ***" in attached["stdout"]
    assert "could not use" in (pytester.path / "junit.xml").read_text()  # the failure is there, without the key
    written = [pytester.path / "junit.xml", pytester.path / "report.html", *(pytester.path / "results").iterdir()]
    for path in written:
        assert key.encode() not in path.read_bytes(), path.name
    assert key not in result.stdout.str() + result.stderr.str()
    log = (pytester.path / "run.log").read_text()
    assert "logged ***" in log and "HTTP Request: POST " + server.url + "/v1/sessions" in log  # it logged, at DEBUG
    assert key not in log


def test_a_further_sessions_trace_is_attached_beside_the_tests_own(
    pytester: pytest.Pytester, start_server: StartServer
) -> None:
    server = start_server()
    pytester.makepyfile(
        """
        def test_fails(steel_page, steel_new_session):
            other, _ = steel_new_session()
            other.set_content("<title>the other</title>")
            assert False
        """
    )
    result = pytester.runpytest_subprocess(
        "--steel-base-url", server.url, "--steel-tracing", "on", "--steel-screenshot", "off", "--alluredir", "results",
        "-p", "no:playwright", timeout=180,
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    folder = pytester.path / "results"
    ((failed,),) = _results(folder).values()
    names = sorted(a["name"] for a in failed["attachments"] if a["type"] == "application/zip")
    assert names == [
        "Playwright trace (open it at https://trace.playwright.dev)",
        "Playwright trace trace-2.zip (open it at https://trace.playwright.dev)",
    ]
