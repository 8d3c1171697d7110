"""`make lab` in a real browser: JupyterLab opens lab 1 with the kernel of .venv, and its first code
cells run (the parameters, then the setup cell that imports sdft_lib and checks the run's inputs).

Run by ``make test-browser`` with the book's browser test; skips without Chromium unless
``SDFT_REQUIRE_BROWSER=1``.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    args = (
        f"--no-browser --ServerApp.token={token} --ServerApp.ip=127.0.0.1 --ServerApp.allow_root=True "
        "--LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"
    )
    # JupyterLab settings of the test's own: no autosave (the lab's file is never written) and no news
    settings = tmp_path_factory.mktemp("lab-settings")
    (settings / "@jupyterlab" / "docmanager-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings").write_text(
        '{"autosave": false}'
    )
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false"}'
    )
    env = {
        **os.environ,
        "VENV": str(Path(sys.executable).parents[1]),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
    }
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_PORT={port}", f"LAB_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("make lab exited: " + proc.stdout.read()[-3000:])
            time.sleep(0.5)
    else:
        pytest.fail("JupyterLab did not answer within 120 s")
    yield url, token
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_make_lab_opens_a_lab_and_runs_its_first_cells(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    url, token = lab
    before = (ROOT / "notebooks" / "lab1_gap.ipynb").read_bytes()
    browser.get(f"{url}/lab/tree/notebooks/lab1_gap.ipynb?token={token}")
    wait = WebDriverWait(browser, 180)
    # the notebook is loaded (its code cells are rendered) and its kernel has started and is idle
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")) >= 2)
    wait.until(lambda d: "| Idle" in d.find_element(By.CSS_SELECTOR, "#jp-main-statusbar").text)
    code = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
    Path(ROOT / "_build" / "screenshots").mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ROOT / "_build" / "screenshots" / "make-lab-opened.png"))
    assert len(code) >= 2, f"{len(code)} code cells rendered"
    for i in range(2):  # the parameters cell, then the setup cell (imports sdft_lib, checks the inputs)
        code[i].find_element(By.CSS_SELECTOR, ".jp-InputArea-editor").click()
        code[i].find_element(By.CSS_SELECTOR, ".cm-content").send_keys(Keys.SHIFT, Keys.ENTER)
        wait.until(
            lambda d, i=i: (
                code[i].find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text.strip().startswith("[")
                and "*" not in code[i].find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text
            )
        )
    prompts = [c.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").text.strip() for c in code[:2]]
    assert prompts == ["[1]:", "[2]:"], prompts
    outputs = " ".join(o.text for o in code[1].find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))
    assert "Traceback" not in outputs and "Error" not in outputs, outputs
    Path(ROOT / "_build" / "screenshots").mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ROOT / "_build" / "screenshots" / "make-lab.png"))
    assert before == (ROOT / "notebooks" / "lab1_gap.ipynb").read_bytes()  # nothing saved into the lab
