"""The shop's tests as a pytest-playwright user writes them: `page`, `context`, `base_url`, context options."""

import pytest
from playwright.sync_api import BrowserContext, Page, expect


def test_home_page_lists_products(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_title("Steel Hardware")
    expect(page.locator("#products li")).to_have_count(2)


def test_checkout(page: Page) -> None:
    page.goto("/checkout.html")
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Email").fill("grace@example.test")
    page.get_by_label("I accept the terms").check()
    page.get_by_role("button", name="Place order").click()
    expect(page.locator("#confirmation")).to_have_text("Thank you, Grace!")


def test_context_options_apply(page: Page) -> None:
    page.goto("/")
    assert page.evaluate("[innerWidth, innerHeight, navigator.language]") == [1024, 700, "en-GB"]


@pytest.mark.browser_context_args(color_scheme="dark")
def test_a_marker_adds_context_options(page: Page) -> None:
    page.goto("/")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")


def test_two_pages_share_a_context(context: BrowserContext) -> None:
    first, second = context.new_page(), context.new_page()
    first.goto("/")
    first.evaluate("localStorage.setItem('cart', 'anvil')")
    second.goto("/")
    assert second.evaluate("localStorage.getItem('cart')") == "anvil"
