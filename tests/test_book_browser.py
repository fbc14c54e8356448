"""Load the built pages in headless Debian chromium: MathJax rendered, images load, no console errors."""

import functools
import http.server
import shutil
import threading

import pytest

from tests.conftest import PAGES

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (scripts/install_system_deps.sh installs it as root)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_in_chromium(server, browser, name, tmp_path):
    page = browser.new_page()
    console_errors, failed_requests = [], []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    page.on("requestfailed", lambda request: failed_requests.append(request.url))
    page.on("response", lambda response: failed_requests.append(response.url) if response.status >= 400 else None)
    page.goto(f"{server}/book/{name}.html", wait_until="load")
    has_math = page.evaluate("() => document.querySelectorAll('.math').length > 0")
    if has_math:
        page.wait_for_function("() => !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)")
        page.evaluate("() => window.MathJax.startup.promise.then(() => true)")
        rendered = page.evaluate("() => document.querySelectorAll('mjx-container').length")
        assert rendered > 0, "MathJax rendered no formula"
        errors = page.evaluate("() => document.querySelectorAll('mjx-merror, [data-mjx-error]').length")
        assert errors == 0, "MathJax reported a TeX error"
    text = page.evaluate("() => document.querySelector('main, article, body').innerText")
    assert "$$" not in text, "raw $$ left in the rendered page"
    assert "\\begin{" not in text, "raw LaTeX environment left in the rendered page"
    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    local_failures = [url for url in failed_requests if url.startswith(server)]
    assert not local_failures, f"requests that failed: {local_failures}"
    assert not console_errors, f"console errors: {console_errors}"
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=False)
    page.close()
