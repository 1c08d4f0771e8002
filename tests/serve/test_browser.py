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


def new_page(browser, server: Server, width: int = 1280, height: int = 1000):
    """A fresh browser context (its own cookies: a new anonymous session) and page, collecting page errors
    and Content-Security-Policy violations in ``page.errors``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(m.text))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_search_like_and_see_recommendations(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server, 1100, 1400)
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Search the catalog")).to_be_visible()

    page.get_by_text("Use an API key").click()  # the developer form is folded away
    page.get_by_label("Your user id").fill("browser-user")
    page.get_by_label("API key").fill(server.key)
    page.get_by_role("button", name="Save").click()
    assert page.evaluate("localStorage.getItem('lmrec.key')") is None  # the operator did not opt in

    # the search box is reachable and submittable from the keyboard
    page.get_by_label("Words describing what you look for").fill("space science fiction")
    page.keyboard.press("Enter")
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    expect(results).to_have_count(10)
    first = results.first.get_by_role("link").first
    title = first.inner_text()
    assert re.fullmatch(r"Item \d*[02468] space science fiction film", title)
    expect(results.first).to_contain_text("similarity 0.")  # text matches show their cosine

    results.first.get_by_role("button", name=f"Like {title}").click()
    expect(page.get_by_role("status")).to_contain_text(f"You liked “{title}”")
    recs = page.get_by_role("list", name="Recommendations")
    # the reason names the liked item (lmrec.explain)
    expect(recs.locator("p.why").first).to_contain_text(short_title(title))
    rec_titles = recs.locator("li > a.title").all_inner_texts()
    assert len(rec_titles) == 10 and title not in rec_titles
    assert results.first.get_by_role("button", name=f"Like {title}").get_attribute("aria-pressed") == "true"
    # with an events key the like is also stored as the user's event
    with server.client() as c:
        recs_of_user = c.get("/users/browser-user/recommendations").json()
    assert not recs_of_user["cold_start"]

    # open the item: its own page with similar items
    first.click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    assert "/item/" in page.url
    similar = page.get_by_role("list", name="Similar items").get_by_role("listitem")
    expect(similar).to_have_count(5)
    shot(page, "web_page")
    assert not page.errors, page.errors

    # the report is shown as a page of its own (no frame: no scroll inside a scroll)
    page.goto(server.url + "/report")
    expect(page.get_by_role("heading", name="NDCG@10 table")).to_be_visible()
    assert page.locator("iframe").count() == 0
    page.get_by_role("link", name="Catalog").click()
    expect(page.get_by_role("heading", name="Search the catalog")).to_be_visible()
    page.close()


def test_an_anonymous_visitor_gets_recommendations_from_the_sessions_likes(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    posted: list[str] = []
    page.on("request", lambda r: r.method in ("POST", "PUT") and posted.append(r.url.split("/", 3)[-1]))
    page.goto(server.url + "/")
    page.get_by_label("Words describing what you look for").fill("romantic comedy")
    page.keyboard.press("Enter")
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    expect(results).to_have_count(10)
    title = results.first.get_by_role("link").first.inner_text()
    results.first.get_by_role("button", name=f"Like {title}").click()
    expect(page.get_by_role("status")).to_contain_text(f"You liked “{title}”")
    recs = page.get_by_role("list", name="Recommendations")
    expect(recs.locator("p.why").first).to_contain_text(short_title(title))
    assert not any(p.startswith("events") for p in posted)  # nothing stored as events without a key
    assert any(p.startswith("session/likes/") for p in posted)  # the like went to the session
    assert page.context.cookies()[0]["httpOnly"]  # the session cookie is out of the page's scripts' reach
    assert page.evaluate("document.cookie") == ""
    assert not page.errors, page.errors
    page.close()


def test_an_item_page_has_its_own_url_and_back_and_reload_work(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    page.goto(server.url + "/")
    page.get_by_label("Words describing what you look for").fill("space science fiction film")
    page.keyboard.press("Enter")
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    expect(results).to_have_count(10)
    link = results.nth(1).get_by_role("link").first
    title, href = link.inner_text(), link.get_attribute("href")
    assert href is not None and href.startswith("/item/")
    link.click()
    expect(page.get_by_role("heading", name=title, level=2)).to_be_visible()
    assert page.url == server.url + href
    assert page.title().startswith(title)
    expect(page.locator("#item-meta")).to_contain_text("space")  # its categories
    page.go_back()
    expect(page.get_by_role("heading", name="Search the catalog")).to_be_visible()
    assert page.url == server.url + "/"
    page.go_forward()
    expect(page.get_by_role("heading", name=title, level=2)).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name=title, level=2)).to_be_visible()
    # a shared link opens the item in a new browser; an unknown id says so
    other = new_page(browser, server)
    other.goto(server.url + href)
    expect(other.get_by_role("heading", name=title, level=2)).to_be_visible()
    response = other.goto(server.url + "/item/no-such-item")
    assert response is not None and response.status == 404
    expect(other.get_by_role("heading", name="No such item")).to_be_visible()
    assert not page.errors and not other.errors, page.errors + other.errors
    page.close()
    other.close()


def test_search_says_no_good_match_and_pages_with_more(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    page.goto(server.url + "/")
    page.get_by_label("Words describing what you look for").fill("zzzzqqq")
    page.keyboard.press("Enter")
    expect(page.get_by_text("No good match for “zzzzqqq”")).to_be_visible()
    results = page.get_by_role("list", name="Search results").get_by_role("listitem")
    expect(results).to_have_count(0)
    expect(page.get_by_role("button", name="More results")).to_be_hidden()

    page.get_by_label("Words describing what you look for").fill("space science fiction film")
    page.keyboard.press("Enter")
    expect(results).to_have_count(10)
    expect(page.get_by_text("No good match")).to_be_hidden()
    page.get_by_role("button", name="More results").click()
    expect(results).to_have_count(20)
    ids = [li.get_attribute("data-item-id") for li in results.all()]
    assert len(set(ids)) == 20  # the second page continues the first
    assert not page.errors, page.errors
    page.close()


def test_likes_stay_after_reload_unlike_and_not_interested(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    page.goto(server.url + "/item/i2")
    like = page.locator("#item-like")
    expect(page.get_by_role("heading", name="Item 2 space science fiction film")).to_be_visible()
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_text("Liked")  # the big button says so at once ...
    page.reload()
    expect(like).to_have_attribute("aria-pressed", "true")  # ... and after a reload
    expect(like).to_have_text("Liked")
    page.get_by_role("link", name="Back to the catalog").click()
    likes = page.get_by_role("list", name="Your likes")
    expect(likes).to_contain_text("Item 2 space science fiction film")
    recs = page.get_by_role("list", name="Recommendations")
    expect(recs.locator("p.why").first).to_contain_text("Item 2")  # a reason naming the liked item
    rejected = recs.locator("li > a.title").first.inner_text()
    recs.get_by_role("button", name=f"Not interested in {rejected}").first.click()
    expect(page.get_by_role("status")).to_contain_text(f"not interested in “{rejected}”")
    expect(recs.locator("li > a.title", has_text=rejected)).to_have_count(0)
    # unlike from the likes list
    likes.get_by_role("button", name="Unlike Item 2 space science fiction film").click()
    expect(likes).to_contain_text("Nothing liked yet")
    page.goto(server.url + "/item/i2")
    expect(like).to_have_attribute("aria-pressed", "false")
    assert not page.errors, page.errors
    page.close()


def test_docs_work_offline_with_the_local_swagger_ui(browser, server: Server) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, server)
    outside: list[str] = []
    page.on("request", lambda r: not r.url.startswith(server.url) and outside.append(r.url))
    page.goto(server.url + "/docs")
    expect(page.get_by_text("lmrec recommendation service").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert not outside, outside  # every asset comes from the service itself
    assert not page.errors, page.errors
    page.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_of_the_flows(browser, server: Server, width: int) -> None:
    """start, search, item page, likes -> recommendations with reasons, at a desktop and a phone width."""
    from playwright.sync_api import expect

    page = new_page(browser, server, width, 900)
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Recommended for you")).to_be_visible()
    shot(page, f"page_start_{width}")
    page.get_by_label("Words describing what you look for").fill("space science fiction film")
    page.keyboard.press("Enter")
    expect(page.get_by_role("list", name="Search results").get_by_role("listitem")).to_have_count(10)
    shot(page, f"page_search_{width}")
    page.get_by_role("list", name="Search results").get_by_role("link").first.click()
    expect(page.locator("#item-like")).to_be_visible()
    page.locator("#item-like").click()
    expect(page.locator("#item-like")).to_have_text("Liked")
    shot(page, f"page_item_{width}")
    page.go_back()
    expect(page.get_by_role("list", name="Recommendations").locator("p.why").first).to_be_visible()
    page.get_by_role("heading", name="Recommended for you").scroll_into_view_if_needed()
    shot(page, f"page_recommendations_{width}")
    # nothing is wider than the window (no sideways scrolling on a phone)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert not page.errors, page.errors
    page.close()
