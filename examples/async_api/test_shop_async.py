"""The shop's tests as async tests: Playwright's async API on Steel sessions, under pytest-asyncio.

Each test gets a fresh session, as with steel_page. (The examples' conftest runs these
first: once a sync test has started pytest-playwright's driver, that driver holds the
thread's event loop for the rest of the process.)
"""

import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.asyncio


async def test_home_page_lists_products(steel_async_page: Page, shop_url: str) -> None:
    await steel_async_page.goto(shop_url)
    await expect(steel_async_page).to_have_title("Steel Hardware")
    await expect(steel_async_page.locator("#products li")).to_have_count(2)


async def test_checkout_form(steel_async_page: Page, shop_url: str) -> None:
    await steel_async_page.goto(f"{shop_url}/checkout.html")
    await steel_async_page.get_by_label("Name").fill("Ada")
    await steel_async_page.get_by_label("Email").fill("ada@example.test")
    await steel_async_page.get_by_label("I accept the terms").check()
    await steel_async_page.get_by_role("button", name="Place order").click()
    await expect(steel_async_page.locator("#confirmation")).to_have_text("Thank you, Ada!")
