"""The built book in a real browser (headless Debian Chromium through selenium + chromedriver).

Serves ``_build/html`` on localhost, opens every page, and checks: no page of the table of contents
is missing, every image has loaded (natural width > 0), the browser console has no JavaScript errors
(SEVERE entries), and math was typeset by the book's own MathJax (no CDN). Screenshots of the landing
page and one chapter go to ``_build/screenshots/``.

Run by ``make test-browser`` (which ``.ci/run`` calls after ``make book``). Without a built book or
a browser the tests skip, unless ``SDFT_REQUIRE_BROWSER=1`` (set by that target) makes them fail.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
REQUIRED = os.environ.get("SDFT_REQUIRE_BROWSER") == "1"
# One known upstream error is tolerated, by its exact text: with jupyter-book 1.0.4, sphinx-thebe's
# env-before-read-docs hook adds its inline config script twice, so every page logs that
# THEBE_JS_URL is declared twice. It is harmless (live code cells are off in this book) and is
# listed as a known gap in the book's status page; every other console error fails the test.
# pydata-sphinx-theme logs "Got invalid theme mode" once, in a fresh browser profile with no stored
# light/dark choice. The browser's own request for /favicon.ico (the book has none) is not a page's.
KNOWN_UPSTREAM = ("Identifier 'THEBE_JS_URL' has already been declared", "Got invalid theme mode: . Resetting to auto.",
                  "/favicon.ico - Failed to load resource")


def _missing(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


def _toc_pages() -> list[str]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [f + ".html" for f in files]


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        _missing("no built book in _build/html (run make book)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver")
    if not (chromium and driver_bin):
        _missing("Debian's chromium and chromium-driver are not installed (make browser-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _visit(browser, url):
    browser.get(url)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return Array.from(document.images).every(i => i.complete)"))


def test_every_toc_page_exists():
    missing = [p for p in _toc_pages() if not (HTML / p).is_file()]
    if not (HTML / "index.html").is_file():
        _missing("no built book in _build/html (run make book)")
    assert not missing, f"pages missing from the built book: {missing}"


def test_every_page_loads_its_images_without_js_errors(server, browser):
    pages = sorted(str(p.relative_to(HTML)) for p in HTML.rglob("*.html")
                   if not str(p.relative_to(HTML)).startswith(("_static", "_sources", "genindex", "search", ".")))
    assert len(pages) >= len(_toc_pages())
    problems, images = [], 0
    for page in pages:
        _visit(browser, server + page)
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        images += browser.execute_script("return document.images.length")
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"
                  and not any(k in e["message"] for k in KNOWN_UPSTREAM)]
        if broken or errors:
            problems.append((page, broken, errors))
    assert not problems, problems
    assert images > 0  # the chapters' figures were among the pages checked


def test_math_is_typeset_offline_and_screenshots(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _visit(browser, server + "index.html")
    browser.save_screenshot(str(SHOTS / "landing.png"))
    _visit(browser, server + "book/method.html")
    scripts = browser.execute_script("return Array.from(document.scripts).map(s => s.src)")
    assert not [s for s in scripts if s and not s.startswith(server)], "a script loads from outside the book"
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return document.querySelectorAll('mjx-container').length") > 0)
    browser.save_screenshot(str(SHOTS / "method.png"))
    _visit(browser, server + "book/executed/04_evaluation.html")
    browser.save_screenshot(str(SHOTS / "chapter.png"))
    assert (SHOTS / "landing.png").stat().st_size > 10_000
