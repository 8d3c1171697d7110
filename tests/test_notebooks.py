"""Smoke runs of every notebook through papermill on the smallest profile, and bad parameters."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) + sorted(
    (ROOT / "notebooks").glob("lab*.ipynb")
)

pytestmark = pytest.mark.slow


def run(nb: Path, out: Path, **params):
    import papermill as pm

    return pm.execute_notebook(
        str(nb),
        str(out),
        parameters=params,
        kernel_name="python3",
        cwd=str(ROOT),
        progress_bar=False,
        log_output=False,
    )


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.fixture(scope="module")
def smoke_run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("smoke-run")


def smoke_params(nb: Path, smoke_run_dir: Path, tmp_path: Path, request=None) -> dict:
    """The smoke profile; lab 5 (your own data) uses its own, with its own run folder and the smoke
    run's seed model; the real-model chapter runs the real model (``smollm2-smoke``: a few examples,
    prompts and new tokens) on the fixture data, and compares with the smoke run's teaching world."""
    if nb.stem == "08_real_chat_model":
        from conftest import FIXTURE_DATA

        if request is not None:
            request.getfixturevalue("smollm2_dir")  # the converted model (make real-model), built once
        return {
            "profile": "smollm2-smoke",
            "run_dir": str(tmp_path / "smollm2"),
            "data_dir": str(FIXTURE_DATA),
            "teaching_profile": "smoke",
            "teaching_run_dir": str(smoke_run_dir),
        }
    if nb.stem == "lab5_own_data":
        return {
            "profile": "own-data-smoke",
            "run_dir": str(tmp_path / "own-data"),
            "teaching_world_dir": str(smoke_run_dir / "teaching_world"),
        }
    if nb.stem == "07_frontier":  # its runs are built side by side in two workers (sdft_lib.parallel)
        return {"profile": "smoke", "run_dir": str(smoke_run_dir), "parallel_runs": 2}
    return {"profile": "smoke", "run_dir": str(smoke_run_dir)}


# What each smoke-run notebook glued ({notebook: {key: text}}), for checks across chapters below
GLUED: dict[str, dict[str, str]] = {}


def glued(executed: dict) -> dict[str, str]:
    """The texts a notebook glued (myst-nb's ``glue``): its Markdown, else its plain text."""
    out = {}
    for c in executed["cells"]:
        for o in c.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if meta:
                data = o["data"]
                text = data.get(
                    meta["mime_prefix"] + "text/markdown", data.get(meta["mime_prefix"] + "text/plain")
                )
                out[meta["name"]] = "".join(text) if isinstance(text, list) else text
    return out


RERUN_CONFIG = (
    "# the config cell run again at the end, as a JupyterLab user re-runs it\n"
    "from sdft_lib.config import config_from_namespace as _again\n"
    "assert _again(globals()) == cfg, 'the config changed on a re-run of the first cell'"
)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_smoke_profile(nb, smoke_run_dir, tmp_path, request):
    """Every notebook runs; at its end, building the config again from its globals (what re-running
    its first cells in JupyterLab does) gives the config it ran with, whatever it assigned since."""
    import nbformat

    book = nbformat.read(str(nb), as_version=4)
    book.cells.append(nbformat.v4.new_code_cell(RERUN_CONFIG))
    src = tmp_path / "src" / nb.name
    src.parent.mkdir()
    nbformat.write(book, str(src))
    out = tmp_path / nb.name
    params = smoke_params(nb, smoke_run_dir, tmp_path, request)
    run(src, out, **params)
    executed = json.loads(out.read_text())
    errors = [
        o
        for c in executed["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors
    assert executed["metadata"]["papermill"]["parameters"]["profile"] == params["profile"]
    # What the rendered page would show a reader: no progress bar, no warning (the run folder here is a
    # temporary one, so machine paths are checked on the built book, by tests/browser).
    from sdft_lib.book.status import notebook_output_defects

    assert not notebook_output_defects(out, ("progress bar", "warning", "stderr"))
    GLUED[nb.stem] = glued(executed)


def test_chapters_that_state_the_verdict_state_the_same_one():
    """Chapters 4, 5 and 7 each call ``verdict.sdft_vs_sft`` on the same sweep: one verdict, in the
    same words (run after the smoke runs above, in this file's order)."""
    need = ("04_evaluation", "05_distribution_gap", "07_frontier")
    if not all(n in GLUED for n in need):
        pytest.skip("runs with the smoke runs of chapters 4, 5 and 7")
    words = {
        "04_evaluation": GLUED["04_evaluation"]["verdict_sdft_sft"],
        "05_distribution_gap": GLUED["05_distribution_gap"]["gap_verdict"],
        "07_frontier": GLUED["07_frontier"]["fr_verdict"],
    }
    assert len(set(words.values())) == 1, words
    assert "SDFT" in words["04_evaluation"] and "SFT" in words["04_evaluation"]


def test_rerun_reuses_finished_stages(smoke_run_dir, tmp_path):
    """The second run of the first notebook finds its artifacts and builds nothing."""
    nb = NOTEBOOKS[0]
    out = tmp_path / nb.name
    run(nb, out, profile="smoke", run_dir=str(smoke_run_dir))
    text = out.read_text()
    assert "reusing" in text and "building" not in text


@pytest.mark.parametrize(
    "params, message",
    [
        ({"profile": "no-such-profile"}, "profile='no-such-profile' is not allowed"),
        ({"profile": "smoke", "dataset": "gsm9k"}, "dataset='gsm9k' is not allowed"),
        ({"profile": "smoke", "lora_r": 0}, "lora_r=0 is not allowed"),
        ({"profile": "smoke", "model": "./missing/model/dir"}, "model='./missing/model/dir' is not allowed"),
    ],
)
def test_bad_parameter_stops_the_notebook_in_its_first_cells(params, message, tmp_path):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as err:
        run(NOTEBOOKS[0], tmp_path / "bad.ipynb", run_dir=str(tmp_path / "run"), **params)
    e = err.value
    assert e.ename == "ConfigError" and message in e.evalue and "\n" not in e.evalue
    assert e.exec_count <= 3  # parameters, injected parameters, then the config cell
    assert not (tmp_path / "run").exists()  # nothing was built


def test_config_error_shows_as_one_line_in_the_notebook(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    out = tmp_path / "bad.ipynb"
    with pytest.raises(PapermillExecutionError):
        run(NOTEBOOKS[0], out, profile="smoke", lora_r=0, run_dir=str(tmp_path / "run"))
    cells = json.loads(out.read_text())["cells"]
    errors = [
        o
        for c in cells
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert len(errors) == 1
    assert errors[0]["traceback"] == ["ConfigError: lora_r=0 is not allowed: it must be an integer >= 1"]


def test_an_error_in_a_teaching_world_cell_stops_the_notebook(tmp_path):
    """A teaching-world cell is plain Python under ``runtime.in_teaching_world(cfg)``: an exception
    there fails the notebook as it would anywhere else (the cell magic it replaced once printed the
    traceback and let papermill go on)."""
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from sdft_lib.config import load_config\nfrom sdft_lib import runtime\n"
            f"cfg = load_config('smoke', run_dir={str(tmp_path / 'run')!r})\nruntime.setup(cfg)"
        ),
        nbformat.v4.new_code_cell(
            "if runtime.in_teaching_world(cfg):\n    raise ValueError('boom in a teaching-world cell')"
        ),
        nbformat.v4.new_code_cell("print('after')"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "magic.ipynb"
    nbformat.write(nb, str(src))
    with pytest.raises(pm.PapermillExecutionError, match="boom in a teaching-world cell"):
        pm.execute_notebook(
            str(src), str(tmp_path / "out.ipynb"), kernel_name="python3", cwd=str(ROOT), progress_bar=False
        )
