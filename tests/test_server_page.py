#!/usr/bin/env python3
"""test_server_page.py — the chat page of `lmc serve` in a real browser: Debian's headless Chromium
driven by Playwright (executable_path, no browser download). Opens /, sends two messages, checks that
the replies stream into the page (several updates, not one), that the conversation is kept and that
tok/s is shown; saves a screenshot to tests/artifacts/server_page.png.
Skips (exit 77) when the model, chromium or the playwright package is missing."""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmctest import check, finish, require_default_model, skip, source_dir, start_server  # noqa: E402


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def main():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip("the playwright package is not installed (pip install playwright)")
    chromium = find_chromium()
    if not chromium:
        skip("no chromium binary (apt-get install chromium)")
    require_default_model()
    art = os.path.join(source_dir(), "tests", "artifacts")
    os.makedirs(art, exist_ok=True)

    proc, port = start_server(["--parallel", "1"])
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 900, "height": 700})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://127.0.0.1:{port}/")
            check(page.title() == "lmc chat", f"title: {page.title()}")
            page.wait_for_function("document.getElementById('model').textContent.includes('.gguf')", timeout=10000)
            page.evaluate("document.getElementById('maxtok').value = '48'")  # short replies (settings panel)

            # count how often the reply's text changes while it streams
            page.evaluate("""() => {
                window.__updates = 0;
                new MutationObserver(() => window.__updates++).observe(document.getElementById('log'),
                    {subtree: true, characterData: true, childList: true});
            }""")
            page.fill("#input", "Hi! What is the capital of France?")
            page.press("#input", "Enter")
            page.wait_for_selector(".msg.assistant .meta", timeout=120000)
            reply = page.inner_text(".msg.assistant .body")
            meta = page.inner_text(".msg.assistant .meta")
            updates = page.evaluate("window.__updates")
            check(len(reply.strip()) > 0, f"a reply appeared: {reply!r}")
            check("tok/s" in meta, f"tok/s shown: {meta!r}")
            check(updates >= 4, f"the reply streamed in ({updates} updates)")
            print(f"reply: {reply!r}\nmeta: {meta!r}", flush=True)

            page.fill("#input", "And of Germany?")
            page.press("#input", "Enter")
            page.wait_for_function("document.querySelectorAll('.msg.assistant .meta').length == 2", timeout=120000)
            n_user = page.locator(".msg.user").count()
            n_bot = page.locator(".msg.assistant").count()
            check(n_user == 2 and n_bot == 2, f"conversation kept: {n_user} user, {n_bot} assistant")
            check(page.locator(".msg.error").count() == 0, "no error shown")
            check(not errors, f"no JavaScript errors: {errors}")
            time.sleep(0.2)
            shot = os.path.join(art, "server_page.png")
            page.screenshot(path=shot)
            check(os.path.getsize(shot) > 1000, "screenshot saved")
            print(f"screenshot: {shot}")
            browser.close()
    finally:
        proc.kill()
        proc.wait()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
