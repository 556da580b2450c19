"""MkDocs hook: the options page's table, made from the plugin's own options table when the site is built."""

from __future__ import annotations

from typing import Any

PLACEHOLDER = "<!-- the options table -->"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if PLACEHOLDER not in markdown:
        return markdown
    from pytest_steel._config.settings import options_markdown

    return markdown.replace(PLACEHOLDER, options_markdown())
