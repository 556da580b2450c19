"""The package's folders are its layers: imports point one way, no module circles, and the bounds hold.

Read from the source with ``ast``: every import counts, lazy ones inside functions and
type-only ones under ``if TYPE_CHECKING:`` too (a type named from a higher layer is a
dependency on it all the same, and the reader follows it). What each entry point must
not load is checked again at run time in a fresh interpreter.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_steel

PACKAGE = Path(pytest_steel.__file__).parent
NAME = "pytest_steel"

# Bottom to top: a layer may import its own modules and those of the layers listed before it, never after.
LAYERS = (
    ("_client",),  # the Steel API client: needs neither pytest nor Playwright
    ("_browser",),  # finding Chromium and ffmpeg, connecting Playwright over CDP
    ("local",),  # the embedded server: its HTTP API and the browsers it runs
    ("_config",),  # options, the marker, the stash keys
    ("_sessions",),  # reaching the backend, and the run's sessions
    ("_reporting",),  # what the run and each test report
    ("_fixtures",),  # the fixtures and the run they draw from
    ("_integrations",),  # pytest-playwright and pytest-playwright-asyncio
    ("plugin", "hookspecs", "__init__"),  # the entry point, the hooks, the public names
)
MAX_TOP_MODULES = 6
MAX_MODULES_PER_FOLDER = 16
MAX_METHODS = 16
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 70


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _all_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _imports_of(name: str, path: Path, is_package: bool, modules: dict[str, tuple[Path, bool]]) -> set[str]:
    """The package's modules that ``name`` imports, type-only included (a module's parents are not counted)."""
    found: set[str] = set()
    for node in _all_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(NAME))
            continue
        if node.level:
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if not target.startswith(NAME):
            continue
        submodules = {f"{target}.{alias.name}" for alias in node.names} & modules.keys()
        found.update(submodules or {target})
    found.discard(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports_of(name, path, is_package, modules) for name, (path, is_package) in modules.items()}


def _layer(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, names in enumerate(LAYERS) if first in names)


def test_no_module_imports_itself_round_a_circle(graph: dict[str, set[str]]) -> None:
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert circles == []


def test_every_import_points_down_the_layers(graph: dict[str, set[str]]) -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if module != NAME and _layer(target) > _layer(module)  # the package's root (its public names) is the top
    ]
    assert upward == []


def test_each_layer_says_truly_which_layers_it_imports(graph: dict[str, set[str]]) -> None:
    """Each layer's docstring has a sentence "Imports ``a``, ``b``..." (or "Imports nothing"): the layers it uses."""
    said, found = {}, {}
    for layer in (name for names in LAYERS[:-1] for name in names):
        docstring = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
        sentence = re.search(r"Imports (.*?)[.;(]", docstring, re.S)
        assert sentence is not None, f"{layer}/__init__.py does not say what it imports"
        said[layer] = set(re.findall(r"``(\w+)``", sentence.group(1)))
        found[layer] = {
            target.split(".")[1]
            for module, targets in graph.items()
            if module.split(".")[1:2] == [layer]
            for target in targets
            if "." in target and target.split(".")[1] != layer
        }
    assert said == found


def test_the_top_level_is_a_few_modules_beside_the_layers() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    folders = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    assert len(top) <= MAX_TOP_MODULES, top
    assert len(folders) >= 4, folders
    for folder in [PACKAGE, *(p.parent for p in PACKAGE.rglob("__init__.py"))]:
        count = len(list(folder.glob("*.py")))
        assert count <= MAX_MODULES_PER_FOLDER, f"{folder} holds {count} modules"
    for init in PACKAGE.rglob("__init__.py"):  # each layer says what lives there
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"


def test_no_module_type_or_function_outgrows_its_bound() -> None:
    """A module over 400 lines or a class over 16 methods says why in its docstring ("Over 400 lines...")."""
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES and f"over {MAX_MODULE_LINES} lines" not in _said(tree):
            too_big.append(f"{path.relative_to(PACKAGE)}: {lines} lines, and its docstring does not say why")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = sum(isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef)) for b in node.body)
                if methods > MAX_METHODS and f"over {MAX_METHODS} methods" not in _said(node):
                    too_big.append(f"{path.name}: class {node.name} has {methods} methods, and does not say why")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.name}: {node.name} has {lines} lines")
    assert too_big == []


def _said(node: ast.Module | ast.ClassDef) -> str:
    return " ".join((ast.get_docstring(node) or "").lower().split())


def _loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(out.stdout.split())


def test_the_client_loads_neither_pytest_nor_playwright_nor_aiohttp() -> None:
    loaded = _loaded_after("from pytest_steel import SteelClient, AsyncSteelClient, Session, SteelError")
    assert "httpx" in loaded  # the probe works: the client's own dependency is there
    assert loaded.isdisjoint({"pytest", "_pytest", "playwright", "aiohttp"})


def test_steel_local_loads_neither_pytest_nor_playwright() -> None:
    code = (
        "import pytest_steel.local._cli, pytest_steel.local._session_manager, pytest_steel.local._api.app, "
        "pytest_steel.local._chromium_procs.recorder, pytest_steel.local._chromium_procs.watchdog"
    )
    loaded = _loaded_after(code)
    assert "aiohttp" in loaded
    assert loaded.isdisjoint({"pytest", "_pytest", "playwright"})


def test_the_embedded_servers_core_imports_nothing_of_its_http_face(graph: dict[str, set[str]]) -> None:
    api = f"{NAME}.local._api"
    entry = {f"{NAME}.local._cli", f"{NAME}.local.__main__"}  # the command line puts the two together
    core = [m for m in graph if m.startswith(f"{NAME}.local") and m not in entry and not m.startswith(api)]
    assert len(core) > 5  # the probe works: the core is there
    upward = [f"{m} -> {t}" for m in core for t in graph[m] if t == api or t.startswith(f"{api}.")]
    assert upward == []


def _stem(path: Path) -> str:
    """A module's or folder's name without a leading underscore or a plural ``s``: two that share it collide."""
    name = path.stem.lstrip("_")
    return name[:-1] if name.endswith("s") else name


def test_no_two_names_differ_only_by_an_underscore_or_a_plural() -> None:
    """One concept, one name: ``_browser/`` beside ``_browsers/`` or ``files`` beside ``_files`` send a reader to
    the wrong one. A folder's main module may share its name (``_client/client.py``)."""
    named = [
        p
        for p in PACKAGE.rglob("*")
        if (p.suffix == ".py" or (p / "__init__.py").exists())
        and p.stem not in ("__init__", "__main__")
        and "__pycache__" not in p.parts
    ]
    collisions = [
        f"{one.relative_to(PACKAGE)} ~ {other.relative_to(PACKAGE)}"
        for one in named
        for other in named
        if str(one) < str(other) and _stem(one) == _stem(other) and other.parent != one and one.parent != other
    ]
    assert collisions == []
