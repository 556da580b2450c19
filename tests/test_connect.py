"""One way to connect, and fixtures wired from the fixtures themselves.

Read from the source with ``ast``: only ``_fixtures/connect.py`` builds a connection, and
every fixture that hands out a browser or a page reaches it; every fixture pytest must
find on the plugin module is there, with a one-line docstring; the few lists of fixture
names the code keeps are the fixtures the modules define. Then at run time: which
tests warm the backend up is read from pytest's own fixture closure, and ``steel_login``
connects as every other fixture does, slowed down by ``--steel-slowmo``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_steel
import pytest_steel.plugin

from ._support import Backend

PACKAGE = Path(pytest_steel.__file__).parent
CONNECT_MODULE = PACKAGE / "_fixtures" / "connect.py"
CONNECTION_MODULE = PACKAGE / "_browser" / "connection.py"
FIXTURE_FOLDERS = ("_fixtures", "_integrations")
CONNECT_FUNCTIONS = {"connect", "connect_async"}
# Calls that make a connection, or the parts of one, and where each may be made.
ONLY_IN = {
    "connect_over_cdp": CONNECTION_MODULE,
    "Connection": CONNECT_MODULE,
    "open": CONNECT_MODULE,  # AsyncConnection.open
    "connect_args": CONNECT_MODULE,
    "slow_mo_of": CONNECT_MODULE,
}
PLAYWRIGHT_TYPES = (
    "Browser",
    "BrowserContext",
    "Page",
    "NewSession",
    "AsyncNewSession",
    "Connection",
    "AsyncConnection",
)
DRIVERS = ("_steel_playwright", "_steel_driver", "playwright")  # fixtures that give a Playwright driver
HANDING_OUT = {  # known today; the test derives the set, and checks that it finds at least these
    "steel_browser",
    "steel_context",
    "steel_page",
    "steel_login",
    "steel_new_session",
    "steel_async_browser",
    "steel_async_context",
    "steel_async_page",
    "steel_async_new_session",
    "browser",
}
# The fixtures that warmed the backend up when they were a hand-kept list: the derived set must hold them.
NEEDING_STEEL = {
    "steel_client",
    "steel_login",
    "steel_module_session",
    "steel_new_session",
    "steel_session",
    "steel_browser",
    "steel_context",
    "steel_page",
    "steel_async_browser",
    "steel_async_context",
    "steel_async_page",
    "steel_async_new_session",
}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _calls(node: ast.AST) -> Iterator[ast.Call]:
    return (n for n in ast.walk(node) if isinstance(n, ast.Call))


def _is_fixture(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "fixture":
            return True
    return False


def _fixture_modules() -> Iterator[Path]:
    for folder in FIXTURE_FOLDERS:
        yield from sorted((PACKAGE / folder).glob("*.py"))


def _fixtures() -> dict[str, list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]]:
    """Every fixture the plugin defines, by name (``browser`` has one per integration)."""
    found: dict[str, list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]] = {}
    for path in _fixture_modules():
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_fixture(node):
                found.setdefault(node.name, []).append((path, node))
    return found


def _functions() -> dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of the fixture layers, by name."""
    found: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
    for path in _fixture_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.setdefault(node.name, []).append(node)
    return found


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in function.args.args]


def _fixtures_asked_for(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The fixtures ``function`` takes as parameters or asks for by name (``request.getfixturevalue("...")``)."""
    asked = set(_parameters(function))
    for call in _calls(function):
        if _called_name(call) == "getfixturevalue" and call.args and isinstance(call.args[0], ast.Constant):
            asked.add(call.args[0].value)
    return asked


def _annotation(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return ast.unparse(function.returns) if function.returns is not None else ""


def _hands_out_a_browser(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A browser, context or page in what it returns, or a Playwright driver it takes and does not hand on."""
    returns = _annotation(function)
    names = set(returns.replace("[", " ").replace("]", " ").replace(",", " ").replace(".", " ").split())
    if names & set(PLAYWRIGHT_TYPES):
        return True
    hands_on_a_driver = "Playwright" in names or "PlaywrightDriver" in names
    return bool(set(DRIVERS) & set(_parameters(function))) and not hands_on_a_driver


def _scope(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    for decorator in function.decorator_list:
        for keyword in decorator.keywords if isinstance(decorator, ast.Call) else []:
            if keyword.arg == "scope" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return "function"


def test_the_lists_of_fixtures_kept_by_hand_are_the_fixtures_themselves() -> None:
    """Reporting's per-test fixtures and the async guard's sync ones match what the fixture modules define."""
    from pytest_steel._fixtures.async_fixtures import SYNC_PLAYWRIGHT_FIXTURES
    from pytest_steel._reporting.test_reports import PER_TEST_FIXTURES

    fixtures = {name: function for name, defined in _fixtures().items() for _, function in defined}
    per_test = {
        name
        for name, function in fixtures.items()
        if name.startswith("steel_") and _scope(function) == "function" and name != "steel_module_session"
    }
    assert PER_TEST_FIXTURES == per_test
    sync_connected = {
        name
        for name, function in fixtures.items()
        if not name.startswith("_") and "_steel_connection" in _parameters(function)
    }
    assert set(SYNC_PLAYWRIGHT_FIXTURES) == sync_connected == {"steel_browser", "steel_context", "steel_page"}


def test_only_the_connect_module_connects_a_session() -> None:
    """No module but ``_fixtures/connect.py`` builds a connection (``connect_over_cdp`` only in its own type)."""
    misplaced = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "local" in path.relative_to(PACKAGE).parts:  # the embedded server: it relays CDP, it never connects
            continue
        for call in _calls(ast.parse(path.read_text())):
            name = _called_name(call)
            if name == "open" and not (isinstance(call.func, ast.Attribute) and "Connection" in ast.unparse(call.func)):
                continue  # an open() of something else
            allowed = ONLY_IN.get(name or "")
            if allowed is not None and path != allowed:
                misplaced.append(f"{path.relative_to(PACKAGE)}:{call.lineno} calls {name}")
    assert misplaced == []
    # The probe sees what it looks for: each call is there, in its own module.
    connect_calls = {_called_name(c) for c in _calls(ast.parse(CONNECT_MODULE.read_text()))}
    assert {"Connection", "open", "connect_args", "slow_mo_of"} <= connect_calls
    assert "connect_over_cdp" in {_called_name(c) for c in _calls(ast.parse(CONNECTION_MODULE.read_text()))}


def test_every_fixture_that_hands_out_a_browser_goes_through_connect() -> None:
    """Through its own calls, the helpers and methods they call, and the fixtures it asks for."""
    fixtures = _fixtures()
    functions = _functions()
    # Each defined once: no other function of that name to mistake for them.
    assert [len(functions.get(name, [])) for name in sorted(CONNECT_FUNCTIONS)] == [1, 1]

    reaching: dict[str, bool] = {}

    def reaches_connect(name: str, seen: frozenset[str]) -> bool:
        if name in CONNECT_FUNCTIONS:
            return True
        if name in seen:
            return False
        if name not in reaching:
            bodies = functions.get(name, []) + [f for _, f in fixtures.get(name, [])]
            seen = seen | {name}
            reaching[name] = any(
                any(reaches_connect(_called_name(c) or "", seen) for c in _calls(body))
                or any(reaches_connect(asked, seen) for asked in _fixtures_asked_for(body) if asked in fixtures)
                for body in bodies
            )
        return reaching[name]

    handing_out = {
        (name, path.name)
        for name, defined in fixtures.items()
        for path, function in defined
        if _hands_out_a_browser(function)
    }
    assert HANDING_OUT <= {name for name, _ in handing_out}
    missing = []
    for name, module in sorted(handing_out):
        for path, function in fixtures[name]:
            if path.name != module:
                continue
            calls = any(reaches_connect(_called_name(c) or "", frozenset({name})) for c in _calls(function))
            asks = any(reaches_connect(a, frozenset({name})) for a in _fixtures_asked_for(function) if a in fixtures)
            if not (calls or asks):
                missing.append(f"{module}: {name}")
    assert missing == []


def test_every_fixture_is_found_by_pytest_and_says_what_it_is_in_one_line() -> None:
    """A fixture module registered as a plugin of its own is found there; the others' fixtures are on ``plugin.py``."""
    not_exported = []
    no_docstring = []
    for name, defined in _fixtures().items():
        for path, function in defined:
            module = ast.parse(path.read_text())
            registered = any(
                isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PLUGIN_NAME" for t in node.targets)
                for node in module.body
            )
            if not registered and not hasattr(pytest_steel.plugin, name):
                not_exported.append(f"{path.name}: {name}")
            docstring = ast.get_docstring(function) or ""
            summary = docstring.split("\n\n")[0]
            if not summary or "\n" in summary:
                no_docstring.append(f"{path.name}: {name}")
    assert not_exported == []
    assert no_docstring == []


def test_which_tests_need_steel_is_read_from_the_fixtures(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The backend warms up for a test whose fixtures ask for the run: every Steel fixture but the parameters."""
    public = sorted(name for name in _fixtures() if name.startswith("steel_"))
    assert NEEDING_STEEL | {"steel_session_params"} <= set(public)
    out = tmp_path / "needs.json"
    pytester.makeconftest(
        f"""
        import json
        from pytest_steel._fixtures.demand import needs_steel

        def pytest_collection_finish(session):
            needs = {{item.name: needs_steel(item) for item in session.items}}
            open({str(out)!r}, "w").write(json.dumps(needs))
        """
    )
    pytester.makepyfile("\n".join(f"def test_{name}({name}): pass" for name in public))
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:playwright", timeout=120)
    assert result.ret == pytest.ExitCode.OK
    needs = json.loads(out.read_text())
    assert needs == {f"test_{name}": name != "steel_session_params" for name in public}


def test_steel_login_honours_slowmo(pytester: pytest.Pytester, embedded_backend: Backend) -> None:
    """``steel_login``'s page is slowed down as every fixture's is: it connects through the same function."""
    pytester.makepyfile(
        """
        import time

        def test_login(steel_login):
            took = []

            def sign_in(page):
                start = time.monotonic()
                page.goto("data:text/html,<button>go</button>")
                page.click("button")
                took.append(time.monotonic() - start)

            steel_login(sign_in)
            assert took[0] >= 2.0, took  # two actions, a second before each: a floor (unslowed, well under it)
        """
    )
    result = embedded_backend.run(pytester, "--steel-slowmo", "1000")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["steel: *slowmo 1000 ms (--steel-slowmo)*"])


def test_every_async_fixture_frees_the_event_loop_for_its_test() -> None:
    """A test that asks for any Steel async fixture stops the sync driver first: the list is read from the module."""
    from pytest_steel._fixtures import async_fixtures

    defined = {name for name, where in _fixtures().items() for path, _ in where if path.name == "async_fixtures.py"}
    assert async_fixtures.ASYNC_FIXTURES == {name for name in defined if name.startswith("steel_")}
    assert {"steel_async_page", "steel_async_new_session"} <= async_fixtures.ASYNC_FIXTURES
