"""The course as a student explores it: JupyterLab (what ``make lab`` starts), a chapter run, its explorer moved.

``test_explorer_in_jupyterlab`` starts JupyterLab from this environment on 127.0.0.1 (a free port, a
token, config/data/runtime/settings/workspace folders in a temporary directory, the chapter copied
there: nothing in the repository changes, nothing is saved), opens the chapter in headless Chromium
(driven over the DevTools protocol like ``tests/test_book.py``, every other host unreachable), runs all
cells with JupyterLab's own ``notebook:run-all-cells`` command, then

* checks that no cell raised (no error output, no traceback on stderr), that the kernel started by the
  Jupyter server sees ``rbmlib.plotting.interactive()`` True (the server sets ``JPY_SESSION_NAME``)
  and runs this environment's Python;
* checks that the Markdown cells are rendered as MyST by jupyterlab-myst: no ``(label)=`` target,
  ``{cite}``/``{ref}`` role or directive fence left as raw text;
* finds the explorer's widget views in the page (sliders, their readouts and the output image),
  checks that no description is cut and that the slider tracks are wide enough to drag;
* drags the first slider with the mouse (press, move, release, as a student does) and checks that the
  readout and the output image change;
* fails on any "Error displaying widget", traceback, uncaught exception or console error.

Screenshots are kept in ``_build/test-artifacts/``: ``lab-<chapter>-myst.png`` (the chapter's top as
JupyterLab renders it), ``lab-<chapter>-before.png`` and ``lab-<chapter>-after.png`` (the explorer before
and after the move), with ``lab-<chapter>-report.json`` and the server's ``jupyterlab.log``. Chapter 1
(the beta slider) is tested: 1.5-2 minutes on a busy 2-core machine, most of it running the chapter.
``LAB_TEST_CHAPTERS=03_crooks_second_law`` (or ``05_contrastive_divergence``) tests another explorer.

Chromium as for the book's browser test: missing, the test fails (never skips) with the same message.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from test_book import (ARTIFACTS, CDP, _find_chromium, _no_proxy_opener, _screenshot, console_problems,
                       headless_chromium)

ROOT = Path(__file__).resolve().parent.parent
SERVER_TIMEOUT = 120.0
RUN_TIMEOUT = 300.0          # all cells of the chapter
REDRAW_TIMEOUT = 120.0       # one redraw of the explorer after the slider moved
MIN_TRACK_PX = 300           # a slider track narrower than this is coarse to drag

# chapter -> the call that identifies its explorer cell
EXPLORERS = {"01_conditionals": "temperature_explorer(", "03_crooks_second_law": "work_explorer(",
             "05_contrastive_divergence": "learning_explorer("}
# Chapter 1 (the beta slider) keeps the suite fast; LAB_TEST_CHAPTERS=01_conditionals,03_crooks_second_law
# (comma-separated names of EXPLORERS) tests others.
CHAPTERS = {name: EXPLORERS[name] for name in
            os.environ.get("LAB_TEST_CHAPTERS", "01_conditionals").replace(" ", "").split(",") if name}

# Appended to the temporary copy of the chapter: what the kernel started by the server sees.
CHECK_CELL = ("import os, sys\nimport rbmlib.plotting\n"
              "print('lab-check', rbmlib.plotting.interactive(), bool(os.environ.get('JPY_SESSION_NAME')), "
              "sys.prefix)")

# jupyterlab-myst resolves {ref} targets within one notebook only, and logs each target it cannot
# resolve with console.error. Two cases are harmless and accepted:
# * a label of another chapter: drawn as the label's name with a warning sign (the book resolves it);
# * a forward reference to a label of this chapter: logged while the cells are still being parsed one by
#   one, then drawn as a link once the later cell is known; accepted only if the page ends up with
#   that link (a[href="#label"]).
# A label defined nowhere, or one of this chapter that never resolves, still fails the test.
XREF_MISSING = re.compile(r"Cross reference target was not found: ([\w.-]+)")


def _labels(path: Path) -> set[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return {m for c in nb["cells"] if c["cell_type"] == "markdown"
            for m in re.findall(r"^\(([\w.-]+)\)=\s*$", "".join(c["source"]), flags=re.M)}


# =============================================================================================
# JupyterLab server
# =============================================================================================
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium() -> str:
    return _find_chromium()


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):  # chromium first: no server when the browser is missing
    """JupyterLab as ``make lab`` starts it, on a temporary copy of the chapters; yields (url, token, root)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "course"
    (root / "chapters").mkdir(parents=True)
    for name in CHAPTERS:
        nb = json.loads((ROOT / "chapters" / f"{name}.ipynb").read_text(encoding="utf-8"))
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "lab-check",
                            "metadata": {}, "outputs": [], "source": CHECK_CELL})
        (root / "chapters" / f"{name}.ipynb").write_text(json.dumps(nb, indent=1), encoding="utf-8")
    # Jupyter's and IPython's state, and the claim records the chapters write (rbmlib.report), all in tmp
    dirs = {k: tmp / k.lower() for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                                         "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR",
                                         "RBMLIB_CLAIMS_DIR")}
    for d in dirs.values():
        d.mkdir()
    # No news/update toasts over the page (the server would not reach the network anyway).
    apputils = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = {k: v for k, v in os.environ.items() if k not in ("RBMLIB_INTERACTIVE", "JPY_SESSION_NAME")}
    env.update({k: str(v) for k, v in dirs.items()})
    port, token = _free_port(), secrets.token_hex(16)
    log_path = tmp / "jupyterlab.log"
    # The options of `make lab` (see the Makefile), plus what a test needs: no browser, a fixed port
    # and token, the application object exposed to the page (to run JupyterLab's own commands).
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    opener = _no_proxy_opener()
    end = time.monotonic() + SERVER_TIMEOUT
    while True:
        try:
            if opener.open(f"{url}/api/status?token={token}", timeout=5).status == 200:
                break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-4000:]}", pytrace=False)
        time.sleep(0.5)
    try:
        yield url, token, root, log_path
    finally:
        try:  # shut down kernels and server cleanly
            req = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST", data=b"")
            opener.open(req, timeout=10)
            proc.wait(timeout=30)
        except Exception:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log_path, ARTIFACTS / "jupyterlab.log")


@pytest.fixture(scope="module")
def browser(chromium, lab):
    with headless_chromium(chromium, prefix="lab-chromium-") as cdp:
        cdp.send("Emulation.setFocusEmulationEnabled", enabled=True)  # the page has the focus, as on a desktop
        yield cdp


# =============================================================================================
# Page scripts (JupyterLab's application object is window.jupyterapp)
# =============================================================================================
# The notebook panel of the chapter (headless, the page never has the focus that currentWidget follows).
_PANEL = """
function __panel() {
  return [...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext && w.content && w.content.model
                                                                 && w.context.path === window.__labPath);
}
"""
_READY_JS = _PANEL + """
(async () => {
  const app = window.jupyterapp;
  if (!app) return null;
  window.__labPath = %s;
  await app.started; await app.restored;
  const panel = __panel();
  if (!panel) return null;
  app.shell.activateById(panel.id);
  await panel.context.ready; await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? {path: panel.context.path, kernel: kernel.name, status: kernel.status} : null;
})()
"""
_RUN_ALL_JS = _PANEL + """
(() => {
  window.__runAll = {done: false};
  window.jupyterapp.shell.activateById(__panel().id);
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    ok => { window.__runAll = {done: true, ok: ok}; },
    err => { window.__runAll = {done: true, ok: false, error: String(err)}; });
  return true;
})()
"""
_RUN_STATE_JS = _PANEL + """
(() => {
  const panel = __panel();
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {run: window.__runAll, kernel: kernel ? kernel.status : null};
})()
"""
# Outputs of every code cell, from the notebook model: errors, stderr, the lab-check line.
_OUTPUTS_JS = _PANEL + """
(() => {
  const panel = __panel();
  const cells = [...panel.content.model.cells];
  const res = {errors: [], stderr: [], check: null, unexecuted: 0};
  cells.forEach((cell, i) => {
    if (cell.type !== 'code') return;
    if (cell.executionCount === null) res.unexecuted += 1;
    for (let k = 0; k < cell.outputs.length; k++) {
      const o = cell.outputs.get(k).toJSON();
      if (o.output_type === 'error') res.errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream') {
        const text = Array.isArray(o.text) ? o.text.join('') : o.text;
        if (o.name === 'stderr') res.stderr.push(`cell ${i}: ${text.slice(0, 500)}`);
        const m = text.match(/lab-check .*/);
        if (m) res.check = m[0];
      }
    }
  });
  return res;
})()
"""
# The rendered Markdown: which renderer drew it, and any MyST syntax left as raw text.
_MARKDOWN_JS = _PANEL + """
(() => {
  const nb = __panel().content;
  const cells = nb.widgets.filter(w => w.model.type === 'markdown').map(w => w.node);
  // rendered: the source editor hidden; drawn by jupyterlab-myst: a non-empty .myst element
  const rendered = cells.filter(c => c.querySelector('.jp-InputArea-editor.lm-mod-hidden'));
  return {
    cells: cells.length,
    rendered: rendered.length,
    myst: rendered.filter(c => { const m = c.querySelector('.myst'); return m && m.textContent.trim(); }).length,
    text: rendered.map(c => {
      const clone = c.cloneNode(true);
      clone.querySelectorAll('.jp-InputArea-editor, .katex, .MathJax, mjx-container, code, pre').forEach(e => e.remove());
      return clone.textContent;
    }).join('\\n'),
  };
})()
"""
# Bring the explorer cell to the top of the notebook's viewport; return its index.
_SCROLL_JS = _PANEL + """
(async () => {
  const nb = __panel().content;
  const idx = [...nb.model.cells].findIndex(c => c.type === 'code' && c.sharedModel.getSource().includes(%s)
                                                  && c.sharedModel.getSource().includes('display('));
  if (idx < 0) return -1;
  nb.activeCellIndex = idx;
  nb.mode = 'command';
  await nb.scrollToItem(idx, 'start');
  return idx;
})()
"""
# The explorer's widget views in the page: sliders (description, track, handle, readout) and the image.
_EXPLORER_JS = _PANEL + """
(() => {
  const nb = __panel().content;
  const cell = nb.widgets[%d];
  const box = r => { const b = r.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; };
  const sliders = [...cell.node.querySelectorAll('.widget-slider')].map(s => {
    const label = s.querySelector('.widget-label');
    const track = s.querySelector('.noUi-target, .slider-container');
    const handle = s.querySelector('.noUi-handle');
    const readout = s.querySelector('.widget-readout');
    return {
      description: label ? label.textContent : null,
      descriptionCut: label ? label.scrollWidth > label.clientWidth + 1 : null,
      track: track ? box(track) : null,
      handle: handle ? box(handle) : null,
      readout: readout ? readout.textContent.trim() : null,
    };
  });
  const img = cell.node.querySelector('.jp-OutputArea-output img, .widget-output img');
  const cellText = cell.node.innerText;
  return {
    views: cell.node.querySelectorAll('.jupyter-widgets').length,
    sliders: sliders,
    image: img ? {src: img.src.slice(0, 64) + '...' + img.src.length + ':' + img.src.slice(-64),
                  ok: img.complete && img.naturalWidth > 0, box: box(img)} : null,
    cellBox: box(cell.node),
    widgetError: cellText.includes('Error displaying widget'),
    traceback: /Traceback|Error:/.test(cellText),
    // only in outputs: the chapters' own prose may mention the message (the explorer hints do)
    pageWidgetErrors: [...document.querySelectorAll('.jp-OutputArea')]
                        .map(o => o.innerText.split('Error displaying widget').length - 1).reduce((a, b) => a + b, 0),
  };
})()
"""


def _wait(cdp: CDP, js: str, ok, timeout: float, what: str, poll: float = 0.5):
    """Evaluate *js* until ``ok(value)``; return the value (fail with the last one after *timeout*)."""
    end, value = time.monotonic() + timeout, None
    while True:
        try:
            value = cdp.evaluate(js)
        except RuntimeError as exc:  # the page is (re)loading
            value = f"{exc}"
        if ok(value):
            return value
        if time.monotonic() > end:
            pytest.fail(f"{what}: not within {timeout:.0f} s (last state: {value!r})", pytrace=False)
        cdp.pump(poll)


_LINKS_JS = """
[...new Set([...document.querySelectorAll('.jp-MarkdownCell a[href^="#"]')]
             .map(a => decodeURIComponent(a.getAttribute('href').slice(1))))]
"""


def _console_problems(events: list[dict], chapter: str, cdp: CDP | None = None) -> list[str]:
    """Console errors, uncaught exceptions and failed requests seen so far (as in tests/test_book.py).

    Unresolved cross-references are not problems when harmless (see XREF_MISSING); *cdp* gives the
    page's in-notebook links for the forward references.
    """
    others = set().union(*(_labels(p) for p in (ROOT / "chapters").glob("*.ipynb") if p.stem != chapter))
    try:
        linked = set(cdp.evaluate(_LINKS_JS)) if cdp is not None else set()
    except Exception:
        linked = set()
    others |= linked & _labels(ROOT / "chapters" / f"{chapter}.ipynb")
    problems = console_problems(events) + [
        f"HTTP {e['params']['response']['status']} for {e['params']['response']['url'].split('?')[0]}"
        for e in events if e.get("method") == "Network.responseReceived" and e["params"]["response"]["status"] >= 400]
    kept = []
    for pr in dict.fromkeys(problems):
        if pr.startswith("console.error: ") and XREF_MISSING.search(pr):
            lines = pr.removeprefix("console.error: ").splitlines()
            if all((m := XREF_MISSING.fullmatch(ln.strip())) and m.group(1) in others for ln in lines):
                continue
        kept.append(pr)
    return kept


def _drag(cdp: CDP, x0: float, y0: float, x1: float, steps: int = 12) -> None:
    """Press the left button at (x0, y0), move horizontally to x1, release: a student's drag."""
    mouse = lambda kind, x, **kw: cdp.send("Input.dispatchMouseEvent", type=kind, x=x, y=y0, button="left",  # noqa: E731
                                           **kw)
    mouse("mouseMoved", x0, buttons=0)
    mouse("mousePressed", x0, buttons=1, clickCount=1)
    for k in range(1, steps + 1):
        mouse("mouseMoved", x0 + (x1 - x0) * k / steps, buttons=1)
        cdp.pump(0.03)
    mouse("mouseReleased", x1, buttons=0, clickCount=1)


# MyST syntax that must not survive as text in a rendered Markdown cell
RAW_MYST = re.compile(r"^\s*\([\w-]+\)=\s*$|\{(?:cite|ref|numref|eq|doc|math)(?::\w+)?\}`|^\s*(?:```|:::)\{\w", re.M)


@pytest.mark.browser
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_explorer_in_jupyterlab(chapter, lab, browser):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"lab-{chapter}-failure.png").unlink(missing_ok=True)  # from an earlier run
    report: dict = {"chapter": chapter}
    try:
        _explore(chapter, lab, browser, report)
    except BaseException:
        _screenshot(browser, ARTIFACTS / f"lab-{chapter}-failure.png")
        report["console_problems"] = _console_problems(browser.events, chapter, browser)
        raise
    finally:
        try:  # leave the page without an "unsaved changes" prompt (nothing is saved)
            browser.evaluate(_PANEL + "(() => { const p = __panel(); if (p) p.context.model.dirty = false; })()")
        except Exception:
            pass
        (ARTIFACTS / f"lab-{chapter}-report.json").write_text(json.dumps(report, indent=1))


def _explore(chapter: str, lab, browser: CDP, report: dict) -> None:
    url, token, root, log_path = lab
    t0 = time.monotonic()
    browser.events.clear()
    browser.send("Page.navigate", url=f"{url}/lab/tree/chapters/{chapter}.ipynb?token={token}")
    ready = _wait(browser, _READY_JS % json.dumps(f"chapters/{chapter}.ipynb"), lambda v: isinstance(v, dict), SERVER_TIMEOUT,
                  f"JupyterLab did not open chapters/{chapter}.ipynb with a kernel")
    report["opened"] = ready

    # --- MyST: Markdown cells rendered by jupyterlab-myst, no raw syntax left
    md = _wait(browser, _MARKDOWN_JS, lambda v: isinstance(v, dict) and v["cells"] and v["rendered"] == v["cells"],
               60, "Markdown cells not all rendered")
    report["markdown"] = {k: md[k] for k in ("cells", "rendered", "myst")}
    browser.pump(1.0)  # fonts and maths settle
    _screenshot(browser, ARTIFACTS / f"lab-{chapter}-myst.png")  # the chapter's top, as JupyterLab renders it
    assert md["myst"] == md["rendered"], f"only {md['myst']} of {md['rendered']} Markdown cells drawn by jupyterlab-myst"
    raw = sorted({m.group(0).strip() for m in RAW_MYST.finditer(md["text"])})
    assert not raw, f"MyST syntax shown as raw text in JupyterLab: {raw}"

    # --- run all cells with JupyterLab's command
    browser.evaluate(_RUN_ALL_JS)
    state = _wait(browser, _RUN_STATE_JS, lambda v: isinstance(v, dict) and v["run"]["done"] and v["kernel"] == "idle",
                  RUN_TIMEOUT, "notebook:run-all-cells did not finish", poll=1.0)
    report["run_all_s"] = round(time.monotonic() - t0, 1)
    outs = browser.evaluate(_OUTPUTS_JS)
    report["outputs"] = outs
    assert state["run"].get("ok") is True and not outs["errors"], f"cells raised: {outs['errors'] or state['run']}"
    assert outs["unexecuted"] == 0, f"{outs['unexecuted']} code cells did not run"
    tracebacks = [s for s in outs["stderr"] if "Traceback" in s]
    assert not tracebacks, "tracebacks on stderr:\n" + "\n".join(tracebacks)
    assert outs["check"] == f"lab-check True True {sys.prefix}", \
        f"the kernel started by JupyterLab should see interactive() True and run {sys.prefix}: {outs['check']!r}"

    # --- the explorer's widget views
    idx = browser.evaluate(_SCROLL_JS % json.dumps(CHAPTERS[chapter]))
    assert idx >= 0, f"no cell displaying {CHAPTERS[chapter]} in {chapter}"
    before = _wait(browser, _EXPLORER_JS % idx,
                   lambda v: isinstance(v, dict) and v["sliders"] and v["image"] and v["image"]["ok"]
                   and all(s["handle"] for s in v["sliders"]),
                   60, "the explorer's sliders and figure did not appear")
    browser.pump(1.0)  # let the layout settle before the screenshot
    before = browser.evaluate(_EXPLORER_JS % idx)
    _screenshot(browser, ARTIFACTS / f"lab-{chapter}-before.png")
    report["before"] = before
    assert not before["widgetError"] and not before["pageWidgetErrors"], "Error displaying widget"
    assert not before["traceback"], "a traceback in the explorer's cell"
    cut = [s["description"] for s in before["sliders"] if s["descriptionCut"]]
    assert not cut, f"slider descriptions cut: {cut}"
    narrow = [(s["description"], round(s["track"]["w"])) for s in before["sliders"] if s["track"]["w"] < MIN_TRACK_PX]
    assert not narrow, f"slider tracks narrower than {MIN_TRACK_PX} px: {narrow}"

    # --- drag the first slider by a quarter of its track and let the explorer redraw
    s0 = before["sliders"][0]
    x0 = s0["handle"]["x"] + s0["handle"]["w"] / 2
    y0 = s0["handle"]["y"] + s0["handle"]["h"] / 2
    _drag(browser, x0, y0, x0 + s0["track"]["w"] / 4)
    changed = lambda v: (isinstance(v, dict) and v["image"] and v["image"]["ok"]  # noqa: E731
                         and v["image"]["src"] != before["image"]["src"]
                         and v["sliders"][0]["readout"] != s0["readout"])
    after = _wait(browser, _EXPLORER_JS % idx, changed, REDRAW_TIMEOUT,
                  "moving the slider did not change its readout and the figure")
    _wait(browser, _RUN_STATE_JS, lambda v: isinstance(v, dict) and v["kernel"] == "idle", REDRAW_TIMEOUT,
          "the kernel did not finish the redraw")
    browser.pump(1.0)
    after = browser.evaluate(_EXPLORER_JS % idx)
    _screenshot(browser, ARTIFACTS / f"lab-{chapter}-after.png")
    report["after"] = after
    report["total_s"] = round(time.monotonic() - t0, 1)
    assert not after["widgetError"] and not after["pageWidgetErrors"], "Error displaying widget after the move"
    assert not after["traceback"], "a traceback in the explorer's cell after the move"

    # --- nothing went wrong in the page meanwhile
    outs = browser.evaluate(_OUTPUTS_JS)
    assert not outs["errors"], f"cells raised after the move: {outs['errors']}"
    problems = _console_problems(browser.events, chapter, browser)
    report["console_problems"] = problems
    assert not problems, "\n".join(problems)
    for name in ("before", "after"):
        assert (ARTIFACTS / f"lab-{chapter}-{name}.png").stat().st_size > 10_000
