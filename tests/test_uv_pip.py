"""The lock's installer: scripts/uv_pip.py (uv with pip's configuration) and make's INSTALLER choice.

``make test`` itself installs with it (its first prerequisite), so the install path is run on every
fresh clone; these tests pin down the translation and the one-line errors.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("uv_pip", ROOT / "scripts" / "uv_pip.py")
uv_pip = importlib.util.module_from_spec(spec)
spec.loader.exec_module(uv_pip)

LISTING = """\
:env:.find-links='/env/wheels'
:env:.default-timeout='60'
download.index-url='https://ignored.example/simple'
global.cert='/etc/ssl/certs/bundle.pem'
global.constraint='/etc/pip/caps.txt'
global.extra-index-url='file:///mirror/a/simple file:///mirror/b/simple'
global.find-links='/global/wheels'
global.index-url='https://global.example/simple'
install.index-url='https://install.example/simple'
"""


def test_pip_configuration_takes_the_value_pip_would():
    """[install] over [global], PIP_* variables over both; other commands' sections are not read."""
    config = uv_pip.pip_configuration(LISTING)
    assert config == {
        "find-links": "/env/wheels",
        "default-timeout": "60",
        "cert": "/etc/ssl/certs/bundle.pem",
        "constraint": "/etc/pip/caps.txt",
        "extra-index-url": "file:///mirror/a/simple file:///mirror/b/simple",
        "index-url": "https://install.example/simple",
    }


def test_each_setting_reaches_uv_under_uvs_name():
    args, env = uv_pip.uv_arguments(uv_pip.pip_configuration(LISTING))
    pairs = list(zip(args[::2], args[1::2]))
    assert pairs[0] == ("--index-strategy", "unsafe-best-match")
    assert set(pairs[1:]) == {
        ("--find-links", "/env/wheels"),
        ("--constraint", "/etc/pip/caps.txt"),
        ("--extra-index-url", "file:///mirror/a/simple"),
        ("--extra-index-url", "file:///mirror/b/simple"),
        ("--index-url", "https://install.example/simple"),
    }
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/bundle.pem", "UV_HTTP_TIMEOUT": "60"}
    assert uv_pip.uv_arguments({"no-index": "true"})[0][-1] == "--no-index"


def test_a_setting_uv_cannot_take_stops_with_one_line_naming_it():
    with pytest.raises(SystemExit) as err:
        uv_pip.uv_arguments({"trusted-host": "mirror.example"})
    message = str(err.value)
    assert "'trusted-host'" in message and "INSTALLER=pip" in message and "\n" not in message


def test_the_command_runs_uv_on_this_interpreter(tmp_path, monkeypatch):
    fake_python = tmp_path / "python"
    (tmp_path / "uv").touch()
    monkeypatch.setattr(sys, "executable", str(fake_python))
    cmd, env = uv_pip.command(["install", "-q", "-r", "requirements.txt"], "global.find-links='/w'\n")
    assert cmd[:5] == [str(tmp_path / "uv"), "pip", "install", "--python", str(fake_python)]
    assert "--compile-bytecode" in cmd and cmd[-3:] == ["-q", "-r", "requirements.txt"]
    at = cmd.index("--find-links")
    assert cmd[at : at + 2] == ["--find-links", "/w"]
    cmd, env = uv_pip.command(["uninstall", "-q", "-y", "rfc3987-syntax"], "")
    assert cmd[2:] == ["uninstall", "--python", str(fake_python), "-q", "rfc3987-syntax"] and env == {}
    (tmp_path / "uv").unlink()
    with pytest.raises(SystemExit, match="no uv beside"):
        uv_pip.command(["install", "x"], "")


def _make_n(*args):
    return subprocess.run(
        ["make", "-n", "install", "VENV=/nonexistent/venv", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_installer_picks_uv_or_pip_and_anything_else_is_a_one_line_error():
    uv = _make_n()
    assert uv.returncode == 0 and "scripts/uv_pip.py install -q -r requirements.txt" in uv.stdout
    pip = _make_n("INSTALLER=pip")
    assert pip.returncode == 0 and "uv" not in pip.stdout
    assert "-m pip install -q -r requirements.txt -c constraints.txt" in pip.stdout
    bad = _make_n("INSTALLER=conda")
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "INSTALLER=conda" in lines[0] and "uv (default), pip" in lines[0]


def test_pip_resolves_the_lock_to_what_uv_installed():
    """INSTALLER=pip's install line, as a dry run on the venv uv made: nothing to change, and nothing
    to add but the one package make install removes afterwards (IMPORT_TIME_ONLY)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "-r",
            "requirements.txt",
            "-c",
            "constraints.txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    would = [line for line in proc.stdout.splitlines() if line.startswith("Would install")]
    assert would == ["Would install rfc3987-syntax-1.1.0"], proc.stdout[-2000:]
    assert "Requirement already satisfied: torch==2.13.0" in proc.stdout
