"""The web page in a real browser (Playwright + Debian chromium): search -> like -> recommendations, with a
key and anonymously (the tab's likes as an item list), under the page's Content-Security-Policy."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from lmrec.explain import short_title
from tests.serve.conftest import ARTIFACTS, Server

# `make test` installs Debian's chromium with .ci/browser.sh when it runs as root with apt-get; elsewhere this
# test is skipped with a reason saying how to enable it. CI (.ci/run) sets LMREC_REQUIRE_BROWSER=1, so there a
# missing browser is a failure, not a skip.
HOW_TO_ENABLE = (
    "chromium not found: run `sudo .ci/browser.sh` (Debian chromium; `make test` does it when run as root) "
    "or set LMREC_CHROMIUM=/path/to/chromium"
)


def find_chromium() -> str | None:
    """$LMREC_CHROMIUM (only it, when set), else /usr/bin/chromium (what .ci/browser.sh installs), else
    chromium on PATH."""
    given = os.environ.get("LMREC_CHROMIUM")
    for candidate in (given,) if given else ("/usr/bin/chromium",):
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None if given else shutil.which("chromium") or shutil.which("chromium-browser")


def missing_browser() -> str | None:
    """Why the browser test cannot run here (None when it can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None if find_chromium() else HOW_TO_ENABLE


REQUIRED = os.environ.get("LMREC_REQUIRE_BROWSER") == "1"
WHY_NOT = missing_browser()
if REQUIRED and WHY_NOT is not None:
    pytest.fail(f"LMREC_REQUIRE_BROWSER=1 but {WHY_NOT}", pytrace=False)
# skipped at collection, before the session's server fixture starts a server for nothing
pytestmark = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


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
    chromium = find_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        yield b
        b.close()


def test_search_like_and_see_recommendations(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Search the catalog")).to_be_visible()

    page.get_by_label("Your user id").fill("browser-user")
    page.get_by_label("API key").fill(server.key)
    page.get_by_role("button", name="Save").click()
    assert page.evaluate("localStorage.getItem('lmrec.key')") is None  # the operator did not opt in

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


def test_an_anonymous_visitor_gets_recommendations_from_the_tabs_likes(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    posted: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posted.append(r.url.split("/", 3)[-1]))
    page.goto(server.url + "/")
    page.get_by_label("Words describing what you look for").fill("romantic comedy")
    page.keyboard.press("Enter")
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    expect(results).to_have_count(10)
    title = results.first.get_by_role("button").first.inner_text()
    results.first.get_by_role("button", name=f"Like {title}").click()
    expect(page.get_by_role("status")).to_contain_text(f"You liked “{title}”")
    recs = page.get_by_role("list", name="Recommendations")
    expect(recs).to_contain_text(f"Recommended because you liked {short_title(title)}")
    assert "events" not in posted and "recommendations" in posted  # nothing stored without a key
    assert not errors, errors
    page.close()
