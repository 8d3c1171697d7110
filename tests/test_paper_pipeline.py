"""The paper's pipeline through the notebooks, as a researcher with a GPU runs it, on CPU.

``make pipeline`` (the README's command) runs notebooks 02-04 through papermill for four paper
profiles, with the profiles' own settings (sampling at T=0.95, LoRA on q_proj/v_proj, the paper's
templates, truncation and evaluation suite) and four substitutions: the project's stand-in for
Llama-2-7b-chat (Llama-2's tokenizer behaviour, random weights), the fixture data in the paper's
layout (``tests/fixtures/paper-data``), an lm-eval task of the user's own kind (a task YAML over a
local file, through ``lm_eval_include_path``) instead of lm-eval's Hub-hosted MMLU & co., and 64 new
tokens instead of 512 (a random model rarely stops, so every answer would run the full length: the
test would take four times longer and check nothing more).
``small-gpu`` runs the same through the model's chat template. The numbers mean nothing; every cell
must run, and every stage must leave its artifacts.
"""

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import FIXTURE_DATA

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """The stand-in model, built by the README's command."""
    folder = tmp_path_factory.mktemp("standin") / "model"
    subprocess.run(
        ["make", "-s", "standin", f"STANDIN={folder}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    return folder


@pytest.fixture(scope="module")
def local_lm_eval_task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    docs = [
        {"question": q, "answer": a}
        for q, a in [
            ("2 + 2 =", "4"),
            ("The capital of France is", "Paris"),
            ("Water freezes at", "0 degrees"),
            ("7 * 6 =", "42"),
        ]
    ]
    (folder / "qa.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "standin_qa.yaml").write_text(
        "task: standin_qa\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {folder / 'qa.jsonl'}\n"
        "test_split: test\noutput_type: generate_until\n"
        "doc_to_text: '{{question}}'\ndoc_to_target: '{{answer}}'\n"
        "generation_kwargs:\n  until: ['\\n']\n  max_gen_toks: 8\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n"
        "metadata:\n  version: 1.0\n"
    )
    return folder


@pytest.mark.parametrize(
    "profile, extra",
    [
        ("paper/gsm8k", ""),
        ("paper/openfunction", ""),
        ("paper/alpaca", "-p finetune full"),
        ("paper/seed", ""),
        ("small-gpu", ""),
    ],
)  # chat templates, LoRA on all linear layers
def test_make_pipeline_runs_every_cell_on_a_paper_profile(
    profile, extra, standin, local_lm_eval_task, tmp_path
):
    run_dir, executed = tmp_path / "run", tmp_path / "executed"
    params = (
        f"-p run_dir {run_dir} -p device cpu -p max_new_tokens 32 -p lm_eval_tasks standin_qa "
        f"-p lm_eval_include_path {local_lm_eval_task} {extra}"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [
            "make",
            "-s",
            "pipeline",
            f"PROFILE={profile}",
            f"DATA={FIXTURE_DATA}",
            f"MODEL={standin}",
            f"PARAMS={params}",
            f"EXECUTED_DIR={executed}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for nb in ("02_self_distillation", "03_training", "04_evaluation"):
        cells = json.loads((executed / f"{nb}.ipynb").read_text())["cells"]
        assert not [
            o
            for c in cells
            if c["cell_type"] == "code"
            for o in c.get("outputs", [])
            if o.get("output_type") == "error"
        ]
    results = pd.read_csv(run_dir / "evaluation" / "results.csv")
    variants = ["seed"] if profile == "paper/seed" else ["seed", "sft", "sdft"]
    assert sorted(set(results.variant)) == sorted(variants)
    assert {"gsm8k", "multiarith", "openfunction", "advbench_raw", "advbench_jailbreak", "standin_qa"} <= set(
        results.benchmark
    )
    assert results.score.between(0, 100).all()
    distilled = list((run_dir / "self_distillation").glob("distilled-*/report.json"))
    trained = list((run_dir / "training").glob("*/adapter/adapter_config.json")) + list(
        (run_dir / "training").glob("*/model/model.safetensors")
    )
    if profile == "paper/seed":
        assert not distilled and not trained  # a seed-only run distils and trains nothing
    else:
        report = json.loads(distilled[0].read_text())
        assert report["total"] == report["accepted"] + report["rejected"] and "truncated" in report
        assert len(trained) == 2


# Lab 5 is the pipeline on your own data under its own profile: tests/test_notebooks.py runs it, and
# tests/test_own_data.py runs chapters 2-4 on its data with a Hugging Face model from a folder.
OTHERS = sorted(
    p.name
    for p in (ROOT / "notebooks").glob("*.ipynb")
    if not p.name.startswith(("02_", "03_", "04_", "lab5_"))
)


@pytest.mark.parametrize("nb", OTHERS)
def test_the_other_notebooks_run_on_a_paper_profile(nb, standin, local_lm_eval_task, tmp_path):
    """Chapters and labs about the teaching world skip their cells with a note; the rest run. The
    real-model chapter runs its whole study on the paper's profile with the stand-in, at small limits
    and with a local lm-eval task (the profile's own are on the Hub)."""
    import papermill as pm

    out = tmp_path / nb
    params = {
        "profile": "paper/gsm8k",
        "data_dir": str(FIXTURE_DATA),
        "model": str(standin),
        "run_dir": str(tmp_path / "run"),
    }
    if nb.startswith("08_"):
        params.update(
            max_train_examples=4,
            eval_limit=3,
            max_new_tokens=16,
            lm_eval_tasks="standin_qa",
            lm_eval_include_path=str(local_lm_eval_task),
            teaching_profile="smoke",
            teaching_run_dir=str(tmp_path / "no-teaching-run"),
        )
    pm.execute_notebook(
        str(ROOT / "notebooks" / nb),
        str(out),
        kernel_name="python3",
        cwd=str(ROOT),
        progress_bar=False,
        parameters=params,
    )
    cells = [c for c in json.loads(out.read_text())["cells"] if c["cell_type"] == "code"]
    marked = [c for c in cells if "".join(c["source"]).startswith("if runtime.in_teaching_world(cfg):")]
    assert marked or nb.startswith(("06_", "08_")), nb  # the chapters and labs about the teaching world
    for c in marked:
        assert "Skipped: this cell studies the teaching world" in "".join(
            "".join(o.get("text", "")) for o in c["outputs"]
        )
    assert not (tmp_path / "run" / "teaching_world").exists()  # no teaching model was built
