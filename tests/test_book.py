"""The book as a reader gets it: strict build, offline, rendered maths, images, links, generated pages.

Two groups of tests.

* **Generated pages** (fast): the Sphinx extension ``tools/book_report.py`` turns claim
  records (``results/claims/*.json``, written by :func:`rbmlib.report.record_claim`) into the
  reproduction report and the errata, and shows the headline figure only when its file
  exists. Each case builds a tiny Sphinx project in a temporary folder.

* **Browser test** (about a minute): builds the real book with ``jupyter-book build -W -n``
  (warnings are errors) into a temporary folder, serves it on 127.0.0.1 and loads every page
  in headless Chromium, driven over the DevTools protocol (``websocket-client``), with every
  other host unreachable (host resolver and proxy both pointed at nowhere). On every page:
  no request to any host but 127.0.0.1, no failed request, no console error, every
  ``<img>`` loaded, every formula typeset by MathJax (no raw TeX, no MathJax error), no display
  formula wider than its column at 1280 px with both sidebars open. Every
  table-of-contents link answers HTTP 200, and every local link and ``#anchor`` in the HTML
  resolves. Screenshots of the landing page and of the XFT chapter are kept in
  ``_build/test-artifacts/``.

Chromium: ``make test`` installs Debian's ``chromium`` when it is missing and runs as root;
otherwise install it (``apt-get install chromium``) or set ``CHROMIUM=/path/to/chromium``.
Without it the browser tests fail (never skip) with that message.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import html.parser
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "_build" / "test-artifacts"
BUILD_TIMEOUT = 1200
PAGE_TIMEOUT = 60.0
SCREENSHOTS = {"intro.html": "landing", "chapters/04_xft.html": "04_xft"}
CHROMIUM_HELP = (
    "Chromium is needed for the browser test of the book (tests/test_book.py) and was not found. "
    "Install it: as root `apt-get update && apt-get install -y chromium` (Debian/Ubuntu package "
    "`chromium`; `make test` does this by itself when run as root), or point the environment "
    "variable CHROMIUM at a Chromium/Chrome executable, e.g. `CHROMIUM=/usr/bin/google-chrome make test`."
)


# =============================================================================================
# Generated pages: a tiny Sphinx project per case
# =============================================================================================
def _sphinx_project(tmp: Path, claims: dict[str, dict] | None, *, headline_png: bool = False) -> Path:
    """Write a minimal MyST book using tools/book_report.py into *tmp*; return its folder."""
    src = tmp / "src"
    (src / "chapters").mkdir(parents=True)
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tools')!r})\n"
        "extensions = ['myst_parser', 'book_report']\n"
        "myst_enable_extensions = ['dollarmath', 'colon_fence']\n"
        "nitpicky = True\n"
        "exclude_patterns = ['results/*']\n"
        "html_theme = 'basic'\n"
    )
    (src / "index.md").write_text(
        "# Book\n\n"
        "```{headline-figure} results/figures/head.png\n"
        ":alt: the headline\n"
        ":missing: No headline figure yet.\n\n"
        "Caption of the headline.\n"
        "```\n\n"
        "```{toctree}\nchapters/ch1\nreproduction\nerrata\n```\n"
    )
    (src / "chapters" / "ch1.md").write_text(
        "# Chapter one\n\n(ch1-exact)=\n## The exact check\n\nText.\n"
    )
    (src / "reproduction.md").write_text("# Reproduction report\n\n```{claims-report}\n```\n")
    (src / "errata.md").write_text("# Errata\n\n```{claims-errata}\n```\n")
    if claims is not None:
        (src / "results" / "claims").mkdir(parents=True)
        (src / "results" / "claims" / "ch1.json").write_text(json.dumps(claims))
        (src / "results" / "claims" / "causes.yml").write_text(CAUSES_YML)
    if headline_png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        (src / "results" / "figures").mkdir(parents=True)
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, 1], [0, 1])
        fig.savefig(src / "results" / "figures" / "head.png")
        plt.close(fig)
    return src


def _sphinx_build(src: Path) -> tuple[int, str, Path]:
    out = src.parent / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-E",
                           "-b", "html", str(src), str(out)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr, out


def _visible_text(path: Path) -> str:
    """The text of an HTML page, tags stripped, entities decoded, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return " ".join(html.unescape(text).split())


GOOD = {"id": "ch1.good", "chapter": "chapters/ch1", "anchor": "ch1-exact", "source": "paper",
        "statement": "The sweep satisfies detailed balance: $T(x,y)p(x) = T(y,x)p(y)$.",
        "status": "holds-exactly", "measure": "max |error| < 1e-12", "correction": None}
BAD = {"id": "ch1.bad", "chapter": "chapters/ch1", "anchor": "ch1-exact", "source": "notes",
       "statement": "The full block sweep satisfies detailed balance on the joint space.",
       "status": "fails-corrected", "measure": "max violation = 1.2e-4 (4x3 model)",
       "correction": "Only the half-updates do; the time reversal of 'hv' is 'vh'.",
       "quote": r"&= \frac{p_{\lambda}(v',h')}{p_{\lambda}(v,h)}", "where": "notes §2",
       "tier": "wrong", "cause": "sweep"}
CAUSES_YML = "sweep:\n  title: The sweep is not reversible\n  summary: Its reversal is the opposite order.\n"


def test_claim_pages_say_plainly_when_there_are_no_records(tmp_path):
    rc, log, out = _sphinx_build(_sphinx_project(tmp_path, claims=None))
    assert rc == 0, log
    for page in ("reproduction.html", "errata.html"):
        text = _visible_text(out / page)
        assert "No claim has been recorded yet" in text, text
        assert "<table" not in (out / page).read_text()
    text = _visible_text(out / "index.html")
    assert "No headline figure yet." in text and "<img" not in (out / "index.html").read_text()


def test_sample_records_render_with_links_and_errata(tmp_path):
    rc, log, out = _sphinx_build(_sphinx_project(tmp_path, claims={"ch1.good": GOOD, "ch1.bad": BAD}))
    assert rc == 0, log
    rep = (out / "reproduction.html").read_text()
    rep_text = _visible_text(out / "reproduction.html")
    assert "2 claims checked in 1 chapter: 1 holds (exact check); 0 holds (statistical test); " \
           "1 fails, corrected; 0 imprecise, corrected." in rep_text
    assert "<table" in rep and "ch1.good" in rep_text and "ch1.bad" in rep_text
    assert "Claims of the paper (1)" in rep_text and "Claims of the study notes (1)" in rep_text
    assert "max |error| &lt; 1e-12" in rep          # pipes in a cell survive
    assert r"\(T(x,y)p(x) = T(y,x)p(y)\)" in rep      # Markdown maths in a statement becomes maths
    assert 'href="chapters/ch1.html#ch1-exact"' in rep  # link to the checking section
    err = (out / "errata.html").read_text()
    err_text = _visible_text(out / "errata.html")
    assert "1 of the 2 claims recorded so far are wrong or imprecise as stated: 1 root cause; " \
           "1 wrong result, 0 derivation slip, correct result, 0 notation or typo. Whose: 1 notes." in err_text
    assert "Wrong results." in err_text and "The sweep is not reversible (1 claim)" in err_text
    assert "Its reversal is the opposite order." in err_text        # the cause's summary
    assert r"\begin{aligned}&amp;= \frac{p_{\lambda}(v&#39;,h&#39;)}" in err or \
           r"\begin{aligned}&amp;= \frac{p_{\lambda}(v',h')}" in err   # the quote typeset as maths
    assert "(notes §2)" in err_text
    assert "ch1.bad" in err_text and "ch1.good" not in err_text
    assert "Only the half-updates do; the time reversal of ‘hv’ is ‘vh’." in err_text or \
           "Only the half-updates do; the time reversal of 'hv' is 'vh'." in err_text
    assert 'href="chapters/ch1.html#ch1-exact"' in err


def test_all_holding_records_give_an_empty_errata_and_the_figure_shows(tmp_path):
    rc, log, out = _sphinx_build(_sphinx_project(tmp_path, claims={"ch1.good": GOOD}, headline_png=True))
    assert rc == 0, log
    assert "No erratum: every one of the 1 claims recorded so far holds" in _visible_text(out / "errata.html")
    index = (out / "index.html").read_text()
    assert re.search(r'<img alt="the headline" src="_images/head\.png"', index), index
    assert (out / "_images" / "head.png").stat().st_size > 0
    assert "Caption of the headline." in _visible_text(out / "index.html")
    assert "No headline figure yet." not in index


def test_errata_group_symptoms_of_one_cause_and_order_tiers(tmp_path):
    slip = {**BAD, "id": "ch1.slip", "tier": "notation", "cause": "typo", "status": "imprecise-corrected",
            "quote": "It does not matter", "statement": "A typo."}
    second = {**BAD, "id": "ch1.second", "statement": "K sweeps satisfy detailed balance."}
    src = _sphinx_project(tmp_path, claims={"ch1.bad": BAD, "ch1.second": second, "ch1.slip": slip})
    (src / "results" / "claims" / "causes.yml").write_text(CAUSES_YML + "typo:\n  title: A typo\n  summary: Harmless.\n")
    rc, log, out = _sphinx_build(src)
    assert rc == 0, log
    text = _visible_text(out / "errata.html")
    assert "The sweep is not reversible (2 claims)" in text and "A typo (1 claim)" in text
    assert text.index("Wrong results.") < text.index("The sweep is not reversible") < \
        text.index("Notation and typos.") < text.index("A typo (1 claim)")
    assert "\u201cIt does not matter\u201d (notes §2)" in text     # a sentence is quoted as text


def test_an_undefined_cause_fails_the_strict_build(tmp_path):
    rc, log, _ = _sphinx_build(_sphinx_project(tmp_path, claims={"ch1.bad": {**BAD, "cause": "nope"}}))
    assert rc != 0
    assert "names cause 'nope', which results/claims/causes.yml does not define" in log, log


@pytest.mark.parametrize("broken, message", [
    ({**BAD, "correction": None}, "needs the correct statement in 'correction'"),
    ({**GOOD, "status": "holds-mostly"}, "status 'holds-mostly' is not one of"),
    ({**GOOD, "anchor": "no-such-label"}, "undefined label: 'no-such-label'"),
    ({**GOOD, "chapter": "chapters/nope"}, "names chapter 'chapters/nope', which is not a page"),
])
def test_a_bad_record_fails_the_strict_build_with_a_clear_message(tmp_path, broken, message):
    rc, log, _ = _sphinx_build(_sphinx_project(tmp_path, claims={broken["id"]: broken}))
    assert rc != 0
    assert message in log, log


# =============================================================================================
# Browser test of the real book
# =============================================================================================
def _find_chromium() -> str:
    env = os.environ.get("CHROMIUM")
    if env:
        path = shutil.which(env) or env
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            pytest.fail(f"CHROMIUM={env!r} is not an executable file. " + CHROMIUM_HELP, pytrace=False)
        return path
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(CHROMIUM_HELP, pytrace=False)


def _no_proxy_opener():
    # talk to 127.0.0.1 directly, whatever http_proxy says
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """The book, built strictly (``-W -n``) from the committed sources into a temporary folder."""
    out = tmp_path_factory.mktemp("book")
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", "--all", "-W", "-n", "--keep-going",
           str(ROOT), "--path-output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=ROOT)
    log = proc.stdout + proc.stderr
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "build.log").write_text(log)
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # no colour codes in the message
    warnings = [ln for ln in log.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert proc.returncode == 0, "strict book build failed:\n" + "\n".join(warnings or log.splitlines()[-40:])
    html_dir = out / "_build" / "html"
    assert (html_dir / "intro.html").is_file()
    return html_dir


def _pages(html_dir: Path) -> list[str]:
    """Every HTML page of the build (relative paths), assets excluded."""
    skip = ("_static/", "_sources/", "_images/")
    return sorted(p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
                  if not p.relative_to(html_dir).as_posix().startswith(skip))


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built_book):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(built_book)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class CDP:
    """Minimal Chrome DevTools Protocol client over one page target's websocket."""

    def __init__(self, ws_url: str):
        import websocket
        self.ws = websocket.create_connection(ws_url, timeout=PAGE_TIMEOUT, suppress_origin=True,
                                              http_no_proxy=["127.0.0.1", "localhost"])
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Collect events for up to *seconds*."""
        import websocket
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        self.ws.settimeout(PAGE_TIMEOUT)

    def wait_for(self, method: str, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e.get("method") == method:
                    return e
            if time.monotonic() > end:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.pump(0.2)

    def evaluate(self, expression: str):
        res = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def close(self):
        self.ws.close()


@pytest.fixture(scope="module")
def chromium() -> str:
    return _find_chromium()


@contextlib.contextmanager
def headless_chromium(chromium: str, prefix: str = "book-chromium-"):
    """Headless Chromium in a 1280 x 900 window with every host but 127.0.0.1 unreachable; yields a CDP
    session on its page (Page, Runtime, Log and Network enabled). Shared with tests/test_lab.py."""
    profile = tempfile.mkdtemp(prefix=prefix)
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps", "--mute-audio",
            "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0",
            "--window-size=1280,900",
            # every host but this machine's loopback is unreachable, by name and through any proxy
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",  # loopback itself always bypasses a proxy
            "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cdp = None
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        end = time.monotonic() + 60
        while not port_file.is_file() or len(port_file.read_text().split()) < 2:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                err = proc.stderr.read() if proc.poll() is not None else ""
                pytest.fail(f"Chromium ({chromium}) did not start: {err[-2000:]}", pytrace=False)
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(_no_proxy_opener().open(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        page = next(t for t in targets if t.get("type") == "page")
        cdp = CDP(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            cdp.send(f"{domain}.enable")
        cdp.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        yield cdp
    finally:
        if cdp is not None:
            cdp.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium, server):  # chromium first: no book build when the browser is missing
    with headless_chromium(chromium) as cdp:
        cdp.send("Network.setCacheDisabled", cacheDisabled=True)
        yield cdp


# JavaScript run in each page once it has loaded: wait for MathJax, fonts and images, then report.
_SETTLE_JS = """
Promise.race([(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(img => {
    img.loading = 'eager';
    return img.complete ? null : new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); });
  }));
  if (document.fonts) { await document.fonts.ready; }
  return true;
})(), new Promise(r => setTimeout(() => r(false), 30000))])
"""
_REPORT_JS = """
(() => {
  const clone = document.body.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight').forEach(e => e.remove());
  const mathNodes = [...document.querySelectorAll('span.math, div.math')];
  return {
    url: location.href,
    title: document.title,
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
    math: mathNodes.length,
    untypeset: mathNodes.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 120)),
    mjx: document.querySelectorAll('mjx-container').length,
    mjxErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
    // MathJax's noundefined package draws an unknown macro as its name in red (no merror)
    undefinedMacros: [...document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]')]
                       .map(e => e.textContent).filter(t => t.startsWith('\\\\')),
    text: clone.textContent,
    height: Math.ceil(document.documentElement.scrollHeight),
    overflowX: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    // display formulas wider than their column at 1280 px with both sidebars open (readable only by scrolling)
    wideFormulas: [...document.querySelectorAll('div.math mjx-container')].filter(e => e.scrollWidth > e.clientWidth + 1)
                    .map(e => (e.querySelector('mjx-assistive-mml') || e).textContent.slice(0, 80)),
  };
})()
"""
_TOC_LINKS_JS = """
[...document.querySelectorAll('nav.bd-docs-nav a, .toctree-wrapper a')].map(a => a.href)
"""
# TeX delimiters left in the text, or $...$ holding TeX syntax (\macro, ^, _, {): maths nobody typeset
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{|\$[^$\n]{0,200}?[\\^_{][^$\n]{0,200}?\$")


def _load(cdp: CDP, url: str) -> tuple[dict, list[str]]:
    """Navigate to *url*, let it settle; return (page report, problems seen on the wire and console)."""
    cdp.events.clear()
    cdp.send("Page.navigate", url=url)
    cdp.wait_for("Page.loadEventFired", PAGE_TIMEOUT)
    settled = cdp.evaluate(_SETTLE_JS)
    cdp.pump(0.5)  # late requests (lazy fonts, MathJax extensions) and console messages
    report = cdp.evaluate(_REPORT_JS)
    problems = [] if settled else ["MathJax, images or fonts still loading after 30 s"]
    urls = {e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in cdp.events if e.get("method") == "Network.requestWillBeSent"}
    for e in cdp.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Network.requestWillBeSent":
            u = urllib.parse.urlsplit(p["request"]["url"])
            if u.scheme not in ("data", "blob", "about") and u.hostname != "127.0.0.1":
                problems.append(f"request to another host: {p['request']['url']}")
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            problems.append(f"HTTP {p['response']['status']} for {p['response']['url']}")
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            problems.append(f"request failed ({p.get('errorText')}): {urls.get(p['requestId'], p['requestId'])}")
    return report, problems + console_problems(cdp.events)


def console_problems(events: list[dict]) -> list[str]:
    """What a page reported as broken on its console, from DevTools events: console errors,
    ``console.error``/``console.assert`` calls and uncaught exceptions. Shared with tests/test_lab.py."""
    problems = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Log.entryAdded" and p["entry"]["level"] == "error":
            problems.append(f"console error: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            problems.append(f"console.{p['type']}: {args}")
        elif m == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            problems.append(f"uncaught exception: {d.get('exception', {}).get('description') or d.get('text')}")
    return problems


def _screenshot(cdp: CDP, path: Path, height: int | None = None) -> None:
    """PNG of the window (1280 x 900), or of the top *height* px of the page laid out in a window that tall."""
    if height:  # a tall window rather than captureBeyondViewport, which mis-places the theme's layout
        cdp.send("Emulation.setDeviceMetricsOverride", width=1280, height=height, deviceScaleFactor=1, mobile=False)
        cdp.pump(0.5)
    try:
        data = cdp.send("Page.captureScreenshot", format="png")["data"]
    finally:
        if height:
            cdp.send("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
    path.write_bytes(base64.b64decode(data))


@pytest.mark.browser
def test_every_page_renders_offline_in_a_browser(chromium, built_book, server, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = [p for p in _pages(built_book) if p != "index.html"]  # index.html only redirects (see below)
    assert {"intro.html", "errata.html", "reproduction.html", "chapters/04_xft.html"} <= set(pages)
    failures, summary = [], {}
    for page in pages:
        report, problems = _load(browser, server + page)
        bad_imgs = [i["src"] for i in report["images"] if not i["ok"]]
        problems += [f"image not loaded: {s}" for s in bad_imgs]
        problems += [f"formula not typeset: {t!r}" for t in report["untypeset"]]
        problems += [f"MathJax error: {t!r}" for t in report["mjxErrors"]]
        problems += [f"undefined TeX macro: {t!r}" for t in report["undefinedMacros"]]
        problems += [f"raw TeX in the text: {m.group(0)!r}" for m in RAW_TEX.finditer(report["text"])]
        if report["overflowX"] > 1:
            problems.append(f"page is {report['overflowX']} px wider than the 1280 px window")
        problems += [f"display formula wider than its column (scrolls sideways at 1280 px): {t!r}"
                     for t in report["wideFormulas"]]
        if report["math"] and not report["mjx"]:
            problems.append(f"{report['math']} formulas but no MathJax output")
        problems = list(dict.fromkeys(problems))  # each problem once, in order
        summary[page] = {"images": len(report["images"]), "formulas": report["math"],
                         "typeset": report["mjx"], "wide_formulas": report["wideFormulas"], "problems": problems}
        failures += [f"{page}: {p}" for p in problems]
        if page in SCREENSHOTS:
            name = SCREENSHOTS[page]
            _screenshot(browser, ARTIFACTS / f"{name}.png")
            _screenshot(browser, ARTIFACTS / f"{name}-full.png", height=min(report["height"], 8000))
    (ARTIFACTS / "browser-report.json").write_text(json.dumps(summary, indent=1))
    assert not failures, "\n".join(failures)
    for name in SCREENSHOTS.values():
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000


@pytest.mark.browser
def test_every_table_of_contents_link_answers_200(chromium, built_book, server, browser):
    browser.events.clear()
    browser.send("Page.navigate", url=server + "index.html")  # it redirects to the landing page
    end, where = time.monotonic() + PAGE_TIMEOUT, None
    while time.monotonic() < end:
        try:
            where = browser.evaluate("document.readyState === 'complete' ? location.pathname : null")
        except RuntimeError:  # the page navigated while we asked
            where = None
        if where == "/intro.html":
            break
        browser.pump(0.2)
    assert where == "/intro.html", f"index.html did not lead to the landing page (at {where!r})"
    links = sorted(set(browser.evaluate(_TOC_LINKS_JS)))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    opener = _no_proxy_opener()
    targets = {urllib.parse.urldefrag(u).url for u in links}
    for f in files:
        assert server + f + ".html" in targets, f"_toc.yml entry {f} is not linked from the landing page"
    failures = []
    for u in sorted(targets):
        assert u.startswith(server), f"table of contents links off the book: {u}"
        try:
            status = opener.open(u, timeout=30).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        if status != 200:
            failures.append(f"{u}: HTTP {status}")
    assert not failures, "\n".join(failures)


class _Links(html.parser.HTMLParser):
    """Collects ids and the local references (href/src) of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.script_urls: list[str] = []  # addresses named by inline executable scripts
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self._in_script = (a.get("type") or "text/javascript") in ("text/javascript", "module")
        for key in ("id", "name") if tag != "meta" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.refs.append((tag, key, a[key]))
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "refresh":
            target = (a.get("content") or "").partition("url=")[2]
            if target:
                self.refs.append((tag, "refresh", target))

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_urls += re.findall(r"(?:https?:|wss?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'`]*", data)


@pytest.mark.browser
def test_local_links_and_anchors_resolve_and_nothing_loads_from_another_host(built_book):
    parsed = {}
    for page in _pages(built_book):
        p = _Links()
        p.feed((built_book / page).read_text(encoding="utf-8"))
        parsed[page] = p
    broken, external = [], []
    for page, p in parsed.items():
        for tag, attr, value in p.refs:
            u = urllib.parse.urlsplit(value)
            if u.scheme in ("mailto", "data", "javascript") or value in ("", "#"):
                continue
            if u.scheme or value.startswith("//"):
                if tag != "a":  # a plain hyperlink (DOI, ...) is fine; a loaded resource is not
                    external.append(f"{page}: <{tag} {attr}={value!r}>")
                continue
            target = (built_book / page).parent / urllib.parse.unquote(u.path) if u.path else built_book / page
            target = target.resolve()
            rel = target.relative_to(built_book.resolve()).as_posix() if target.is_relative_to(built_book.resolve()) else None
            if rel is None or not target.exists():
                broken.append(f"{page}: {value!r} -> missing file")
                continue
            if target.is_dir():
                target = target / "index.html"
                rel = (Path(rel) / "index.html").as_posix()
            if u.fragment and rel in parsed and urllib.parse.unquote(u.fragment) not in parsed[rel].ids:
                broken.append(f"{page}: {value!r} -> no id {u.fragment!r} in {rel}")
    external += [f"{page}: inline script names {u}" for page, p in parsed.items() for u in p.script_urls]
    assert not external, "resources loaded from another host:\n" + "\n".join(external)
    assert not broken, "broken local links:\n" + "\n".join(broken)
    assert parsed["index.html"].refs and any(a == "refresh" and v == "intro.html" for _, a, v in parsed["index.html"].refs)


@pytest.mark.browser
def test_mathjax_is_served_from_the_build(built_book):
    intro = (built_book / "intro.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', intro, flags=re.I)
    assert scripts == [s for s in scripts if s.startswith("_static/mathjax/tex-chtml.js")] and len(scripts) == 1, scripts
    fonts = list((built_book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert len(fonts) >= 20
    assert (built_book / "_static" / "mathjax" / "input" / "tex" / "extensions" / "ams.js").is_file()


@pytest.mark.browser
def test_bibliography_is_labelled_author_year(built_book):
    page = (built_book / "bibliography.html").read_text(encoding="utf-8")
    labels = [html.unescape(re.sub(r"<[^>]+>", "", m)).strip("[]")
              for m in re.findall(r'<span class="label">(.*?)</span></span>', page)]
    assert "Salazar 2017" in labels and "Jarzynski & Wójcik 2004" in labels, labels
    assert all(re.fullmatch(r".+ (\d{4}[a-z]?|n\.d\.)", lab) for lab in labels), labels
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    assert len(labels) == len(re.findall(r"^@\w+\{", bib, flags=re.M))  # every entry listed (:all:)
