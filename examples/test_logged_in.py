"""Tests that start signed in: each in a fresh session, none going through the login page."""

import pytest
from playwright.sync_api import Page, expect


@pytest.mark.steel(context="admin")
def test_the_admin_starts_signed_in(steel_page: Page, app_url: str) -> None:
    steel_page.goto(f"{app_url}/account")
    expect(steel_page.locator("#server-user")).to_have_text("admin")  # the httpOnly cookie reached the server
    expect(steel_page.locator("#page-user")).to_have_text("admin")  # localStorage was there before the page ran


@pytest.mark.steel(context="viewer")
def test_a_viewer_starts_signed_in_as_a_viewer(steel_page: Page, app_url: str) -> None:
    steel_page.goto(f"{app_url}/account")
    expect(steel_page.locator("#server-user")).to_have_text("viewer")


@pytest.mark.steel(context="admin")
def test_signing_out_in_one_test_leaves_the_next_signed_in(steel_page: Page, app_url: str) -> None:
    steel_page.goto(f"{app_url}/account")
    steel_page.evaluate("localStorage.clear()")
    steel_page.context.clear_cookies()
    steel_page.reload()
    expect(steel_page.locator("#server-user")).to_have_text("nobody")


@pytest.mark.steel(context="admin")
def test_still_signed_in_after_the_one_that_signed_out(steel_page: Page, app_url: str) -> None:
    steel_page.goto(f"{app_url}/account")
    expect(steel_page.locator("#page-user")).to_have_text("admin")


def test_without_a_context_nobody_is_signed_in(steel_page: Page, app_url: str) -> None:
    steel_page.goto(f"{app_url}/account")
    expect(steel_page.locator("#server-user")).to_have_text("nobody")
