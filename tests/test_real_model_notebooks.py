"""Every notebook and lab under the real chat model's profile, the way a reader runs one.

Chapter 8 is the real model's own chapter (``test_notebooks.py`` runs it); chapters 2-4 run on it
through ``make pipeline PROFILE=smollm2`` (``test_packaged.py``). The others are run here on
``smollm2-smoke`` (a few examples, prompts and new tokens) with the fixture data: each must finish,
every section that studies the teaching world must say that it skips and why, and nothing may reach
a cell's standard error. Lab 5 is about your own file: it runs on ``own-data-smollm2`` (the same
files on the real model), and on a profile without a file of your own it stops with one line."""

import json
from pathlib import Path

import pytest
from test_notebooks import NOTEBOOKS, ROOT, run

pytestmark = pytest.mark.slow

COVERED_ELSEWHERE = {"02_self_distillation", "03_training", "04_evaluation", "08_real_chat_model"}
HERE = [nb for nb in NOTEBOOKS if nb.stem not in COVERED_ELSEWHERE]
SMOKE = {"max_train_examples": 4, "eval_limit": 3, "max_new_tokens": 8, "gen_batch_size": 4}
TEACHING_ONLY = "if runtime.in_teaching_world(cfg):"


def test_every_notebook_is_run_under_the_real_model_somewhere():
    covered = {nb.stem for nb in HERE} | COVERED_ELSEWHERE
    assert covered == {nb.stem for nb in NOTEBOOKS}
    assert (ROOT / "notebooks" / "08_real_chat_model.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("nb", HERE, ids=lambda p: p.stem)
def test_notebook_runs_on_the_real_model(nb, smollm2_dir, tmp_path):
    from conftest import FIXTURE_DATA

    from sdft_lib.book.status import notebook_output_defects

    if nb.stem == "lab5_own_data":
        params = {"profile": "own-data-smollm2", **SMOKE}
    else:
        params = {"profile": "smollm2-smoke", "data_dir": str(FIXTURE_DATA)}
    out = tmp_path / nb.name
    run(nb, out, run_dir=str(tmp_path / "run"), **params)
    cells = [c for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"]
    assert not [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not notebook_output_defects(out, ("progress bar", "warning", "stderr"))
    printed = lambda c: "".join("".join(o.get("text", "")) for o in c.get("outputs", []))
    skipping = [c for c in cells if "".join(c["source"]).lstrip().startswith(TEACHING_ONLY)]
    for c in skipping:
        assert "Skipped: this cell studies the teaching world" in printed(c), "".join(c["source"])[:200]
    assert "model='smollm2-135m-instruct'" in "".join(printed(c) for c in skipping) or not skipping
    if nb.stem == "lab5_own_data":  # no teaching world here: the task and your probes only
        assert not skipping
        table = json.dumps([c.get("outputs", []) for c in cells])
        assert "add_probe" in table and "refusals" in table and "world skill" not in table


def test_lab5_on_a_profile_without_your_own_file_stops_with_one_line(smollm2_dir, tmp_path):
    import papermill as pm
    from conftest import FIXTURE_DATA

    with pytest.raises(pm.PapermillExecutionError) as err:
        run(
            ROOT / "notebooks" / "lab5_own_data.ipynb",
            tmp_path / "lab5.ipynb",
            profile="smollm2-smoke",
            data_dir=str(FIXTURE_DATA),
            run_dir=str(tmp_path / "run"),
        )
    e = err.value
    assert e.ename == "ConfigError", e.evalue
    assert e.evalue.startswith(
        "dataset='openfunction' is not allowed here: this lab runs on a dataset of your own"
    )
    assert "own-data-smollm2" in e.evalue and "\n" not in e.evalue.strip()
    assert not list(Path(tmp_path / "run").rglob("manifest.json"))  # it stopped before any work
