"""Run ``uv pip <command>`` on this venv with the machine's pip configuration carried over.

``make install`` installs the lock with uv (``INSTALLER=uv``, the default): it resolves and unpacks
the ~230 pinned packages in parallel and byte-compiles them on all cores (41-42 s here against
pip's 110-113 s, the same versions). uv reads no pip configuration, though, and a machine's pip
configuration can be what makes an install work there: a local wheel folder (``find-links``), a
mirror (``index-url``, ``extra-index-url``), a CA bundle (``cert``), a global ``constraint``. This
script reads pip's configuration the way pip merges it (``pip config list``: files, then
``PIP_*`` variables over them) and hands each setting to uv under uv's name for it. Like pip, uv
is told to take the best match across all indexes (``--index-strategy unsafe-best-match``).

Usage (what the Makefile runs): ``.venv/bin/python scripts/uv_pip.py install -r requirements.txt
-c constraints.txt``; ``--print`` shows the uv command instead of running it. ``make install
INSTALLER=pip`` installs with pip instead, without this script.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

# pip's keys that change what an install fetches, and uv's option for each; multi-valued keys
# hold whitespace-separated values in pip's configuration.
OPTIONS = {
    "index-url": ("--index-url", False),
    "extra-index-url": ("--extra-index-url", True),
    "find-links": ("--find-links", True),
    "constraint": ("--constraint", True),
}
# Keys that do not change which files an install takes, or that the environment carries below.
NOT_FETCHING = {
    "cert",
    "default-timeout",
    "timeout",
    "disable-pip-version-check",
    "no-cache-dir",
    "progress-bar",
    "quiet",
    "verbose",
    "root-user-action",
    "require-virtualenv",
    "no-warn-script-location",
    "break-system-packages",
}
# pip config list prints the files' merged settings as section.key='value' and PIP_* variables as
# :env:.key; pip applies [global], then [install], then the variables, each over the one before.
ORDER = ["global", "install", ":env:"]


def pip_configuration(listing: str) -> dict[str, str]:
    """The value pip's install takes for each key, from ``pip config list`` output."""
    ranked: list[tuple[int, str, str]] = []
    for line in listing.splitlines():
        name, sep, value = line.partition("=")
        section, dot, key = name.rpartition(".")
        if sep and dot and section in ORDER:  # [download], [wheel]: other commands' sections
            ranked.append((ORDER.index(section), key, value.strip().strip("'\"")))
    return {key: value for _, key, value in sorted(ranked, key=lambda r: r[0])}


def uv_arguments(config: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv options and environment variables that carry ``config`` over; unknown keys are an error."""
    args = ["--index-strategy", "unsafe-best-match"]
    env: dict[str, str] = {}
    for key, value in config.items():
        if key in OPTIONS:
            option, many = OPTIONS[key]
            for item in value.split() if many else [value]:
                args += [option, item]
        elif key == "no-index" and value.lower() in ("1", "true", "yes", "on"):
            args.append("--no-index")
        elif key == "cert":
            env["SSL_CERT_FILE"] = value
        elif key in ("default-timeout", "timeout"):
            env["UV_HTTP_TIMEOUT"] = value
        elif key not in NOT_FETCHING:
            sys.exit(
                f"scripts/uv_pip.py: pip's configuration sets {key!r}, which this script cannot hand "
                "to uv; install with pip instead: make install INSTALLER=pip"
            )
    return args, env


def command(argv: list[str], listing: str) -> tuple[list[str], dict[str, str]]:
    """The uv command line for ``uv pip <argv>`` on this interpreter, and its extra environment."""
    if not argv or argv[0] not in ("install", "uninstall"):
        sys.exit("usage: python scripts/uv_pip.py install|uninstall [pip-style arguments] [--print]")
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        sys.exit(f"scripts/uv_pip.py: no uv beside {sys.executable}; make install puts it there")
    sub, rest = argv[0], argv[1:]
    cmd = [str(uv), "pip", sub, "--python", sys.executable]
    env: dict[str, str] = {}
    if sub == "install":
        extra, env = uv_arguments(pip_configuration(listing))
        cmd += ["--compile-bytecode"] + extra
    else:
        rest = [a for a in rest if a not in ("-y", "--yes")]  # uv never asks
    return cmd + rest, env


def main(argv: list[str]) -> int:
    show = "--print" in argv
    argv = [a for a in argv if a != "--print"]
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    cmd, env = command(argv, listing)
    if show:
        print(" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()), shlex.join(cmd))
        return 0
    return subprocess.run(cmd, env={**os.environ, **env}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
