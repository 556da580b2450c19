"""The documentation cannot drift from the code: the options page is the options table, the README's links resolve."""

from __future__ import annotations

import re
from pathlib import Path

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
