"""Files across the session boundary, and two shoppers at once: both work the same on a remote backend."""

from pathlib import Path

from playwright.sync_api import Page, expect


def test_the_receipt_downloads_and_saves(steel_page: Page, shop_url: str, tmp_path: Path) -> None:
    steel_page.goto(f"{shop_url}/receipt.html")
    with steel_page.expect_download() as download:
        steel_page.get_by_role("link", name="Download the receipt").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)  # the file comes back from a remote browser through the files API
    assert saved.read_text() == "Order 1: one anvil, 42 EUR"


def test_a_photo_uploads(steel_page: Page, shop_url: str, tmp_path: Path) -> None:
    photo = tmp_path / "anvil.jpg"
    photo.write_bytes(b"\xff\xd8" + bytes(1000))
    steel_page.goto(f"{shop_url}/receipt.html")
    steel_page.get_by_label("Attach a photo").set_input_files(photo)  # any size, on a remote session too
    expect(steel_page.locator("#attached")).to_have_text("anvil.jpg, 1002 bytes")


def test_two_shoppers_do_not_share_a_cart(steel_new_session, shop_url: str) -> None:  # noqa: ANN001
    (alice, _), (bob, _) = steel_new_session(), steel_new_session()
    alice.goto(shop_url)
    bob.goto(shop_url)
    alice.evaluate("localStorage.setItem('cart', 'anvil')")
    assert bob.evaluate("localStorage.getItem('cart')") is None  # each in a browser of its own
