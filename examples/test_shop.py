"""A small realistic suite: each test gets its own browser session."""

import pytest
from playwright.sync_api import Page, expect


def test_home_page_lists_products(steel_page: Page, shop_url: str) -> None:
    steel_page.goto(shop_url)
    expect(steel_page).to_have_title("Steel Hardware")
    expect(steel_page.locator("#products li")).to_have_count(2)


def test_navigate_to_a_product_and_back(steel_page: Page, shop_url: str) -> None:
    steel_page.goto(shop_url)
    steel_page.get_by_role("link", name="Anvil").click()
    expect(steel_page).to_have_title("Anvil | Steel Hardware")
    steel_page.get_by_role("link", name="Back to the shop").click()
    expect(steel_page).to_have_title("Steel Hardware")


def test_checkout_form(steel_page: Page, shop_url: str) -> None:
    steel_page.goto(f"{shop_url}/checkout.html")
    steel_page.get_by_label("Name").fill("Ada")
    steel_page.get_by_label("Email").fill("ada@example.test")
    steel_page.get_by_label("I accept the terms").check()
    steel_page.get_by_role("button", name="Place order").click()
    expect(steel_page.locator("#confirmation")).to_have_text("Thank you, Ada!")


@pytest.mark.parametrize("visit", ["first", "second"])
def test_sessions_are_isolated(steel_page: Page, shop_url: str, visit: str) -> None:
    """The second visit does not see the first one's cart: every test starts from a clean browser."""
    steel_page.goto(shop_url)
    assert steel_page.evaluate("localStorage.length") == 0
    steel_page.evaluate("localStorage.setItem('cart', 'anvil')")
