"""Written as for pytest-playwright alone: nothing here knows about Steel.

`shop_url` comes from the examples' own conftest (the shop, served on loopback).
"""

import pytest


@pytest.fixture(scope="session")
def base_url(shop_url: str) -> str:
    """pytest-base-url's fixture: page.goto("/") goes to the shop."""
    return shop_url


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """Every test's context: a laptop-sized viewport, British English."""
    return {**browser_context_args, "viewport": {"width": 1024, "height": 700}, "locale": "en-GB"}
