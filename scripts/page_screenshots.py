"""Screenshots of the service's web page for docs/screenshots/: start, search, an item page, and likes ->
recommendations with reasons, at 1280 and 390 px, in Debian's chromium (Playwright).

    lmrec train --dataset ml-100k --model ease --out /tmp/ease
    python scripts/page_screenshots.py /tmp/ease docs/screenshots

It starts `lmrec serve MODEL_DIR` on a free port with a temporary store, drives the page like a visitor
(search "space adventure", open the first result, like it and a second film) and writes page_*_{width}.png.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--query", default="space adventure")
    parser.add_argument("--chromium", default=os.environ.get("LMREC_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "lmrec", "serve", str(args.model_dir), "--db", f"sqlite:///{tmp}/s.db"]
        server = subprocess.Popen([*cmd, "--port", str(port)], env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            shoot(url, args.out, args.query, args.chromium)
        finally:
            server.terminate()
            server.wait(30)


def shoot(url: str, out: Path, query: str, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        for width in (1280, 390):
            page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
            page.goto(url + "/")
            expect(page.get_by_role("list", name="Recommendations").get_by_role("listitem")).to_have_count(10)
            page.screenshot(path=str(out / f"page_start_{width}.png"), full_page=True)
            page.get_by_label("Words describing what you look for").fill(query)
            page.keyboard.press("Enter")
            results = page.get_by_role("list", name="Search results").get_by_role("listitem")
            expect(results).to_have_count(10)
            page.screenshot(path=str(out / f"page_search_{width}.png"), full_page=True)
            second = results.nth(1).get_by_role("link").first.inner_text()
            results.nth(1).get_by_role("button", name=f"Like {second}").click()
            expect(page.get_by_role("status")).to_contain_text("You liked")
            results.first.get_by_role("link").first.click()
            page.locator("#item-like").click()
            expect(page.locator("#item-like")).to_have_text("Liked")
            expect(page.get_by_role("list", name="Similar items").get_by_role("listitem")).to_have_count(5)
            page.screenshot(path=str(out / f"page_item_{width}.png"), full_page=True)
            page.go_back()
            expect(page.get_by_role("list", name="Recommendations").locator("p.why").first).to_be_visible()
            page.get_by_role("heading", name="Recommended for you").scroll_into_view_if_needed()
            page.screenshot(path=str(out / f"page_recommendations_{width}.png"), full_page=True)
            page.context.close()
        browser.close()


if __name__ == "__main__":
    main()
