"""The course in a real JupyterLab: every notebook opened in headless Chromium (Debian's
``chromium``, driven by Playwright's Python package), run to the end on the smoke profile.

For each notebook it checks that no cell shows an error, that the "Python 3 (waelib)" kernel
is the one in use, that the mathematics renders (MathJax), that images appear, and that the
training notebooks' progress bars are widgets, not text; it keeps a screenshot of each notebook
(``make browser-test`` keeps them in ``results/course/browser/``, committed, with the checks'
record ``browser_checks.json``).

Marked ``browser``: ``make test`` leaves it out (it takes minutes); ``make browser-test`` and CI's
own step run it. Without Chromium or Playwright it is skipped with the reason.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from waelib.utils import repo_root

pytestmark = pytest.mark.browser

ROOT = repo_root()
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
#: Notebooks that train and so show a progress bar.
TRAINING = ("03_vae", "04_wae_resnet")
KERNEL_NAME = "Python 3 (waelib)"
CELL_TIMEOUT_S = 600


def _chromium() -> str:
    exe = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); "
                    "run `make browser-test` on a machine with it")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright's Python package is missing (pip install playwright)")
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over smoke-profile copies of the notebooks (papermill --prepare-only
    injects ``profile = "smoke"``); the app is exposed so the test can run its commands."""
    exe = _chromium()
    work = tmp_path_factory.mktemp("lab")
    for name in NOTEBOOKS:
        subprocess.run([sys.executable, "-m", "papermill", "--prepare-only", "-p", "profile", "smoke",
                        str(ROOT / "notebooks" / f"{name}.ipynb"), str(work / f"{name}.ipynb")],
                       check=True, capture_output=True)
    port, token = _free_port(), "waelib-browser-test"
    log = work / "jupyterlab.log"
    env = dict(os.environ, MPLBACKEND="module://matplotlib_inline.backend_inline")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True", "--allow-root",
         f"--LabApp.workspaces_dir={work / 'workspaces'}", f"--LabApp.user_settings_dir={work / 'settings'}"],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=str(ROOT / "notebooks"))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 2 minutes:\n" + log.read_text()[-2000:])
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "chromium": exe}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            server.kill()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        try:
            b = pw.chromium.launch(executable_path=lab["chromium"], headless=True,
                                   args=["--no-sandbox", "--disable-gpu"])
        except Exception as err:  # a browser that cannot run on this machine: skipped, with why
            pytest.skip(f"chromium ({lab['chromium']}) could not start here: {err}")
        yield b
        b.close()


def _screenshot_dir() -> Path:
    out = Path(os.environ.get("WAELIB_SCREENSHOTS") or (ROOT / "runs" / "browser"))
    out.mkdir(parents=True, exist_ok=True)
    return out


_RUN_ALL = """async () => {
  const app = window.jupyterapp;
  await app.restored;
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
}"""

_OUTPUTS = """() => {
  const model = window.jupyterapp.shell.currentWidget.content.model;
  let errors = 0, images = 0;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type !== 'code') continue;
    for (let j = 0; j < cell.outputs.length; j++) {
      const out = cell.outputs.get(j);
      if (out.type === 'error') errors++;
      if (out.data && out.data['image/png']) images++;
    }
  }
  return {errors, images};
}"""

_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const prompts = [...document.querySelectorAll('.jp-InputArea-prompt')].map(e => e.textContent.trim());
  return {status: kernel ? kernel.status : 'none',
          kernel_display: panel.sessionContext.kernelDisplayName,
          busy: prompts.filter(p => p.includes('*')).length,
          unrun: prompts.filter(p => p === '[ ]:').length};
}"""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab_and_shows_what_it_should(lab, browser, name):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    # a workspace of its own (``?reset``): JupyterLab would otherwise reopen the tabs of the last page
    page.goto(f"{lab['url']}/lab/workspaces/{name}/tree/{name}.ipynb?reset&token={lab['token']}",
              wait_until="domcontentloaded")
    page.wait_for_function(f"() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                           f"window.jupyterapp.shell.currentWidget.title.label === '{name}.ipynb'", timeout=120_000)
    page.evaluate(_RUN_ALL)
    deadline, state = time.time() + CELL_TIMEOUT_S, {}
    time.sleep(2)
    while time.time() < deadline:
        state = page.evaluate(_STATE)
        if state["status"] == "idle" and state["busy"] == 0:
            break
        time.sleep(1)
    else:
        pytest.fail(f"{name}: still running after {CELL_TIMEOUT_S} s: {state}")
    page.wait_for_timeout(1500)                       # MathJax and images settle
    news = page.get_by_role("button", name="No")      # JupyterLab's "get notified of news?" toast
    if news.count():
        news.first.click()
    outputs = page.evaluate(_OUTPUTS)              # from the notebook's model: every cell, on screen or not
    checks = {
        "errors": outputs["errors"],
        "images_in_outputs": outputs["images"],
        "kernel": state["kernel_display"],
        "math": page.locator("mjx-container").count(),
        "images": page.locator(".jp-RenderedImage img").count(),     # rendered in the page
        "widgets": page.locator(".jp-OutputArea-output .widget-progress, "
                                ".jp-OutputArea-output .jupyter-widgets").count(),
        "text_bars": page.locator(".jp-RenderedText", has_text="%|").count(),
    }
    shot = _screenshot_dir() / f"{name}.png"
    page.screenshot(path=str(shot), full_page=False)
    record = _screenshot_dir() / "browser_checks.json"
    done = json.loads(record.read_text()) if record.is_file() else {}
    done[name] = dict(checks, screenshot=shot.name, date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    record.write_text(json.dumps(done, indent=1, sort_keys=True) + "\n")
    page.close()
    assert checks["errors"] == 0, f"{name}: {checks['errors']} cell(s) show an error"
    assert checks["kernel"] == KERNEL_NAME, f"{name}: kernel {checks['kernel']!r}"
    assert checks["math"] > 0, f"{name}: no rendered mathematics"
    assert checks["images_in_outputs"] > 0 and checks["images"] > 0, f"{name}: no image output rendered"
    if name in TRAINING:
        assert checks["widgets"] > 0 and checks["text_bars"] == 0, f"{name}: progress bar not a widget: {checks}"
