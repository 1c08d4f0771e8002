"""The web page in a real browser (Playwright + Debian chromium): search -> like -> recommendations."""

from __future__ import annotations

import re

import pytest

from lmrec.explain import short_title
from tests.serve.conftest import ARTIFACTS, Server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def test_search_like_and_see_recommendations(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Search the catalog")).to_be_visible()

    page.get_by_label("Your user id").fill("browser-user")
    page.get_by_label("API key (needed to like items)").fill(server.key)
    page.get_by_role("button", name="Save").click()

    # the search box is reachable and submittable from the keyboard
    page.get_by_label("Words describing what you look for").fill("space science fiction")
    page.keyboard.press("Enter")
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    expect(results).to_have_count(10)
    first = results.first.get_by_role("button").first
    title = first.inner_text()
    assert re.fullmatch(r"Item \d*[02468] space science fiction film", title)

    results.first.get_by_role("button", name=f"Like {title}").click()
    expect(page.get_by_role("status")).to_contain_text(f"You liked “{title}”")
    recs = page.get_by_role("list", name="Recommendations")
    expect(recs).to_contain_text(short_title(title))  # the reason names the liked item (lmrec.explain)
    rec_titles = recs.locator("li > button.link").all_inner_texts()
    assert len(rec_titles) == 10 and title not in rec_titles
    assert results.first.get_by_role("button", name=f"Like {title}").get_attribute("aria-pressed") == "true"

    # open the item: its page section and similar items appear
    first.click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    similar = page.get_by_role("list", name="Similar items").get_by_role("listitem")
    expect(similar).to_have_count(5)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_page.png"), full_page=True)
    assert not errors, errors

    page.goto(server.url + "/report")
    expect(page.get_by_role("heading", name="Evaluation report")).to_be_visible()
    frame = page.frame_locator("iframe[title^='Evaluation report']")
    expect(frame.get_by_role("heading", name="NDCG@10 table")).to_be_visible()
    page.close()
