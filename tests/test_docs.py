"""The documentation cannot drift from the code: its pages are whole, their Python runs, the names they give exist.

The options page is the options table, the README's links resolve, and every page (README.md and docs/)
parses with its code fences closed, runs its Python blocks (or says why one cannot run), names only options,
ini names, environment variables, fixtures, marker fields and hooks the code has, and points only to public URLs
and files of this repository.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_steel._config.settings import Settings, options_markdown

ROOT = Path(__file__).parent.parent


def test_the_options_page_lists_every_option_pytest_help_shows_with_its_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    shown = set(re.findall(r"^\s+(--(?:no-)?steel-[a-z-]+)", result.stdout.str(), re.MULTILINE))
    table = options_markdown()
    assert shown == {o.option for o in Settings.options()} | {o.negative for o in Settings.options() if o.negative}
    for option in Settings.options():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{option.option}`"))
        assert f"`{option.name}`" in row and option.help.split(";")[0] in row
    assert "<!-- the options table -->" in (ROOT / "docs" / "options.md").read_text()


def test_the_readme_is_short_and_every_link_in_it_resolves() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    for target in re.findall(r"\]\(([^)]+)\)", readme):
        if target.startswith(("http://", "https://")):
            continue
        path = target.split("#")[0]
        assert (ROOT / path).exists(), target


def test_every_docs_page_is_in_the_site_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages and all(page in nav for page in pages), sorted(p for p in pages if p not in nav)


# -- the pages themselves: whole, runnable, naming what exists, pointing nowhere outside -----------------------
#
# Each check is a function of a page's text, run over README.md and every page of docs/, and shown to fail once on
# a bad page below. Markdown is parsed by markdown-it-py, which the docs toolchain (mkdocs) already brings.

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"<!--\s*not-run:(.*?)-->", re.DOTALL)  # the mark before a Python block that cannot run here
NOT_A_TEST = re.compile(r"<!--\s*not-run-as-test:(.*?)-->", re.DOTALL)  # it runs, but its tests cannot pass here
PYTHON = ("python", "py", "python3")


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _tokens(text: str) -> list[Any]:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").parse(text)


def fence_problems(text: str) -> list[str]:
    """Every code fence closed, and no heading inside one: an unclosed fence swallows the rest of the page."""
    lines = text.splitlines()
    problems = []
    for token in _tokens(text):
        if token.type != "fence":
            continue
        first, end = token.map
        closing = lines[end - 1].strip() if end - 1 > first else ""
        if not (closing.startswith(token.markup) and set(closing) == {token.markup[0]}):
            problems.append(f"line {first + 1}: a {token.info or 'code'} fence that is never closed")
        if token.info.split()[:1] not in (["markdown"], ["md"]):
            problems += [
                f"line {first + 2 + n}: a heading inside a {token.info or 'code'} block: {line!r}"
                for n, line in enumerate(token.content.splitlines())
                if re.match(r"#{2,6} \S", line) or line.startswith(("```", "~~~"))
            ]
    return problems


@dataclass
class Block:
    """One Python block of a page: where it starts, its code, and why it does not run, if it is marked so."""

    line: int
    code: str
    not_run: str | None
    not_a_test: str | None = None

    def tests(self) -> list[str]:
        """The test functions the block defines, which run as tests unless it is marked not to."""
        import ast

        try:
            tree = ast.parse(self.code)
        except SyntaxError:
            return []
        functions = (ast.FunctionDef, ast.AsyncFunctionDef)
        return [node.name for node in tree.body if isinstance(node, functions) and node.name.startswith("test_")]


def python_blocks(text: str) -> list[Block]:
    tokens = _tokens(text)
    blocks = []
    for n, token in enumerate(tokens):
        if token.type == "fence" and token.info.split()[:1] and token.info.split()[0] in PYTHON:
            before = tokens[n - 1].content if n and tokens[n - 1].type == "html_block" else ""
            marks = [NOT_RUN.search(before), NOT_A_TEST.search(before)]
            reasons = [mark.group(1).strip() if mark else None for mark in marks]
            blocks.append(Block(token.map[0] + 1, token.content, *reasons))
    return blocks


def block_problem(block: Block) -> str | None:
    """What is wrong with a block: it does not compile; or, unless marked not to run, its module body fails.

    A block runs as a module of its own: its imports, fixtures and tests are defined, its statements run.
    A block marked ``<!-- not-run: reason -->`` must still compile and must say why it cannot run. Its tests
    then run as tests (``test_every_test_a_page_shows_passes``), unless marked ``<!-- not-run-as-test: reason -->``.
    """
    try:
        code = compile(block.code, f"<block at line {block.line}>", "exec")
    except SyntaxError as exc:
        return f"line {block.line}: does not compile: {exc}"
    if block.not_run is not None:
        return None if block.not_run else f"line {block.line}: marked not-run without a reason"
    if block.not_a_test is not None and not block.not_a_test:
        return f"line {block.line}: marked not-run-as-test without a reason"
    try:
        exec(code, {"__name__": "docs_block"})  # noqa: S102 - the docs' own examples
    except Exception as exc:  # noqa: BLE001 - any failure is the finding
        return f"line {block.line}: does not run: {type(exc).__name__}: {exc}"
    return None


@dataclass
class Known:
    """The names the code has, that pages may give."""

    options: set[str]
    local_options: set[str]
    ini: set[str]
    env: set[str]
    fixtures: set[str]
    hooks: set[str]
    marker_fields: set[str]
    junit: set[str]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def unknown_names(text: str, known: Known, page: str = "") -> list[str]:
    """Options, ini names, environment variables, fixtures, hooks, marker fields and modules the code lacks."""
    unknown = []
    for option in set(re.findall(r"--(?:no-)?steel-[a-z][a-z-]*[a-z]", text)):
        if option not in known.options:
            unknown.append(f"option {option}")
    for word in set(re.findall(r"\bpytest_steel_[a-z_]+\b", text)):
        if word not in known.hooks:
            unknown.append(f"hook {word}")
    for word in set(re.findall(r"(?<![\w.])steel_[a-z][a-z_]*[a-z]\b", text)):
        if word not in known.ini | known.fixtures | known.junit:
            unknown.append(f"ini name, fixture or JUnit property {word}")
    for word in set(re.findall(r"\bSTEEL_[A-Z][A-Z_]*[A-Z]\b", text)):
        if word not in known.env:
            unknown.append(f"environment variable {word}")
    marks = re.findall(r"mark\.steel\(([^()]*(?:\([^()]*\)[^()]*)*)\)", text) + re.findall(r"marker `(\w+)=", text)
    for fields in marks:
        for field in re.findall(r"(?:^|[,(\s])(\w+)\s*=", fields if "=" in fields else fields + "="):
            if field not in known.marker_fields and _camel(field) not in known.marker_fields:
                unknown.append(f"marker field {field}")
    for dotted in set(re.findall(r"\bpytest_steel(?:\.\w+)+", text)):
        if _resolve(dotted) is None:
            unknown.append(f"Python name {dotted}")
    if page.endswith("embedded-server.md"):  # the server's own options, in its table
        for option in re.findall(r"^\| `(--[a-z-]+)", text, re.MULTILINE):
            if option not in known.local_options:
                unknown.append(f"steel-local option {option}")
    return sorted(unknown)


def _resolve(dotted: str) -> object | None:
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
            if found is None:
                return None
        return found
    return None


PUBLIC_URL = re.compile(r"^https?://(?!localhost\b|127\.|0\.0\.0\.0|\[::1\])[\w.-]+\.[a-z]{2,}(?:[/:?#]|$)")
FILE_SPAN = re.compile(r"^\w[\w.*-]*(?:/[\w.*-]+)*\.(?:py|md|ini|toml|yml|cfg)$")  # a source file's path or name


def outside_paths(text: str, page: Path) -> list[str]:
    """Links and paths a reader cannot follow: only public URLs and files of this repository."""
    problems = []
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)", text):
        if target.startswith(("http://", "https://")):
            if not PUBLIC_URL.match(target):
                problems.append(f"link to {target}: not a public URL")
            continue
        if target.startswith("#"):
            continue
        resolved = (page.parent / target.split("#")[0]).resolve()
        if not resolved.is_relative_to(ROOT.resolve()) or not resolved.exists():
            problems.append(f"link to {target}: not a file of this repository")
    text_only = re.sub(r"https?://\S+", "", text)
    problems += [f"path {path}: outside the repository" for path in re.findall(r"(?:\.\./)+[\w./-]*", text_only)]
    for span in re.findall(r"`([^`\s]+)`", text):
        if FILE_SPAN.match(span) and not _in_repository(span):
            problems.append(f"path {span}: no such file in this repository")
    return problems


def _in_repository(span: str) -> bool:
    if "/" not in span:  # a bare name, as in "conftest.py": some file of the project's own folders is called so
        folders = ("pytest_steel", "tests", "examples", "bench", "docs")  # not .git, nor CI's venvs
        return (ROOT / span).exists() or any(any((ROOT / folder).rglob(span)) for folder in folders)
    return any(list(base.glob(span)) for base in (ROOT, ROOT / "pytest_steel"))


@pytest.fixture(scope="module")
def known() -> Known:
    """The names the code has: the options table, steel-local's parser, the registered fixtures and hooks."""
    import subprocess
    import sys

    from pytest_steel import hookspecs
    from pytest_steel._config.settings import ARTIFACT_FIELDS, CONNECTION_FIELDS
    from pytest_steel.local._api.params import CLOUD_ONLY_FIELDS
    from pytest_steel.local._cli import build_parser

    options = Settings.options()
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
        cwd=ROOT / "docs",  # no tests, no conftest: only what the plugins register
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    source = "\n".join(p.read_text() for p in (ROOT / "pytest_steel").rglob("*.py"))
    acted_on = {"timeout", "inactivityTimeout", "sessionId", "dimensions", "userAgent", "headless"}
    return Known(
        options={o.option for o in options} | {o.negative for o in options if o.negative},
        local_options={a for action in build_parser()._actions for a in action.option_strings},
        ini={o.name for o in options},
        env=set(re.findall(r"\"(STEEL_[A-Z_]+)\"", source)),
        fixtures=set(re.findall(r"^(steel_\w+)", listed, re.MULTILINE)),
        hooks={name for name in dir(hookspecs) if name.startswith("pytest_steel_")},
        marker_fields={"context", "sessionContext", "recordVideo", *acted_on, *CLOUD_ONLY_FIELDS}
        | set(ARTIFACT_FIELDS)
        | set(CONNECTION_FIELDS),
        junit=set(re.findall(r"\"(steel_[a-z_]+)\"", source)) | {f"steel_{kind}" for kind in ARTIFACT_KINDS},
    )


ARTIFACT_KINDS = ("screenshot", "trace", "recording", "download")  # the JUnit properties steel_<kind> of kept files


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_page_is_whole_its_fences_closed_and_no_heading_in_a_code_block(page: Path) -> None:
    assert fence_problems(page.read_text()) == []


@pytest.mark.parametrize(
    ("page", "line"),
    [(page, block.line) for page in PAGES for block in python_blocks(page.read_text())],
    ids=lambda v: _page_id(v) if isinstance(v, Path) else str(v),
)
def test_every_python_block_runs_or_says_why_not(
    page: Path, line: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a block writes lands here
    block = next(b for b in python_blocks(page.read_text()) if b.line == line)
    assert block_problem(block) is None


def test_every_test_a_page_shows_passes_on_the_embedded_server(pytester: pytest.Pytester) -> None:
    """The pages' tests, each block a test module, run beside the example suite's fixtures (its shop, its app
    with a login, its signed-in roles, and a live_server): the test a reader copies passes as written."""
    examples = ROOT / "examples"
    stand_in = """

@pytest.fixture
def live_server(shop_url):
    \"\"\"A stand-in for pytest-django's (and pytest-flask's) live_server: an app on loopback, at .url.\"\"\"
    import types

    return types.SimpleNamespace(url=shop_url)
"""
    pytester.makeconftest((examples / "conftest.py").read_text() + stand_in)
    pytester.makepyfile(login_app=(examples / "login_app.py").read_text())
    shutil.copytree(examples / "site", pytester.path / "site")
    expected = 0
    for page in PAGES:
        for block in python_blocks(page.read_text()):
            if block.not_run is None and block.not_a_test is None and block.tests():
                name = f"test_page_{page.stem.replace('-', '_')}_line_{block.line}"
                pytester.makepyfile(**{name: block.code})
                expected += len(block.tests())
    assert expected >= 10  # README's, index's, getting-started's, the fixtures', async, files, logging in
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:playwright", timeout=300)
    result.assert_outcomes(passed=expected)


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_name_a_page_gives_exists(page: Path, known: Known) -> None:
    assert unknown_names(page.read_text(), known, page.name) == []


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_link_and_path_of_a_page_is_a_public_url_or_in_the_repository(page: Path) -> None:
    assert outside_paths(page.read_text(), page) == []


# -- each check fails on a bad page ------------------------------------------------------------------------------

GOOD = """# A page

```sh
steel-local   # or: python -m pytest_steel.local
```

## API

Text with `--steel-timeout`, `steel_page` and [a link](index.md).
"""


def test_the_fence_check_fails_on_an_unclosed_fence_and_on_a_heading_inside_a_block() -> None:
    assert fence_problems(GOOD) == []
    unclosed = GOOD.replace("python -m pytest_steel.local\n```\n", "python -m pytest_steel.local\n")
    assert fence_problems(unclosed) == [
        "line 3: a sh fence that is never closed",
        "line 6: a heading inside a sh block: '## API'",
    ]
    assert fence_problems("text\n\n```python\nx = 1\n") == ["line 3: a python fence that is never closed"]


def test_the_block_check_fails_on_a_block_that_no_longer_runs_or_compiles_or_gives_no_reason() -> None:
    page = """
```python
from pytest_steel import set_input_files
```

```python
from pytest_steel import set_input_file
```

```python
def test_x(steel_page)
    ...
```

<!-- not-run: needs a live Steel session -->
```python
client.release(session.id)
```

<!-- not-run: -->
```python
client.release(session.id)
```
"""
    blocks = python_blocks(page)
    assert [b.not_run for b in blocks] == [None, None, None, "needs a live Steel session", ""]
    found = [block_problem(b) for b in blocks]
    assert found[0] is None and found[3] is None
    assert found[1] is not None and "ImportError: cannot import name 'set_input_file'" in found[1]
    assert found[2] is not None and found[2].startswith("line 10: does not compile")
    assert found[4] == "line 21: marked not-run without a reason"
    assert [b.tests() for b in blocks] == [[], [], [], [], []]  # the one test there does not compile
    shown = python_blocks("<!-- not-run-as-test: -->\n```python\ndef test_a(steel_page): ...\n```\n")
    assert shown[0].tests() == ["test_a"]
    assert block_problem(shown[0]) == "line 2: marked not-run-as-test without a reason"


def test_the_name_check_fails_on_each_kind_of_name_the_code_lacks(known: Known) -> None:
    assert unknown_names(GOOD, known) == []
    bad = """
`--steel-timout`, ini `steel_timout`, `STEEL_BASEURL`, the `steel_pages` fixture, the hook
`pytest_steel_session_started`, `@pytest.mark.steel(timeout="2m", screenshots="on")`, marker `expose_host=`,
`pytest_steel.set_input_file`.

| option | default |
| --- | --- |
| `--max-file-mb` | 1024 |
"""
    assert unknown_names(bad, known, "embedded-server.md") == [
        "Python name pytest_steel.set_input_file",
        "environment variable STEEL_BASEURL",
        "hook pytest_steel_session_started",
        "ini name, fixture or JUnit property steel_pages",
        "ini name, fixture or JUnit property steel_timout",
        "marker field expose_host",
        "marker field screenshots",
        "option --steel-timout",
        "steel-local option --max-file-mb",
    ]


def test_the_path_check_fails_on_a_path_or_link_outside_the_repository() -> None:
    page = ROOT / "docs" / "index.md"
    assert outside_paths(GOOD + "[Steel](https://steel.dev), `pytest_steel/hookspecs.py`", page) == []
    bad = """
The contract is `../shared/steel-api.md`, see [it](../../shared/steel-api.md), [a server](http://localhost:3000/x),
[gone](missing.md), and `_endpoints.py`.
"""
    assert outside_paths(bad, page) == [
        "link to ../../shared/steel-api.md: not a file of this repository",
        "link to http://localhost:3000/x: not a public URL",
        "link to missing.md: not a file of this repository",
        "path ../shared/steel-api.md: outside the repository",
        "path ../../shared/steel-api.md: outside the repository",
        "path _endpoints.py: no such file in this repository",
    ]
