"""Every notebook has its MyST Markdown text twin in notebooks/text/ (jupytext.toml), and the two
hold the same cells: reviews can read the text. `make sync` brings a pair in step."""

import json
from pathlib import Path

import jupytext
import pytest
from jupytext.config import load_jupytext_configuration_file

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))


def cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_notebook_has_exactly_one_text_twin():
    texts = sorted((ROOT / "notebooks" / "text").glob("*.md"))
    assert [p.stem for p in texts] == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_pair_is_in_sync(path):
    twin = ROOT / "notebooks" / "text" / f"{path.stem}.md"
    nb = jupytext.read(path)
    assert twin.read_text(encoding="utf-8") == jupytext.writes(nb, fmt="md:myst", config=CONFIG), (
        f"{twin.relative_to(ROOT)} is out of step with {path.name}: run make sync"
    )
    assert cells(jupytext.read(twin)) == cells(nb)


def test_a_changed_notebook_is_caught(tmp_path):
    path = NOTEBOOKS[0]
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["cells"][0]["source"] = ["# another title\n"]
    changed = jupytext.reads(json.dumps(raw), fmt="ipynb")
    twin = (ROOT / "notebooks" / "text" / f"{path.stem}.md").read_text(encoding="utf-8")
    assert twin != jupytext.writes(changed, fmt="md:myst", config=CONFIG)


def test_make_sync_leaves_a_synced_pair_unchanged(tmp_path):
    import shutil
    import subprocess
    import sys

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns("data"))
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "notebooks" / "text").glob("*.md")}
    # the command `make sync` runs
    r = subprocess.run(
        [
            str(Path(sys.executable).parent / "jupytext"),
            "--sync",
            *sorted(str(p) for p in (tmp_path / "notebooks").glob("*.ipynb")),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert {p: p.read_bytes() for p in before} == before
