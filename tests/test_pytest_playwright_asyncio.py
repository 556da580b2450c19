"""``--steel-playwright`` with pytest-playwright-asyncio: its async ``page``, ``context`` and ``browser`` on Steel.

pytest-playwright-asyncio and pytest-playwright cannot be installed side by side (both
add ``--browser``), so this module runs where the async one is installed instead:
``.ci/run`` makes such a venv and sets STEEL_TEST_PLAYWRIGHT_ASYNCIO=1 there.
"""

from __future__ import annotations

import os
import re
import zipfile

import pytest

from pytest_steel._browser.chromium import find_chromium

from ._support import Backend

if os.environ.get("STEEL_TEST_PLAYWRIGHT_ASYNCIO") != "1":
    pytest.skip("runs in .ci/run's pytest-playwright-asyncio venv", allow_module_level=True)

SUITE = """
import pytest

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_page_with_context_args(page):
    await page.goto("/")
    assert await page.evaluate("navigator.language") == "de-DE"


async def test_new_context(new_context, page):
    other = await new_context(color_scheme="dark")
    second = await other.new_page()
    assert await second.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert other.browser is page.context.browser


async def test_fails(page):
    await page.set_content("<h1>async and failing</h1>")
    assert await page.inner_text("h1") == "something else"
"""

CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "de-DE"}
"""


def sessions_created(result: pytest.RunResult) -> int:
    match = re.search(r"^(\d+) sessions? created", result.stdout.str(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def test_an_async_pytest_playwright_suite_runs_on_steel(
    pytester: pytest.Pytester, backend: Backend, pages: str, playwright_browsers: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", playwright_browsers)
    chromium = find_chromium(os.environ.get("STEEL_CHROMIUM")).for_session(headless=True)
    pytester.makeconftest(CONFTEST.replace("CHROMIUM", repr(str(chromium.path))))
    pytester.makepyfile(test_async_suite=SUITE)
    args = ["--base-url", pages, "-p", "no:randomly", "--output", "pw-out"]
    alone = backend.run(pytester, *args)
    alone.assert_outcomes(passed=2, failed=1)
    assert sessions_created(alone) == 0
    artifacts = ["--video", "retain-on-failure", "--tracing", "retain-on-failure", "--screenshot", "only-on-failure"]
    on_steel = backend.run(pytester, *args, "--steel-playwright", *artifacts)
    on_steel.assert_outcomes(passed=2, failed=1)
    assert sessions_created(on_steel) == 3
    folder = pytester.path / "pw-out" / "test-async-suite-py-test-fails-chromium"
    files = sorted(p.name for p in folder.iterdir())
    assert "test-failed-1.png" in files and "trace.zip" in files and any(f.endswith(".webm") for f in files)
    with zipfile.ZipFile(folder / "trace.zip") as trace:
        assert any(name.endswith(".trace") for name in trace.namelist())
